/**
 * Local wall-clock time <-> UTC for IANA time zones (luxon's zone data), with an
 * explicit, documented DST policy and a per-day cache so that converting tens of
 * thousands of POS timestamps costs a few zone look-ups, not one per row.
 *
 * DST policy for a local wall time that is not exactly one instant:
 * - Nonexistent (spring-forward gap, e.g. Europe/Dublin 2021-03-28 01:30): shifted
 *   forward by the length of the gap, i.e. read with the offset in force before the
 *   transition: 01:30 -> 01:30Z = 02:30 IST.
 * - Ambiguous (fall-back overlap, e.g. Europe/Dublin 2020-10-25 01:00-01:59 happens
 *   twice): the earlier instant, i.e. the offset before the transition (IST, UTC+1):
 *   01:30 -> 00:30Z.
 * (This is Temporal's "compatible" disambiguation. Note that luxon's own
 * DateTime.fromObject picks the LATER instant for ambiguous times, hence this module.)
 */
import { IANAZone } from 'luxon';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

const zones = new Map<string, IANAZone>();

/** The luxon zone for an IANA name; throws on an unknown zone. */
export function ianaZone(name: string): IANAZone {
  let z = zones.get(name);
  if (!z) {
    if (!IANAZone.isValidZone(name)) throw new Error(`unknown IANA time zone "${name}"`);
    z = IANAZone.create(name);
    zones.set(name, z);
  }
  return z;
}

/**
 * Per zone and UTC hour: the offset if it is the same through the whole hour, else null (a
 * transition inside the hour; rare, computed per call). Asking luxon (Intl) costs microseconds per
 * call, and ingest asks for every hour row it writes. Bounded: cleared when it grows large.
 */
const hourOffsets = new Map<string, Map<number, number | null>>();
const HOUR_OFFSETS_MAX = 200_000;

/** UTC offset of `zone` at instant `ms`, in minutes (IST = 60). */
export function utcOffsetMinutes(zone: string, ms: number): number {
  let perZone = hourOffsets.get(zone);
  if (!perZone) hourOffsets.set(zone, (perZone = new Map<number, number | null>()));
  const hour = Math.floor(ms / HOUR_MS);
  let cached = perZone.get(hour);
  if (cached === undefined) {
    const z = ianaZone(zone);
    const a = z.offset(hour * HOUR_MS);
    cached = a === z.offset(hour * HOUR_MS + HOUR_MS - 1) ? a : null;
    if (perZone.size >= HOUR_OFFSETS_MAX) perZone.clear();
    perZone.set(hour, cached);
  }
  return cached ?? ianaZone(zone).offset(ms);
}

/**
 * Per zone and local day (keyed by the day's midnight read as UTC): the offset if
 * it is the same for every wall time of that day, or null on a transition day.
 */
const dayOffsets = new Map<string, Map<number, number | null>>();

function constantDayOffset(zone: string, dayKey: number): number | null {
  let perZone = dayOffsets.get(zone);
  if (!perZone) {
    perZone = new Map();
    dayOffsets.set(zone, perZone);
  }
  const cached = perZone.get(dayKey);
  if (cached !== undefined) return cached;
  // Any wall time of this day maps to an instant within [day - 14h, day + 1d + 12h]
  // (offsets range from -12h to +14h). If the offset is the same at both ends and
  // in the middle, no transition falls in between (zones never flip twice in ~2 days).
  const z = ianaZone(zone);
  const a = z.offset(dayKey - 14 * HOUR_MS);
  const b = z.offset(dayKey + DAY_MS / 2);
  const c = z.offset(dayKey + DAY_MS + 12 * HOUR_MS);
  const result = a === b && b === c ? a : null;
  perZone.set(dayKey, result);
  return result;
}

/**
 * The UTC instant (epoch ms) of a local wall-clock time in `zone`; month is 1-12.
 * Nonexistent times shift forward, ambiguous times take the earlier instant (see above).
 * The caller validates the ranges of the fields.
 */
export function localToUtcMs(
  zone: string,
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second = 0,
): number {
  const dayKey = Date.UTC(year, month - 1, day);
  const wall = dayKey + hour * HOUR_MS + minute * MINUTE_MS + second * 1000;
  const constant = constantDayOffset(zone, dayKey);
  if (constant !== null) return wall - constant * MINUTE_MS;
  // Transition day: the offsets before and after, and which of them reproduce the wall time.
  const z = ianaZone(zone);
  const before = z.offset(wall - DAY_MS);
  const after = z.offset(wall + DAY_MS);
  let best: number | null = null;
  for (const o of [before, after]) {
    const instant = wall - o * MINUTE_MS;
    if (z.offset(instant) === o && (best === null || instant < best)) best = instant;
  }
  // Neither reproduces it: a gap. Read with the offset before the transition (= shift forward).
  return best ?? wall - before * MINUTE_MS;
}

/** Wall-clock fields of an instant in `zone`. */
export function utcToLocal(
  zone: string,
  ms: number,
): { year: number; month: number; day: number; hour: number; minute: number; weekday: number } {
  const d = new Date(ms + utcOffsetMinutes(zone, ms) * MINUTE_MS);
  const weekday = d.getUTCDay(); // 0 = Sunday
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    weekday: weekday === 0 ? 7 : weekday, // ISO: 1 = Monday ... 7 = Sunday
  };
}

/** Local calendar date (yyyy-mm-dd) of an instant in `zone`. */
export function localDateOf(zone: string, ms: number): string {
  const l = utcToLocal(zone, ms);
  return `${l.year}-${String(l.month).padStart(2, '0')}-${String(l.day).padStart(2, '0')}`;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Parses yyyy-mm-dd into fields, or null if it is not a real calendar date. */
export function parseIsoDate(date: string): { year: number; month: number; day: number } | null {
  const m = ISO_DATE.exec(date);
  if (!m) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (!isValidDate(year, month, day)) return null;
  return { year, month, day };
}

/** True if year-month-day (month 1-12) is a real calendar date. */
export function isValidDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1 || !Number.isInteger(year)) return false;
  if (month === 2) return day <= ((year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28);
  return day <= (month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31);
}

/** The instant local midnight starts `date` (yyyy-mm-dd) in `zone`. */
export function localDayStartUtc(zone: string, date: string): number {
  const d = parseIsoDate(date);
  if (!d) throw new Error(`not a date yyyy-mm-dd: "${date}"`);
  return localToUtcMs(zone, d.year, d.month, d.day, 0, 0);
}

/** Wall-clock view of an instant in `zone`: `yyyy-MM-dd HH:mm:ss`, the local date and the UTC offset. */
export function localWallClock(zone: string, ms: number): { text: string; date: string; offsetMin: number } {
  const offsetMin = utcOffsetMinutes(zone, ms);
  const iso = new Date(ms + offsetMin * 60_000).toISOString();
  return { text: `${iso.slice(0, 10)} ${iso.slice(11, 19)}`, date: iso.slice(0, 10), offsetMin };
}
