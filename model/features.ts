/**
 * Inputs of the network: one row per (branch, forecast origin, target local hour).
 *
 * Everything is scale-free: sales and orders are divided by the branch's recent level (mean per
 * local hour over the 7 days before the origin, floored at 30% of the 28-day level), so a busy
 * and a quiet branch look alike and share the same weights. A row only reads slots strictly
 * before the origin (`Past.at` enforces it), so training windows built from a long history never
 * see their own future.
 *
 * Per target hour (local day D = origin day + k, local hour h):
 * - for sales and for orders: the same local hour on the 4 most recent same weekdays before the
 *   origin day (lags), their mean and median, the level-adjusted seasonal profile ("level ×
 *   hour-of-week shape", the structural base the network corrects), the 4 same-weekday daily
 *   totals, and level ratios (last 7 days vs the 28-day level, last 7 vs the 7 before, last 3
 *   and last 1 days vs a week earlier, today so far vs the same hours a week earlier);
 * - hour of day and day of week (one-hot), horizon day k, whether the origin day is partial;
 * - special days of the target day (public holiday, eve of one, trading day, closure-prone) and
 *   whether the lag day was a public holiday;
 * - closed days: which of the 4 lag days were closed, share of closed days in the last 7 days,
 *   yesterday closed, share of the last 28 days on which the branch sold at that hour;
 * - history length (weeks available, up to 4).
 *
 * Target hours at which the branch sold nothing in the 28 days before the origin are not
 * forecast by the network: they are closed hours and forecast as exactly 0.
 */
import { formatCivilDate, weekdayOfDayNumber } from '../lib/time/civil-date';
import type { BranchCalendarEntry } from './branch-calendar';
import type { DayFlags, SpecialDayIndex } from './calendar';
import type { LocalGrid } from './local-grid';

// Hot loops: builtins as module constants. Under jest (vm contexts) every global look-up goes
// through the context's interceptors, which made feature building ~10x slower there.
const { max, min, floor, log } = Math;
const isNan = Number.isNaN;
const isFin = Number.isFinite;

export const LAG_WEEKS = 4;
export const MAX_HORIZON_DAYS = 14;
/** Level floor: the scale is at least this share of the 28-day level. */
const LEVEL_FLOOR = 0.3;
const CLIP = 20;

const QUANTITY_FEATURES = [
  'lag1',
  'lag2',
  'lag3',
  'lag4',
  'shape_mean',
  'shape_median',
  'shape_open_mean',
  'day1',
  'day2',
  'day3',
  'day4',
  'level7_vs_28',
  'level7_vs_prev7',
  'level_prev7_vs_prev14',
  'level3_vs_week_before',
  'level1_vs_week_before',
  'today_vs_week_before',
] as const;

