/**
 * `tillcast train` (`npm run train`): trains a model on the closed hours in
 * ClickHouse (or a POS export with --export), saves it under MODELS_DIR,
 * registers it and promotes it if it beats the current model on the holdout
 * (the forecaster's rule: model-lifecycle.ts). The forecaster's trainings run
 * the same job in a child of their own (app/training-child.ts).
 */
import type { Command } from 'commander';
import { loadBranchDirectory } from '../app/app';
import { createClickHouse } from '../clickhouse/client';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { shouldPromote } from '../consumers/forecaster/model-lifecycle';
import { runTrainingJob } from '../consumers/forecaster/training-job';
import { ModelRegistry } from '../clickhouse/store/model-registry';
import { seriesEnd, type HourlySeries } from '../model/series';
import { createProgress, type Progress } from './progress';
import { seriesFromClickHouse, seriesFromExport } from './series-source';
import { choiceOption, dateOption, intOption, UsageError } from './usage-error';

interface TrainCliOptions {
  export?: string;
  through?: string;
  modelsDir?: string;
  kind: string;
  seed?: string;
  json?: boolean;
  warmStart?: string;
  parentVersion?: string;
  champion?: string;
  holdoutDays: string;
  register: boolean;
}

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description(
      'train a forecast model (full, or a fine-tune of the current one), register it and promote it if it beats the current model',
    )
    .option('--export <file>', 'train on a POS export instead of the closed hours in ClickHouse')
    .option('--through <date>', 'with --export: last local date to use (yyyy-mm-dd)')
    .option('--kind <kind>', 'full or finetune', 'full')
    .option('--models-dir <dir>', 'where artifacts are saved (default MODELS_DIR)')
    .option('--seed <n>', 'random seed (default TRAIN_SEED)')
    .option('--holdout-days <n>', 'local days held out to compare with the current model', '7')
    .option('--warm-start <dir>', 'artifact folder to fine-tune (default: the current model)')
    .option('--parent-version <v>', 'registry version of --warm-start')
    .option('--champion <dir>', 'artifact folder of the model to beat (default: the current model)')
    .option('--no-register', 'only train and save; do not touch the registry')
    .option('--json', 'print one JSON line with the outcome')
    .addHelpText(
      'after',
      [
        '',
        'Exit codes: 0 trained (and promoted, or kept as a registered challenger), 1 failure (the current model keeps serving), 2 bad usage.',
        '',
        'Examples:',
        '  npm run train',
        '  tillcast train --export ../shared/data/nory-receipts-2020-06-23_2021-01-31.csv.gz',
        '  tillcast train --kind finetune',
      ].join('\n'),
    )
    .action(async (opts: TrainCliOptions) => {
      const config = loadConfig();
      const logger = createLogger(opts.json ? 'warn' : config.LOG_LEVEL);
      const branches = loadBranchDirectory(config);
      const kind = choiceOption('--kind', opts.kind, ['full', 'finetune'] as const);
      const holdoutDays = intOption('--holdout-days', opts.holdoutDays, 1, 14);
      const through = dateOption('--through', opts.through);
      const register = opts.register;

      let series: HourlySeries[];
      if (opts.export) series = (await seriesFromExport(opts.export, branches, { through })).series;
      else series = await seriesFromClickHouse(config, branches, logger);
      if (series.length === 0)
        throw new Error(
          'no closed hourly history to train on (replay or simulate some sales first, or use --export FILE)',
        );

      // Defaults from the registry: fine-tune and beat the current model.
      let current: Awaited<ReturnType<ModelRegistry['currentModel']>>;
      if (register && (!opts.warmStart || !opts.champion)) {
        const ch = createClickHouse(config, logger);
        try {
          current = await new ModelRegistry(ch).currentModel();
        } finally {
          await ch.close();
        }
      }
      const warmStart = opts.warmStart ?? (kind === 'finetune' ? current?.artifact_path : undefined);
      if (kind === 'finetune' && !warmStart)
        throw new UsageError('nothing to fine-tune: no current model (train a full model first)');

      let progress: Progress | undefined;
      let stage = '';
      const outcome = await runTrainingJob({
        kind,
        series,
        modelsDir: opts.modelsDir ?? config.MODELS_DIR,
        seed: opts.seed !== undefined ? Number(opts.seed) : config.TRAIN_SEED,
        warmStart,
        parentVersion: opts.parentVersion ?? (opts.warmStart ? undefined : current?.version),
        champion: opts.champion ?? current?.artifact_path,
        holdoutDays,
        onProgress: opts.json
          ? undefined
          : (p) => {
              if (p.stage !== stage) {
                progress?.stop();
                stage = p.stage;
                progress = createProgress(`train ${stage}`, p.epochs);
              }
              progress?.update(p.epoch, { loss: p.loss.toFixed(4) });
            },
      });
      progress?.stop();

      let promoted: boolean | null = null;
      if (register) {
        const ch = createClickHouse(config, logger);
        try {
          const store = new ModelRegistry(ch);
          // By hand, outside the training topic: its own decision id, the data it was given as watermark.
          await store.registerModel(outcome.record, {
            decisionId: 'cli:train',
            dataWatermark: Math.max(...series.map(seriesEnd)),
          });
          const { challenger, champion } = outcome.holdout;
          promoted = shouldPromote(outcome.holdout, current);
          if (promoted)
            await store.promote(
              outcome.record.version,
              current ? 'promote' : 'initial',
              `tillcast train ${opts.kind}: holdout ${challenger?.toFixed(4) ?? 'not scored'} vs ${champion?.toFixed(4) ?? 'none'}`,
            );
        } finally {
          await ch.close();
        }
      }
      if (opts.json) {
        console.log(JSON.stringify({ ...outcome, promoted }));
        return;
      }
      const h = outcome.holdout;
      console.log(
        [
          `model ${outcome.record.version} (${outcome.record.kind}, ${outcome.record.backend}) saved to ${outcome.record.artifact_path}`,
          `holdout score ${h.challenger?.toFixed(4) ?? 'not scored (no model to compare with)'}${h.champion !== null ? `, current model ${h.champion.toFixed(4)}` : ''}`,
          register
            ? promoted
              ? 'promoted to current'
              : 'registered, not promoted (the current model is better on the holdout)'
            : 'not registered (--no-register)',
        ].join('\n'),
      );
    });
}
