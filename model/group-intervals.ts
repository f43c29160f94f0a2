/**
 * p10–p90 of a group of branches (a restaurant group: HourlySeries.group, lib/branches.ts
 * groupOf), calibrated for the group's buckets, not summed from the branches' quantiles.
 *
 * A group bucket (an hour, a local day, a 7-day block, a range total) is built from its branches'
 * buckets as /predict serves them (each already calibrated for its own grain: grain-intervals.ts):
 * p50 is the exact sum of the branches' p50s; the half-widths below and above it are
 * k × spread(the branches' half-widths), where spread is their sum ('sum': branch errors moving
 * together, as a shared level error or the weather does) or their root-sum-of-squares ('rss':
 * independent branches). Summing the branches' p10s and p90s is 'sum' with k = 1: right only if
 * every branch misses the same way at once; otherwise the group range is too wide.
 *
 * k is measured per grain (hour, day, week) and quantity at training time, out of sample, exactly
 * like the per-grain factors (grain-intervals.ts): the calibration model's forecasts from every
 * local midnight of the calibration window (hourly intervals calibrated, day and week intervals
 * built with the model's grain factors) are summed per group and origin, and every group hour,
 * complete local day and 7-day block before the window's end is scored; k is the stretch that
 * covers 80% of them with split conformal's correction on the distinct buckets. Per grain, the
 * spread rule that gives the narrower intervals at that coverage is kept ('rss' only when clearly
 * narrower). Groups of one branch are not scored: a group of one is its branch (k = 1).
 * One set of factors serves every group of the model's branches (they are pooled): with one group
 * (the shared export's three Nory branches) it is that group's; with a 28-day window, 28 distinct
 * days and 22 distinct weeks of it, so k_week is the least certain factor, as for branches.
 */
import { localSlotOf } from '../lib/time/wall-clock';
import { HOUR_MS } from '../lib/time/units';
import type { BranchForecast, HourlyForecast } from './forecast-types';
import {
  bucketInterval,
  completeDays,
  conformalLevel,
  stretchAt,
  stretchNeeded,
  type BucketInterval,
} from './grain-intervals';
import type { Grain, GrainFactors, GroupCalibration, GroupFactors, SpreadRule } from './interval-factors';
import type { HourlySeries } from './series';

const GRAINS: readonly Grain[] = ['hour', 'day', 'week'];
const QUANTITIES = ['sales', 'orders'] as const;
type Quantity = (typeof QUANTITIES)[number];

const valuesOf = (b: BucketInterval, q: Quantity): [number, number, number] =>
  q === 'sales' ? [b.salesP10, b.salesP50, b.salesP90] : [b.ordersP10, b.ordersP50, b.ordersP90];

/** Half-widths of a quantity's branch buckets below and above their p50s. */
function halfWidths(
  parts: readonly BucketInterval[],
  q: Quantity,
): { p50: number; lo: number[]; hi: number[] } {
  let p50 = 0;
  const lo: number[] = [];
  const hi: number[] = [];
  for (const b of parts) {
    const [a, m, c] = valuesOf(b, q);
    p50 += m;
    lo.push(Math.max(0, m - a));
    hi.push(Math.max(0, c - m));
  }
  return { p50, lo, hi };
}

function spread(xs: readonly number[], rule: SpreadRule): number {
  let s = 0;
  for (const x of xs) s += rule === 'sum' ? x : x * x;
  return rule === 'sum' ? s : Math.sqrt(s);
}

/**
 * The p10/p50/p90 of a group bucket from its branches' buckets: p50 their sum (exact); p10/p90 at
 * k × spread around it with the group factors of `grain` (p10 floored at 0); without factors,
 * the sums of the branches' p10s and p90s. A group of one branch is that branch's bucket.
 */
export function groupInterval(
  parts: readonly BucketInterval[],
  factors: GroupFactors | undefined,
  grain: Grain,
): BucketInterval {
  if (parts.length === 1) return { ...parts[0]! };
  const out = {} as BucketInterval;
  for (const q of QUANTITIES) {
    const { p50, lo, hi } = halfWidths(parts, q);
    let p10 = 0;
    let p90 = 0;
    const f = factors?.[grain];
    if (f) {
      p10 = Math.max(0, p50 - f[q] * spread(lo, f.spread));
      p90 = p50 + f[q] * spread(hi, f.spread);
    } else
      for (const b of parts) {
        const [a, , c] = valuesOf(b, q);
        p10 += a;
        p90 += c;
      }
    if (q === 'sales') Object.assign(out, { salesP10: p10, salesP50: p50, salesP90: p90 });
    else Object.assign(out, { ordersP10: p10, ordersP50: p50, ordersP90: p90 });
  }
  return out;
}

