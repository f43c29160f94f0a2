/**
 * Builds the one ClickHouse client every role uses: the embedded engine (chdb,
 * in this process, data dir CLICKHOUSE_DATA_DIR) by default, or a server over
 * HTTP when CLICKHOUSE_URL is set. Same @clickhouse/client API, same SQL.
 *
 * The embedded connection ignores the client's `database` option, so SQL always
 * qualifies tables through `Tables` (database names are validated identifiers
 * from config, never user input; user values go through query parameters).
 */
import fs from 'node:fs';
import { createClient, type ClickHouseClient, ClickHouseError } from '@clickhouse/client';
import type { Config } from './config';
import type { Logger } from './logger';
import { StorageError } from './errors';

export type { ClickHouseClient };

export interface ClickHouse {
  readonly client: ClickHouseClient;
  readonly database: string;
  readonly mode: 'embedded' | 'server';
  /** Fully qualified table name, e.g. `tillcast.sales_hourly`. */
  table(name: string): string;
  close(): Promise<void>;
}

export function createClickHouse(config: Config, logger: Logger): ClickHouse {
  const log = logger.child({ module: 'clickhouse' });
  const database = config.CLICKHOUSE_DATABASE;
  let client: ClickHouseClient;
  let mode: ClickHouse['mode'];
  if (config.CLICKHOUSE_URL) {
    mode = 'server';
    client = createClient({
      url: config.CLICKHOUSE_URL,
      username: config.CLICKHOUSE_USER,
      password: config.CLICKHOUSE_PASSWORD,
      database,
      request_timeout: 30_000,
      clickhouse_settings: { date_time_input_format: 'best_effort' },
      log: { LoggerClass: bridgeLogger(log) },
    });
  } else {
    mode = 'embedded';
    fs.mkdirSync(config.CLICKHOUSE_DATA_DIR, { recursive: true });
    // Required lazily: the engine is a 500 MB native library only the embedded mode needs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createChdbConnection } = require('chdb/connection') as typeof import('chdb/connection');
    client = createClient({
      connection: createChdbConnection({ path: config.CLICKHOUSE_DATA_DIR }),
      log: { LoggerClass: bridgeLogger(log) },
    } as Parameters<typeof createClient>[0]);
  }
  log.debug({ mode, database }, 'clickhouse client created');
  return {
    client,
    database,
    mode,
    table: (name) => `${database}.${name}`,
    close: () => client.close(),
  };
}

/** Wraps a ClickHouse failure into a StorageError that says whether retrying may help. */
export function storageError(what: string, err: unknown): StorageError {
  // Syntax/type/unknown-identifier errors are bugs or bad schemas; network and server-side
  // resource errors are worth retrying.
  const permanentCodes = new Set(['62', '47', '53', '60', '16', '36', '43', '44', '46', '70', '117', '241']);
  const code = err instanceof ClickHouseError ? err.code : undefined;
  const retriable = code === undefined || !permanentCodes.has(code);
  const msg = err instanceof Error ? err.message : String(err);
  return new StorageError(`${what}: ${msg}`, retriable, { cause: err });
}

type LogArgs = { module?: string; message: string; args?: Record<string, unknown>; err?: Error };

/** Bridges @clickhouse/client's logger into pino. */
function bridgeLogger(log: Logger) {
  return class PinoBridge {
    trace({ message, args }: LogArgs) {
      log.trace(args ?? {}, message);
    }
    debug({ message, args }: LogArgs) {
      log.debug(args ?? {}, message);
    }
    info({ message, args }: LogArgs) {
      log.info(args ?? {}, message);
    }
    warn({ message, args, err }: LogArgs) {
      log.warn({ ...args, err }, message);
    }
    error({ message, args, err }: LogArgs) {
      log.error({ ...args, err }, message);
    }
  };
}
