/**
 * A branch's history on its LOCAL clock: a grid of local days × 24 local hours.
 *
 * The model works on this grid (hour of day, day of week and "same hour last week" are exact
 * there, across DST changes) and maps forecasts back to UTC hours:
 * - a fall-back day (Europe/Dublin 2020-10-25: 25 local hours) has two UTC hours in local hour
 *   01: the grid slot holds their sum; a forecast for that slot is split evenly over both;
 * - a spring-forward day (23 hours) has a local hour with no UTC hour: that slot is 0 in the
 *   history and a forecast for it is dropped (no such hour exists).
 * Slots outside the observed history are NaN ("unknown", not "closed").
 */
import { IANAZone } from 'luxon';
import { DAY_MS, HOUR_MS, type HourlySeries } from './series';

const MINUTE_MS = 60_000;
const zones = new Map<string, IANAZone>();

function zoneOf(name: string): IANAZone {
  let z = zones.get(name);
  if (!z) {
    if (!IANAZone.isValidZone(name)) throw new Error(`unknown IANA time zone "${name}"`);
    zones.set(name, (z = IANAZone.create(name)));
  }
  return z;
}

/**
 * UTC offsets (minutes) of `n` consecutive UTC hours from `start`: one zone look-up per day
 * plus a binary search on the (rare) days where the offset changes.
 */
export function hourlyOffsets(zone: string, start: number, n: number): Int32Array {
  const z = zoneOf(zone);
  const out = new Int32Array(n);
  if (n === 0) return out;
  let i = 0;
  let offI = z.offset(start);
  while (i < n) {
    const j = Math.min(n - 1, i + 24);
    const offJ = z.offset(start + j * HOUR_MS);
    if (offJ === offI) {
      out.fill(offI, i, j + 1);
    } else {
      // One transition in (i, j]: find the first hour with the new offset.
      let lo = i;
      let hi = j;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (z.offset(start + mid * HOUR_MS) === offI) lo = mid;
        else hi = mid;
      }
      out.fill(offI, i, hi);
      out.fill(offJ, hi, j + 1);
    }
    i = j + 1;
    offI = i < n ? z.offset(start + i * HOUR_MS) : offJ;
  }
  return out;
}

/** Local day number (days since 1970-01-01 on the local calendar) and local hour of an instant. */
export function localSlotOf(zone: string, ms: number): { day: number; hour: number } {
  const wall = ms + zoneOf(zone).offset(ms) * MINUTE_MS;
  const day = Math.floor(wall / DAY_MS);
  return { day, hour: Math.floor((wall - day * DAY_MS) / HOUR_MS) };
}

/** yyyy-mm-dd of a local day number. */
export function dayNumberToDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

export function dateToDayNumber(date: string): number {
  return Math.round(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
}

/** Day of week of a local day number: 0 = Monday … 6 = Sunday. */
export function weekdayOfDayNumber(day: number): number {
  return (((day + 3) % 7) + 7) % 7;
}

/** The UTC instant local midnight starts local day `day` in `zone` (the first hour of that day). */
export function localMidnightUtc(zone: string, day: number): number {
  // The offset is within ±14 h: scan the UTC hours around the naive midnight.
  const naive = day * DAY_MS;
  for (let t = naive - 15 * HOUR_MS; t <= naive + 15 * HOUR_MS; t += HOUR_MS) {
    const s = localSlotOf(zone, t);
    if (s.day === day) return t;
  }
  throw new Error(`no UTC hour starts local day ${dayNumberToDate(day)} in ${zone}`);
}

export interface LocalGrid {
  zone: string;
  /** Local day number of grid day 0. */
  day0: number;
  days: number;
  /** days × 24, NaN where unknown. */
  sales: Float64Array;
  orders: Float64Array;
}

/**
 * The grid of a series, covering local days `fromDay` … `toDay` (inclusive; default: the days the
 * series touches). Grid slots not covered by the series are NaN.
 */
export function toLocalGrid(s: HourlySeries, fromDay?: number, toDay?: number): LocalGrid {
  const n = s.sales.length;
  const offsets = hourlyOffsets(s.timezone, s.start, n);
  const firstSlot = n > 0 ? localSlotOf(s.timezone, s.start) : { day: fromDay ?? 0, hour: 0 };
  const lastMs = s.start + (n - 1) * HOUR_MS;
  const lastSlot = n > 0 ? localSlotOf(s.timezone, lastMs) : { day: (fromDay ?? 0) - 1, hour: 23 };
  const day0 = fromDay ?? firstSlot.day;
  const dayEnd = toDay ?? lastSlot.day;
  const days = Math.max(0, dayEnd - day0 + 1);
  const sales = new Float64Array(days * 24).fill(NaN);
  const orders = new Float64Array(days * 24).fill(NaN);
  let minSlot = Infinity;
  let maxSlot = -Infinity;
  for (let i = 0; i < n; i++) {
    const wall = s.start + i * HOUR_MS + offsets[i]! * MINUTE_MS;
    const day = Math.floor(wall / DAY_MS);
    const slot = (day - day0) * 24 + Math.floor((wall - day * DAY_MS) / HOUR_MS);
    if (slot < 0 || slot >= days * 24) continue;
    if (slot < minSlot) minSlot = slot;
    if (slot > maxSlot) maxSlot = slot;
    const ps = sales[slot]!;
    sales[slot] = (Number.isNaN(ps) ? 0 : ps) + s.sales[i]!;
    const po = orders[slot]!;
    orders[slot] = (Number.isNaN(po) ? 0 : po) + s.orders[i]!;
  }
  // Nonexistent local hours (spring forward) inside the observed span are "nothing sold".
  for (let k = minSlot; k <= maxSlot; k++) {
    if (Number.isNaN(sales[k]!)) {
      sales[k] = 0;
      orders[k] = 0;
    }
  }
  return { zone: s.timezone, day0, days, sales, orders };
}

export interface HorizonHour {
  /** UTC hour start. */
  hourStart: number;
  /** Local day number and hour. */
  day: number;
  hour: number;
  /** How many UTC hours share this local slot (2 for the repeated hour of a fall-back day). */
  share: number;
}

/**
 * The UTC hours from `origin` (an hour start) to the end of local day (origin's day + `days`):
 * the rest of the current local day and `days` full local days.
 */
export function horizonHours(zone: string, origin: number, days: number): HorizonHour[] {
  const o = localSlotOf(zone, origin);
  const lastDay = o.day + days;
  const approxN = (days + 2) * 24 + 2;
  const offsets = hourlyOffsets(zone, origin, approxN);
  const out: HorizonHour[] = [];
  const counts = new Map<number, number>();
  for (let i = 0; i < approxN; i++) {
    const wall = origin + i * HOUR_MS + offsets[i]! * MINUTE_MS;
    const day = Math.floor(wall / DAY_MS);
    if (day > lastDay) break;
    const hour = Math.floor((wall - day * DAY_MS) / HOUR_MS);
    out.push({ hourStart: origin + i * HOUR_MS, day, hour, share: 1 });
    const key = day * 24 + hour;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const h of out) h.share = counts.get(h.day * 24 + h.hour) ?? 1;
  return out;
}