/** One scored group bucket: its branches' buckets and the group's actual sales and orders. */
interface GroupBucket {
  key: string;
  parts: BucketInterval[];
  ys: number;
  yo: number;
}

const hourInterval = (h: HourlyForecast): BucketInterval => ({
  salesP10: h.salesP10,
  salesP50: h.salesP50,
  salesP90: h.salesP90,
  ordersP10: h.ordersP10,
  ordersP50: h.ordersP50,
  ordersP90: h.ordersP90,
});

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** The members' forecasts (same origin) of each group with at least two members, by `origin@group`. */
function groupsOf(
  forecasts: readonly BranchForecast[],
  series: readonly HourlySeries[],
): Map<string, { group: string; members: number[] }> {
  const out = new Map<string, { group: string; members: number[] }>();
  forecasts.forEach((f, i) => {
    const group = series[i]!.group;
    if (group === undefined) return;
    const key = `${f.origin}@${group}`;
    const g = out.get(key) ?? { group, members: [] };
    g.members.push(i);
    out.set(key, g);
  });
  for (const [k, g] of out) if (g.members.length < 2) out.delete(k);
  return out;
}

/**
 * The scored group buckets of every group and origin: the hours before `end`, complete local
 * days and 7 consecutive such days, each summed over the members that have it (at least two:
 * a branch whose history ends early, as one still replaying, leaves the others' sums scored).
 */
function groupBuckets(
  forecasts: readonly BranchForecast[],
  series: readonly HourlySeries[],
  end: number,
  grains: GrainFactors | undefined,
): Record<Grain, GroupBucket[]> {
  const out: Record<Grain, GroupBucket[]> = { hour: [], day: [], week: [] };
  for (const { group, members } of groupsOf(forecasts, series).values()) {
    // Hours: by hour start.
    const hours = new Map<number, GroupBucket>();
    for (const i of members) {
      const s = series[i]!;
      const limit = Math.min(end, s.start + s.sales.length * HOUR_MS);
      for (const h of forecasts[i]!.hours) {
        if (h.hourStart >= limit) break;
        const j = (h.hourStart - s.start) / HOUR_MS;
        if (j < 0) continue;
        const b = hours.get(h.hourStart) ?? { key: `${group}@${h.hourStart}`, parts: [], ys: 0, yo: 0 };
        b.parts.push(hourInterval(h));
        b.ys += s.sales[j]!;
        b.yo += s.orders[j]!;
        hours.set(h.hourStart, b);
      }
    }
    for (const b of hours.values()) if (b.parts.length >= 2) out.hour.push(b);
    // Days and 7-day blocks: by local day, of the members that have it complete.
    const days = members.map(
      (i) => new Map(completeDays(forecasts[i]!, series[i]!, end).map((d) => [d.day, d])),
    );
    for (const d of new Set(days.flatMap((m) => [...m.keys()]))) {
      const ds = days.flatMap((m) => m.get(d) ?? []);
      if (ds.length >= 2)
        out.day.push({
          key: `${group}@${d}`,
          parts: ds.map((x) => bucketInterval(x.hours, grains, 'day')),
          ys: sum(ds.flatMap((x) => x.ys)),
          yo: sum(ds.flatMap((x) => x.yo)),
        });
      const weeks = days.flatMap((m) => {
        const w = Array.from({ length: 7 }, (_, k) => m.get(d + k));
        return w.every((x) => x !== undefined) ? [w] : [];
      });
      if (weeks.length >= 2)
        out.week.push({
          key: `${group}@${d}`,
          parts: weeks.map((w) =>
            bucketInterval(
              w.flatMap((x) => x.hours),
              grains,
              'week',
            ),
          ),
          ys: sum(weeks.flatMap((w) => w.flatMap((x) => x.ys))),
          yo: sum(weeks.flatMap((w) => w.flatMap((x) => x.yo))),
        });
    }
  }
  return out;
}

/** A scored bucket counts unless closed and forecast closed (as for branches). */
const scored = (b: GroupBucket, q: Quantity): boolean =>
  (q === 'sales' ? b.ys : b.yo) !== 0 || b.parts.some((p) => valuesOf(p, q)[2] > 0);

