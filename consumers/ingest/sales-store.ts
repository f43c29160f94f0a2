/**
 * Everything ingest reads from and writes to ClickHouse, in one module so the
 * SQL is reviewed in one place. Values always travel as query parameters.
 */
import type { ClickHouse } from '../../clickhouse/client';
import { storageError } from '../../clickhouse/error-classification';
import { toDate, toDateTime, toDateTime64 } from '../../clickhouse/datetime-text';
import { localWallClock } from '../../lib/local-time';
import { MAX_PARAM_CHARS, parameterChunks } from '../../clickhouse/query-parameters';
import type { SaleEvent } from '../../schemas/events';
import type { BranchClock } from './hour-close';
import { clockVersion, eventsOfHourVersion } from './row-versions';

export interface StoredEventKey {
  branch_id: string;
  event_id: string;
  occurred_at: number;
  status: string;
  total_minor: number;
}

export interface NewEventRow {
  event: SaleEvent;
  tooLate: boolean;
  partition: number;
  offset: string;
}

export interface HourAggregate {
  /** Raw events aggregated (too_late = 0, every status): grows with what is known of the hour (row-versions.ts). */
  events: number;
  sales_minor: number;
  orders: number;
  refunds: number;
  voids: number;
  sales_by_channel: Record<string, number>;
  orders_by_channel: Record<string, number>;
}

/** The stored state of an hour: its best row (highest version), and the highest revision any row has. */
export interface StoredHour extends Omit<HourAggregate, 'events'> {
  revision: number;
  closed: boolean;
  /** Events the best row aggregated; null for a row of older code (its version does not say). */
  events: number | null;
  /** Highest revision of any row of the hour: a new revision must go above it. */
  topRevision: number;
}

export interface HourRow extends HourAggregate {
  branch_id: string;
  hour_start: number;
  timezone: string;
  closed: boolean;
  revision: number;
  /** Ingest derives it from the data (row-versions.ts hourVersion); simulated histories number their rows. */
  version: number | bigint;
}

export interface RejectionRow {
  topic: string;
  partition: number;
  offset: string;
  code: string;
  reason: string;
  branch_id: string;
  event_id: string;
  payload_size: number;
}

const EVENT_COLUMNS: [string, ...string[]] = [
  'branch_id',
  'event_id',
  'occurred_at',
  'status',
  'channel',
  'currency',
  'total_minor',
  'net_minor',
  'tax_minor',
  'tip_minor',
  'covers',
  'pos',
  'too_late',
  'kafka_partition',
  'kafka_offset',
];

const hourKey = (branchId: string, hour: number) => `${branchId}|${hour / 1000}`;

export const emptyAggregate = (): HourAggregate => ({
  events: 0,
  sales_minor: 0,
  orders: 0,
  refunds: 0,
  voids: 0,
  sales_by_channel: {},
  orders_by_channel: {},
});

/**
 * A closed first-revision hour that has only sales (major units) and orders: the
 * rows of simulated histories (bench:refresh, forecaster tests).
 */
export function closedHourRow(
  branch: { id: string; timezone: string },
  hourStart: number,
  salesEur: number,
  orders: number,
  version: number,
): HourRow {
  return {
    ...emptyAggregate(),
    branch_id: branch.id,
    hour_start: hourStart,
    timezone: branch.timezone,
    sales_minor: Math.round(salesEur * 100),
    orders,
    closed: true,
    revision: 1,
    version,
  };
}

/**
 * Event ids per duplicate-lookup query (an upper bound; MAX_PARAM_CHARS usually bounds first).
 */
export const MAX_IDS_PER_LOOKUP = 2_000;

/** Groups (branch, hour) pairs by branch, as the hour maps of the store take them. */
function byBranch(pairs: readonly { branch: string; hour: number }[]): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const { branch, hour } of pairs) {
    let set = out.get(branch);
    if (!set) out.set(branch, (set = new Set()));
    set.add(hour);
  }
  return out;
}

/** Every (branch, hour) of an hour map, in chunks a server accepts as one query's parameters. */
function hourChunks(hours: Map<string, Set<number>>, maxItems: number, maxChars: number) {
  const pairs = [...hours].flatMap(([branch, set]) => [...set].map((hour) => ({ branch, hour })));
  return parameterChunks(pairs, (p) => hourKey(p.branch, p.hour), maxItems, maxChars).map(byBranch);
}

