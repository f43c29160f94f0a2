/**
 * p10–p90 of a bucket of hours (a local day, an ISO week, a range total), calibrated for that
 * bucket. Quantiles do not add: the sum of 168 hourly p10s is far below the p10 of the week. So
 * a bucket's interval is built around its summed p50 (kept exact: a day's p50 is the sum of its
 * hours) with half-widths k_g × spread(hourly half-widths), below and above p50, where
 * - spread is the sum of the hourly half-widths ('sum', errors moving together, as a level error
 *   does) or their root-sum-of-squares ('rss', independent hours); measureGrainFactors computes
 *   both and keeps the one that gives the narrower intervals at the same 80% coverage;
 * - k_g is measured per grain (day, week) and quantity at training time, out of sample, exactly
 *   like the hourly k (calibration.ts, conformal with a time split): the calibration model
 *   forecasts from every local midnight of the calibration window, and every complete local day
 *   and every complete 7-day block of each forecast inside the window is scored; k_g is the
 *   stretch that covers 80% of them, with split conformal's finite-sample correction counted on
 *   the distinct buckets (conformalLevel: e.g. 42 distinct days of 3 branches → 83.3%). Without
 *   it, 8 origins of the real export held 71–74% of days and weeks.
 * Weeks: the 7-day blocks overlap (every block starting at a local midnight of a forecast, up to
 * the block that ends at the window's or the forecast's end: with the 28-day window of train.ts,
 * 162 blocks per branch from 28 origins, over 22 distinct weeks at horizons 1–8 days, so the
 * second forecast week is scored too). They are not independent, and k_week is the least certain
 * factor.
 * Horizon: one factor per grain, not per horizon bucket: late days and second weeks are in the
 * scores (a 14-day window, which had none after day 8, left sales days and weeks under-covered
 * on the backtest), but a set of factors per horizon would rest on few, overlapping buckets.
 * Grain 'hour' (or no factors: a model trained before this existed) is the former rule: the sums
 * of the hourly p10s and p90s.
 */
import { localSlotOf } from '../lib/time/wall-clock';
import { HOUR_MS } from '../lib/time/units';
import type { BranchForecast, HourlyForecast } from './forecast-types';
import type { Grain, GrainCalibration, GrainFactors, SpreadRule } from './interval-factors';
import type { HourlySeries } from './series';

/** A bucket's sums: p50 exact, p10/p90 as calibrated for the grain. */
export type BucketInterval = Omit<HourlyForecast, 'hourStart'>;

const TARGET = 0.8;
const K_MIN = 0.05;
/** Bounds a side with no width (stretch Infinity); 'rss' factors grow like √hours, so no tighter. */
const K_MAX = 100;
/** A bucket needs this many forecast hours for 'day' and for 'week' factors (geometric midpoints of 1, 24, 168). */
const DAY_FROM_HOURS = 5;
const WEEK_FROM_HOURS = 64;

/** The grain whose factors a bucket of `forecastHours` forecast hours takes (a partial day or week included). */
export function grainForHours(forecastHours: number): Grain {
  return forecastHours >= WEEK_FROM_HOURS ? 'week' : forecastHours >= DAY_FROM_HOURS ? 'day' : 'hour';
}

type Side = (h: HourlyForecast) => [number, number, number];
const SALES: Side = (h) => [h.salesP10, h.salesP50, h.salesP90];
const ORDERS: Side = (h) => [h.ordersP10, h.ordersP50, h.ordersP90];

interface Sums {
  p10: number;
  p50: number;
  p90: number;
  /** Sum and sum of squares of the lower and upper half-widths. */
  lo: number;
  hi: number;
  lo2: number;
  hi2: number;
}

function sums(hours: readonly HourlyForecast[], side: Side): Sums {
  const s: Sums = { p10: 0, p50: 0, p90: 0, lo: 0, hi: 0, lo2: 0, hi2: 0 };
  for (const h of hours) {
    const [a, b, c] = side(h);
    s.p10 += a;
    s.p50 += b;
    s.p90 += c;
    const lo = Math.max(0, b - a);
    const hi = Math.max(0, c - b);
    s.lo += lo;
    s.hi += hi;
    s.lo2 += lo * lo;
    s.hi2 += hi * hi;
  }
  return s;
}

const spreadOf = (s: Sums, rule: SpreadRule): [number, number] =>
  rule === 'sum' ? [s.lo, s.hi] : [Math.sqrt(s.lo2), Math.sqrt(s.hi2)];

