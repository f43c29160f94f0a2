/**
 * `sales_hourly`: the hourly aggregates per branch, and every read of them. Ingest recomputes an
 * hour from the raw events (`aggregateHours`, over sales_events FINAL), reads what is stored
 * (`storedHours`) and writes the new row (`insertHours`); the forecaster reads closed histories;
 * the API reads closed-hour actuals. Rows are versioned by what they know (row-versions.ts):
 * readers take argMax(…, version), so a late stale row is outranked, never read.
 */
import type { Branch, BranchDirectory } from '../../lib/branches';
import { branchSeries, type HourlySeries } from '../../model/series';
import { HOUR_MS } from '../../lib/time/units';
import { localWallClock } from '../../lib/time/wall-clock';
import type { ClickHouse } from '../client';
import { toDateTime, toDateTime64 } from '../datetime-text';
import { parameterChunks } from '../query-parameters';
import { QueryRunner } from '../query-runner';
import { eventsOfHourVersion } from './row-versions';

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

/**
 * Contiguous hourly history of one branch, zeros for closed hours without sales, sales in major
 * units: exactly the model's input series.
 */
export type BranchHistory = HourlySeries;

/** A closed hour as the API serves it: sales in cents, orders. */
export interface ClosedHourActual {
  salesCents: number;
  orders: number;
}

/** Key of an hour in the maps of this module: `branch|epoch seconds`. */
export const hourKey = (branchId: string, hour: number): string => `${branchId}|${hour / 1000}`;

export const emptyAggregate = (): HourAggregate => ({
  events: 0,
  sales_minor: 0,
  orders: 0,
  refunds: 0,
  voids: 0,
  sales_by_channel: {},
  orders_by_channel: {},
});

/** Hours per aggregation or stored-hours query on a server (the URL bound usually bounds first). */
export const MAX_HOURS_PER_QUERY = 2_000;

/** Groups (branch, hour) pairs by branch, as the hour maps of this module take them. */
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

export class SalesHourly {
  private readonly q: QueryRunner;
  private readonly maxParamChars: number;
  private readonly maxHoursPerQuery: number;

