/**
 * Calendar dates without a time zone. A day number counts days since 1970-01-01 (the epoch day
 * of a `yyyy-mm-dd`); a branch's local day is such a number too, taken on its local calendar.
 * Weekdays and ISO weeks are pure functions of it.
 */
import { DAY_MS } from './units';

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** True if year-month-day (month 1-12) is a real calendar date. */
export function isValidDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1 || !Number.isInteger(year)) return false;
  if (month === 2) return day <= ((year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28);
  return day <= (month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31);
}

/** Parses yyyy-mm-dd into fields, or null if it is not a real calendar date (2021-02-30 is not). */
export function parseIsoDate(date: string): { year: number; month: number; day: number } | null {
  const m = ISO_DATE.exec(date);
  if (!m) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (!isValidDate(year, month, day)) return null;
  return { year, month, day };
}

/** Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Day number of a valid `yyyy-mm-dd`, or null for anything else: for input from outside. */
export function parseCivilDate(date: string): number | null {
  const d = parseIsoDate(date);
  return d ? daysFromCivil(d.year, d.month, d.day) : null;
}

/** Day number of a `yyyy-mm-dd` the code itself wrote; throws on anything else. */
export function dateToDayNumber(date: string): number {
  const day = parseCivilDate(date);
  if (day === null) throw new RangeError(`not a date yyyy-mm-dd: "${date}"`);
  return day;
}

/** `yyyy-mm-dd` of a day number. */
export function formatCivilDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** ISO weekday of a day number: 1 = Monday … 7 = Sunday. */
export function isoWeekday(day: number): number {
  // 1970-01-01 was a Thursday (4).
  return ((((day + 3) % 7) + 7) % 7) + 1;
}

/** Weekday of a day number as an index from 0 = Monday to 6 = Sunday (the model's feature slots). */
export function weekdayOfDayNumber(day: number): number {
  return isoWeekday(day) - 1;
}

/** Day number of the Monday starting the ISO week that contains `day`. */
export function isoWeekMonday(day: number): number {
  return day - weekdayOfDayNumber(day);
}

/** ISO week label, e.g. `2021-W05` (the ISO year is the year of the week's Thursday). */
export function isoWeekLabel(day: number): string {
  const thursday = isoWeekMonday(day) + 3;
  const year = new Date(thursday * DAY_MS).getUTCFullYear();
  const week = Math.floor((thursday - daysFromCivil(year, 1, 1)) / 7) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}