function interval(s: Sums, rule: SpreadRule | undefined, k: number | undefined): [number, number, number] {
  if (rule === undefined || k === undefined) return [s.p10, s.p50, s.p90];
  const [lo, hi] = spreadOf(s, rule);
  return [Math.max(0, s.p50 - k * lo), s.p50, s.p50 + k * hi];
}

/**
 * The p10/p50/p90 of a bucket of forecast hours: p50 the sum of the hourly p50s, p10/p90 at
 * k_g × spread around it for grain 'day' or 'week' (p10 floored at 0); the sums of the hourly
 * p10s/p90s for grain 'hour' or without factors.
 */
export function bucketInterval(
  hours: readonly HourlyForecast[],
  factors: GrainFactors | undefined,
  grain: Grain,
): BucketInterval {
  const f = factors && grain !== 'hour' ? factors[grain] : undefined;
  const rule = f ? factors?.spread : undefined;
  const [salesP10, salesP50, salesP90] = interval(sums(hours, SALES), rule, f?.sales);
  const [ordersP10, ordersP50, ordersP90] = interval(sums(hours, ORDERS), rule, f?.orders);
  return { salesP10, salesP50, salesP90, ordersP10, ordersP50, ordersP90 };
}

/** Stretch of the spread around p50 that the actual y needs (Infinity if the side has no width). */
export function stretchNeeded(y: number, p50: number, lo: number, hi: number): number {
  if (y > p50) return hi > 0 ? (y - p50) / hi : Infinity;
  if (y < p50) return lo > 0 ? (p50 - y) / lo : Infinity;
  return 0;
}

/**
 * The smallest x whose share of the weight at or below it exceeds q (equal weights: the
 * ⌊q·n⌋-th smallest, 0-based).
 */
function quantile(xs: readonly number[], q: number, weights?: readonly number[]): number {
  const order = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]!);
  const weightOf = (i: number): number => weights?.[i] ?? 1;
  const total = order.reduce((s, i) => s + weightOf(i), 0);
  let seen = 0;
  for (const i of order) {
    seen += weightOf(i);
    if (seen > q * total + 1e-9 * total) return xs[i]!;
  }
  return xs[order.at(-1)!]!;
}

/**
 * The stretch that covers `level` of buckets needing `needed` (stretchNeeded each; weighted by
 * `weights` if given), within [K_MIN, K_MAX].
 */
export function stretchAt(needed: number[], level: number, weights?: readonly number[]): number {
  return Math.min(K_MAX, Math.max(K_MIN, quantile(needed, level, weights)));
}

interface Scored {
  sums: Sums;
  y: number;
  /** Complete days between the forecast's first and this bucket's first (its horizon). */
  horizon: number;
}

/**
 * Each score's weight: 1 / the scores at its horizon. The calibration origins are every midnight
 * of a 28-day window, so short horizons are scored more often than long ones (horizon h by the
 * 28 − h origins whose forecast reaches inside the window) while a served forecast's days are
 * one of each horizon; unweighted, the factors fit the shorter, more accurate horizons and the
 * day ranges held only ~75% in the backtest.
 */
function horizonWeights(xs: readonly Scored[]): number[] {
  const count = new Map<number, number>();
  for (const x of xs) count.set(x.horizon, (count.get(x.horizon) ?? 0) + 1);
  return xs.map((x) => 1 / count.get(x.horizon)!);
}

/** One bucket's scores per quantity: skipped when closed and forecast closed. */
function score(
  hours: HourlyForecast[],
  ys: number[],
  yo: number[],
  horizon: number,
  into: { sales: Scored[]; orders: Scored[] },
): void {
  const s = sums(hours, SALES);
  const o = sums(hours, ORDERS);
  const sy = ys.reduce((a, b) => a + b, 0);
  const oy = yo.reduce((a, b) => a + b, 0);
  if (sy !== 0 || s.p90 > 0) into.sales.push({ sums: s, y: sy, horizon });
  if (oy !== 0 || o.p90 > 0) into.orders.push({ sums: o, y: oy, horizon });
}

/** k covering 80% of `xs` for `rule`, and the mean relative width it gives. */
/**
 * The conformal level for `distinct` distinct buckets: ⌈(n + 1) × 0.8⌉ / n, the finite-sample
 * correction of split conformal prediction, with n the distinct buckets rather than the scores
 * (a day is scored once per origin before it: the scores are not independent).
 */
export function conformalLevel(distinct: number): number {
  return distinct > 0 ? Math.min(1, Math.ceil((distinct + 1) * TARGET - 1e-9) / distinct) : TARGET;
}

