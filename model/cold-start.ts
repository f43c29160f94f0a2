/**
 * New branches (issue 16): a forecast from day one for a branch with little or no history.
 *
 * The network reads a branch's level from its last 7 days and its shape from the 4 weeks before
 * the origin: a branch younger than that has neither. So a young branch is forecast by the same
 * global model from two histories it is given instead of (or around) its own:
 *
 * - the **prior**: a synthetic history at a prior level × the group's hour-of-week shape.
 *   Shape = the mean over the group's other (warm) branches of their scale-free shape (each local
 *   hour of week over the 4 weeks before the origin, each week divided by its own open-day level,
 *   as features.ts reads lags). Level (sales per open-day hour) = `expected_weekly_sales` spread by
 *   that shape (a synthetic week sums to it exactly), else the **median** of the other branches'
 *   levels: a group of a few dozen branches has outliers (a flagship, a kiosk) that would drag a
 *   mean; with two branches the median is their mean. Orders: the sales level × the group's
 *   median orders-per-sales ratio (its average ticket).
 * - the **own** history: the branch's own days, padded before its first day with synthetic days
 *   at its own level (its mean per open-day hour) × the group's shape, so the lag weeks it lacks
 *   carry the group's shape at its level.
 *
 * Both go through the network in the batch of every other branch; the result is blended hour by
 * hour, `(1 − w) · prior + w · own`, with w = (days since the branch's first day) / 7
 * (LEVEL_HAND_OVER_DAYS: the network's level is the last 7 days; measured, docs/model.md "New
 * branches": after one week the own history beat the prior), and its p10–p90 stretched around p50
 * by 1 + (COLD_START_RANGE_FACTOR − 1)(1 − age / 28). From HAND_OVER_DAYS (28) days on, the 4 lag
 * weeks are its own: the branch is warm and forecast exactly as any other. Age counts calendar
 * days, not open days: a branch open 5 days a week would otherwise stay "new" for 6 weeks, and a
 * history cut to the forecaster's window (114 days) would make every such branch look new.
 * The first day = `opened_on` if the directory gives it, else the local day of the first sale.
 * Hours before `opened_on` forecast exactly 0.
 *
 * With no warm branch in the group there is no shape: the branch is then forecast from its own
 * history alone (all zeros before its first sale), still marked cold-start with the wider ranges.
 */