/** Attempts of a statement whose connection was reset (see againOnReset). */
const RESET_ATTEMPTS = 3;

/**
 * Runs a statement again when its connection was reset (ECONNRESET, "socket hang up"). A
 * process that stalled (a long GC pause, a stopped or starved process: an ingest zombie) sends
 * its next statement on a keep-alive socket the server closed meanwhile, which fails before the
 * statement reached the server; the next attempt gets a fresh connection. Every statement of
 * this store is idempotent (rows are replaced by key, or outranked by version), so one that did
 * reach the server is harmless to repeat.
 */
async function againOnReset<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ECONNRESET' || attempt >= RESET_ATTEMPTS) throw err;
    }
  }
}

export class SalesStore {
  constructor(
    private readonly ch: ClickHouse,
    private readonly maxIdsPerLookup = MAX_IDS_PER_LOOKUP,
    // The URL bounds are a server's (query parameters travel in the URL); the embedded engine
    // takes them in-process, and one aggregation of all of a batch's hours is cheaper than several.
    private readonly maxParamChars = ch.mode === 'server' ? MAX_PARAM_CHARS : Number.POSITIVE_INFINITY,
    private readonly maxHoursPerQuery = ch.mode === 'server' ? MAX_IDS_PER_LOOKUP : Number.POSITIVE_INFINITY,
  ) {}

  private async rows<T>(what: string, query: string, params: Record<string, unknown>): Promise<T[]> {
    try {
      return await againOnReset(async () => {
        const rs = await this.ch.client.query({ query, query_params: params, format: 'JSONEachRow' });
        return await rs.json<T>();
      });
    } catch (err) {
      throw storageError(what, err);
    }
  }

  private async insert(what: string, table: string, values: object[]): Promise<void> {
    if (values.length === 0) return;
    try {
      await againOnReset(() =>
        this.ch.client.insert({ table: this.ch.table(table), values, format: 'JSONEachRow' }),
      );
    } catch (err) {
      throw storageError(what, err);
    }
  }

  /** Stored copies of the given (branch, event id)s, for duplicate detection (looked up in chunks of ids). */
  async findEvents(branchIds: string[], eventIds: string[]): Promise<StoredEventKey[]> {
    const found: StoredEventKey[] = [];
    for (const ids of parameterChunks(eventIds, (id) => id, this.maxIdsPerLookup, this.maxParamChars)) {
      found.push(...(await this.findEventChunk(branchIds, ids)));
    }
    return found;
  }

  private async findEventChunk(branchIds: string[], eventIds: string[]): Promise<StoredEventKey[]> {
    const rows = await this.rows<{
      branch_id: string;
      event_id: string;
      t: string;
      status: string;
      total_minor: string;
    }>(
      'cannot look up existing events',
      `SELECT branch_id, event_id, toUnixTimestamp64Milli(occurred_at) AS t, toString(status) AS status, total_minor
       FROM ${this.ch.table('sales_events')}
       WHERE branch_id IN {branches:Array(String)} AND event_id IN {ids:Array(String)}`,
      { branches: branchIds, ids: eventIds },
    );
    return rows.map((r) => ({
      branch_id: r.branch_id,
      event_id: r.event_id,
      occurred_at: Number(r.t),
      status: r.status,
      total_minor: Number(r.total_minor),
    }));
  }

  async insertEvents(rows: NewEventRow[]): Promise<void> {
    if (rows.length === 0) return;
    // JSONCompactEachRow (positional arrays): the hot path of ingest, half the bytes of JSONEachRow.
    try {
      await againOnReset(() =>
        this.ch.client.insert({
          table: this.ch.table('sales_events'),
          columns: EVENT_COLUMNS,
          values: rows.map(({ event: e, tooLate, partition, offset }) => [
            e.branch_id,
            e.event_id,
            toDateTime64(e.occurred_at),
            e.status,
            e.channel,
            e.currency,
            e.total_minor,
            e.net_minor,
            e.tax_minor,
            e.tip_minor,
            e.covers,
            e.pos,
            tooLate ? 1 : 0,
            partition,
            offset,
          ]),
          format: 'JSONCompactEachRow',
        }),
      );
    } catch (err) {
      throw storageError('cannot insert sales events', err);
    }
  }

