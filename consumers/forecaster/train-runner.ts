/**
 * Training never blocks refreshes or the API: it runs in a child process, the training child
 * (app/training-child.ts; what passes between them is training-child-protocol.ts). The parent
 * exports the histories to a file and starts the child; the child trains, saves the artifacts
 * under MODELS_DIR and reports the model; the parent registers and maybe promotes it
 * (model-lifecycle.ts).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../lib/logger';
import type { BranchHistory, ModelRecord } from '../../clickhouse/store/forecast-store';
import {
  parseOutcomeLine,
  TRAINING_CHILD_ENTRY,
  trainingChildArgv,
  writeSeriesFile,
} from './training-child-protocol';
import type { TrainOutcome } from './training-job';

/** A training child is stopped after this long; the trainer group's rebalance timeout covers it (trainer.ts). */
export const TRAINING_TIMEOUT_MS = 15 * 60_000;

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

export class TrainingError extends Error {
  readonly retriable = true;
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}

/** How a child process ended, with its output (stderr's tail). */
interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the training child on `args`; SIGKILL after `timeoutMs`, SIGTERM when `signal` aborts. */
function runChild(args: string[], timeoutMs: number, signal: AbortSignal | undefined): Promise<ChildExit> {
  return new Promise<ChildExit>((resolve) => {
    const child = spawn(process.execPath, [TRAINING_CHILD_ENTRY, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'warn' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    signal?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
    child.on('close', (code, exitSignal) => {
      clearTimeout(timer);
      resolve({ code, signal: exitSignal, stdout, stderr });
    });
  });
}

/** The outcome the child reported, or the TrainingError that says why there is none. */
function outcomeOf(exit: ChildExit): TrainOutcome {
  const last = exit.stdout.trim().split('\n').at(-1) ?? '';
  if (exit.code === 0) {
    try {
      return parseOutcomeLine(last);
    } catch {
      /* fall through to the error below */
    }
  }
  throw new TrainingError(
    `training child failed (${exit.signal ?? `exit ${exit.code}`}): ${exit.stderr.trim().split('\n').slice(-5).join(' | ') || last}`,
  );
}

export async function runTrainingChild(
  job: TrainJob,
  logger: Logger,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<TrainOutcome> {
  const log = logger.child({ module: 'train-runner' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-train-'));
  try {
    const seriesFile = path.join(dir, 'series.json');
    writeSeriesFile(job.histories, seriesFile);
    const args = trainingChildArgv({
      seriesFile,
      modelsDir: job.modelsDir,
      kind: job.kind,
      seed: job.seed,
      warmStart: job.parent?.artifact_path,
      parentVersion: job.parent?.version,
      champion: job.champion?.artifact_path,
    });
    log.info({ kind: job.kind, branches: job.histories.length }, 'training in a child process');
    return outcomeOf(await runChild(args, opts.timeoutMs ?? TRAINING_TIMEOUT_MS, opts.signal));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