import { dateToDayNumber, weekdayOfDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import { applyCalibration } from './calibration';
import { forecast, LOOKBACK_DAYS, type ForecastOptions } from './forecast';
import type { BranchForecast, ForecastModel, HourlyForecast, HourParts } from './forecast-types';
import { toLocalGrid, type LocalGrid } from './local-grid';
import { historyBefore, type HourlySeries } from './series';

/** Days of own history after which a branch is warm: the 4 lag weeks the features read. */
export const HAND_OVER_DAYS = 28;
/** Days of own history after which its own level has taken over from the prior (w = 1). */
export const LEVEL_HAND_OVER_DAYS = 7;
/**
 * p10–p90 stretch of a brand-new branch's forecast around its p50 (on top of the model's own
 * calibration), shrinking linearly to 1 at HAND_OVER_DAYS days of own history. Measured by
 * `npm run bench:cold-start` (docs/model.md "New branches"): the stretch of the unstretched
 * cold-start ranges covering 80% of the open hours of the first two weeks of the pretend-new
 * branches was 1.12 (days 1.02, weeks 0.83); rounded up. A first guess of 1.6 covered 88% of
 * the hours and 87% of the days: too wide.
 */
export const COLD_START_RANGE_FACTOR = 1.15;

const HOURS_OF_WEEK = 168;
const SHAPE_WEEKS = 4;

/** What the directory and the group say about a branch that may be new. */
export interface ColdStartInput {
  /** Expected weekly sales (major units), if given when the branch was added. */
  expectedWeeklySales?: number;
  /** Local date (yyyy-mm-dd) the branch opened or opens, if known. */
  openedOn?: string;
  /** Histories of the group's other branches up to (at least) the origin. */
  peers: readonly HourlySeries[];
}

/** The group's prior for a new branch: levels per open-day hour and hour-of-week shapes (168, Monday 00:00 first). */
export interface GroupPrior {
  salesLevel: number;
  ordersLevel: number;
  salesShape: Float64Array;
  ordersShape: Float64Array;
  source: 'expected_weekly_sales' | 'group';
  /** Warm branches the shape and level come from. */
  peers: number;
}

/** A peer's level (last 7 days) and scale-free hour-of-week shapes. */
interface PeerProfile {
  salesLevel: number;
  ordersLevel: number;
  salesShape: Float64Array;
  ordersShape: Float64Array;
}

/** Local day number of a series' first hour with a sale (or an order), or undefined. */
function firstSaleDay(s: HourlySeries): number | undefined {
  for (let i = 0; i < s.sales.length; i++)
    if (s.sales[i]! > 0 || s.orders[i]! > 0) return localSlotOf(s.timezone, s.start + i * HOUR_MS).day;
  return undefined;
}

/**
 * The branch's first own day: `opened_on`, else the day of its first sale before the origin
 * (undefined: nothing sold yet and no opening date).
 */
export function firstOwnDay(s: HourlySeries, origin: number, openedOn?: string): number | undefined {
  if (openedOn !== undefined) return dateToDayNumber(openedOn);
  return firstSaleDay(historyBefore(s, origin));
}

/** Full local days of own history before the origin's day (0 for a branch with none). */
export function ownHistoryDays(s: HourlySeries, origin: number, openedOn?: string): number {
  const first = firstOwnDay(s, origin, openedOn);
  if (first === undefined) return 0;
  return Math.max(0, localSlotOf(s.timezone, origin).day - first);
}

/** Whether a forecast at `origin` is a cold start (fewer than HAND_OVER_DAYS days of own history). */
export function isColdStart(s: HourlySeries, origin: number, openedOn?: string): boolean {
  return ownHistoryDays(s, origin, openedOn) < HAND_OVER_DAYS;
}

/** Weight of the own-history forecast: days of own history / LEVEL_HAND_OVER_DAYS, in [0, 1]. */
export function handOverWeight(days: number): number {
  return Math.min(1, Math.max(0, days / LEVEL_HAND_OVER_DAYS));
}

/** The range stretch at an age (days of own history): `factor` at 0, 1 from HAND_OVER_DAYS on. */
export function rangeFactor(days: number, factor = COLD_START_RANGE_FACTOR): number {
  return 1 + (factor - 1) * (1 - Math.min(1, Math.max(0, days / HAND_OVER_DAYS)));
}

/** Mean per hour over the open (some sales) fully known days of [fromDay, toDay) of a grid (relative days), NaN if none. */
function openDayLevel(values: Float64Array, fromDay: number, toDay: number, days: number): number {
  let sum = 0;
  let n = 0;
  for (let g = Math.max(0, fromDay); g < Math.min(toDay, days); g++) {
    let daySum = 0;
    let known = 0;
    for (let h = 0; h < 24; h++) {
      const v = values[g * 24 + h]!;
      if (!Number.isNaN(v)) {
        daySum += v;
        known++;
      }
    }
    if (known > 0 && daySum > 0) {
      sum += daySum / known;
      n++;
    }
  }
  return n > 0 ? sum / n : NaN;
}

/** Scale-free hour-of-week shape of the 4 weeks before grid day `originDay` (each week over its own level). */
function weekShape(grid: LocalGrid, values: Float64Array, originDay: number): Float64Array | null {
  const sum = new Float64Array(HOURS_OF_WEEK);
  const n = new Float64Array(HOURS_OF_WEEK);
  for (let b = 1; b <= SHAPE_WEEKS; b++) {
    const from = originDay - 7 * b;
    const level = openDayLevel(values, from, from + 7, grid.days);
    if (!(level > 0)) continue;
    for (let g = Math.max(0, from); g < from + 7; g++) {
      const wd = weekdayOfDayNumber(grid.day0 + g);
      for (let h = 0; h < 24; h++) {
        const v = values[g * 24 + h]!;
        if (Number.isNaN(v)) continue;
        const k = wd * 24 + h;
        sum[k] = sum[k]! + v / level;
        n[k] = n[k]! + 1;
      }
    }
  }
  let any = false;
  for (let k = 0; k < HOURS_OF_WEEK; k++) {
    sum[k] = n[k]! > 0 ? sum[k]! / n[k]! : 0;
    if (sum[k]! > 0) any = true;
  }
  return any ? sum : null;
}

/** A warm peer's profile at `origin`, or null (too young, or nothing sold in the last 4 weeks). */
function peerProfile(peer: HourlySeries, origin: number): PeerProfile | null {
  const past = historyBefore(peer, origin);
  if (isColdStart(past, origin)) return null;
  const o = localSlotOf(peer.timezone, origin);
  const day0 = o.day - 7 * SHAPE_WEEKS;
  const grid = toLocalGrid(past, day0, o.day - 1);
  const originDay = o.day - day0;
  const salesLevel = openDayLevel(grid.sales, originDay - 7, originDay, grid.days);
  const ordersLevel = openDayLevel(grid.orders, originDay - 7, originDay, grid.days);
  const salesShape = weekShape(grid, grid.sales, originDay);
  const ordersShape = weekShape(grid, grid.orders, originDay);
  if (!(salesLevel > 0) || !(ordersLevel > 0) || !salesShape || !ordersShape) return null;
  return { salesLevel, ordersLevel, salesShape, ordersShape };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function meanShape(shapes: Float64Array[]): Float64Array {
  const out = new Float64Array(HOURS_OF_WEEK);
  for (const s of shapes) for (let k = 0; k < HOURS_OF_WEEK; k++) out[k] = out[k]! + s[k]! / shapes.length;
  return out;
}

/**
 * The group's prior at `origin` from its warm branches (`input.peers`) and, if given, the
 * expected weekly sales; null when no peer is warm (no shape to spread a level by).
 */
export function groupPrior(input: ColdStartInput, origin: number): GroupPrior | null {
  const profiles = input.peers.map((p) => peerProfile(p, origin)).filter((p): p is PeerProfile => p !== null);
  if (profiles.length === 0) return null;
  const salesShape = meanShape(profiles.map((p) => p.salesShape));
  const ordersShape = meanShape(profiles.map((p) => p.ordersShape));
  const perSales = median(profiles.map((p) => p.ordersLevel / p.salesLevel));
  const expected = input.expectedWeeklySales;
  const salesLevel =
    expected !== undefined && expected > 0
      ? expected / salesShape.reduce((a, b) => a + b, 0)
      : median(profiles.map((p) => p.salesLevel));
  return {
    salesLevel,
    ordersLevel: salesLevel * perSales,
    salesShape,
    ordersShape,
    source: expected !== undefined && expected > 0 ? 'expected_weekly_sales' : 'group',
    peers: profiles.length,
  };
}

/**
 * A synthetic history of `template`'s branch over the UTC hours [from, to): level × shape at each
 * local hour of week. The repeated local hour of a fall-back day gets half its slot per UTC hour,
 * so the local grid (which sums them) reads the shape.
 */
export function priorHistory(
  template: Pick<HourlySeries, 'branchId' | 'timezone' | 'country' | 'calendar'>,
  prior: Pick<GroupPrior, 'salesShape' | 'ordersShape'>,
  level: { sales: number; orders: number },
  from: number,
  to: number,
): HourlySeries {
  const n = Math.max(0, Math.round((to - from) / HOUR_MS));
  const keys = new Int32Array(n);
  const count = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const slot = localSlotOf(template.timezone, from + i * HOUR_MS);
    keys[i] = slot.day * 24 + slot.hour;
    count.set(keys[i]!, (count.get(keys[i]!) ?? 0) + 1);
  }
  const sales = new Float64Array(n);
  const orders = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const day = Math.floor(keys[i]! / 24);
    const k = weekdayOfDayNumber(day) * 24 + (keys[i]! - day * 24);
    const share = count.get(keys[i]!)!;
    sales[i] = (level.sales * prior.salesShape[k]!) / share;
    orders[i] = (level.orders * prior.ordersShape[k]!) / share;
  }
  return {
    branchId: template.branchId,
    timezone: template.timezone,
    country: template.country,
    start: from,
    sales,
    orders,
    ...(template.calendar ? { calendar: template.calendar } : {}),
  };
}

