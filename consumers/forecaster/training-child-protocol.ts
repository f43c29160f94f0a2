/**
 * What passes between the forecaster (train-runner.ts) and its training child
 * (app/training-child.ts, run as dist/app/training-child.js):
 *
 * - in: the histories in a series file (the embedded ClickHouse data dir belongs to the parent, so
 *   the child cannot read them itself) and the job on the command line, so that a process listing
 *   shows what is training: `--series-file F --models-dir D --kind full|finetune --seed N
 *   [--warm-start DIR --parent-version V] [--champion DIR]` (the forecaster passes its own models
 *   folder and seed: its config need not be the environment's);
 * - out: one JSON line on stdout, the outcome (training-job.ts's TrainOutcome); errors on stderr;
 * - exit code 0 trained, 1 failed, 2 bad arguments or configuration. The child also exits (1) when
 *   its parent is gone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { PROJECT_ROOT } from '../../lib/config';
import type { HourlySeries } from '../../model/series';
import type { TrainOutcome } from './training-job';

/** The child's entry point as `npm run build` emits it. */
export const TRAINING_CHILD_ENTRY = path.join(PROJECT_ROOT, 'dist', 'app', 'training-child.js');

const argsSchema = z.object({
  seriesFile: z.string().min(1),
  /** The models folder and the seed; the child's config (MODELS_DIR, TRAIN_SEED) when not given. */
  modelsDir: z.string().min(1).optional(),
  kind: z.enum(['full', 'finetune']),
  seed: z.coerce.number().int().optional(),
  /** Artifact folder of the model to fine-tune (finetune), and its registry version. */
  warmStart: z.string().min(1).optional(),
  parentVersion: z.string().min(1).optional(),
  /** Artifact folder of the current model, scored on the same holdout. */
  champion: z.string().min(1).optional(),
});

export type TrainingChildArgs = z.infer<typeof argsSchema>;

/** Each argument's flag, in the order of the command line. */
const FLAGS = {
  seriesFile: 'series-file',
  modelsDir: 'models-dir',
  kind: 'kind',
  seed: 'seed',
  warmStart: 'warm-start',
  parentVersion: 'parent-version',
  champion: 'champion',
} as const satisfies Record<keyof TrainingChildArgs, string>;

/** The child's command line (after the entry point) for `args`. */
export function trainingChildArgv(args: TrainingChildArgs): string[] {
  const argv: string[] = [];
  for (const [key, flag] of Object.entries(FLAGS) as [keyof TrainingChildArgs, string][]) {
    const value = args[key];
    if (value !== undefined) argv.push(`--${flag}`, String(value));
  }
  return argv;
}

/** The child's arguments; throws (one line: the flags and what is wrong) on an unknown flag, a missing one or a bad value. */
export function parseTrainingChildArgv(argv: string[]): TrainingChildArgs {
  const options = Object.fromEntries(Object.values(FLAGS).map((flag) => [flag, { type: 'string' as const }]));
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  const parsed = argsSchema.safeParse(
    Object.fromEntries(Object.entries(FLAGS).map(([key, flag]) => [key, values[flag]])),
  );
  if (parsed.success) return parsed.data;
  const flagOf = (key: PropertyKey | undefined) => FLAGS[key as keyof TrainingChildArgs] ?? String(key);
  throw new Error(parsed.error.issues.map((i) => `--${flagOf(i.path[0])}: ${i.message}`).join('; '));
}

const seriesFileSchema = z.object({
  version: z.literal(1),
  series: z.array(
    z.object({
      branchId: z.string(),
      timezone: z.string(),
      country: z.string(),
      start: z.number(),
      sales: z.array(z.number()),
      orders: z.array(z.number()),
      group: z.string().optional(),
      // Operators' closures and events (model/branch-calendar.ts): past closures are not learned from.
      calendar: z
        .array(
          z.object({
            date: z.string(),
            kind: z.enum(['closed', 'event']),
            name: z.string(),
            expectedEffect: z.number().optional(),
          }),
        )
        .optional(),
    }),
  ),
});

/** Serializes histories for the child (typed arrays as plain arrays). */
export function writeSeriesFile(histories: HourlySeries[], file: string): void {
  const data = histories.map((h) => ({ ...h, sales: Array.from(h.sales), orders: Array.from(h.orders) }));
  fs.writeFileSync(file, JSON.stringify({ version: 1, series: data }));
}

export function readSeriesFile(file: string): HourlySeries[] {
  const parsed = seriesFileSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  return parsed.series.map((s) => ({
    ...s,
    sales: Float64Array.from(s.sales),
    orders: Float64Array.from(s.orders),
  }));
}

const outcomeSchema = z.object({
  record: z.object({
    version: z.string().min(1),
    created_at: z.number(),
    kind: z.string(),
    parent_version: z.string(),
    train_from: z.number(),
    train_through: z.number(),
    features: z.unknown(),
    hyperparams: z.unknown(),
    metrics: z.unknown(),
    backend: z.string(),
    artifact_path: z.string().min(1),
  }),
  holdout: z.object({ challenger: z.number().nullable(), champion: z.number().nullable() }),
});

/** The child's report: one line. */
export const outcomeLine = (outcome: TrainOutcome): string => JSON.stringify(outcome);

/** The outcome in the child's last line of output; throws if that is not one. */
export function parseOutcomeLine(line: string): TrainOutcome {
  const { record, holdout } = outcomeSchema.parse(JSON.parse(line));
  return {
    record: {
      ...record,
      features: record.features,
      hyperparams: record.hyperparams,
      metrics: record.metrics,
    },
    holdout,
  };
}
