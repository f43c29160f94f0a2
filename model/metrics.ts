/**
 * Forecast accuracy: WAPE = Σ|forecast − actual| / Σ|actual| of the p50 forecast at three grains,
 * and the p10–p90 interval coverage and Winkler score.
 *
 * - hourly: per UTC hour;
 * - daily: per local calendar date of the branch;
 * - weekly: 7-local-day blocks from the origin's local day (days 0–6, 7–13), not ISO weeks.
 *
 * Coverage counts the hours where the branch was open or the forecast said it might be (actual
 * ≠ 0 or p90 > 0): the trivially covered closed hours (night) would otherwise inflate it. At day
 * and week grain the interval of a bucket is not a sum of hourly quantiles (quantiles do not
 * add): it comes from a `BucketIntervals` function (the calibrated bucket intervals); without one
 * those coverages are not measured (NaN).
 *
 * Winkler score of the 80% interval [l, u] (α = 0.2): (u − l) + (2/α)(l − y) if y < l,
 * + (2/α)(y − u) if y > u; reported relative, Σ score / Σ|actual| over the same buckets, so that
 * branches and grains pool like WAPE (lower is better).
 *
 * Per horizon day (local day of the target − local day of the origin, 0-based here and 1 … 14 in
 * the report): hourly and daily WAPE and hourly coverage.
 */