function fit(xs: Scored[], rule: SpreadRule, level: number): { k: number; width: number } {
  if (xs.length === 0) return { k: 1, width: 0 };
  const k = stretchAt(
    xs.map((x) => {
      const [lo, hi] = spreadOf(x.sums, rule);
      return stretchNeeded(x.y, x.sums.p50, lo, hi);
    }),
    level,
    horizonWeights(xs),
  );
  let w = 0;
  let p = 0;
  for (const x of xs) {
    const [lo, hi] = spreadOf(x.sums, rule);
    w += Math.min(x.sums.p50, k * lo) + k * hi;
    p += x.sums.p50;
  }
  return { k, width: p > 0 ? w / p : 0 };
}

/** A complete local day of a forecast with its actuals (`day`: the local epoch day). */
export interface ScoredDay {
  day: number;
  hours: HourlyForecast[];
  ys: number[];
  yo: number[];
}

/** The forecast's complete local days before `end` that the series has actuals for, in order. */
export function completeDays(f: BranchForecast, s: HourlySeries, end: number): ScoredDay[] {
  const days: ScoredDay[] = [];
  for (const h of f.hours) {
    if (h.hourStart >= end) break;
    const j = (h.hourStart - s.start) / HOUR_MS;
    if (j < 0 || j >= s.sales.length) continue;
    const d = localSlotOf(s.timezone, h.hourStart).day;
    if (d !== days.at(-1)?.day) days.push({ day: d, hours: [], ys: [], yo: [] });
    const b = days.at(-1)!;
    b.hours.push(h);
    b.ys.push(s.sales[j]!);
    b.yo.push(s.orders[j]!);
  }
  // A day is complete when the hours either side of it are other local days and it ends
  // before `end` and the series' end (the first day of an intraday origin is not).
  const limit = Math.min(end, s.start + s.sales.length * HOUR_MS);
  return days.filter((b) => {
    const first = b.hours[0]!.hourStart;
    const after = b.hours.at(-1)!.hourStart + HOUR_MS;
    return (
      after <= limit &&
      localSlotOf(s.timezone, first - HOUR_MS).day !== b.day &&
      localSlotOf(s.timezone, after).day !== b.day
    );
  });
}

/**
 * The grain factors from out-of-sample forecasts from local midnights (`forecasts[i]` for
 * `series[i]`, hourly intervals already calibrated), scored on the complete local days and
 * 7-day blocks before `end`.
 */
export function measureGrainFactors(
  forecasts: readonly BranchForecast[],
  series: readonly HourlySeries[],
  end: number,
): GrainCalibration {
  const day = { sales: [] as Scored[], orders: [] as Scored[] };
  const week = { sales: [] as Scored[], orders: [] as Scored[] };
  // Distinct buckets (branch and first hour), for the conformal level.
  const dayKeys = new Set<string>();
  const weekKeys = new Set<string>();
  forecasts.forEach((f, i) => {
    const s = series[i]!;
    const complete = completeDays(f, s, end);
    for (const [h, b] of complete.entries()) {
      score(b.hours, b.ys, b.yo, h, day);
      dayKeys.add(`${s.branchId}@${b.hours[0]!.hourStart}`);
    }
    for (let k = 0; k + 7 <= complete.length; k++) {
      const block = complete.slice(k, k + 7);
      weekKeys.add(`${s.branchId}@${block[0]!.hours[0]!.hourStart}`);
      score(
        block.flatMap((b) => b.hours),
        block.flatMap((b) => b.ys),
        block.flatMap((b) => b.yo),
        k,
        week,
      );
    }
  });
  // The spread rule with the narrower intervals overall at the same coverage ('rss' only when
  // clearly narrower: on equal-width buckets the two are the same up to rounding).
  const rules: SpreadRule[] = ['sum', 'rss'];
  const dayLevel = conformalLevel(dayKeys.size);
  const weekLevel = conformalLevel(weekKeys.size);
  const fits = rules.map((rule) => {
    const ds = fit(day.sales, rule, dayLevel);
    const dO = fit(day.orders, rule, dayLevel);
    const ws = fit(week.sales, rule, weekLevel);
    const wo = fit(week.orders, rule, weekLevel);
    return {
      rule,
      width: ds.width + dO.width + ws.width + wo.width,
      day: { sales: ds.k, orders: dO.k },
      week: { sales: ws.k, orders: wo.k },
    };
  });
  const best = fits[1]!.width < 0.99 * fits[0]!.width ? fits[1]! : fits[0]!;
  return {
    spread: best.rule,
    day: best.day,
    week: best.week,
    days: day.sales.length + day.orders.length,
    weeks: week.sales.length + week.orders.length,
  };
}