/** Start of the window the network reads before `origin` (its lookback plus the days of slack of horizon.ts). */
function windowStart(zone: string, origin: number): number {
  return localMidnightUtc(zone, localSlotOf(zone, origin).day - LOOKBACK_DAYS - 2);
}

/**
 * The own history padded before its first day with synthetic days at its own level × the group's
 * shape, over the window the network reads. Own days keep their values (0 where nothing was sold).
 */
export function paddedOwnHistory(
  own: HourlySeries,
  origin: number,
  firstDay: number,
  prior: GroupPrior,
): HourlySeries {
  const past = historyBefore(own, origin);
  const ownStart = localMidnightUtc(own.timezone, firstDay);
  const from = Math.min(windowStart(own.timezone, origin), ownStart);
  const o = localSlotOf(own.timezone, origin);
  const grid = toLocalGrid(past, firstDay, o.day - 1);
  const sl = openDayLevel(grid.sales, 0, grid.days, grid.days);
  const ol = openDayLevel(grid.orders, 0, grid.days, grid.days);
  const level = {
    sales: sl > 0 ? sl : prior.salesLevel,
    orders: ol > 0 ? ol : prior.ordersLevel,
  };
  const out = priorHistory(own, prior, level, from, origin);
  // From the first own day on: the own values (zeros where the series has none).
  const firstOwnHour = Math.max(0, Math.round((ownStart - from) / HOUR_MS));
  for (let i = firstOwnHour; i < out.sales.length; i++) {
    const j = (from + i * HOUR_MS - past.start) / HOUR_MS;
    const inOwn = j >= 0 && j < past.sales.length;
    out.sales[i] = inOwn ? past.sales[j]! : 0;
    out.orders[i] = inOwn ? past.orders[j]! : 0;
  }
  return out;
}

