/**
 * The network's own starting point as a forecast: the structural base (level × hour-of-week
 * shape, `structuralBase` in features.ts) of the very feature rows the network reads, scaled back
 * by the branch's level exactly as forecast.ts does, without the network's correction and without
 * calibration. Hours the network does not forecast (no sales at that hour in 28 days) are 0, as
 * in forecast.ts. Point forecasts: p10 = p50 = p90. The backtest compares the network with it:
 * the network must earn its place against its own base.
 */
import { originAt } from './baselines';
import { specialDayIndex } from './calendar';
import { DEFAULT_HORIZON_DAYS, type BranchForecast } from './forecast-types';
import { LOOKBACK_DAYS } from './forecast';
import { originRows, structuralBase } from './features';
import { historyGrid, slotsToHours } from './horizon';
import { assertValidSeries, type HourlySeries } from './series';

export function structuralBaseline(
  histories: HourlySeries[],
  origins: number[],
  days: number = DEFAULT_HORIZON_DAYS,
): BranchForecast[] {
  return histories.map((s, i) => {
    assertValidSeries(s);
    const origin = originAt(origins, i);
    const hg = historyGrid(s, origin, days, LOOKBACK_DAYS);
    const rows = originRows(hg.grid, specialDayIndex(s.country), hg.originSlot, days);
    const bySlot = new Map<number, [number, number]>();
    if (rows)
      for (let j = 0; j < rows.slots.length; j++)
        bySlot.set(rows.slots[j]!, [
          Math.max(0, structuralBase(rows.rows, j, 0)) * rows.scaleSales,
          Math.max(0, structuralBase(rows.rows, j, 1)) * rows.scaleOrders,
        ]);
    return slotsToHours(s.branchId, hg.grid, origin, days, (slot) => {
      const [v, o] = bySlot.get(slot) ?? [0, 0];
      return [v, v, v, o, o, o];
    });
  });
}
