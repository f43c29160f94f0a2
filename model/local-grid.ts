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
import { hourlyOffsets } from '../lib/time/zones';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import type { HourlySeries } from './series';

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
