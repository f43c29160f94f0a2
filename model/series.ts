/**
 * The model's input: one branch's contiguous hourly history (UTC hours, zeros where nothing was
 * sold), in major currency units (EUR, not cents).
 */
import { groupOf, type Branch } from '../lib/branches';
import { HOUR_MS } from '../lib/time/units';
import type { BranchCalendarEntry } from './branch-calendar';

export interface HourlySeries {
  branchId: string;
  /** IANA time zone of the branch (local hours, days and weeks are taken there). */
  timezone: string;
  /** ISO 3166 country code: selects the special-days calendar. */
  country: string;
  /** UTC start (epoch ms) of the first hour; a multiple of one hour. */
  start: number;
  /** Sales per hour, major units (e.g. EUR). Same length as `orders`. */
  sales: Float64Array;
  /** Orders per hour. */
  orders: Float64Array;
  /** Operators' closures and events (past and planned), if any: model/branch-calendar.ts. */
  calendar?: readonly BranchCalendarEntry[];
  /** The branch's restaurant group (lib/branches.ts groupOf), if any: group ranges are calibrated per group (group-intervals.ts). */
  group?: string;
}

/** UTC end (exclusive) of a series. */
export function seriesEnd(s: HourlySeries): number {
  return s.start + s.sales.length * HOUR_MS;
}

/** Throws with a precise message unless `s` is a well-formed series. */
export function assertValidSeries(s: HourlySeries): void {
  const where = `series ${s.branchId}`;
  if (!Number.isFinite(s.start) || s.start % HOUR_MS !== 0)
    throw new Error(`${where}: start must be a UTC hour start`);
  if (s.sales.length !== s.orders.length)
    throw new Error(`${where}: sales (${s.sales.length}) and orders (${s.orders.length}) differ in length`);
  for (let i = 0; i < s.sales.length; i++) {
    if (!Number.isFinite(s.sales[i]!) || !Number.isFinite(s.orders[i]!))
      throw new Error(`${where}: non-finite value at hour ${i}`);
  }
}

/** The hours [from, to) of a series (clamped to what it has). */
export function sliceSeries(s: HourlySeries, from: number, to: number): HourlySeries {
  const a = Math.max(0, Math.ceil((from - s.start) / HOUR_MS));
  const b = Math.min(s.sales.length, Math.floor((to - s.start) / HOUR_MS));
  const start = s.start + Math.min(a, s.sales.length) * HOUR_MS;
  return {
    ...s,
    start,
    sales: s.sales.slice(a, Math.max(a, b)),
    orders: s.orders.slice(a, Math.max(a, b)),
  };
}

/** Everything strictly before `origin` (what a forecast made at `origin` may see). */
export function historyBefore(s: HourlySeries, origin: number): HourlySeries {
  return sliceSeries(s, s.start, origin);
}

/** What a series takes from its branch (lib/branches.ts). */
export type SeriesBranch = Pick<Branch, 'id' | 'timezone' | 'country' | 'group' | 'pos_company_id'>;

/** The series of `branch` from its hourly values, with the branch's group when it has one. */
export function branchSeries(
  branch: SeriesBranch,
  start: number,
  sales: Float64Array,
  orders: Float64Array,
): HourlySeries {
  const group = groupOf(branch);
  return {
    branchId: branch.id,
    timezone: branch.timezone,
    country: branch.country,
    start,
    sales,
    orders,
    ...(group === undefined ? {} : { group }),
  };
}

export interface HourlyBucket {
  salesCents: number;
  orders: number;
}

/**
 * A contiguous series from sparse hourly buckets (hour start UTC ms -> totals in cents), as the
 * ClickHouse `sales_hourly` table or the test reference gives them: absent hours are zeros.
 * `start`/`end` (UTC, hour-aligned, end exclusive) default to the first bucket and the hour
 * after the last one.
 */
export function seriesFromHourlyBuckets(
  buckets: ReadonlyMap<number, HourlyBucket>,
  branch: SeriesBranch,
  range: { start?: number; end?: number } = {},
): HourlySeries {
  let first = Infinity;
  let last = -Infinity;
  for (const t of buckets.keys()) {
    if (t < first) first = t;
    if (t > last) last = t;
  }
  const start = range.start ?? (Number.isFinite(first) ? first : 0);
  const end = range.end ?? (Number.isFinite(last) ? last + HOUR_MS : start);
  if (start % HOUR_MS !== 0 || end % HOUR_MS !== 0 || end < start)
    throw new Error(`seriesFromHourlyBuckets: bad range ${start}..${end}`);
  const n = (end - start) / HOUR_MS;
  const sales = new Float64Array(n);
  const orders = new Float64Array(n);
  for (const [t, b] of buckets) {
    if (t < start || t >= end) continue;
    const i = (t - start) / HOUR_MS;
    if (!Number.isInteger(i)) throw new Error(`seriesFromHourlyBuckets: ${t} is not an hour start`);
    sales[i] = b.salesCents / 100;
    orders[i] = b.orders;
  }
  return branchSeries(branch, start, sales, orders);
}
