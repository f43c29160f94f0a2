/**
 * Branch-local calendar arithmetic for the API, pure (no I/O).
 *
 * - Civil dates (`yyyy-mm-dd`) are handled as epoch-day numbers (no time zone involved).
 * - A branch's local day D holds the UTC hours h whose local start time falls on D
 *   (the same rule as `sales_hourly.local_date`): 24 hours, 23 on a spring-forward
 *   day, 25 on a fall-back day. For zones with a non-whole-hour offset (e.g.
 *   Asia/Kolkata) the hours start at :30 local time, since aggregates are UTC hours.
 * - Day layouts are memoised per (zone, date): zone offsets cost microseconds each.
 */
import { DateTime, IANAZone } from 'luxon';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Epoch day (days since 1970-01-01) of a valid `yyyy-mm-dd`, or null for anything else (2021-02-30 too). */
export function parseCivilDate(s: string): number | null {
  if (s.length !== 10 || !DATE_RE.test(s)) return null;
  const y = Number(s.slice(0, 4));
  const mo = Number(s.slice(5, 7));
  const d = Number(s.slice(8, 10));
  if (mo < 1 || mo > 12 || d < 1) return null;
  const max = mo === 2 && isLeap(y) ? 29 : (MONTH_DAYS[mo - 1] as number);
  if (d > max) return null;
  return daysFromCivil(y, mo, d);
}

export function formatCivilDate(epochDay: number): string {
  return new Date(epochDay * DAY_MS).toISOString().slice(0, 10);
}

/** ISO weekday, 1 = Monday … 7 = Sunday. */
export function isoWeekday(epochDay: number): number {
  // 1970-01-01 was a Thursday (4).
  return ((((epochDay + 3) % 7) + 7) % 7) + 1;
}

/** Epoch day of the Monday starting the ISO week that contains `epochDay`. */
export function isoWeekMonday(epochDay: number): number {
  return epochDay - (isoWeekday(epochDay) - 1);
}

/** ISO week label, e.g. `2021-W05` (the ISO year is the year of the week's Thursday). */
export function isoWeekLabel(epochDay: number): string {
  const thursday = isoWeekMonday(epochDay) + 3;
  const year = new Date(thursday * DAY_MS).getUTCFullYear();
  const jan1 = Math.round(Date.UTC(year, 0, 1) / DAY_MS);
  const week = Math.floor((thursday - jan1) / 7) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

export function isValidTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/** `+01:00` / `-03:30` / `+00:00` for an offset in minutes. */
export function formatOffset(offsetMin: number): string {
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** ISO-8601 local time with the zone offset in force, e.g. `2020-10-25T01:00:00+01:00`. */
export function formatLocal(utcMs: number, offsetMin: number): string {
  return `${new Date(utcMs + offsetMin * 60_000).toISOString().slice(0, 19)}${formatOffset(offsetMin)}`;
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

const ceilHour = (ms: number) => Math.ceil(ms / HOUR_MS) * HOUR_MS;

/** UTC ms at which local day `epochDay` begins in `zone` (the first instant whose local date is that day). */
function localDayStart(zone: string, epochDay: number): number {
  const d = new Date(epochDay * DAY_MS);
  return DateTime.fromObject(
    { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() },
    { zone },
  ).toMillis();
}

function buildLayout(zone: string, epochDay: number): DayLayout {
  const tz = IANAZone.create(zone);
  const firstHour = ceilHour(localDayStart(zone, epochDay));
  const end = ceilHour(localDayStart(zone, epochDay + 1));
  const hours = Math.max(0, Math.round((end - firstHour) / HOUR_MS));
  const labels: string[] = new Array<string>(hours);
  const offStart = tz.offset(firstHour);
  const offEnd = tz.offset(end - HOUR_MS);
  for (let i = 0; i < hours; i++) {
    const h = firstHour + i * HOUR_MS;
    // One offset lookup per day unless the day has a transition.
    const off = offStart === offEnd ? offStart : tz.offset(h);
    labels[i] = formatLocal(h, off);
  }
  return { date: formatCivilDate(epochDay), epochDay, firstHour, hours, labels };
}

const LAYOUT_CACHE_MAX = 50_000;
const layoutCache = new Map<string, DayLayout>();

/** The (memoised) hours of local day `epochDay` in `zone`. `zone` must be a valid IANA zone. */
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

export const isoUtc = (ms: number): string => new Date(ms).toISOString();
