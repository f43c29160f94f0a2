/**
 * Builds the one ClickHouse client every role uses: the embedded engine (chdb,
 * in this process, data dir CLICKHOUSE_DATA_DIR) by default, or a server over
 * HTTP when CLICKHOUSE_URL is set. Same @clickhouse/client API, same SQL.
 *
 * SQL always qualifies tables through `table()` (database names are validated
 * identifiers from config, never user input; user values go through query
 * parameters), so neither mode gives the client a default database.
 *
 * Server mode sends no settings and no `database` with its requests, by design:
 * - settings belong in the users' server profiles (clickhouse/server/users.xml). A
 *   `readonly=1` user (api) is refused ANY setting passed with a query, URL parameters
 *   included (Code 164 READONLY; ClickHouse docs "Permissions for queries", readonly;
 *   src/Access/SettingsConstraints.cpp getChecker). The DateTime text this code writes
 *   (clickhouse/datetime-text.ts) is the `basic` input format, so it needs no
 *   date_time_input_format, and the profiles pin `basic` on every server version.
 * - @clickhouse/client sends `database=<name>` with every request unless it is `default`
 *   (client-common/src/utils/url.ts toSearchParams), and the server switches to it before
 *   running the statement (src/Server/HTTPHandler.cpp: context->setCurrentDatabase), so
 *   `CREATE DATABASE IF NOT EXISTS tillcast` itself failed with 81 UNKNOWN_DATABASE on a
 *   fresh server.
 * What @clickhouse/client (1.23) then sends by itself: `query_id` on every request and
 * `query` for inserts (both reserved HTTP parameters, not settings), `param_*` query
 * parameters, and Basic auth (client-common/src/utils/url.ts toSearchParams;
 * client-node/src/connection/node_base_connection.ts query/insert/runExec). `session_id`
 * and `role` only when configured (they are not), `default_format` never (FORMAT goes in
 * the SQL), and `enable_http_compression=1` only with response compression
 * (client-common/src/utils/connection.ts withHttpSettings), which is turned off here.
 */
import fs from 'node:fs';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';

export type { ClickHouseClient };

export interface ClickHouse {
  readonly client: ClickHouseClient;
  readonly database: string;
  readonly mode: 'embedded' | 'server';
  /** This client's logger (module `clickhouse`); the query runner logs failures on a child of it. */
  readonly logger: Logger;
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
      request_timeout: 30_000,
      // Explicit, not the client's default: response compression makes the client send
      // enable_http_compression=1, a setting change the read-only users may not make.
      compression: { response: false, request: false },
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
    logger: log,
    table: (name) => `${database}.${name}`,
    close: () => client.close(),
  };
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