/** (1 − w)·a + w·b per hour, quantiles and parts; a and b cover the same hours. */
export function blendForecasts(a: BranchForecast, b: BranchForecast, w: number): BranchForecast {
  const mix = (x: number, y: number): number => (1 - w) * x + w * y;
  const hours = a.hours.map((ha, i): HourlyForecast => {
    const hb = b.hours[i]!;
    if (hb.hourStart !== ha.hourStart) throw new Error('blendForecasts: the forecasts cover different hours');
    const h: HourlyForecast = {
      hourStart: ha.hourStart,
      salesP10: mix(ha.salesP10, hb.salesP10),
      salesP50: mix(ha.salesP50, hb.salesP50),
      salesP90: mix(ha.salesP90, hb.salesP90),
      ordersP10: mix(ha.ordersP10, hb.ordersP10),
      ordersP50: mix(ha.ordersP50, hb.ordersP50),
      ordersP90: mix(ha.ordersP90, hb.ordersP90),
    };
    if (ha.parts && hb.parts) {
      const pa = ha.parts;
      const pb = hb.parts;
      const parts: HourParts = {
        salesLevel: mix(pa.salesLevel, pb.salesLevel),
        salesShape: mix(pa.salesShape, pb.salesShape),
        salesCalendar: mix(pa.salesCalendar, pb.salesCalendar),
        ordersLevel: mix(pa.ordersLevel, pb.ordersLevel),
        ordersShape: mix(pa.ordersShape, pb.ordersShape),
        ordersCalendar: mix(pa.ordersCalendar, pb.ordersCalendar),
      };
      h.parts = parts;
    }
    return h;
  });
  // What each did with the operators' calendar is the same days read the same way: the own one's.
  const calendar = b.calendar ?? a.calendar;
  return { branchId: a.branchId, origin: a.origin, hours, ...(calendar ? { calendar } : {}) };
}

