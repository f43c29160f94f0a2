/**
 * The one way the storage layer talks to ClickHouse: every statement of clickhouse/store/ goes
 * through `rows`, `insert` or `command` here, and so every statement
 * - carries a `query_id` that starts with its op (`sales_hourly.actuals:<uuid>`), so the server's
 *   `system.query_log` finds it: `WHERE query_id LIKE 'sales_hourly.actuals:%'`;
 * - is timed into tillcast_clickhouse_query_duration_seconds{op, outcome};
 * - fails as a StorageError that says whether retrying may help (error-classification.ts), logged
 *   once here with its op and query id;
 * - takes its values as query parameters (`{name:Type}` in the SQL), never spliced into the text.
 * Table names come from `table()` (validated database names from config, never user input).
 */
import { randomUUID } from 'node:crypto';
import { Histogram } from 'prom-client';
import type { Logger } from '../lib/logger';
import type { ClickHouse } from './client';
import { clickHouseErrorType, storageError } from './error-classification';
import { MAX_PARAM_CHARS } from './query-parameters';

export type QueryParams = Record<string, unknown>;

/**
 * The tables rows are inserted into. A union of literals, not `string`: the compiler holds every
 * caller to a fixed name, and the static SQL check (test/sql-assembly.ts, rule 7) relies on it.
 */
export type TableName =
  | 'sales_events'
  | 'sales_hourly'
  | 'branch_watermarks'
  | 'ingest_rejections'
  | 'forecasts'
  | 'forecast_runs'
  | 'models'
  | 'model_promotions'
  | 'api_keys'
  | 'api_key_usage'
  | 'branch_calendar'
  | 'forecast_overrides';

type Outcome = 'ok' | 'retriable' | 'permanent';

export const clickhouseQueryDuration = new Histogram({
  name: 'tillcast_clickhouse_query_duration_seconds',
  help: 'ClickHouse statements of the storage layer by op (table.statement) and outcome (ok; retriable or permanent failure), retries after a connection reset included',
  labelNames: ['op', 'outcome'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
});

/** Attempts of a statement whose connection was reset (see `againOnReset`). */
const RESET_ATTEMPTS = 3;

export interface WriteOptions {
  /**
   * The statement may be sent twice: it replaces rows by key or is outranked by version (the
   * ReplacingMergeTree tables of ingest). Only such a statement is sent again after a connection
   * reset; reads always are.
   */
  idempotent?: boolean;
}

export interface InsertOptions extends WriteOptions {
  /** Positional rows (JSONCompactEachRow) in this column order; objects (JSONEachRow) without. */
  columns?: [string, ...string[]];
}

export class QueryRunner {
  readonly mode: ClickHouse['mode'];
  /**
   * Bound on the URL-encoded text of one array parameter (query-parameters.ts): a server's URL
   * limits; none in embedded mode, where parameters are handed over in-process.
   */
  readonly maxParamChars: number;
  private readonly log: Logger;

  constructor(private readonly ch: ClickHouse) {
    this.mode = ch.mode;
    this.maxParamChars = ch.mode === 'server' ? MAX_PARAM_CHARS : Number.POSITIVE_INFINITY;
    this.log = ch.logger.child({ module: 'clickhouse-query' });
  }

  /** Fully qualified table name, e.g. `tillcast.sales_hourly`. */
  table(name: string): string {
    return this.ch.table(name);
  }

  /** The rows of a SELECT (JSONEachRow; 64-bit integers arrive as strings). */
  rows<T>(op: string, query: string, params: QueryParams = {}): Promise<T[]> {
    return this.run(op, true, async (query_id) => {
      const rs = await this.ch.client.query({ query, query_params: params, format: 'JSONEachRow', query_id });
      return rs.json<T>();
    });
  }

  /** Inserts rows into `table` (unqualified name); nothing is sent for no rows. */
  async insert(
    op: string,
    table: TableName,
    values: readonly unknown[],
    opts: InsertOptions = {},
  ): Promise<void> {
    if (values.length === 0) return;
    await this.run(op, opts.idempotent === true, async (query_id) => {
      await this.ch.client.insert({
        table: this.ch.table(table),
        values,
        query_id,
        ...(opts.columns
          ? { columns: opts.columns, format: 'JSONCompactEachRow' as const }
          : { format: 'JSONEachRow' as const }),
      });
    });
  }

  /** A statement without rows (DDL, OPTIMIZE, ALTER …). */
  async command(op: string, query: string, params: QueryParams = {}, opts: WriteOptions = {}): Promise<void> {
    await this.run(op, opts.idempotent === true, async (query_id) => {
      await this.ch.client.command({ query, query_params: params, query_id });
    });
  }

  private async run<T>(op: string, repeatable: boolean, send: (queryId: string) => Promise<T>): Promise<T> {
    const end = clickhouseQueryDuration.startTimer({ op });
    let queryId = '';
    try {
      const result = await againOnReset(repeatable, () => send((queryId = `${op}:${randomUUID()}`)));
      end({ outcome: 'ok' satisfies Outcome });
      return result;
    } catch (err) {
      const failure = storageError(`${op} failed (query_id ${queryId})`, err);
      end({ outcome: (failure.retriable ? 'retriable' : 'permanent') satisfies Outcome });
      this.log.warn(
        { op, queryId, retriable: failure.retriable, type: clickHouseErrorType(err), err },
        'clickhouse statement failed',
      );
      throw failure;
    }
  }
}

/**
 * Sends a statement again when its connection was reset (ECONNRESET, "socket hang up"). A process
 * that stalled (a long GC pause, a stopped or starved process: an ingest zombie) sends its next
 * statement on a keep-alive socket the server closed meanwhile, which fails before the statement
 * reached the server; the next attempt gets a fresh connection, and a fresh query id (the server
 * refuses an id that is still running). Only statements that are safe to repeat: one that did
 * reach the server runs twice.
 */
async function againOnReset<T>(repeatable: boolean, send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      const reset = (err as { code?: unknown }).code === 'ECONNRESET';
      if (!repeatable || !reset || attempt >= RESET_ATTEMPTS) throw err;
    }
  }
}
