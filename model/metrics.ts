/**
 * Forecast accuracy: WAPE = Σ|forecast − actual| / Σ|actual| of the p50 forecast at three grains,
 * and the p10–p90 interval coverage.
 *
 * - hourly: per UTC hour;
 * - daily: per local calendar date of the branch;
 * - weekly: 7-local-day blocks from the origin's local day (days 0–6, 7–13), not ISO weeks.
 *
 * Coverage counts the hours where the branch was open or the forecast said it might be (actual
 * ≠ 0 or p90 > 0): the trivially covered closed hours (night) would otherwise inflate it.
 */
import { HOUR_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import type { BranchForecast } from './forecast-types';
import type { HourlySeries } from './series';

export type Grain = 'hourly' | 'daily' | 'weekly';
export const GRAINS: readonly Grain[] = ['hourly', 'daily', 'weekly'];
export type Quantity = 'sales' | 'orders';
export const QUANTITIES: readonly Quantity[] = ['sales', 'orders'];

/** Absolute errors and actuals, summed (WAPE = absErr / actual). */
export interface ErrorSums {
  absErr: number;
  actual: number;
}

export interface Accuracy {
  sales: Record<Grain, ErrorSums>;
  orders: Record<Grain, ErrorSums>;
  coverage: { inside: number; n: number };
}

export function emptyAccuracy(): Accuracy {
  const g = (): Record<Grain, ErrorSums> => ({
    hourly: { absErr: 0, actual: 0 },
    daily: { absErr: 0, actual: 0 },
    weekly: { absErr: 0, actual: 0 },
  });
  return { sales: g(), orders: g(), coverage: { inside: 0, n: 0 } };
}

export function addAccuracy(into: Accuracy, a: Accuracy): Accuracy {
  for (const q of QUANTITIES) {
    for (const g of GRAINS) {
      into[q][g].absErr += a[q][g].absErr;
      into[q][g].actual += a[q][g].actual;
    }
  }
  into.coverage.inside += a.coverage.inside;
  into.coverage.n += a.coverage.n;
  return into;
}

export function wape(s: ErrorSums): number {
  return s.actual > 0 ? s.absErr / Math.abs(s.actual) : s.absErr > 0 ? Infinity : 0;
}

/**
 * Scores a forecast against the series' actuals over the forecast hours that are in the series
 * and before `until` (exclusive, default: no limit).
 */
export function scoreForecast(forecast: BranchForecast, actuals: HourlySeries, until = Infinity): Accuracy {
  const acc = emptyAccuracy();
  const zone = actuals.timezone;
  const originDay = localSlotOf(zone, forecast.origin).day;
  type Bucket = { f: number; a: number };
  const buckets: Record<Quantity, Record<'daily' | 'weekly', Map<number, Bucket>>> = {
    sales: { daily: new Map(), weekly: new Map() },
    orders: { daily: new Map(), weekly: new Map() },
  };
  for (const h of forecast.hours) {
    if (h.hourStart >= until) continue;
    const i = (h.hourStart - actuals.start) / HOUR_MS;
    if (i < 0 || i >= actuals.sales.length) continue;
    const day = localSlotOf(zone, h.hourStart).day;
    const pairs: Array<[Quantity, number, number]> = [
      ['sales', h.salesP50, actuals.sales[i]!],
      ['orders', h.ordersP50, actuals.orders[i]!],
    ];
    for (const [q, f, a] of pairs) {
      acc[q].hourly.absErr += Math.abs(f - a);
      acc[q].hourly.actual += Math.abs(a);
      for (const [grain, key] of [
        ['daily', day],
        ['weekly', Math.floor((day - originDay) / 7)],
      ] as const) {
        const m = buckets[q][grain];
        const b = m.get(key) ?? { f: 0, a: 0 };
        b.f += f;
        b.a += a;
        m.set(key, b);
      }
    }
    const a = actuals.sales[i]!;
    if (a !== 0 || h.salesP90 > 0) {
      acc.coverage.n++;
      if (a >= h.salesP10 && a <= h.salesP90) acc.coverage.inside++;
    }
    const ao = actuals.orders[i]!;
    if (ao !== 0 || h.ordersP90 > 0) {
      acc.coverage.n++;
      if (ao >= h.ordersP10 && ao <= h.ordersP90) acc.coverage.inside++;
    }
  }
  for (const q of QUANTITIES) {
    for (const grain of ['daily', 'weekly'] as const) {
      for (const b of buckets[q][grain].values()) {
        acc[q][grain].absErr += Math.abs(b.f - b.a);
        acc[q][grain].actual += Math.abs(b.a);
      }
    }
  }
  return acc;
}

export interface WapeSummary {
  sales: Record<Grain, number>;
  orders: Record<Grain, number>;
  coverage_p10_p90?: number;
}

/** WAPE of summed errors (one pool). */
export function summarize(acc: Accuracy, withCoverage: boolean): WapeSummary {
  const out: WapeSummary = {
    sales: { hourly: wape(acc.sales.hourly), daily: wape(acc.sales.daily), weekly: wape(acc.sales.weekly) },
    orders: {
      hourly: wape(acc.orders.hourly),
      daily: wape(acc.orders.daily),
      weekly: wape(acc.orders.weekly),
    },
  };
  if (withCoverage) out.coverage_p10_p90 = acc.coverage.n > 0 ? acc.coverage.inside / acc.coverage.n : NaN;
  return out;
}

/** Mean of per-origin summaries (each origin weighs the same). */
export function meanSummary(items: WapeSummary[], withCoverage: boolean): WapeSummary {
  const mean = (f: (s: WapeSummary) => number): number =>
    items.length ? items.reduce((a, s) => a + f(s), 0) / items.length : NaN;
  const out: WapeSummary = {
    sales: {
      hourly: mean((s) => s.sales.hourly),
      daily: mean((s) => s.sales.daily),
      weekly: mean((s) => s.sales.weekly),
    },
    orders: {
      hourly: mean((s) => s.orders.hourly),
      daily: mean((s) => s.orders.daily),
      weekly: mean((s) => s.orders.weekly),
    },
  };
  if (withCoverage) out.coverage_p10_p90 = mean((s) => s.coverage_p10_p90 ?? NaN);
  return out;
}
