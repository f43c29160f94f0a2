/**
 * The network's own starting point as a forecast: the structural base (level × hour-of-week
 * shape, `structuralBase` in features.ts) of the very feature rows the network reads, scaled back
 * by the branch's level exactly as forecast.ts does, without the network's correction and without
 * calibration. Hours the network does not forecast (no sales at that hour in 28 days) are 0, as
 * in forecast.ts. Point forecasts: p10 = p50 = p90. The backtest compares the network with it:
 * the network must earn its place against its own base.
 *
 * `baseAndHoltWinters` is the backtest's ablation of the combined day totals: the base's hours
 * scaled to the combined day total of the base and Holt-Winters (day-totals.ts, the same rule as
 * the forecast's, the network left out), to show what the network adds to that combination.
 */
import { holtWintersDailyTotals, originAt } from './baselines';
import { specialDayIndex } from './calendar';
import { combinedDayTotal, horizonDays } from './day-totals';
import { DEFAULT_HORIZON_DAYS, type BranchForecast } from './forecast-types';
import { LOOKBACK_DAYS } from './forecast';
import { originRows, structuralBase, type OriginRows } from './features';
import { historyGrid, slotsToHours } from './horizon';
import { assertValidSeries, type HourlySeries } from './series';

export function structuralBaseline(
  histories: HourlySeries[],
  origins: number[],
  days: number = DEFAULT_HORIZON_DAYS,
): BranchForecast[] {
  return histories.map((s, i) => baseForecast(s, originAt(origins, i), days, false));
}

/** The structural base with its day totals combined with Holt-Winters' as the forecast's are. */
export function baseAndHoltWinters(
  histories: HourlySeries[],
  origins: number[],
  days: number = DEFAULT_HORIZON_DAYS,
): BranchForecast[] {
  return histories.map((s, i) => baseForecast(s, originAt(origins, i), days, true));
}

function baseForecast(s: HourlySeries, origin: number, days: number, withEts: boolean): BranchForecast {
  assertValidSeries(s);
  const hg = historyGrid(s, origin, days, LOOKBACK_DAYS);
  const rows = originRows(hg.grid, specialDayIndex(s.country), hg.originSlot, days);
  const bySlot = new Map<number, [number, number]>();
  if (rows) {
    for (let j = 0; j < rows.slots.length; j++)
      bySlot.set(rows.slots[j]!, [
        Math.max(0, structuralBase(rows.rows, j, 0)) * rows.scaleSales,
        Math.max(0, structuralBase(rows.rows, j, 1)) * rows.scaleOrders,
      ]);
    if (withEts) combineWithEts(s, origin, days, hg.grid.day0, hg.originSlot, rows, bySlot);
  }
  return slotsToHours(s.branchId, hg.grid, origin, days, (slot) => {
    const [v, o] = bySlot.get(slot) ?? [0, 0];
    return [v, v, v, o, o, o];
  });
}

/** Each day's base hours × (combined total / base total) where Holt-Winters has a say, in place. */
function combineWithEts(
  s: HourlySeries,
  origin: number,
  days: number,
  day0: number,
  originSlot: number,
  rows: OriginRows,
  bySlot: Map<number, [number, number]>,
): void {
  const ets = holtWintersDailyTotals(s, origin, days);
  for (const day of horizonDays(rows, day0, originSlot, ets)) {
    if (day.ets === undefined) continue;
    const slots = day.rows.map((j) => rows.slots[j]!);
    for (const q of [0, 1] as const) {
      const base = slots.reduce((a, slot) => a + bySlot.get(slot)![q], 0);
      if (base <= 0) continue;
      const f = combinedDayTotal(null, base, day.ets[q]) / base;
      for (const slot of slots) bySlot.get(slot)![q] *= f;
    }
  }
}
