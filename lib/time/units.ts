/** Durations in milliseconds, and whole UTC hours (epoch ms; an hour start is a multiple of HOUR_MS). */
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** Start of the UTC hour that contains `ms`. */
export const floorToHour = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS;