import { HOUR_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import type { BranchForecast, HourlyForecast } from './forecast-types';
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

export interface Counts {
  inside: number;
  n: number;
}

/** Winkler scores and actuals, summed (relative score = score / actual). */
export interface ScoreSums {
  score: number;
  actual: number;
}

export interface HorizonDayAccuracy {
  sales: { hourly: ErrorSums; daily: ErrorSums };
  orders: { hourly: ErrorSums; daily: ErrorSums };
  /** Hourly p10–p90 coverage over open hours, sales and orders together. */
  coverage: Counts;
}

export interface Accuracy {
  sales: Record<Grain, ErrorSums>;
  orders: Record<Grain, ErrorSums>;
  /** Hourly p10–p90 coverage over open hours, sales and orders together. */
  coverage: Counts;
  /** p10–p90 coverage per quantity and grain (day and week: only with bucket intervals). */
  coverageBy: Record<Quantity, Record<Grain, Counts>>;
  winkler: Record<Quantity, Record<Grain, ScoreSums>>;
  /** Index: horizon day (0 = the origin's local day). */
  byHorizonDay: HorizonDayAccuracy[];
}

/**
 * The calibrated p10–p90 interval of a day or 7-day bucket from its forecast hours (grain
 * 'daily' or 'weekly'), or null when there is none.
 */
export type BucketIntervals = (
  grain: 'daily' | 'weekly',
  hours: readonly HourlyForecast[],
) => { salesP10: number; salesP90: number; ordersP10: number; ordersP90: number } | null;

const errorSums = (): ErrorSums => ({ absErr: 0, actual: 0 });
const perGrain = <T>(f: () => T): Record<Grain, T> => ({ hourly: f(), daily: f(), weekly: f() });

function emptyHorizonDay(): HorizonDayAccuracy {
  return {
    sales: { hourly: errorSums(), daily: errorSums() },
    orders: { hourly: errorSums(), daily: errorSums() },
    coverage: { inside: 0, n: 0 },
  };
}

export function emptyAccuracy(): Accuracy {
  return {
    sales: perGrain(errorSums),
    orders: perGrain(errorSums),
    coverage: { inside: 0, n: 0 },
    coverageBy: {
      sales: perGrain(() => ({ inside: 0, n: 0 })),
      orders: perGrain(() => ({ inside: 0, n: 0 })),
    },
    winkler: {
      sales: perGrain(() => ({ score: 0, actual: 0 })),
      orders: perGrain(() => ({ score: 0, actual: 0 })),
    },
    byHorizonDay: [],
  };
}

const addSums = (into: ErrorSums, a: ErrorSums): void => {
  into.absErr += a.absErr;
  into.actual += a.actual;
};
const addCounts = (into: Counts, a: Counts): void => {
  into.inside += a.inside;
  into.n += a.n;
};

export function addAccuracy(into: Accuracy, a: Accuracy): Accuracy {
  for (const q of QUANTITIES) {
    for (const g of GRAINS) {
      addSums(into[q][g], a[q][g]);
      addCounts(into.coverageBy[q][g], a.coverageBy[q][g]);
      into.winkler[q][g].score += a.winkler[q][g].score;
      into.winkler[q][g].actual += a.winkler[q][g].actual;
    }
  }
  addCounts(into.coverage, a.coverage);
  a.byHorizonDay.forEach((d, k) => {
    while (into.byHorizonDay.length <= k) into.byHorizonDay.push(emptyHorizonDay());
    const t = into.byHorizonDay[k]!;
    for (const q of QUANTITIES) {
      addSums(t[q].hourly, d[q].hourly);
      addSums(t[q].daily, d[q].daily);
    }
    addCounts(t.coverage, d.coverage);
  });
  return into;
}

/** Winkler score of the 80% interval [lo, hi] for the actual y. */
export function winklerScore(lo: number, hi: number, y: number): number {
  const alpha = 0.2;
  return hi - lo + (y < lo ? (2 / alpha) * (lo - y) : 0) + (y > hi ? (2 / alpha) * (y - hi) : 0);
}

export function wape(s: ErrorSums): number {
  return s.actual > 0 ? s.absErr / Math.abs(s.actual) : s.absErr > 0 ? Infinity : 0;
}

/**
 * Scores a forecast against the series' actuals over the forecast hours that are in the series
 * and before `until` (exclusive, default: no limit).
 */
export function scoreForecast(
  forecast: BranchForecast,
  actuals: HourlySeries,
  until = Infinity,
  bucketIntervals?: BucketIntervals,
): Accuracy {
  const acc = emptyAccuracy();
  const zone = actuals.timezone;
  const originDay = localSlotOf(zone, forecast.origin).day;
  const dayAcc = (k: number): HorizonDayAccuracy => {
    while (acc.byHorizonDay.length <= k) acc.byHorizonDay.push(emptyHorizonDay());
    return acc.byHorizonDay[k]!;
  };
  /** Horizon day of the bucket's first day. */
  type Bucket = { f: number; a: number; k: number };
  /** The forecast hours of each day and 7-day bucket (for its calibrated interval). */
  const bucketHours: Record<'daily' | 'weekly', Map<number, HourlyForecast[]>> = {
    daily: new Map(),
    weekly: new Map(),
  };
  const buckets: Record<Quantity, Record<'daily' | 'weekly', Map<number, Bucket>>> = {
    sales: { daily: new Map(), weekly: new Map() },
    orders: { daily: new Map(), weekly: new Map() },
  };
  for (const h of forecast.hours) {
    if (h.hourStart >= until) continue;
    const i = (h.hourStart - actuals.start) / HOUR_MS;
    if (i < 0 || i >= actuals.sales.length) continue;
    const day = localSlotOf(zone, h.hourStart).day;
    const k = day - originDay;
    const hd = dayAcc(k);
    for (const [grain, key] of [
      ['daily', day],
      ['weekly', Math.floor(k / 7)],
    ] as const) {
      const list = bucketHours[grain].get(key) ?? [];
      list.push(h);
      bucketHours[grain].set(key, list);
    }
    const pairs: Array<[Quantity, number, number, number, number]> = [
      ['sales', h.salesP50, actuals.sales[i]!, h.salesP10, h.salesP90],
      ['orders', h.ordersP50, actuals.orders[i]!, h.ordersP10, h.ordersP90],
    ];
    for (const [q, f, a, lo, hi] of pairs) {
      acc[q].hourly.absErr += Math.abs(f - a);
      acc[q].hourly.actual += Math.abs(a);
      hd[q].hourly.absErr += Math.abs(f - a);
      hd[q].hourly.actual += Math.abs(a);
      for (const [grain, key, first] of [
        ['daily', day, k],
        ['weekly', Math.floor(k / 7), 7 * Math.floor(k / 7)],
      ] as const) {
        const m = buckets[q][grain];
        const b = m.get(key) ?? { f: 0, a: 0, k: first };
        b.f += f;
        b.a += a;
        m.set(key, b);
      }
      if (a !== 0 || hi > 0) {
        const inside = a >= lo && a <= hi ? 1 : 0;
        acc.coverage.n++;
        acc.coverage.inside += inside;
        acc.coverageBy[q].hourly.n++;
        acc.coverageBy[q].hourly.inside += inside;
        hd.coverage.n++;
        hd.coverage.inside += inside;
        acc.winkler[q].hourly.score += winklerScore(lo, hi, a);
        acc.winkler[q].hourly.actual += Math.abs(a);
      }
    }
  }
  const bands = {
    daily: new Map<number, ReturnType<BucketIntervals>>(),
    weekly: new Map<number, ReturnType<BucketIntervals>>(),
  };
  if (bucketIntervals)
    for (const grain of ['daily', 'weekly'] as const)
      for (const [key, hs] of bucketHours[grain]) bands[grain].set(key, bucketIntervals(grain, hs));
  for (const q of QUANTITIES) {
    for (const grain of ['daily', 'weekly'] as const) {
      for (const [key, b] of buckets[q][grain]) {
        acc[q][grain].absErr += Math.abs(b.f - b.a);
        acc[q][grain].actual += Math.abs(b.a);
        if (grain === 'daily')
          addSums(dayAcc(b.k)[q].daily, { absErr: Math.abs(b.f - b.a), actual: Math.abs(b.a) });
        const band = bands[grain].get(key);
        if (!band) continue;
        const [lo, hi] = q === 'sales' ? [band.salesP10, band.salesP90] : [band.ordersP10, band.ordersP90];
        if (b.a !== 0 || hi > 0) {
          acc.coverageBy[q][grain].n++;
          if (b.a >= lo && b.a <= hi) acc.coverageBy[q][grain].inside++;
          acc.winkler[q][grain].score += winklerScore(lo, hi, b.a);
          acc.winkler[q][grain].actual += Math.abs(b.a);
        }
      }
    }
  }
  return acc;
}

export interface HorizonDaySummary {
  sales: { hourly: number; daily: number };
  orders: { hourly: number; daily: number };
  coverage: number;
}

export interface WapeSummary {
  sales: Record<Grain, number>;
  orders: Record<Grain, number>;
  /** Hourly p10–p90 coverage, sales and orders together (open hours). */
  coverage_p10_p90?: number;
  /** p10–p90 coverage per quantity and grain (NaN where not measured). */
  coverage?: Record<Quantity, Record<Grain, number>>;
  /** Relative Winkler score of the p10–p90 interval per quantity and grain. */
  winkler?: Record<Quantity, Record<Grain, number>>;
  /** Index: horizon day − 1 (day 1 = the origin's local day). */
  byHorizonDay?: HorizonDaySummary[];
}

const share = (c: Counts): number => (c.n > 0 ? c.inside / c.n : NaN);
const ratio = (s: ScoreSums): number => (s.actual > 0 ? s.score / s.actual : NaN);
const byQuantityGrain = (f: (q: Quantity, g: Grain) => number): Record<Quantity, Record<Grain, number>> => ({
  sales: { hourly: f('sales', 'hourly'), daily: f('sales', 'daily'), weekly: f('sales', 'weekly') },
  orders: { hourly: f('orders', 'hourly'), daily: f('orders', 'daily'), weekly: f('orders', 'weekly') },
});

/**
 * WAPE of summed errors (one pool); with coverage: the hourly coverage of sales and orders
 * together; with detail (the backtest): coverage and Winkler score per quantity and grain (only
 * with coverage) and the per-horizon-day numbers.
 */
export function summarize(acc: Accuracy, withCoverage: boolean, detail = false): WapeSummary {
  const w = byQuantityGrain((q, g) => wape(acc[q][g]));
  const out: WapeSummary = { sales: w.sales, orders: w.orders };
  if (withCoverage) out.coverage_p10_p90 = share(acc.coverage);
  if (!detail) return out;
  if (withCoverage) {
    out.coverage = byQuantityGrain((q, g) => share(acc.coverageBy[q][g]));
    out.winkler = byQuantityGrain((q, g) => ratio(acc.winkler[q][g]));
  }
  out.byHorizonDay = acc.byHorizonDay.map((d) => ({
    sales: { hourly: wape(d.sales.hourly), daily: wape(d.sales.daily) },
    orders: { hourly: wape(d.orders.hourly), daily: wape(d.orders.daily) },
    coverage: withCoverage ? share(d.coverage) : NaN,
  }));
  return out;
}

/** Mean of per-origin summaries (each origin weighs the same). */
export function meanSummary(items: WapeSummary[], withCoverage: boolean): WapeSummary {
  const mean = (f: (s: WapeSummary) => number): number =>
    items.length ? items.reduce((a, s) => a + f(s), 0) / items.length : NaN;
  const w = byQuantityGrain((q, g) => mean((s) => s[q][g]));
  const out: WapeSummary = { sales: w.sales, orders: w.orders };
  if (withCoverage) out.coverage_p10_p90 = mean((s) => s.coverage_p10_p90 ?? NaN);
  if (withCoverage && items.some((s) => s.coverage)) {
    out.coverage = byQuantityGrain((q, g) => mean((s) => s.coverage?.[q][g] ?? NaN));
    out.winkler = byQuantityGrain((q, g) => mean((s) => s.winkler?.[q][g] ?? NaN));
  }
  const days = Math.max(0, ...items.map((s) => s.byHorizonDay?.length ?? 0));
  if (days > 0)
    out.byHorizonDay = Array.from({ length: days }, (_, k) => {
      const d = (f: (x: HorizonDaySummary) => number): number =>
        mean((s) => (s.byHorizonDay?.[k] ? f(s.byHorizonDay[k]) : NaN));
      return {
        sales: { hourly: d((x) => x.sales.hourly), daily: d((x) => x.sales.daily) },
        orders: { hourly: d((x) => x.orders.hourly), daily: d((x) => x.orders.daily) },
        coverage: d((x) => x.coverage),
      };
    });
  return out;
}