export const FEATURE_NAMES: readonly string[] = Object.freeze([
  ...QUANTITY_FEATURES.map((f) => `sales_${f}`),
  ...QUANTITY_FEATURES.map((f) => `orders_${f}`),
  ...Array.from({ length: 24 }, (_, h) => `hour_${h}`),
  ...['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => `dow_${d}`),
  'horizon_day',
  'partial_origin_day',
  'public_holiday',
  'eve_of_public_holiday',
  'trading_day',
  'closure_prone',
  'lag1_public_holiday',
  'lag1_closed',
  'lag2_closed',
  'lag3_closed',
  'lag4_closed',
  'closed_share_7d',
  'yesterday_closed',
  'hour_open_share_28d',
  'history_weeks',
]);
export const FEATURE_COUNT = FEATURE_NAMES.length;
if (FEATURE_NAMES[2 * QUANTITY_FEATURES.length + 36] !== 'closure_prone')
  throw new Error('features: closure_prone index');
const Q = QUANTITY_FEATURES.length;

/** Prefix sums of a grid's values and of its known (non-NaN) slots, computed once per array. */
const prefixes = new WeakMap<Float64Array, { sum: Float64Array; n: Int32Array }>();

function prefixOf(values: Float64Array): { sum: Float64Array; n: Int32Array } {
  let p = prefixes.get(values);
  if (!p) {
    const sum = new Float64Array(values.length + 1);
    const n = new Int32Array(values.length + 1);
    for (let k = 0; k < values.length; k++) {
      const v = values[k]!;
      const known = !isNan(v);
      sum[k + 1] = sum[k]! + (known ? v : 0);
      n[k + 1] = n[k]! + (known ? 1 : 0);
    }
    prefixes.set(values, (p = { sum, n }));
  }
  return p;
}

/** Read access to the slots strictly before the origin. */
class Past {
  private readonly prefix: { sum: Float64Array; n: Int32Array };
  constructor(
    private readonly values: Float64Array,
    readonly originSlot: number,
  ) {
    this.prefix = prefixOf(values);
  }
  /** NaN for unknown or not-yet-happened slots. */
  at(slot: number): number {
    return slot >= 0 && slot < this.originSlot ? this.values[slot]! : NaN;
  }
  /** Sum and count of known slots in [from, to) (O(1): prefix sums). */
  sum(from: number, to: number): { sum: number; n: number } {
    const a = max(0, from);
    const b = min(to, this.originSlot, this.values.length);
    if (b <= a) return { sum: 0, n: 0 };
    return { sum: this.prefix.sum[b]! - this.prefix.sum[a]!, n: this.prefix.n[b]! - this.prefix.n[a]! };
  }
  mean(from: number, to: number): number {
    const { sum, n } = this.sum(from, to);
    return n > 0 ? sum / n : NaN;
  }
}

interface QuantityContext {
  past: Past;
  scale: number;
  /** Open-day level of the weekly blocks before the origin day (block b = days -7b … -7b+6), NaN if none open. */
  blockLevel: number[];
  ratios: number[];
}

function logRatio(a: number, b: number, eps: number): number {
  if (isNan(a) || isNan(b)) return 0;
  return max(-2, min(2, log((a + eps) / (b + eps))));
}

/** Mean per hour over the open (some sales) known days of [fromDay, toDay), NaN if none. */
function openDayLevel(past: Past, fromDay: number, toDay: number): number {
  let sum = 0;
  let days = 0;
  for (let g = fromDay; g < toDay; g++) {
    const d = past.sum(g * 24, g * 24 + 24);
    if (d.n > 0 && d.sum > 0) {
      sum += d.sum / d.n;
      days++;
    }
  }
  return days > 0 ? sum / days : NaN;
}

function quantityContext(values: Float64Array, originSlot: number): QuantityContext | null {
  const past = new Past(values, originSlot);
  const l28 = past.mean(originSlot - 672, originSlot);
  if (isNan(l28) || l28 <= 0) return null;
  const originDay = floor(originSlot / 24);
  const dayStart = originDay * 24;
  const blockLevel = [1, 2, 3, 4, 5].map((b) => openDayLevel(past, originDay - 7 * b, originDay - 7 * b + 7));
  const open28 = openDayLevel(past, originDay - 28, originDay);
  const o7 = blockLevel[0]!;
  // The level: open days of the last 7 days (closed days are a separate question, see the
  // closed-day features), floored at a share of the 28-day open-day level.
  const scale = max(isNan(o7) ? 0 : o7, LEVEL_FLOOR * open28);
  const eps = 0.05 * l28;
  const l3 = past.mean(dayStart - 72, dayStart);
  const l3w = past.mean(dayStart - 72 - 168, dayStart - 168);
  const l1 = past.mean(dayStart - 24, dayStart);
  const l1w = past.mean(dayStart - 24 - 168, dayStart - 168);
  const today = originSlot > dayStart ? past.mean(dayStart, originSlot) : NaN;
  const todayW = originSlot > dayStart ? past.mean(dayStart - 168, originSlot - 168) : NaN;
  return {
    past,
    scale,
    blockLevel,
    ratios: [
      logRatio(o7, open28, eps),
      logRatio(o7, blockLevel[1]!, eps),
      logRatio(blockLevel[1]!, blockLevel[2]!, eps),
      logRatio(l3, l3w, eps),
      logRatio(l1, l1w, eps),
      logRatio(today, todayW, eps),
    ],
  };
}

export interface OriginRows {
  /** Grid slot of the origin (grid day × 24 + local hour). */
  originSlot: number;
  scaleSales: number;
  scaleOrders: number;
  /** Grid slots of the target hours the network forecasts (possibly open hours only). */
  slots: Int32Array;
  /** Horizon day (0 = origin day) of each target. */
  horizonDay: Int32Array;
  /** slots.length × FEATURE_COUNT. */
  rows: Float32Array;
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const clip = (x: number): number => (isFin(x) ? max(0, min(CLIP, x)) : 0);

/**
 * Feature rows of the target hours from `originSlot` to the end of local day (origin day +
 * `days`), or null when the branch sold nothing in the 28 days before the origin (then every
 * forecast is 0). `maxDay` limits the horizon days produced (training windows near the end of
 * the data).
 */
export function originRows(
  grid: LocalGrid,
  calendar: SpecialDayIndex,
  originSlot: number,
  days: number = MAX_HORIZON_DAYS,
  maxHorizonDay: number = days,
): OriginRows | null {
  const sales = quantityContext(grid.sales, originSlot);
  const orders = quantityContext(grid.orders, originSlot);
  if (!sales || !orders) return null;
  const ps = sales.past;
  const po = orders.past;
  const originDay = floor(originSlot / 24);
  const originHour = originSlot % 24;

  // Closed days (known, zero sales) and per-hour open share over the last 28 days.
  const dayClosed = (g: number): number => {
    const { sum, n } = ps.sum(g * 24, g * 24 + 24);
    return n === 24 && sum === 0 ? 1 : 0;
  };
  let closed7 = 0;
  let known7 = 0;
  for (let g = originDay - 7; g < originDay; g++) {
    if (ps.sum(g * 24, g * 24 + 24).n === 24) {
      known7++;
      closed7 += dayClosed(g);
    }
  }
  const yesterdayClosed = dayClosed(originDay - 1);
  const hourOpen = new Float64Array(24);
  let knownDays28 = 0;
  for (let g = originDay - 28; g < originDay; g++) {
    if (isNan(ps.at(g * 24 + 12)) && isNan(ps.at(g * 24))) continue;
    knownDays28++;
    for (let h = 0; h < 24; h++) {
      const s = ps.at(g * 24 + h);
      const o = po.at(g * 24 + h);
      if ((s > 0 || o > 0) && !isNan(s)) hourOpen[h]!++;
    }
  }
  if (knownDays28 === 0) return null;
  let firstKnownDay = originDay;
  for (let g = originDay - 28; g < originDay; g++) {
    if (!isNan(ps.at(g * 24 + 12))) {
      firstKnownDay = g;
      break;
    }
  }
  const historyWeeks = min(LAG_WEEKS, (originDay - firstKnownDay) / 7) / LAG_WEEKS;

  const flagsCache = new Map<number, DayFlags>();
  const flags = (g: number): DayFlags => {
    let f = flagsCache.get(g);
    if (!f) flagsCache.set(g, (f = calendar.flagsOf(formatCivilDate(grid.day0 + g))));
    return f;
  };

  const lastDay = min(days, maxHorizonDay);
  const slots: number[] = [];
  const hDays: number[] = [];
  for (let k = 0; k <= lastDay; k++) {
    for (let h = k === 0 ? originHour : 0; h < 24; h++) {
      if (hourOpen[h]! > 0) {
        slots.push((originDay + k) * 24 + h);
        hDays.push(k);
      }
    }
  }
  const rows = new Float32Array(slots.length * FEATURE_COUNT);
  const lagVals = [0, 0, 0, 0];
  const dayVals = [0, 0, 0, 0];
  const lagDayClosed = [0, 0, 0, 0];

  /**
   * Lag j (j = 0..3) lies in weekly block j + 1 before the origin day whatever the horizon, and is
   * divided by that block's open-day level: a pure hour-of-week shape, free of that week's level
   * (the level comes from the last 7 days only: "level × shape").
   */
  const fillQuantity = (ctx: QuantityContext, r: number, g: number, h: number, m0: number): void => {
    const p = ctx.past;
    const known: number[] = [];
    const open: number[] = [];
    for (let j = 0; j < LAG_WEEKS; j++) {
      const lg = g - 7 * (m0 + j);
      const level = ctx.blockLevel[j]!;
      const v = p.at(lg * 24 + h);
      const d = p.sum(lg * 24, lg * 24 + 24);
      const shape = isNan(level) || isNan(v) ? NaN : v / level;
      lagVals[j] = shape;
      dayVals[j] = d.n === 24 && !isNan(level) ? d.sum / (24 * level) : NaN;
      if (!isNan(shape)) {
        known.push(shape);
        if (d.sum > 0) open.push(shape);
      }
    }
    const mean = known.length ? known.reduce((a, b) => a + b, 0) / known.length : 0;
    const openMean = open.length ? open.reduce((a, b) => a + b, 0) / open.length : 0;
    const dayKnown = dayVals.filter((v) => !isNan(v));
    const dayMean = dayKnown.length ? dayKnown.reduce((a, b) => a + b, 0) / dayKnown.length : 0;
    for (let j = 0; j < LAG_WEEKS; j++) {
      const v = lagVals[j]!;
      rows[r + j] = clip(isNan(v) ? mean : v);
      const d = dayVals[j]!;
      rows[r + 7 + j] = clip(isNan(d) ? dayMean : d);
    }
    rows[r + 4] = clip(mean);
    rows[r + 5] = clip(median(known));
    rows[r + 6] = clip(openMean);
    for (let j = 0; j < 6; j++) rows[r + 11 + j] = ctx.ratios[j]!;
  };

  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    const g = floor(slot / 24);
    const h = slot % 24;
    const k = hDays[i]!;
    const m0 = lagWeeksBack(k);
    const r = i * FEATURE_COUNT;
    fillQuantity(sales, r, g, h, m0);
    fillQuantity(orders, r + Q, g, h, m0);
    let c = r + 2 * Q;
    rows[c + h] = 1;
    c += 24;
    rows[c + weekdayOfDayNumber(grid.day0 + g)] = 1;
    c += 7;
    rows[c++] = k / MAX_HORIZON_DAYS;
    rows[c++] = originHour > 0 ? 1 : 0;
    const f = flags(g);
    rows[c++] = f.publicHoliday ? 1 : 0;
    rows[c++] = f.eveOfPublicHoliday ? 1 : 0;
    rows[c++] = f.tradingDay ? 1 : 0;
    rows[c++] = f.closureProne ? 1 : 0;
    rows[c++] = flags(g - 7 * m0).publicHoliday ? 1 : 0;
    for (let j = 0; j < LAG_WEEKS; j++) lagDayClosed[j] = dayClosed(g - 7 * (m0 + j));
    for (let j = 0; j < LAG_WEEKS; j++) rows[c++] = lagDayClosed[j]!;
    rows[c++] = known7 > 0 ? closed7 / known7 : 0;
    rows[c++] = yesterdayClosed;
    rows[c++] = hourOpen[h]! / knownDays28;
    rows[c++] = historyWeeks;
  }
  return {
    originSlot,
    scaleSales: sales.scale,
    scaleOrders: orders.scale,
    slots: Int32Array.from(slots),
    horizonDay: Int32Array.from(hDays),
    rows,
  };
}

/**
 * Prior share of a normal day's demand on closure-prone days (Christmas Day, St Stephen's Day):
 * most Irish restaurants close then. A fixed prior from the calendar, not fitted; the network
 * learns the residual where a branch's history has such days.
 */
export const CLOSURE_PRONE_PRIOR = 0.3;
const CLOSURE_PRONE = 2 * Q + 24 + 7 + 2 + 3;

const BASE_LAG1 = [0, Q] as const;
const BASE_OPEN_MEAN = [6, Q + 6] as const;

/**
 * The structural (seasonal) base of a row, scale-free: half last week's same hour, half the
 * 4-week open-day shape, both at the level of the last 7 days. The network learns the residual
 * quantiles around it (quantity 0 = sales, 1 = orders).
 */
export function structuralBase(rows: Float32Array, row: number, quantity: 0 | 1): number {
  const r = row * FEATURE_COUNT;
  const base = 0.5 * rows[r + BASE_LAG1[quantity]]! + 0.5 * rows[r + BASE_OPEN_MEAN[quantity]]!;
  return rows[r + CLOSURE_PRONE]! > 0 ? base * CLOSURE_PRONE_PRIOR : base;
}

/** Index of a named feature (tests, diagnostics). */
export function featureIndex(name: string): number {
  const i = FEATURE_NAMES.indexOf(name);
  if (i < 0) throw new Error(`no feature "${name}"`);
  return i;
}

/**
 * How many weeks back the first lag of a target day `k` days after the origin's day lies: the lags
 * are on days strictly before the origin's day (1 for days 0–6, 2 for days 7–13, …).
 */
export function lagWeeksBack(k: number): number {
  return floor(k / 7) + 1;
}

export type CalendarNoteKind =
  | 'public_holiday'
  | 'eve_of_public_holiday'
  | 'trading_day'
  | 'likely_closure'
  | 'holiday_in_reference_week'
  /** The operators' calendar (branch-calendar.ts): a planned closure, an event. */
  | 'closed'
  | 'event';

/** A special day the calendar features of a target day refer to, by name. */
export interface CalendarNote {
  /** The special day's local date (yyyy-mm-dd): the target day, the next day (an eve) or the lag day. */
  date: string;
  name: string;
  kind: CalendarNoteKind;
}

/**
 * The named reasons behind the calendar flags of target day `day` (epoch day) forecast from
 * `originDay` — exactly the flags the rows carry (CALENDAR_FEATURES): its special days (a
 * closure-prone one is a likely closure), the holiday it is the eve of, and a holiday on the lag
 * day the shape reads. Empty: the calendar plays no part in that day. With the branch's operator
 * calendar (`entries`), first its closure or event on that day, by the operators' name (a closure
 * is the forecast's 0; an event moves it: calendar-plan.ts).
 */
export function calendarNotes(
  index: SpecialDayIndex,
  originDay: number,
  day: number,
  entries?: readonly BranchCalendarEntry[],
): CalendarNote[] {
  const notes: CalendarNote[] = [];
  const date = formatCivilDate(day);
  const own = entries?.filter((e) => e.date === date) ?? [];
  // A closed day is closed whatever else was planned for it (branchDays).
  const closed = own.find((e) => e.kind === 'closed');
  for (const e of closed ? [closed] : own) notes.push({ date, name: e.name, kind: e.kind });
  for (const d of index.daysOn(date)) {
    notes.push({ date, name: d.name, kind: d.kind });
    if (d.closureProne) notes.push({ date, name: d.name, kind: 'likely_closure' });
  }
  if (index.flagsOf(date).eveOfPublicHoliday) {
    const next = formatCivilDate(day + 1);
    for (const d of index.daysOn(next))
      if (d.kind === 'public_holiday')
        notes.push({ date: next, name: d.name, kind: 'eve_of_public_holiday' });
  }
  const lagDay = day - 7 * lagWeeksBack(Math.max(0, day - originDay));
  const lagDate = formatCivilDate(lagDay);
  for (const d of index.daysOn(lagDate))
    if (d.kind === 'public_holiday')
      notes.push({ date: lagDate, name: d.name, kind: 'holiday_in_reference_week' });
  return notes;
}

/** The features that carry the calendar (special days of the target day and of the lag day). */
export const CALENDAR_FEATURES: readonly number[] = Object.freeze(
  ['public_holiday', 'eve_of_public_holiday', 'trading_day', 'closure_prone', 'lag1_public_holiday'].map(
    featureIndex,
  ),
);

/** The flags that say a row's target day itself is special (its lag day's are not counted). */
const TARGET_DAY_CALENDAR: readonly number[] = Object.freeze(
  ['public_holiday', 'eve_of_public_holiday', 'trading_day', 'closure_prone'].map(featureIndex),
);

/**
 * Whether a row's target day is an ordinary day: not a special day of the calendar (a holiday,
 * an eve, a trading day, a closure-prone day, an operator's event). What knows no calendar
 * (Holt-Winters' day totals) speaks only for these.
 */
export function ordinaryDay(rows: Float32Array, row: number): boolean {
  const r = row * FEATURE_COUNT;
  return TARGET_DAY_CALENDAR.every((c) => rows[r + c] === 0);
}

/** A copy of feature rows as if no day were special: the counterfactual the explanation compares with. */
export function withoutCalendar(rows: Float32Array): Float32Array {
  const out = rows.slice();
  for (let r = 0; r < out.length; r += FEATURE_COUNT) for (const c of CALENDAR_FEATURES) out[r + c] = 0;
  return out;
}
