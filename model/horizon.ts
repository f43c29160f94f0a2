/**
 * From a branch history and an origin to the local grid the forecasters read, and from forecasts
 * per grid slot back to UTC hours (the rest of the origin's local day + `days` local days).
 */
import { DAY_MS, HOUR_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import type { BranchForecast, HourlyForecast, HourParts } from './forecast-types';
import { horizonHours, toLocalGrid, type LocalGrid } from './local-grid';
import { historyBefore, sliceSeries, type HourlySeries } from './series';

export interface HistoryGrid {
  grid: LocalGrid;
  /** Grid slot of the origin; slots before it are history (NaN where unknown). */
  originSlot: number;
}

/**
 * The local grid of the `lookbackDays` local days before the origin's day through the end of
 * the horizon, filled with history strictly before `origin` only.
 */
export function historyGrid(
  series: HourlySeries,
  origin: number,
  days: number,
  lookbackDays: number,
): HistoryGrid {
  if (origin % HOUR_MS !== 0)
    throw new Error(`origin ${new Date(origin).toISOString()} is not an hour start`);
  const o = localSlotOf(series.timezone, origin);
  const from = origin - (lookbackDays + 2) * DAY_MS;
  const past = sliceSeries(historyBefore(series, origin), from, origin);
  const day0 = o.day - lookbackDays;
  const grid = toLocalGrid(past, day0, o.day + days);
  return { grid, originSlot: (o.day - day0) * 24 + o.hour };
}

/** Six values per slot: sales p10/p50/p90, orders p10/p50/p90. */
export type SlotValues = (slot: number) => readonly [number, number, number, number, number, number];

/** Six parts per slot (HourParts: sales level/shape/calendar, orders level/shape/calendar). */
export type SlotParts = (slot: number) => readonly [number, number, number, number, number, number];

/**
 * The horizon's UTC hours with the values of their local slots (a slot two UTC hours share, the
 * repeated hour of a fall-back day, is split evenly), and their p50 parts when `partsOf` is given.
 */
export function slotsToHours(
  branchId: string,
  grid: LocalGrid,
  origin: number,
  days: number,
  valueOf: SlotValues,
  partsOf?: SlotParts,
): BranchForecast {
  const hours: HourlyForecast[] = [];
  for (const h of horizonHours(grid.zone, origin, days)) {
    const slot = (h.day - grid.day0) * 24 + h.hour;
    const v = valueOf(slot);
    const f = 1 / h.share;
    const hour: HourlyForecast = {
      hourStart: h.hourStart,
      salesP10: v[0] * f,
      salesP50: v[1] * f,
      salesP90: v[2] * f,
      ordersP10: v[3] * f,
      ordersP50: v[4] * f,
      ordersP90: v[5] * f,
    };
    if (partsOf) {
      const p = partsOf(slot);
      const parts: HourParts = {
        salesLevel: p[0] * f,
        salesShape: p[1] * f,
        salesCalendar: p[2] * f,
        ordersLevel: p[3] * f,
        ordersShape: p[4] * f,
        ordersCalendar: p[5] * f,
      };
      hour.parts = parts;
    }
    hours.push(hour);
  }
  return { branchId, origin, hours };
}