  /**
   * Recomputes the aggregates of the given hours from the deduplicated raw events
   * (FINAL), so the result is the same however often a batch was delivered.
   * Hours without events are absent from the map.
   */
  async aggregateHours(hours: Map<string, Set<number>>): Promise<Map<string, HourAggregate>> {
    const out = new Map<string, HourAggregate>();
    for (const chunk of hourChunks(hours, this.maxHoursPerQuery, this.maxParamChars))
      for (const [k, v] of await this.aggregateHourChunk(chunk)) out.set(k, v);
    return out;
  }

  private async aggregateHourChunk(hours: Map<string, Set<number>>): Promise<Map<string, HourAggregate>> {
    const keys: string[] = [];
    let min = Infinity;
    let max = -Infinity;
    for (const [branch, set] of hours) {
      for (const h of set) {
        keys.push(hourKey(branch, h));
        min = Math.min(min, h);
        max = Math.max(max, h);
      }
    }
    const out = new Map<string, HourAggregate>();
    if (keys.length === 0) return out;
    const rows = await this.rows<{
      branch_id: string;
      hour: number;
      status: string;
      channel: string;
      total: string;
      n: string;
    }>(
      'cannot aggregate hours',
      `SELECT branch_id, toUnixTimestamp(toStartOfHour(occurred_at)) AS hour, toString(status) AS status, channel,
              sum(total_minor) AS total, count() AS n
       FROM ${this.ch.table('sales_events')} FINAL
       WHERE branch_id IN {branches:Array(String)}
         AND occurred_at >= {from:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')}
         AND too_late = 0
         AND concat(branch_id, '|', toString(toUnixTimestamp(toStartOfHour(occurred_at)))) IN {keys:Array(String)}
       GROUP BY branch_id, hour, status, channel`,
      { branches: [...hours.keys()], from: toDateTime64(min), to: toDateTime64(max + 3_600_000), keys },
    );
    for (const r of rows) {
      const key = hourKey(r.branch_id, Number(r.hour) * 1000);
      const agg = out.get(key) ?? emptyAggregate();
      out.set(key, agg);
      const total = Number(r.total);
      const n = Number(r.n);
      agg.events += n;
      if (r.status === 'VOID') {
        agg.voids += n;
        continue;
      }
      agg.sales_minor += total;
      agg.sales_by_channel[r.channel] = (agg.sales_by_channel[r.channel] ?? 0) + total;
      if (r.status === 'SALE') {
        agg.orders += n;
        agg.orders_by_channel[r.channel] = (agg.orders_by_channel[r.channel] ?? 0) + n;
      } else {
        agg.refunds += n;
      }
    }
    return out;
  }

  /**
   * Stored state of the given hours (revisions of closes and corrections). Read BEFORE the
   * hours are aggregated: then whatever a stored row counted, the aggregation counts too.
   */
  async storedHours(hours: Map<string, Set<number>>): Promise<Map<string, StoredHour>> {
    const out = new Map<string, StoredHour>();
    for (const chunk of hourChunks(hours, this.maxHoursPerQuery, this.maxParamChars))
      for (const [k, v] of await this.storedHourChunk(chunk)) out.set(k, v);
    return out;
  }

