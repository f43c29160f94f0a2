/**
 * `tillcast backtest` (`npm run backtest`): the rolling-origin evaluation of
 * model/backtest.ts on a POS export (--export) or on the closed hours in
 * ClickHouse; writes the markdown report and charts under --out and prints one
 * JSON summary line. `tillcast explore` draws docs/model.md's data charts.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { loadBranchDirectory } from '../app/app';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { backtestLine, runBacktest } from '../model/backtest';
import { writeBacktestReport, writeDataExploration } from '../model/report';
import type { HourlySeries } from '../model/series';
import { createProgress, type Progress } from './progress';
import { seriesFromClickHouse, seriesFromExport } from './series-source';
import { choiceOption, dateOption, intOption } from './usage-error';

async function loadSeries(file: string | undefined, through: string | undefined): Promise<HourlySeries[]> {
  const config = loadConfig();
  const branches = loadBranchDirectory(config);
  const series = file
    ? (await seriesFromExport(file, branches, { through })).series
    : await seriesFromClickHouse(config, branches, createLogger(config.LOG_LEVEL));
  if (series.length === 0)
    throw new Error('no hourly history found (use --export FILE, or replay data first)');
  // One time zone per run: the origins are local midnights.
  const zone = series[0]!.timezone;
  return series.filter((s) => s.timezone === zone);
}

export function registerBacktestCommands(program: Command): void {
  program
    .command('backtest')
    .description(
      'rolling-origin backtest of the neural model against seasonal-naive, 4-week-mean, structural-base and Holt-Winters baselines',
    )
    .option('--export <file>', 'a POS export (default: the closed hours in ClickHouse)')
    .option('--through <date>', 'last local date of the export to use (yyyy-mm-dd)')
    .option('--weeks <n>', 'keep only the last n weekly origins (default: every Monday from --from)')
    .option(
      '--from <date>',
      'first local date an origin may fall on (yyyy-mm-dd; default: 70 days after the data start)',
    )
    .option('--horizon-days <n>', 'days scored after each origin', '14')
    .option('--scheme <scheme>', 'retrain (a fresh model per origin) or warm (fine-tune forward)', 'retrain')
    .option('--out <dir>', 'report folder (backtest.md, backtest.json, chart-<branch>.svg)', 'out/backtest')
    .addHelpText(
      'after',
      [
        '',
        'Prints one JSON line: {"origins": n, "neural": {sales, orders, coverage}, "seasonal_naive": M, "mean_4w": M,',
        '  "structural_base": M, "holt_winters": M, "base_and_holt_winters": M, ..., "acceptance": {ok, failed}}',
        '  (M = {sales|orders: {hourly|daily|weekly: WAPE}}; base_and_holt_winters, the day-total combination without',
        '  the network, is reported and not in the acceptance)',
        'Exit codes: 0 done (acceptance met or not: see the JSON), 1 failure, 2 bad usage.',
        '',
        'Examples:',
        '  npm run backtest',
        '  tillcast backtest --export ../shared/data/nory-receipts-2020-06-23_2021-01-31.csv.gz --out docs/img/backtest',
      ].join('\n'),
    )
    .action(
      async (opts: {
        export?: string;
        through?: string;
        weeks?: string;
        from?: string;
        horizonDays: string;
        scheme: string;
        out: string;
      }) => {
        const weeks = opts.weeks === undefined ? undefined : intOption('--weeks', opts.weeks, 1, 520);
        const firstDay = dateOption('--from', opts.from);
        const horizonDays = intOption('--horizon-days', opts.horizonDays, 1, 14);
        const scheme = choiceOption('--scheme', opts.scheme, ['retrain', 'warm'] as const);
        const series = await loadSeries(opts.export, dateOption('--through', opts.through));
        let progress: Progress | undefined;
        const result = await runBacktest(series, {
          ...(weeks === undefined ? {} : { weeks }),
          ...(firstDay === undefined ? {} : { firstDay }),
          horizonDays,
          scheme,
          onProgress: (p) => {
            // One bar over all origins × epochs.
            progress ??= createProgress('backtest', p.origins * p.epochs);
            progress.update(p.originIndex * p.epochs + p.epoch, {
              origin: new Date(p.origin).toISOString().slice(0, 10),
              loss: p.loss.toFixed(4),
            });
          },
        });
        progress?.stop();
        const files = await writeBacktestReport(result, path.resolve(opts.out));
        process.stderr.write(`report: ${files.join(', ')}\n`);
        console.log(JSON.stringify(backtestLine(result)));
      },
    );

  program
    .command('explore')
    .description(
      'draw the data-exploration charts of docs/model.md (hour-of-week profiles, weekly totals with regimes, closed days)',
    )
    .option('--export <file>', 'a POS export (default: the closed hours in ClickHouse)')
    .option('--out <dir>', 'folder for the SVG charts', 'docs/img')
    .addHelpText(
      'after',
      '\nExample:\n  tillcast explore --export ../shared/data/nory-receipts-2020-06-23_2021-01-31.csv.gz --out docs/img',
    )
    .action(async (opts: { export?: string; out: string }) => {
      const series = await loadSeries(opts.export, undefined);
      const stats = await writeDataExploration(series, path.resolve(opts.out));
      console.log(JSON.stringify(stats));
    });
}
