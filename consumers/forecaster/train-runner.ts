/**
 * Training never blocks refreshes or the API: it runs in a child process
 * (`tillcast train --series-file …`). The parent exports the histories to a
 * file (the embedded ClickHouse data dir belongs to the parent), the child
 * trains, saves the artifacts under MODELS_DIR and prints one JSON line with
 * the model's metadata; the parent registers and maybe promotes it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import type { BranchHistory, ModelRecord } from '../../clickhouse/store/forecast-store';

export interface TrainJob {
  kind: 'full' | 'finetune';
  histories: BranchHistory[];
  modelsDir: string;
  seed: number;
  /** Warm start from this model (finetune). */
  parent?: ModelRecord;
  /** Also score this model on the same holdout, for champion/challenger. */
  champion?: ModelRecord;
}

export interface TrainOutcome {
  record: ModelRecord;
  /** Holdout score of the new model and, if given, the champion on the same window (lower is better; null: not scored). */
  holdout: { challenger: number | null; champion: number | null };
}

export class TrainingError extends Error {
  readonly retriable = true;
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}

/** Serializes histories for the child (typed arrays as plain arrays). */
export function writeSeriesFile(histories: BranchHistory[], file: string): void {
  const data = histories.map((h) => ({ ...h, sales: Array.from(h.sales), orders: Array.from(h.orders) }));
  fs.writeFileSync(file, JSON.stringify({ version: 1, series: data }));
}

export function readSeriesFile(file: string): BranchHistory[] {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    version: number;
    series: (Omit<BranchHistory, 'sales' | 'orders'> & { sales: number[]; orders: number[] })[];
  };
  if (parsed.version !== 1) throw new Error(`unsupported series file version ${parsed.version}`);
  return parsed.series.map((s) => ({
    ...s,
    sales: Float64Array.from(s.sales),
    orders: Float64Array.from(s.orders),
  }));
}

export function runTrainingChild(
  job: TrainJob,
  logger: Logger,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<TrainOutcome> {
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
  const log = logger.child({ module: 'train-runner' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-train-'));
  const seriesFile = path.join(dir, 'series.json');
  writeSeriesFile(job.histories, seriesFile);
  const cli = path.join(PROJECT_ROOT, 'dist', 'cli', 'tillcast.js');
  const args = [
    cli,
    'train',
    '--series-file',
    seriesFile,
    '--models-dir',
    job.modelsDir,
    '--kind',
    job.kind,
    '--seed',
    String(job.seed),
    '--json',
  ];
  if (job.parent) args.push('--warm-start', job.parent.artifact_path, '--parent-version', job.parent.version);
  if (job.champion) args.push('--champion', job.champion.artifact_path);
  log.info({ kind: job.kind, branches: job.histories.length }, 'training in a child process');
  return new Promise<TrainOutcome>((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'warn' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    opts.signal?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code === 0) {
        try {
          resolve(JSON.parse(last) as TrainOutcome);
          return;
        } catch {
          /* fall through to the error below */
        }
      }
      reject(
        new TrainingError(
          `training child failed (${signal ?? `exit ${code}`}): ${err.trim().split('\n').slice(-5).join(' | ') || last}`,
        ),
      );
    });
  });
}
