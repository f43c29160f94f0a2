/**
 * IANA time zones (luxon's zone data) and their UTC offsets, cached: asking luxon (Intl) costs
 * microseconds per call, and ingest and the model ask for every hour they touch.
 */
import { IANAZone } from 'luxon';
import { HOUR_MS } from './units';

const zones = new Map<string, IANAZone>();

/** The luxon zone for an IANA name; throws on an unknown zone. */
export function ianaZone(name: string): IANAZone {
  let z = zones.get(name);
  if (!z) {
    if (!IANAZone.isValidZone(name)) throw new RangeError(`unknown IANA time zone "${name}"`);
    z = IANAZone.create(name);
    zones.set(name, z);
  }
  return z;
}

/**
 * Per zone and UTC hour: the offset if it is the same through the whole hour, else null (a
 * transition inside the hour; rare, computed per call). A miss fills the next 24 hours at once when
 * the offset is the same at both ends (zones never change twice within a day). Bounded: cleared
 * when it grows large.
 */
const hourOffsets = new Map<string, Map<number, number | null>>();
const HOUR_OFFSETS_MAX = 200_000;

/** UTC offset of `zone` at instant `ms`, in minutes (IST = 60); throws on an unknown zone. */
export function utcOffsetMinutes(zone: string, ms: number): number {
  let perZone = hourOffsets.get(zone);
  const hour = Math.floor(ms / HOUR_MS);
  let cached = perZone?.get(hour);
  if (cached === undefined) {
    const z = ianaZone(zone);
    if (!perZone) hourOffsets.set(zone, (perZone = new Map<number, number | null>()));
    if (perZone.size >= HOUR_OFFSETS_MAX) perZone.clear();
    const a = z.offset(hour * HOUR_MS);
    if (a === z.offset((hour + 24) * HOUR_MS)) {
      for (let h = hour; h < hour + 24; h++) perZone.set(h, a);
      cached = a;
    } else {
      cached = a === z.offset(hour * HOUR_MS + HOUR_MS - 1) ? a : null;
      perZone.set(hour, cached);
    }
  }
  return cached ?? ianaZone(zone).offset(ms);
}

/**
 * UTC offsets (minutes) of `n` consecutive UTC hours from `start`: one zone look-up per day
 * plus a binary search on the (rare) days where the offset changes.
 */
export function hourlyOffsets(zone: string, start: number, n: number): Int32Array {
  const z = ianaZone(zone);
  const out = new Int32Array(n);
  if (n === 0) return out;
  let i = 0;
  let offI = z.offset(start);
  while (i < n) {
    const j = Math.min(n - 1, i + 24);
    const offJ = z.offset(start + j * HOUR_MS);
    if (offJ === offI) {
      out.fill(offI, i, j + 1);
    } else {
      // One transition in (i, j]: find the first hour with the new offset.
      let lo = i;
      let hi = j;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (z.offset(start + mid * HOUR_MS) === offI) lo = mid;
        else hi = mid;
      }
      out.fill(offI, i, hi);
      out.fill(offJ, hi, j + 1);
    }
    i = j + 1;
    offI = i < n ? z.offset(start + i * HOUR_MS) : offJ;
  }
  return out;
}

/** `+01:00` / `-03:30` / `+00:00` for an offset in minutes. */
export function formatOffset(offsetMin: number): string {
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
