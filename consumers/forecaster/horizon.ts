/**
 * Which hours a forecast run covers: from its origin (end of the last closed
 * hour) through the rest of that local day plus the next FORECAST_HORIZON_DAYS
 * full local days. An origin at local midnight starts a fresh day, so it covers
 * exactly the next N days (2021-02-01 00:00 -> 2021-02-01 … 2021-02-14).
 */
import { DateTime } from 'luxon';

export function horizonEnd(origin: number, timezone: string, days: number): number {
  const local = DateTime.fromMillis(origin, { zone: timezone });
  const dayStart = local.startOf('day');
  const extra = dayStart.toMillis() === origin ? days : days + 1;
  return dayStart.plus({ days: extra }).toMillis();
}

export const HOUR_MS = 3_600_000;

export function hoursBetween(from: number, to: number): number[] {
  const out: number[] = [];
  for (let h = from; h < to; h += HOUR_MS) out.push(h);
  return out;
}
