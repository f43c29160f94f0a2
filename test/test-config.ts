/**
 * Config for tests: each test file gets a fresh ClickHouse database (like
 * clickhouse-js's integration tests) inside its jest worker's own embedded data
 * directory (the engine binds one directory per process), and the test broker
 * started by the global setup.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { loadConfig, PROJECT_ROOT, type Config } from '../lib/config';

/** TILLCAST_TEST_DATA_ROOT moves the workers' directories (two jest runs at once need two roots). */
export function workerDataDir(): string {
  const root = process.env.TILLCAST_TEST_DATA_ROOT ?? path.join(PROJECT_ROOT, '.data', 'test');
  return path.join(root, `worker-${process.env.JEST_WORKER_ID ?? '0'}`);
}

export function freshDatabaseName(prefix = 't'): string {
  return `${prefix}_${Date.now().toString(36)}_${crypto.randomBytes(3).toString('hex')}`;
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    ...process.env,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    NODE_ENV: 'test',
    CLICKHOUSE_DATA_DIR: workerDataDir(),
    CLICKHOUSE_DATABASE: freshDatabaseName(),
    MODELS_DIR: path.join(workerDataDir(), 'models'),
    ...overrides,
  });
}
