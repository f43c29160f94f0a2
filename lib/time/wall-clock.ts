/**
 * Local wall-clock time <-> UTC instants in an IANA zone, with an explicit DST policy and a
 * per-day cache so that converting tens of thousands of POS timestamps costs a few zone look-ups,
 * not one per row.
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
import { formatOffset, ianaZone, utcOffsetMinutes } from './zones';
import { DAY_MS, HOUR_MS, MINUTE_MS } from './units';

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

/** The UTC instant of a local wall time given as epoch ms read as UTC (DST policy above). */
function wallToUtcMs(zone: string, wall: number): number {
  const constant = constantDayOffset(zone, Math.floor(wall / DAY_MS) * DAY_MS);
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
  return wallToUtcMs(
    zone,
    Date.UTC(year, month - 1, day) + hour * HOUR_MS + minute * MINUTE_MS + second * 1000,
  );
}

/** The instant local day `day` (a day number) begins in `zone`: its local midnight, or the end of a gap over it. */
export function startOfLocalDay(zone: string, day: number): number {
  return wallToUtcMs(zone, day * DAY_MS);
}

/** Wall-clock fields of an instant in `zone`; weekday is ISO (1 = Monday … 7 = Sunday). */
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
    weekday: weekday === 0 ? 7 : weekday,
  };
}

/** Local day number (days since 1970-01-01 on the local calendar) and local hour of an instant. */
export function localSlotOf(zone: string, ms: number): { day: number; hour: number } {
  const wall = ms + utcOffsetMinutes(zone, ms) * MINUTE_MS;
  const day = Math.floor(wall / DAY_MS);
  return { day, hour: Math.floor((wall - day * DAY_MS) / HOUR_MS) };
}

/**
 * Wall-clock view of an instant in `zone`: `yyyy-MM-dd HH:mm:ss`, the local date and the UTC
 * offset (the `*_local`, `local_date` and `utc_offset_min` columns).
 */
export function localWallClock(zone: string, ms: number): { text: string; date: string; offsetMin: number } {
  const offsetMin = utcOffsetMinutes(zone, ms);
  const iso = new Date(ms + offsetMin * MINUTE_MS).toISOString();
  return { text: `${iso.slice(0, 10)} ${iso.slice(11, 19)}`, date: iso.slice(0, 10), offsetMin };
}

/** ISO-8601 local time with the zone offset in force, e.g. `2020-10-25T01:00:00+01:00`. */
export function formatLocal(utcMs: number, offsetMin: number): string {
  return `${new Date(utcMs + offsetMin * MINUTE_MS).toISOString().slice(0, 19)}${formatOffset(offsetMin)}`;
}

/** ISO-8601 UTC, e.g. `2021-02-01T00:00:00.000Z`. */
export const isoUtc = (ms: number): string => new Date(ms).toISOString();
