/**
 * What a forecast does with the operators' calendar (model/branch-calendar.ts; docs/model.md,
 * "Operators' calendar"). Pure: a series with its calendar in, a plan per horizon day out.
 *
 * - A closed day is 0 with a 0–0 range, and known closed days in the history are closed days for
 *   the features (their slots are 0: `withClosedDays`), whatever was sold on them.
 * - An event day whose name (trimmed, case-insensitive) the branch has had before takes the effect
 *   of those past days ('learned'): each past day's ratio of its actual day total to the
 *   structural base (level × hour-of-week shape, features.ts) computed from the history before
 *   that day, the mean of their logs over the most recent `MAX_PAST_EVENTS`, applied as a
 *   multiplier to the day's p10/p50/p90 (every hour alike, so the day's p50 stays the sum of its
 *   hours). Sales and orders each have their own ratio.
 * - Else the operators' `expectedEffect` ('expected'): × (1 + expectedEffect).
 * - Else the network's special-day behaviour ('generic'): the day is a trading day for the
 *   features (calendar.ts withBranchEvents), as past event days are in training.
 * In 'learned' and 'expected' the network's rows carry no event flag (the multiplier is the
 * effect, measured against an ordinary day); the range widens (see `widening`).
 *
 * Honesty: past effects are measured on the history strictly before the forecast's origin, and
 * only on days that ended before the origin's local day; calendar entries themselves may lie
 * after the origin (they are known in advance).
 */
