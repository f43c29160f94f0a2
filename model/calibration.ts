/**
 * Interval calibration (conformalised quantile regression, time-split).
 *
 * Pinball-trained p10/p90 are calibrated in-sample; out of sample (new regimes, closures) they
 * are too narrow. So, at training time, a second model is trained on the data before
 * `end − calibrationDays`, it forecasts from every local midnight of the last `calibrationDays`
 * days (out of sample for it, and still before `end`), and the factor k by which the p10–p90
 * half-widths must be stretched (or shrunk) around p50 to cover 80% of the open hours there is
 * measured per quantity. The production model then applies p10' = p50 − k·(p50 − p10),
 * p90' = p50 + k·(p90 − p50). Nothing at or after `end` is used.
 */
import { localMidnightUtc } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import type { BranchForecast, IntervalCalibration } from './forecast-types';
import type { HourlySeries } from './series';

export const TARGET_COVERAGE = 0.8;
const K_MIN = 0.8;
const K_MAX = 3;

/** Local midnights of the `days` days before `end` (every branch's zone is the first one's). */
export function calibrationOrigins(series: HourlySeries[], end: number, days: number): number[] {
  const zone = series[0]?.timezone;
  if (!zone) return [];
  const endDay = localSlotOf(zone, end - 1).day;
  const out: number[] = [];
  for (let d = endDay - days + 1; d <= endDay; d++) {
    const o = localMidnightUtc(zone, d);
    if (o < end) out.push(o);
  }
  return out;
}

function stretchNeeded(y: number, p10: number, p50: number, p90: number): number {
  if (y > p50) return p90 > p50 ? (y - p50) / (p90 - p50) : Infinity;
  if (y < p50) return p50 > p10 ? (p50 - y) / (p50 - p10) : Infinity;
  return 0;
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return 1;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/**
 * The stretch factors from out-of-sample forecasts (`forecasts[i]` for `series[i]`), over the
 * hours before `end` where the branch was open or the forecast said it might be.
 */
export function measureCalibration(
  forecasts: BranchForecast[],
  series: HourlySeries[],
  end: number,
): IntervalCalibration {
  const ks: { sales: number[]; orders: number[] } = { sales: [], orders: [] };
  let from = Infinity;
  forecasts.forEach((f, i) => {
    const s = series[i]!;
    from = Math.min(from, f.origin);
    for (const h of f.hours) {
      if (h.hourStart >= end) break;
      const j = (h.hourStart - s.start) / HOUR_MS;
      if (j < 0 || j >= s.sales.length) continue;
      const ys = s.sales[j]!;
      const yo = s.orders[j]!;
      if (ys !== 0 || h.salesP90 > 0) ks.sales.push(stretchNeeded(ys, h.salesP10, h.salesP50, h.salesP90));
      if (yo !== 0 || h.ordersP90 > 0)
        ks.orders.push(stretchNeeded(yo, h.ordersP10, h.ordersP50, h.ordersP90));
    }
  });
  const clampK = (k: number): number => (Number.isFinite(k) ? Math.min(K_MAX, Math.max(K_MIN, k)) : K_MAX);
  return {
    sales: ks.sales.length ? clampK(quantile(ks.sales, TARGET_COVERAGE)) : 1,
    orders: ks.orders.length ? clampK(quantile(ks.orders, TARGET_COVERAGE)) : 1,
    hours: ks.sales.length + ks.orders.length,
    from: Number.isFinite(from) ? new Date(from).toISOString() : '',
    to: new Date(end).toISOString(),
  };
}

/** Applies the stretch factors to a forecast's intervals (in place), floored at 0. */
export function applyCalibration(
  f: BranchForecast,
  c: Pick<IntervalCalibration, 'sales' | 'orders'>,
): BranchForecast {
  for (const h of f.hours) {
    h.salesP10 = Math.max(0, h.salesP50 - c.sales * (h.salesP50 - h.salesP10));
    h.salesP90 = h.salesP50 + c.sales * (h.salesP90 - h.salesP50);
    h.ordersP10 = Math.max(0, h.ordersP50 - c.orders * (h.ordersP50 - h.ordersP10));
    h.ordersP90 = h.ordersP50 + c.orders * (h.ordersP90 - h.ordersP50);
  }
  return f;
}
