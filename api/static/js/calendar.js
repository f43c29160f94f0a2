// @ts-check
/**
 * The dashboard's calendar math: civil dates (yyyy-mm-dd) held as the epoch ms
 * of their UTC midnight, the local date of an instant in a branch's IANA zone
 * (the browser's zone data, through Intl), and the parts of an hour row's local
 * start. The server keeps its own TypeScript copy of this math (its calendar
 * module lib/time/); a browser cannot import TypeScript without a
 * build step, so this is the one copy the dashboard has. The API decides what a
 * branch's days and hours are; this module only moves ranges and reads the
 * rows' own local times.
 */

/** @import { BranchListItem } from './api-types.js' */

export const DAY_MS = 86400000;
const HOUR_MS = 3600000;
export const DEFAULT_DAYS = 7;

/**
 * @param {string | null | undefined} s
 * @returns {number | null} the date's UTC midnight in ms, or null when `s` is not a calendar date
 */
export function parseDate(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  if (!m) return null;
  const y = Number(m[1]);
  const mo = Number(m[2]) - 1;
  const d = Number(m[3]);
  const t = Date.UTC(y, mo, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo || back.getUTCDate() !== d) return null;
  return t;
}

/** @param {number} t epoch ms @returns {string} its UTC date, yyyy-mm-dd */
export function isoDate(t) {
  return new Date(t).toISOString().slice(0, 10);
}

/**
 * @param {string} s a calendar date
 * @param {number} n days to add (negative: earlier)
 */
export function addDays(s, n) {
  return isoDate((parseDate(s) ?? 0) + n * DAY_MS);
}

/** Days from `a` to `b`, both included. @param {string} a @param {string} b */
export function dayCount(a, b) {
  return Math.round(((parseDate(b) ?? 0) - (parseDate(a) ?? 0)) / DAY_MS) + 1;
}

/** 0 = Sunday .. 6 = Saturday, of a civil date (-1 when it is not one). @param {string} date */
export function weekday(date) {
  const t = parseDate(date);
  return t === null ? -1 : new Date(t).getUTCDay();
}

/**
 * yyyy-mm-dd of an instant in an IANA zone (falls back to UTC).
 * @param {number} instantMs
 * @param {string} timeZone
 */
export function localDate(instantMs, timeZone) {
  try {
    const parts = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    }).formatToParts(new Date(instantMs));
    /** @param {Intl.DateTimeFormatPartTypes} type */
    const get = (type) => {
      const part = parts.find((p) => p.type === type);
      if (!part) throw new Error(`no ${type} in a formatted date`);
      return part.value;
    };
    return get('year') + '-' + get('month') + '-' + get('day');
  } catch {
    return isoDate(instantMs);
  }
}

/**
 * The branch's default range: 7 days from the local day of its first open hour (or today).
 * @param {BranchListItem} branch
 * @returns {{ start: string, end: string }}
 */
export function defaultRange(branch) {
  let from = Date.now();
  // The last closed hour; else the hour the latest run's data ended (a replayed history); else today.
  const anchor = branch.last_closed_hour || branch.latest_forecast?.data_through;
  const t = anchor ? Date.parse(anchor) : NaN;
  if (!isNaN(t)) from = t + HOUR_MS;
  const start = localDate(from, branch.timezone);
  return { start, end: addDays(start, DEFAULT_DAYS - 1) };
}

/**
 * @typedef {object} HourParts
 * @property {string} date local date
 * @property {number} hour local hour, 0-23
 * @property {string} hh
 * @property {string} mm
 * @property {string} offset UTC offset, e.g. +01:00
 */

/**
 * Parts of an hour row's local start, e.g. 2021-03-28T03:00:00+01:00, read from the
 * string itself (never the browser's zone).
 * @param {string} iso
 * @returns {HourParts}
 */
export function hourParts(iso) {
  let off = iso.length > 19 ? iso.slice(19) : '';
  if (off === 'Z' || off === '') off = '+00:00';
  return {
    date: iso.slice(0, 10),
    hour: Number(iso.slice(11, 13)),
    hh: iso.slice(11, 13),
    mm: iso.slice(14, 16),
    offset: off,
  };
}

/**
 * Consecutive dates grouped: [[first, last], ...].
 * @param {string[]} dates ascending
 * @returns {[string, string][]}
 */
export function dateRuns(dates) {
  /** @type {[string, string][]} */
  const runs = [];
  dates.forEach((dt) => {
    const last = runs[runs.length - 1];
    if (last && addDays(last[1], 1) === dt) last[1] = dt;
    else runs.push([dt, dt]);
  });
  return runs;
}