import { formatCivilDate } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { DAY_MS, HOUR_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import {
  branchDays,
  eventKey,
  type BranchCalendarEntry,
  type BranchCalendarNote,
  type BranchDays,
} from './branch-calendar';
import { specialDayIndex, withBranchEvents, type SpecialDayIndex } from './calendar';
import { originRows, structuralBase } from './features';
import { historyGrid } from './horizon';
import type { LocalGrid } from './local-grid';
import { historyBefore, seriesEnd, type HourlySeries } from './series';

/** The most recent past days of an event name that its effect is learned from. */
export const MAX_PAST_EVENTS = 8;
/**
 * Range widening of an event nobody has measured at this branch ('expected', 'generic'): at least
 * as uncertain as an effect learned from one past day (√2, see `widening`), rounded up because
 * an operator's guess or the network's generic special-day effect is not a measurement here.
 */
export const FIRST_TIME_WIDENING = 1.5;
/** A past day's ratio to its base is clamped to [1/10, 10] (a near-empty base is no measurement). */
const MAX_RATIO = 10;

/**
 * Widening of the day's p10–p90 half-widths around p50 for an effect learned from `n` past days:
 * √(1 + 1/n). The effect of one past day is known only up to the base's error on a day, about as
 * large as a day's own range (daily WAPE ~32 % on the backtest), and the mean of n days to 1/√n
 * of it; independent errors add in quadrature. 1.41 for one day, 1.22 for two, 1.15 for three,
 * 1.06 for eight.
 */
export function widening(n: number): number {
  return n > 0 ? Math.sqrt(1 + 1 / n) : FIRST_TIME_WIDENING;
}

/** A copy of `grid` with the known slots of `closed` days (local day numbers) set to 0 (the same grid if none is in it). */
export function withClosedDays(grid: LocalGrid, closed: ReadonlySet<number>): LocalGrid {
  let sales: Float64Array | undefined;
  let orders: Float64Array | undefined;
  for (const day of closed) {
    const g = day - grid.day0;
    if (g < 0 || g >= grid.days) continue;
    sales ??= grid.sales.slice();
    orders ??= grid.orders.slice();
    for (let k = g * 24; k < g * 24 + 24; k++) {
      // Unknown slots (the future, before the data) stay unknown.
      if (!Number.isNaN(sales[k]!)) {
        sales[k] = 0;
        orders[k] = 0;
      }
    }
  }
  return sales && orders ? { ...grid, sales, orders } : grid;
}

/** The learned effect of an event name: multipliers and the past days (dates) it comes from. */
export interface LearnedEffect {
  sales: number;
  orders: number;
  dates: string[];
}

function sumHours(values: Float64Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += values[i]!;
  return s;
}

const clampRatio = (r: number): number => Math.min(MAX_RATIO, Math.max(1 / MAX_RATIO, r));

/**
 * The effect of the branch's past event days named like `key` (eventKey) on days before
 * `beforeDay`, measured on `history` (which must end at or before the forecast's origin): per day,
 * actual day total / structural base from the history before that day; the geometric mean over
 * the most recent MAX_PAST_EVENTS measurable days. Days without sales (closed in fact), without
 * a base (too little history before them) or not wholly in `history` are skipped. Undefined: none.
 */
export function learnedEventEffect(
  history: HourlySeries,
  days: BranchDays,
  key: string,
  beforeDay: number,
  lookbackDays: number,
  index: SpecialDayIndex = specialDayIndex(history.country),
): LearnedEffect | undefined {
  const past = [...days.events]
    .filter(([d, e]) => d < beforeDay && eventKey(e.name) === key)
    .map(([d]) => d)
    .sort((a, b) => b - a);
  const end = seriesEnd(history);
  let logS = 0;
  let logO = 0;
  const dates: string[] = [];
  for (const day of past) {
    if (dates.length >= MAX_PAST_EVENTS) break;
    const from = localMidnightUtc(history.timezone, day);
    const to = localMidnightUtc(history.timezone, day + 1);
    if (from < history.start || to > end) continue;
    const a = (from - history.start) / HOUR_MS;
    const b = (to - history.start) / HOUR_MS;
    const actualS = sumHours(history.sales, a, b);
    const actualO = sumHours(history.orders, a, b);
    if (!(actualS > 0)) continue;
    const hg = historyGrid(history, from, 0, lookbackDays);
    const rows = originRows(withClosedDays(hg.grid, days.closed), index, hg.originSlot, 0);
    if (!rows) continue;
    let baseS = 0;
    let baseO = 0;
    for (let j = 0; j < rows.slots.length; j++) {
      baseS += Math.max(0, structuralBase(rows.rows, j, 0));
      baseO += Math.max(0, structuralBase(rows.rows, j, 1));
    }
    baseS *= rows.scaleSales;
    baseO *= rows.scaleOrders;
    if (!(baseS > 0)) continue;
    const rs = Math.log(clampRatio(actualS / baseS));
    logS += rs;
    // Orders without a base or without orders (sales only): the sales ratio.
    logO += baseO > 0 && actualO > 0 ? Math.log(clampRatio(actualO / baseO)) : rs;
    dates.push(formatCivilDate(day));
  }
  if (dates.length === 0) return undefined;
  return { sales: Math.exp(logS / dates.length), orders: Math.exp(logO / dates.length), dates };
}

/** What one horizon day gets. */
export interface DayPlan {
  closed: boolean;
  /** Multipliers of p10/p50/p90 (1 for 'generic'). */
  sales: number;
  orders: number;
  /** Factor on the half-widths around p50. */
  widening: number;
}

export interface CalendarPlan {
  /** Every closed day of the calendar (local day numbers): history slots set to 0, horizon days 0. */
  closed: ReadonlySet<number>;
  /** The features' special days: the country's, plus the 'generic' event days of the horizon. */
  index: SpecialDayIndex;
  /** Per horizon day with an entry (local day number). */
  days: ReadonlyMap<number, DayPlan>;
  /** The explanation, one note per horizon day with an entry, in date order. */
  notes: BranchCalendarNote[];
}

const percent = (x: number): string => {
  const p = Math.round(x * 100);
  return `${p >= 0 ? '+' : '-'}${Math.abs(p)} %`;
};

/**
 * The plan of a forecast of `series` from `origin` over the rest of its local day and `days`
 * local days, or undefined when its calendar has nothing (then the forecast is the model's alone).
 */
export function calendarPlan(
  series: HourlySeries,
  origin: number,
  days: number,
  lookbackDays: number,
): CalendarPlan | undefined {
  const cal = branchDays(series.calendar);
  const country = specialDayIndex(series.country);
  if (!cal) return undefined;
  const originDay = localSlotOf(series.timezone, origin).day;
  const plans = new Map<number, DayPlan>();
  const notes: BranchCalendarNote[] = [];
  const generic: number[] = [];
  let history: HourlySeries | undefined;
  for (let day = originDay; day <= originDay + days; day++) {
    const date = formatCivilDate(day);
    if (cal.closed.has(day)) {
      const entry = (series.calendar ?? []).find((e) => e.kind === 'closed' && e.date === date);
      const name = entry?.name ?? '';
      plans.set(day, { closed: true, sales: 0, orders: 0, widening: 1 });
      notes.push({ date, kind: 'closed', name, mode: 'closed', widening: 1, text: `closed: ${name}` });
      continue;
    }
    const e: BranchCalendarEntry | undefined = cal.events.get(day);
    if (!e) continue;
    history ??= historyBefore(series, origin);
    const learned = learnedEventEffect(history, cal, eventKey(e.name), originDay, lookbackDays, country);
    if (learned) {
      const n = learned.dates.length;
      const w = widening(n);
      plans.set(day, { closed: false, sales: learned.sales, orders: learned.orders, widening: w });
      notes.push({
        date,
        kind: 'event',
        name: e.name,
        mode: 'learned',
        multiplier: { sales: learned.sales, orders: learned.orders },
        pastDays: n,
        widening: w,
        text: `event: ${e.name}, learned from ${n} past day${n === 1 ? '' : 's'}: ${percent(learned.sales - 1)}`,
      });
    } else if (e.expectedEffect !== undefined && Number.isFinite(e.expectedEffect)) {
      const m = Math.max(0, 1 + e.expectedEffect);
      plans.set(day, { closed: false, sales: m, orders: m, widening: FIRST_TIME_WIDENING });
      notes.push({
        date,
        kind: 'event',
        name: e.name,
        mode: 'expected',
        multiplier: { sales: m, orders: m },
        widening: FIRST_TIME_WIDENING,
        text: `event: ${e.name}, expected by the operators: ${percent(m - 1)}`,
      });
    } else {
      generic.push(day);
      plans.set(day, { closed: false, sales: 1, orders: 1, widening: FIRST_TIME_WIDENING });
      notes.push({
        date,
        kind: 'event',
        name: e.name,
        mode: 'generic',
        widening: FIRST_TIME_WIDENING,
        text: `event: ${e.name}, first time: the model's special-day effect`,
      });
    }
  }
  return { closed: cal.closed, index: withBranchEvents(country, generic), days: plans, notes };
}

/**
 * The earliest instant a forecast of `series` from `origin` (`days` local days) reads when its
 * calendar is honoured: the features' `lookbackDays` (+2 days of slack, as the forecaster loads)
 * before the origin, or before the oldest past day an event of its horizon learns from. Loaders
 * give the model history from there (the series may start later: those days are then skipped).
 */
export function calendarHistoryStart(
  series: Pick<HourlySeries, 'timezone' | 'calendar'>,
  origin: number,
  days: number,
  lookbackDays: number,
): number {
  let earliest = origin - (lookbackDays + 2) * DAY_MS;
  const cal = branchDays(series.calendar);
  if (!cal) return earliest;
  const originDay = localSlotOf(series.timezone, origin).day;
  const keys = new Set<string>();
  for (let day = originDay; day <= originDay + days; day++) {
    const e = cal.events.get(day);
    if (e) keys.add(eventKey(e.name));
  }
  for (const key of keys) {
    const past = [...cal.events]
      .filter(([d, e]) => d < originDay && eventKey(e.name) === key)
      .map(([d]) => d)
      .sort((a, b) => b - a)
      .slice(0, MAX_PAST_EVENTS);
    for (const d of past)
      earliest = Math.min(earliest, localMidnightUtc(series.timezone, d) - (lookbackDays + 2) * DAY_MS);
  }
  return earliest;
}