  /**
   * The URL bounds are a server's (query parameters travel in the URL); the embedded engine takes
   * them in-process, and one aggregation of all of a batch's hours is cheaper than several.
   */
  constructor(ch: ClickHouse, opts: { maxParamChars?: number; maxHoursPerQuery?: number } = {}) {
    this.q = new QueryRunner(ch);
    this.maxParamChars = opts.maxParamChars ?? this.q.maxParamChars;
    this.maxHoursPerQuery =
      opts.maxHoursPerQuery ?? (ch.mode === 'server' ? MAX_HOURS_PER_QUERY : Number.POSITIVE_INFINITY);
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
    const rows = await this.q.rows<{
      branch_id: string;
      hour: number;
      status: string;
      channel: string;
      total: string;
      n: string;
    }>(
      'sales_hourly.aggregate',
      `SELECT branch_id, toUnixTimestamp(toStartOfHour(occurred_at)) AS hour, toString(status) AS status, channel,
              sum(total_minor) AS total, count() AS n
       FROM ${this.q.table('sales_events')} FINAL
       WHERE branch_id IN {branches:Array(String)}
         AND occurred_at >= {from:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')}
         AND too_late = 0
         AND concat(branch_id, '|', toString(toUnixTimestamp(toStartOfHour(occurred_at)))) IN {keys:Array(String)}
       GROUP BY branch_id, hour, status, channel`,
      { branches: [...hours.keys()], from: toDateTime64(min), to: toDateTime64(max + HOUR_MS), keys },
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
    const rows = await this.q.rows<{
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
      'sales_hourly.stored',
      `SELECT branch_id, toUnixTimestamp(hour_start) AS hour,
              argMax(sales_minor, version) AS sales_minor, argMax(orders, version) AS orders,
              argMax(refunds, version) AS refunds, argMax(voids, version) AS voids,
              argMax(revision, version) AS best_revision, argMax(closed, version) AS closed,
              max(revision) AS top_revision, toString(max(version)) AS best_version
       FROM ${this.q.table('sales_hourly')}
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

  /** Idempotent: rows are replaced by key, the highest version wins. */
  async insertHours(rows: HourRow[]): Promise<void> {
    await this.q.insert(
      'sales_hourly.insert',
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
      { idempotent: true },
    );
  }

  /**
   * Closed-hour histories ending at each branch's origin (exclusive), at most `hours` long,
   * starting no earlier than the branch's first recorded hour.
   */
  async histories(requests: { branch: Branch; origin: number }[], hours: number): Promise<BranchHistory[]> {
    // In chunks of branch ids a server accepts as one parameter (query-parameters.ts): a refresh
    // burst or a retraining of thousands of branches would exceed its URL field limit.
    const out: BranchHistory[] = [];
    for (const chunk of parameterChunks(requests, (r) => r.branch.id, Number.POSITIVE_INFINITY))
      out.push(...(await this.historyChunk(chunk, hours)));
    return out;
  }

  private async historyChunk(
    requests: { branch: Branch; origin: number }[],
    hours: number,
  ): Promise<BranchHistory[]> {
    if (requests.length === 0) return [];
    const minFrom = Math.min(...requests.map((r) => r.origin)) - hours * HOUR_MS;
    const maxTo = Math.max(...requests.map((r) => r.origin));
    const rows = await this.q.rows<{ b: string; h: number; s: string; o: number }>(
      'sales_hourly.histories',
      `SELECT branch_id AS b, toUnixTimestamp(hour_start) AS h, argMax(sales_minor, version) AS s, argMax(orders, version) AS o
       FROM ${this.q.table('sales_hourly')}
       WHERE branch_id IN {branches:Array(String)} AND hour_start >= {from:DateTime('UTC')} AND hour_start < {to:DateTime('UTC')}
       GROUP BY b, h
       HAVING argMax(closed, version) = 1
       ORDER BY b, h`,
      { branches: requests.map((r) => r.branch.id), from: toDateTime(minFrom), to: toDateTime(maxTo) },
    );
    const byBranch = new Map<string, { h: number; s: number; o: number }[]>();
    for (const r of rows) {
      let list = byBranch.get(r.b);
      if (!list) byBranch.set(r.b, (list = []));
      list.push({ h: Number(r.h) * 1000, s: Number(r.s) / 100, o: Number(r.o) });
    }
    return requests.map(({ branch, origin }) => {
      const list = (byBranch.get(branch.id) ?? []).filter(
        (x) => x.h < origin && x.h >= origin - hours * HOUR_MS,
      );
      const start = list.length > 0 ? list[0]!.h : origin;
      const n = Math.max(0, (origin - start) / HOUR_MS);
      const sales = new Float64Array(n);
      const orders = new Float64Array(n);
      for (const x of list) {
        const i = (x.h - start) / HOUR_MS;
        sales[i] = x.s;
        orders[i] = x.o;
      }
      return branchSeries(branch, start, sales, orders);
    });
  }

  /** All closed history (up to `maxDays`) of every branch of the directory that has some, for (re)training. */
  async closedHistories(branches: BranchDirectory, maxDays = 400): Promise<BranchHistory[]> {
    const closed = await this.lastClosedHours();
    const requests = [...closed]
      .map(([id, hour]) => ({ branch: branches.get(id), origin: hour + HOUR_MS }))
      .filter((r): r is { branch: Branch; origin: number } => r.branch !== undefined);
    return this.histories(requests, maxDays * 24);
  }

  /**
   * Latest closed hour per branch (for resuming after a restart), or of these branches only (a
   * refresh of a few branches: the read is pruned to them).
   */
  async lastClosedHours(branchIds?: readonly string[]): Promise<Map<string, number>> {
    if (branchIds?.length === 0) return new Map();
    const rows = await this.q.rows<{ b: string; h: number }>(
      'sales_hourly.last_closed',
      `SELECT branch_id AS b, toUnixTimestamp(max(hour_start)) AS h FROM ${this.q.table('sales_hourly')}
       WHERE closed = 1${branchIds ? ' AND branch_id IN {branches:Array(String)}' : ''} GROUP BY b`,
      branchIds ? { branches: [...new Set(branchIds)] } : {},
    );
    return new Map(rows.map((r) => [r.b, Number(r.h) * 1000]));
  }

  /**
   * End of the newest closed hour of any branch (epoch ms); one hour past the epoch when nothing
   * is closed yet (the max of no rows is the epoch in ClickHouse).
   */
  async closedThrough(): Promise<number> {
    const [row] = await this.q.rows<{ t: number | string }>(
      'sales_hourly.closed_through',
      `SELECT toUnixTimestamp(max(hour_start) + INTERVAL 1 HOUR) AS t FROM ${this.q.table('sales_hourly')} WHERE closed = 1`,
    );
    return Number(row?.t ?? 3_600) * 1000;
  }

  /** The closed hours of one branch in [from, to) (UTC ms), keyed by hour start: the API's actuals. */
  async closedHourActuals(
    branchId: string,
    from: number,
    to: number,
  ): Promise<Map<number, ClosedHourActual>> {
    const rows = await this.q.rows<{ h: number | string; s: number | string; o: number | string }>(
      'sales_hourly.actuals',
      `SELECT toUnixTimestamp(hour_start) AS h, argMax(sales_minor, version) AS s, argMax(orders, version) AS o
       FROM ${this.q.table('sales_hourly')}
       WHERE branch_id = {branch:String} AND hour_start >= {from:DateTime('UTC')} AND hour_start < {to:DateTime('UTC')}
       GROUP BY h
       HAVING argMax(closed, version) = 1`,
      { branch: branchId, from: toDateTime(from), to: toDateTime(to) },
    );
    const out = new Map<number, ClosedHourActual>();
    for (const r of rows) out.set(Number(r.h) * 1000, { salesCents: Number(r.s), orders: Number(r.o) });
    return out;
  }
}
