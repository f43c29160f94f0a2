/**
 * Baselines the network must beat, computed through the same local-grid path as the network
 * (same DST handling, same output shape):
 * - seasonal naive: the same local hour on the most recent same weekday before the origin day,
 *   so the last observed week repeated over the horizon;
 * - mean of 4 weeks: the mean of the same local hour on the 4 most recent same weekdays before
 *   the origin day (unknown weeks, e.g. before the branch opened, are left out);
 * - Holt-Winters: additive ETS with damped trend and weekly seasonality (holt-winters.ts) on the
 *   local daily totals of the last 16 weeks, each forecast day spread over its hours by the mean
 *   hour-of-day shares of the 4 most recent open same weekdays (too short a history: the 4-week
 *   mean's daily total instead of the ETS one).
 * (The structural base, the network's own starting point, is structural-baseline.ts.)
 * Point forecasts: p10 = p50 = p90.
 */
import type { BranchForecast } from './forecast-types';
import { DEFAULT_HORIZON_DAYS } from './forecast-types';
import { historyGrid, slotsToHours } from './horizon';
import { fitHoltWinters } from './holt-winters';
import type { LocalGrid } from './local-grid';
import type { HourlySeries } from './series';

export type BaselineName = 'seasonal_naive' | 'mean_4w';

/** Local days of history the Holt-Winters baseline fits on. */
export const HOLT_WINTERS_LOOKBACK_DAYS = 112;

function baselineForecast(series: HourlySeries, origin: number, days: number, weeks: number): BranchForecast {
  const { grid, originSlot } = historyGrid(series, origin, days, weeks * 7 + 1);
  const originDay = Math.floor(originSlot / 24);
  const point = (values: Float64Array, slot: number): number => {
    const g = Math.floor(slot / 24);
    const h = slot % 24;
    const k = g - originDay;
    const m0 = Math.floor(k / 7) + 1;
    let sum = 0;
    let n = 0;
    for (let j = 0; j < weeks; j++) {
      const s = (g - 7 * (m0 + j)) * 24 + h;
      const v = s >= 0 && s < originSlot ? values[s]! : NaN;
      if (!Number.isNaN(v)) {
        sum += v;
        n++;
      }
    }
    return n > 0 ? Math.max(0, sum / n) : 0;
  };
  return slotsToHours(series.branchId, grid, origin, days, (slot) => {
    const s = point(grid.sales, slot);
    const o = point(grid.orders, slot);
    return [s, s, s, o, o, o];
  });
}

/** Same hour one week earlier, repeated. */
export function seasonalNaive(
  histories: HourlySeries[],
  origins: number[],
  days: number = DEFAULT_HORIZON_DAYS,
): BranchForecast[] {
  return histories.map((s, i) => baselineForecast(s, originAt(origins, i), days, 1));
}

/** Mean of the last 4 weeks at the same hour of week. */
export function mean4Weeks(
  histories: HourlySeries[],
  origins: number[],
  days: number = DEFAULT_HORIZON_DAYS,
): BranchForecast[] {
  return histories.map((s, i) => baselineForecast(s, originAt(origins, i), days, 4));
}

/** Daily totals of the complete local days before the origin's day (NaN where an hour is unknown). */
function totalsBeforeOriginDay(values: Float64Array, originSlot: number): number[] {
  const originDay = Math.floor(originSlot / 24);
  const dayTotal = (g: number): number => {
    let sum = 0;
    for (let h = 0; h < 24; h++) {
      const s = g * 24 + h;
      const v = s < originSlot ? values[s]! : NaN;
      if (Number.isNaN(v)) return NaN;
      sum += v;
    }
    return sum;
  };
  return Array.from({ length: originDay }, (_, g) => dayTotal(g));
}

/** Holt-Winters' daily totals of the horizon's days k = 0 … days (null: too short a history). */
function etsTotals(totals: readonly number[], days: number): number[] | null {
  return fitHoltWinters(totals)?.forecast(days + 1) ?? null;
}

