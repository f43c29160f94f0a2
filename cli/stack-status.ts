/**
 * `tillcast stack status`: is the broker up and answering, is ClickHouse reachable?
 * One human line per component, or one JSON object with --json.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Config } from '../lib/config';
import { PROJECT_ROOT } from '../lib/config';
import { createClickHouse } from '../clickhouse/client';
import { createKafka } from '../lib/kafka-client';
import type { Logger } from '../lib/logger';

export interface ComponentStatus {
  ok: boolean;
  detail: string;
  [key: string]: unknown;
}

export interface StackStatus {
  ok: boolean;
  kafka: ComponentStatus;
  clickhouse: ComponentStatus;
}

async function kafkaStatus(config: Config, logger: Logger): Promise<ComponentStatus> {
  const script = spawnSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'kafka.sh'), 'status', '--json'], {
    encoding: 'utf8',
  });
  let local: Record<string, unknown> = {};
  try {
    local = JSON.parse(script.stdout) as Record<string, unknown>;
  } catch {
    /* the broker may be remote: the admin check below still tells */
  }
  const admin = createKafka({ ...config }, logger.child({}, { level: 'silent' })).admin({
    retry: { retries: 0 },
  });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return {
      ok: true,
      detail: `up: ${cluster.brokers.length} broker(s) at ${config.KAFKA_BROKERS.join(',')}, controller ${cluster.controller}`,
      brokers: config.KAFKA_BROKERS,
      local,
    };
  } catch (err) {
    return {
      ok: false,
      detail: `not answering at ${config.KAFKA_BROKERS.join(',')}: ${(err as Error).message}`,
      local,
    };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function clickhouseStatus(config: Config, logger: Logger): Promise<ComponentStatus> {
  const where = config.CLICKHOUSE_URL ?? `embedded at ${config.CLICKHOUSE_DATA_DIR}`;
  let ch;
  try {
    ch = createClickHouse(config, logger.child({}, { level: 'silent' }));
  } catch (err) {
    const msg = (err as Error).message;
    const busy = /Cannot lock file|Failed to create connection/.test(msg);
    return {
      ok: busy,
      detail: busy
        ? `${where}: in use by a running tillcast process (the embedded engine belongs to one process)`
        : `${where}: ${msg}`,
      mode: config.CLICKHOUSE_URL ? 'server' : 'embedded',
    };
  }
  try {
    const rs = await ch.client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
    const [row] = await rs.json<{ v: string }>();
    return { ok: true, detail: `${where}: ClickHouse ${row?.v ?? '?'}`, mode: ch.mode, version: row?.v };
  } catch (err) {
    return { ok: false, detail: `${where}: ${(err as Error).message}`, mode: ch.mode };
  } finally {
    await ch.close().catch(() => undefined);
  }
}

export async function stackStatus(config: Config, logger: Logger): Promise<StackStatus> {
  const kafka = await kafkaStatus(config, logger);
  const clickhouse = await clickhouseStatus(config, logger);
  return { ok: kafka.ok && clickhouse.ok, kafka, clickhouse };
}

export function formatStackStatus(s: StackStatus): string {
  const mark = (c: ComponentStatus) => (c.ok ? 'ok  ' : 'DOWN');
  return [
    `kafka       ${mark(s.kafka)} ${s.kafka.detail}`,
    `clickhouse  ${mark(s.clickhouse)} ${s.clickhouse.detail}`,
  ].join('\n');
}
