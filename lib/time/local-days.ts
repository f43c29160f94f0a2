/**
 * A branch's local days as UTC hours. Local day D holds the UTC hours whose local start time falls
 * on D (the rule of `sales_hourly.local_date`): 24 hours, 23 on a spring-forward day, 25 on a
 * fall-back day. In zones with a non-whole-hour offset (e.g. Asia/Kolkata) those hours start at
 * :30 local time, since aggregates are UTC hours.
 */
import { formatCivilDate } from './civil-date';
import { HOUR_MS } from './units';
import { localSlotOf, startOfLocalDay, formatLocal } from './wall-clock';
import { utcOffsetMinutes } from './zones';

/**
 * The first UTC hour start on local day `day` in `zone`: local midnight in whole-hour zones, the
 * hour after it otherwise (00:30 in Asia/Kolkata). For a day the zone skipped (Pacific/Apia
 * 2011-12-30) that is the first hour of the next day: the skipped day has no hours.
 */
export function localMidnightUtc(zone: string, day: number): number {
  return Math.ceil(startOfLocalDay(zone, day) / HOUR_MS) * HOUR_MS;
}

/**
 * The end of the local day of `origin` plus `days` full local days: the instant local day
 * (origin's day + days + 1) begins. An origin at local midnight starts a fresh day, so it covers
 * exactly the next `days` days (2021-02-01 00:00 -> 2021-02-01 … 2021-02-14).
 */
export function horizonEnd(origin: number, zone: string, days: number): number {
  const day = localSlotOf(zone, origin).day;
  const extra = startOfLocalDay(zone, day) === origin ? days : days + 1;
  return startOfLocalDay(zone, day + extra);
}

/** The hours of one local day of one zone. */
export interface DayLayout {
  readonly date: string;
  readonly epochDay: number;
  /** First hour start (UTC ms); hours are consecutive. */
  readonly firstHour: number;
  /** Number of hours (23, 24 or 25 in zones with a one-hour DST shift). */
  readonly hours: number;
  /** `start` of each hour in local ISO-8601 with offset. */
  readonly labels: readonly string[];
}

function buildLayout(zone: string, epochDay: number): DayLayout {
  const firstHour = localMidnightUtc(zone, epochDay);
  const hours = Math.round((localMidnightUtc(zone, epochDay + 1) - firstHour) / HOUR_MS);
  const labels = new Array<string>(hours);
  for (let i = 0; i < hours; i++) {
    const h = firstHour + i * HOUR_MS;
    labels[i] = formatLocal(h, utcOffsetMinutes(zone, h));
  }
  return { date: formatCivilDate(epochDay), epochDay, firstHour, hours, labels };
}

const LAYOUT_CACHE_MAX = 50_000;
const layoutCache = new Map<string, DayLayout>();

/** The (memoised) hours of local day `epochDay` in `zone`; throws on an unknown zone. */
export function dayLayout(zone: string, epochDay: number): DayLayout {
  const key = `${zone}|${epochDay}`;
  let layout = layoutCache.get(key);
  if (layout === undefined) {
    layout = buildLayout(zone, epochDay);
    if (layoutCache.size >= LAYOUT_CACHE_MAX) layoutCache.clear();
    layoutCache.set(key, layout);
  }
  return layout;
}

/** Layouts of every day from `startDay` to `endDay` inclusive. */
export function dayLayouts(zone: string, startDay: number, endDay: number): DayLayout[] {
  const out: DayLayout[] = [];
  for (let d = startDay; d <= endDay; d++) out.push(dayLayout(zone, d));
  return out;
}
