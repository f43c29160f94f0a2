// @ts-check
/**
 * Numbers, money and dates as the page shows them: the browser's locale, the
 * branch's currency, civil dates labelled as they are (formatted in UTC, where
 * their midnight lives) and instants in the branch's zone.
 */

import { parseDate } from './calendar.js';

/** @import { Source } from './api-types.js' */

/** @typedef {{ format(v: number): string }} Formatter */

/** @type {Map<string, Formatter>} */
const formats = new Map();

/**
 * A cached Intl.NumberFormat; a plain number + currency code when the browser rejects the options.
 * @param {string} key
 * @param {Intl.NumberFormatOptions} opts
 * @returns {Formatter}
 */
function numberFormat(key, opts) {
  let f = formats.get(key);
  if (!f) {
    try {
      f = new Intl.NumberFormat(undefined, opts);
    } catch {
      const plain = new Intl.NumberFormat(undefined, {
        maximumFractionDigits: opts.maximumFractionDigits || 0,
      });
      const code = opts.currency ? ' ' + opts.currency : '';
      f = { format: (v) => plain.format(v) + code };
    }
    formats.set(key, f);
  }
  return f;
}

/**
 * @param {number | null | undefined} v
 * @param {string} currency ISO 4217 code
 * @param {number} [digits] fraction digits, 0 by default
 */
export function money(v, currency, digits = 0) {
  if (v === null || v === undefined) return '—';
  return numberFormat('m' + currency + digits, {
    style: 'currency',
    currency,
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(v);
}

/** Axis labels: whole amounts below 1000, then compact (1.2K). @param {number} v @param {string} currency */
export function moneyCompact(v, currency) {
  if (Math.abs(v) < 1000) return money(v, currency, Math.abs(v) < 10 && v !== Math.round(v) ? 1 : 0);
  return numberFormat('mc' + currency, {
    style: 'currency',
    currency,
    notation: 'compact',
    maximumFractionDigits: 1,
  }).format(v);
}

/** Order counts (forecasts may be fractional). @param {number | null | undefined} v */
export function orders(v) {
  if (v === null || v === undefined) return '—';
  const d = Math.abs(v) < 10 && v !== Math.round(v) ? 1 : 0;
  return numberFormat('o' + d, { maximumFractionDigits: d, minimumFractionDigits: 0 }).format(v);
}

/**
 * A civil date in the browser's locale (the date itself, whatever the browser's zone).
 * @param {string} date yyyy-mm-dd
 * @param {Intl.DateTimeFormatOptions} opts
 */
export function dayLabel(date, opts) {
  const t = parseDate(date);
  if (t === null) return date;
  try {
    return new Intl.DateTimeFormat(undefined, { timeZone: 'UTC', ...opts }).format(new Date(t));
  } catch {
    return date;
  }
}

/**
 * An instant as date and time in the branch's zone (UTC, marked, when the zone is unknown).
 * @param {string} iso
 * @param {string} timeZone
 */
export function instantLabel(iso, timeZone) {
  const t = Date.parse(iso);
  if (isNaN(t)) return iso;
  /** @type {Intl.DateTimeFormatOptions} */
  const o = {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  };
  try {
    return new Intl.DateTimeFormat(undefined, { timeZone, ...o }).format(new Date(t));
  } catch {
    return new Intl.DateTimeFormat(undefined, { timeZone: 'UTC', ...o }).format(new Date(t)) + ' UTC';
  }
}

/** "3 hours ago", "yesterday", … (empty when not an instant). @param {string} iso */
export function ago(iso) {
  const t = Date.parse(iso);
  if (isNaN(t)) return '';
  const s = (t - Date.now()) / 1000;
  /** @type {[Intl.RelativeTimeFormatUnit, number][]} */
  const units = [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
  ];
  try {
    const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
    for (const [i, [unit, seconds]] of units.entries()) {
      if (Math.abs(s) >= seconds || i === units.length - 1) return rtf.format(Math.round(s / seconds), unit);
    }
  } catch {
    return '';
  }
  return '';
}

/** @type {Record<Source, string>} */
export const SOURCE_LABEL = { actual: 'actual', forecast: 'forecast', mixed: 'mixed', missing: 'no data' };

/** @type {Record<Source, string>} */
export const SOURCE_HELP = {
  actual: 'real till totals (every hour closed)',
  forecast: 'forecast (no hour closed yet)',
  mixed: 'closed hours are actual, the rest forecast',
  missing: 'some hours have neither an actual nor a forecast',
};
