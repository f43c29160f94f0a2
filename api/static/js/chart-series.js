// @ts-check
/** The chart's rows: one point per hour (hourly view) or per day (daily view) of a /predict answer. */

import { hourParts } from './calendar.js';

/** @import { PredictResponse, Source } from './api-types.js' */
/** @import { View } from './state.js' */

/**
 * @typedef {object} PointBase
 * @property {string} key the row's `start` (hours) or `date` (days): data-start of its marks
 * @property {string} date local date
 * @property {number | null} sales
 * @property {number | null} p10 sales, 10th percentile
 * @property {number | null} p90
 * @property {number | null} orders
 * @property {Source} source
 * @property {number | null} plan the sales plan when the row's day has a manager's override, else null
 *
 * @typedef {PointBase & { hours: number, missingHours: number }} DayPoint
 * @typedef {PointBase & { hour: number, hh: string, mm: string, offset: string }} HourPoint local time, from the row itself
 * @typedef {DayPoint | HourPoint} Point
 * @typedef {{ daily: true, rows: DayPoint[] } | { daily: false, rows: HourPoint[] }} Series
 */

/**
 * @param {PredictResponse} d
 * @param {View} view
 * @returns {Series}
 */
export function chartSeries(d, view) {
  // Days with an override: their plan is drawn beside the forecast (other days plan the model's value).
  const overridden = new Set((d.daily || []).filter((r) => r.override).map((r) => r.date));
  /** @param {string} date @param {{ sales: number | null } | undefined} plan */
  const planOf = (date, plan) => (plan && overridden.has(date) ? plan.sales : null);
  if (view === 'daily') {
    return {
      daily: true,
      rows: (d.daily || []).map((r) => ({
        key: r.date,
        date: r.date,
        sales: r.sales,
        p10: r.sales_p10,
        p90: r.sales_p90,
        orders: r.orders,
        source: r.source,
        plan: planOf(r.date, r.plan),
        hours: r.hours,
        missingHours: r.missing_hours,
      })),
    };
  }
  return {
    daily: false,
    rows: (d.hourly || []).map((r) => {
      const p = hourParts(r.start);
      return {
        key: r.start,
        date: p.date,
        hour: p.hour,
        hh: p.hh,
        mm: p.mm,
        offset: p.offset,
        sales: r.sales,
        p10: r.sales_p10,
        p90: r.sales_p90,
        orders: r.orders,
        source: r.source,
        plan: planOf(p.date, r.plan),
      };
    }),
  };
}

/** Drawn as forecast (band and p50 line). @param {Point} r */
export function isForecastLike(r) {
  return (r.source === 'forecast' || r.source === 'mixed') && r.sales !== null;
}

/**
 * Index runs [a, b] of consecutive rows where `pred` holds.
 * @param {Point[]} rows
 * @param {(r: Point) => boolean} pred
 * @returns {[number, number][]}
 */
export function segments(rows, pred) {
  /** @type {[number, number][]} */
  const out = [];
  let a = -1;
  rows.forEach((r, i) => {
    if (pred(r)) {
      if (a < 0) a = i;
    } else if (a >= 0) {
      out.push([a, i - 1]);
      a = -1;
    }
  });
  if (a >= 0) out.push([a, rows.length - 1]);
  return out;
}
