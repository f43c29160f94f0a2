/**
 * What every benchmark starts from: its own Kafka broker (STACK_DIR .stack/bench,
 * port BENCH_KAFKA_PORT or 19192, so a developer's broker and the test broker are
 * untouched), a throwaway embedded ClickHouse data dir, and topics/groups named
 * for this run.
 */
import { isolatedKafkaEnv } from '../lib/topics';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, PROJECT_ROOT, type Config } from '../lib/config';

export const BENCH_KAFKA_PORT = Number(process.env.BENCH_KAFKA_PORT ?? 19192);

export interface BenchStack {
  config: Config;
  dataDir: string;
  cleanup(): void;
}

const stackEnv = () => ({
  ...process.env,
  STACK_DIR: path.join(PROJECT_ROOT, '.stack', 'bench'),
  KAFKA_PORT: String(BENCH_KAFKA_PORT),
  KAFKA_CONTROLLER_PORT: String(BENCH_KAFKA_PORT + 1),
});

/** Stops the bench broker unless BENCH_KEEP_STACK=1 (repeated runs start faster). */
export function stopBenchStack(): void {
  if (process.env.BENCH_KEEP_STACK === '1') return;
  execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'kafka.sh'), 'down'], {
    env: stackEnv(),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export function startBenchStack(name: string, extra: Record<string, string> = {}): BenchStack {
  execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'kafka.sh'), 'up'], {
    env: stackEnv(),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `tillcast-bench-${name}-`));
  const run = `bench-${name}-${Date.now().toString(36)}`;
  const config = loadConfig({
    ...process.env,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    KAFKA_BROKERS: `127.0.0.1:${BENCH_KAFKA_PORT}`,
    CLICKHOUSE_DATA_DIR: path.join(dataDir, 'clickhouse'),
    MODELS_DIR: path.join(dataDir, 'models'),
    ...isolatedKafkaEnv(run),
    ...extra,
  });
  return { config, dataDir, cleanup: () => fs.rmSync(dataDir, { recursive: true, force: true }) };
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
