/**
 * The two baselines the network must beat, computed through the same local-grid path as the
 * network (same history window, same DST handling, same output shape):
 * - seasonal naive: the same local hour on the most recent same weekday before the origin day,
 *   so the last observed week repeated over the horizon;
 * - mean of 4 weeks: the mean of the same local hour on the 4 most recent same weekdays before
 *   the origin day (unknown weeks, e.g. before the branch opened, are left out).
 * Point forecasts: p10 = p50 = p90.
 */
import type { BranchForecast } from './forecast-types';
import { DEFAULT_HORIZON_DAYS } from './forecast-types';
import { historyGrid, slotsToHours } from './horizon';
import type { HourlySeries } from './series';

export type BaselineName = 'seasonal_naive' | 'mean_4w';

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