/** k for one rule and quantity at `level`, and the summed width it gives relative to the summed p50. */
function fitGroup(
  buckets: readonly GroupBucket[],
  q: Quantity,
  rule: SpreadRule,
  level: number,
): { k: number; width: number } {
  const xs = buckets
    .filter((b) => scored(b, q))
    .map((b) => ({ ...halfWidths(b.parts, q), y: q === 'sales' ? b.ys : b.yo }));
  if (xs.length === 0) return { k: 1, width: 0 };
  const k = stretchAt(
    xs.map((x) => stretchNeeded(x.y, x.p50, spread(x.lo, rule), spread(x.hi, rule))),
    level,
  );
  let w = 0;
  let p = 0;
  for (const x of xs) {
    w += Math.min(x.p50, k * spread(x.lo, rule)) + k * spread(x.hi, rule);
    p += x.p50;
  }
  return { k, width: p > 0 ? w / p : 0 };
}

/**
 * The group factors from out-of-sample forecasts from local midnights (`forecasts[i]` for
 * `series[i]`, hourly intervals already calibrated), with the model's grain factors `grains`;
 * undefined when no group has two branches among the series.
 */
export function measureGroupFactors(
  forecasts: readonly BranchForecast[],
  series: readonly HourlySeries[],
  end: number,
  grains: GrainFactors | undefined,
): GroupCalibration | undefined {
  const buckets = groupBuckets(forecasts, series, end, grains);
  if (buckets.hour.length === 0) return undefined;
  const out = {
    groups: new Set([...groupsOf(forecasts, series).values()].map((g) => g.group)).size,
    hours: 0,
    days: 0,
    weeks: 0,
  } as GroupCalibration;
  for (const grain of GRAINS) {
    const bs = buckets[grain];
    const level = conformalLevel(new Set(bs.map((b) => b.key)).size);
    const fits = (['sum', 'rss'] as const).map((rule) => {
      const s = fitGroup(bs, 'sales', rule, level);
      const o = fitGroup(bs, 'orders', rule, level);
      return { spread: rule, sales: s.k, orders: o.k, width: s.width + o.width };
    });
    const best = fits[1]!.width < 0.99 * fits[0]!.width ? fits[1]! : fits[0]!;
    out[grain] = { spread: best.spread, sales: best.sales, orders: best.orders };
    const n = bs.filter((b) => scored(b, 'sales')).length + bs.filter((b) => scored(b, 'orders')).length;
    if (grain === 'hour') out.hours = n;
    else if (grain === 'day') out.days = n;
    else out.weeks = n;
  }
  return out;
}

/** Group p10–p90 coverage counts per quantity and grain. */
export type GroupCoverageCounts = Record<Quantity, Record<Grain, { n: number; inside: number }>>;

export const emptyGroupCoverage = (): GroupCoverageCounts => ({
  sales: { hour: { n: 0, inside: 0 }, day: { n: 0, inside: 0 }, week: { n: 0, inside: 0 } },
  orders: { hour: { n: 0, inside: 0 }, day: { n: 0, inside: 0 }, week: { n: 0, inside: 0 } },
});

/**
 * Adds the group p10–p90 coverage of forecasts from one local midnight (`forecasts[i]` for
 * `series[i]`, scored before `until`) to `into`: group hours, local days, and the 7-day blocks
 * from the origin (days 0–6, 7–13: the backtest's weeks), each branch's bucket built with the
 * model's grain factors and the group bucket with its group factors, as the API builds them.
 */
export function addGroupCoverage(
  into: GroupCoverageCounts,
  forecasts: readonly BranchForecast[],
  series: readonly HourlySeries[],
  until: number,
  factors: GrainFactors | undefined,
): void {
  const buckets = groupBuckets(forecasts, series, until, factors);
  // The backtest's weeks are the origin's blocks, not every 7-day block.
  const originDay = new Map(
    forecasts.map((f, i) => [`${series[i]!.group}@${localSlotOf(series[i]!.timezone, f.origin).day}`, true]),
  );
  const isOriginBlock = (key: string): boolean => {
    const at = key.lastIndexOf('@');
    const group = key.slice(0, at);
    const d = Number(key.slice(at + 1));
    return originDay.has(`${group}@${d}`) || originDay.has(`${group}@${d - 7}`);
  };
  for (const grain of GRAINS) {
    for (const b of buckets[grain]) {
      if (grain === 'week' && !isOriginBlock(b.key)) continue;
      const g = groupInterval(b.parts, factors?.group, grain);
      for (const q of QUANTITIES) {
        if (!scored(b, q)) continue;
        const y = q === 'sales' ? b.ys : b.yo;
        const [lo, , hi] = valuesOf(g, q);
        into[q][grain].n++;
        if (y >= lo && y <= hi) into[q][grain].inside++;
      }
    }
  }
}