/** Per target day of the horizon (index k = 0 … days): the daily total and 24 hour shares. */
function dailyPlan(
  values: Float64Array,
  originSlot: number,
  days: number,
): Array<{ total: number; share: number[] }> {
  const originDay = Math.floor(originSlot / 24);
  const totals = totalsBeforeOriginDay(values, originSlot);
  const ets = etsTotals(totals, days);
  const plan: Array<{ total: number; share: number[] }> = [];
  for (let k = 0; k <= days; k++) {
    const g = originDay + k;
    const share = new Array<number>(24).fill(0);
    const same: number[] = [];
    for (let j = 1; same.length < 4 && g - 7 * j >= 0; j++) {
      const lg = g - 7 * j;
      if (lg >= originDay) continue;
      const t = totals[lg]!;
      if (t > 0) same.push(lg);
    }
    for (const lg of same)
      for (let h = 0; h < 24; h++) share[h]! += values[lg * 24 + h]! / totals[lg]! / same.length;
    const fallback = same.length ? same.reduce((a, lg) => a + totals[lg]!, 0) / same.length : 0;
    plan.push({ total: ets ? ets[k]! : fallback, share });
  }
  return plan;
}

function holtWintersForecast(series: HourlySeries, origin: number, days: number): BranchForecast {
  const { grid, originSlot }: { grid: LocalGrid; originSlot: number } = historyGrid(
    series,
    origin,
    days,
    HOLT_WINTERS_LOOKBACK_DAYS,
  );
  const originDay = Math.floor(originSlot / 24);
  const sales = dailyPlan(grid.sales, originSlot, days);
  const orders = dailyPlan(grid.orders, originSlot, days);
  return slotsToHours(series.branchId, grid, origin, days, (slot) => {
    const k = Math.floor(slot / 24) - originDay;
    const h = slot % 24;
    const s = sales[k] ? sales[k].total * sales[k].share[h]! : 0;
    const o = orders[k] ? orders[k].total * orders[k].share[h]! : 0;
    return [s, s, s, o, o, o];
  });
}

/** Holt-Winters' forecast of a horizon's local daily totals (ETS on the last 16 weeks' days). */
export interface EtsDailyTotals {
  /** Local epoch day of `sales[0]`/`orders[0]`: the origin's day. */
  firstDay: number;
  sales: number[];
  orders: number[];
}

/**
 * The Holt-Winters baseline's daily totals for the origin's day and the `days` after it, from the
 * history strictly before the origin's day; null when too few days are known to fit it (fewer
 * than 14). forecast.ts combines them with the network's and the structural base's day totals.
 */
export function holtWintersDailyTotals(
  series: HourlySeries,
  origin: number,
  days: number,
): EtsDailyTotals | null {
  const { grid, originSlot } = historyGrid(series, origin, days, HOLT_WINTERS_LOOKBACK_DAYS);
  const sales = etsTotals(totalsBeforeOriginDay(grid.sales, originSlot), days);
  const orders = etsTotals(totalsBeforeOriginDay(grid.orders, originSlot), days);
  if (!sales || !orders) return null;
  return { firstDay: grid.day0 + Math.floor(originSlot / 24), sales, orders };
}

/** Holt-Winters on daily totals spread by the recent hour-of-day shape of each weekday. */
export function holtWintersBaseline(
  histories: HourlySeries[],
  origins: number[],
  days: number = DEFAULT_HORIZON_DAYS,
): BranchForecast[] {
  return histories.map((s, i) => holtWintersForecast(s, originAt(origins, i), days));
}

export function baseline(
  name: BaselineName,
  histories: HourlySeries[],
  origins: number[],
  days: number = DEFAULT_HORIZON_DAYS,
): BranchForecast[] {
  return name === 'seasonal_naive'
    ? seasonalNaive(histories, origins, days)
    : mean4Weeks(histories, origins, days);
}

/** One origin per history, or one origin for all. */
export function originAt(origins: number[], i: number): number {
  const o = origins.length === 1 ? origins[0] : origins[i];
  if (o === undefined) throw new Error(`no origin for history ${i} (${origins.length} origins)`);
  return o;
}