/** Zeros every hour before `openedOn`'s local midnight (nothing is sold before a branch opens). */
function zeroBeforeOpening(f: BranchForecast, zone: string, openedOn: string | undefined): void {
  if (openedOn === undefined) return;
  const opens = localMidnightUtc(zone, dateToDayNumber(openedOn));
  for (const h of f.hours) {
    if (h.hourStart >= opens) break;
    h.salesP10 = h.salesP50 = h.salesP90 = 0;
    h.ordersP10 = h.ordersP50 = h.ordersP90 = 0;
    if (h.parts)
      h.parts = {
        salesLevel: 0,
        salesShape: 0,
        salesCalendar: 0,
        ordersLevel: 0,
        ordersShape: 0,
        ordersCalendar: 0,
      };
  }
}

/** forecast()'s options, and two for measuring (bench:cold-start); production keeps the defaults. */
export interface ColdStartOptions extends ForecastOptions {
  /** Weight of the own history at an age in days (default handOverWeight). */
  handOver?: (days: number) => number;
  /** Range stretch of a brand-new branch (default COLD_START_RANGE_FACTOR); 1: the model's own ranges. */
  rangeFactor?: number;
}

/** How one history is forecast: as it is (warm), or from a prior and/or a padded own history. */
interface Plan {
  cold: boolean;
  w: number;
  /** Days of own history (0 without a prior: the ranges are stretched the most). */
  age: number;
  /** Index in the batch of the prior's forecast, of the own (or plain) one. */
  prior?: number;
  own?: number;
}

/**
 * forecast() with new branches: `inputs[i]` (optional) says what is known of history i's branch
 * (opening date, expected sales, its group's other branches). A warm history (HAND_OVER_DAYS days
 * of own history or more) is forecast exactly as forecast() does; a young one as the file comment
 * says, `coldStart: true`. One batched pass for all.
 */
export async function forecastWithColdStart(
  model: ForecastModel,
  histories: HourlySeries[],
  origins: number[],
  inputs: readonly (ColdStartInput | undefined)[],
  options: ColdStartOptions = {},
): Promise<BranchForecast[]> {
  const {
    handOver = handOverWeight,
    rangeFactor: k0 = COLD_START_RANGE_FACTOR,
    ...forecastOptions
  } = options;
  const batch: HourlySeries[] = [];
  const batchOrigins: number[] = [];
  const add = (s: HourlySeries, origin: number): number => {
    batch.push(s);
    batchOrigins.push(origin);
    return batch.length - 1;
  };
  const plans: Plan[] = histories.map((s, i) => {
    const origin = origins[i] ?? origins[0]!;
    const input = inputs[i];
    const days = ownHistoryDays(s, origin, input?.openedOn);
    if (days >= HAND_OVER_DAYS) return { cold: false, w: 1, age: days, own: add(s, origin) };
    const w = handOver(days);
    const prior = input ? groupPrior(input, origin) : null;
    if (!prior) return { cold: true, w: 1, age: 0, own: add(s, origin) };
    const plan: Plan = { cold: true, w, age: days };
    const from = windowStart(s.timezone, origin);
    const first = firstOwnDay(s, origin, input?.openedOn);
    const withOwn = w > 0 && first !== undefined;
    if (!withOwn || w < 1) {
      const level = { sales: prior.salesLevel, orders: prior.ordersLevel };
      plan.prior = add(priorHistory(s, prior, level, from, origin), origin);
    }
    if (withOwn) plan.own = add(paddedOwnHistory(s, origin, first, prior), origin);
    return plan;
  });
  const out = await forecast(model, batch, batchOrigins, forecastOptions);
  return plans.map((p, i) => {
    const own = p.own !== undefined ? out[p.own]! : undefined;
    const prior = p.prior !== undefined ? out[p.prior]! : undefined;
    if (!p.cold) return own!;
    let f = prior && own ? blendForecasts(prior, own, p.w) : (prior ?? own)!;
    f = { ...f, branchId: histories[i]!.branchId };
    const k = rangeFactor(p.age, k0);
    applyCalibration(f, { sales: k, orders: k });
    zeroBeforeOpening(f, histories[i]!.timezone, inputs[i]?.openedOn);
    return { ...f, coldStart: true };
  });
}