  private async storedHourChunk(hours: Map<string, Set<number>>): Promise<Map<string, StoredHour>> {
    const keys = [...hours].flatMap(([b, set]) => [...set].map((h) => hourKey(b, h)));
    const out = new Map<string, StoredHour>();
    if (keys.length === 0) return out;
    const rows = await this.rows<{
      branch_id: string;
      hour: number;
      sales_minor: string;
      orders: number;
      refunds: number;
      voids: number;
      best_revision: number;
      closed: number;
      top_revision: number;
      best_version: string;
    }>(
      'cannot read stored hours',
      `SELECT branch_id, toUnixTimestamp(hour_start) AS hour,
              argMax(sales_minor, version) AS sales_minor, argMax(orders, version) AS orders,
              argMax(refunds, version) AS refunds, argMax(voids, version) AS voids,
              argMax(revision, version) AS best_revision, argMax(closed, version) AS closed,
              max(revision) AS top_revision, toString(max(version)) AS best_version
       FROM ${this.ch.table('sales_hourly')}
       WHERE branch_id IN {branches:Array(String)}
         AND concat(branch_id, '|', toString(toUnixTimestamp(hour_start))) IN {keys:Array(String)}
       GROUP BY branch_id, hour`,
      { branches: [...hours.keys()], keys },
    );
    for (const r of rows) {
      out.set(hourKey(r.branch_id, Number(r.hour) * 1000), {
        sales_minor: Number(r.sales_minor),
        orders: Number(r.orders),
        refunds: Number(r.refunds),
        voids: Number(r.voids),
        sales_by_channel: {},
        orders_by_channel: {},
        revision: Number(r.best_revision),
        closed: Number(r.closed) === 1,
        events: eventsOfHourVersion(BigInt(r.best_version)),
        topRevision: Number(r.top_revision),
      });
    }
    return out;
  }

  async insertHours(rows: HourRow[]): Promise<void> {
    await this.insert(
      'cannot write hourly aggregates',
      'sales_hourly',
      rows.map((r) => {
        const local = localWallClock(r.timezone, r.hour_start);
        return {
          branch_id: r.branch_id,
          hour_start: toDateTime(r.hour_start),
          hour_start_local: local.text,
          local_date: local.date,
          utc_offset_min: local.offsetMin,
          timezone: r.timezone,
          sales_minor: r.sales_minor,
          orders: r.orders,
          refunds: r.refunds,
          voids: r.voids,
          sales_by_channel: r.sales_by_channel,
          orders_by_channel: r.orders_by_channel,
          closed: r.closed ? 1 : 0,
          revision: r.revision,
          // A bigint travels as decimal text (JSON has no 64-bit integers; ClickHouse parses it).
          version: typeof r.version === 'bigint' ? r.version.toString() : r.version,
        };
      }),
    );
  }

  /** The stored clock of every branch, or of the given ones: the most advanced row of each (row-versions.ts). */
  async loadClocks(branchIds?: string[]): Promise<Map<string, BranchClock>> {
    if (branchIds?.length === 0) return new Map();
    const rows = await this.rows<{ branch_id: string; wm: string; ct: number }>(
      'cannot load branch watermarks',
      `SELECT branch_id, toUnixTimestamp64Milli(argMax(watermark, version)) AS wm, toUnixTimestamp(argMax(closed_through, version)) AS ct
       FROM ${this.ch.table('branch_watermarks')}
       ${branchIds ? 'WHERE branch_id IN {branches:Array(String)}' : ''}
       GROUP BY branch_id`,
      branchIds ? { branches: branchIds } : {},
    );
    return new Map(
      rows.map((r) => [r.branch_id, { watermark: Number(r.wm), closedThrough: Number(r.ct) * 1000 }]),
    );
  }

  /** Saves clocks, each with a version of its own progress: a stale clock written late never wins. */
  async saveClocks(clocks: Map<string, BranchClock>): Promise<void> {
    const values = [...clocks].flatMap(([branch_id, c]) =>
      c.closedThrough !== null && Number.isFinite(c.watermark)
        ? [
            {
              branch_id,
              watermark: toDateTime64(c.watermark),
              closed_through: toDateTime(c.closedThrough),
              version: clockVersion({ watermark: c.watermark, closedThrough: c.closedThrough }).toString(),
            },
          ]
        : [],
    );
    await this.insert('cannot save branch watermarks', 'branch_watermarks', values);
  }

  async insertRejections(rows: RejectionRow[]): Promise<void> {
    await this.insert(
      'cannot record rejections',
      'ingest_rejections',
      rows.map((r) => ({
        topic: r.topic,
        kafka_partition: r.partition,
        kafka_offset: r.offset,
        code: r.code,
        reason: r.reason,
        branch_id: r.branch_id,
        event_id: r.event_id,
        payload_size: r.payload_size,
      })),
    );
  }
}

export { hourKey, toDate };
