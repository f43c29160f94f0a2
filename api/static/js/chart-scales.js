// @ts-check
/** The chart's frame: size, margins, one slot per row on x, sales on y with round ticks. */

/** @import { Point } from './chart-series.js' */

/**
 * @typedef {object} Frame
 * @property {number} width
 * @property {number} height
 * @property {{ top: number, right: number, bottom: number, left: number }} m margins
 * @property {number} pw plot width
 * @property {number} ph plot height
 * @property {number} n rows
 * @property {number} slot width of a row
 * @property {number} base y of the x axis (bottom of the plot)
 * @property {number[]} ticks y ticks, from the lowest to the highest (the y range)
 * @property {(i: number) => number} x centre of row i
 * @property {(v: number) => number} y of an amount
 */

/** Rounded to 1/100 px: short path data. @param {number} v */
export function r2(v) {
  return Math.round(v * 100) / 100;
}

/**
 * About five round ticks (1, 2, 2.5, 5 × 10^k) covering [lo, hi].
 * @param {number} lo
 * @param {number} hi
 */
export function niceTicks(lo, hi) {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / 5;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
  const t0 = Math.floor(lo / step + 1e-9) * step;
  const t1 = Math.ceil(hi / step - 1e-9) * step;
  const out = [];
  for (let v = t0; v <= t1 + step / 2; v += step) out.push(Math.round(v / step) * step);
  return out;
}

/**
 * @param {Point[]} rows at least one
 * @param {number} width the chart's width in px
 * @param {boolean} daily
 * @returns {Frame}
 */
export function chartFrame(rows, width, daily) {
  const height = width < 640 ? 260 : 330;
  const m = { top: 16, right: 16, bottom: daily ? 44 : 46, left: width < 640 ? 58 : 72 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const n = rows.length;
  const slot = pw / n;
  let lo = 0;
  let hi = 0;
  rows.forEach((r) => {
    [r.sales, r.p10, r.p90, r.plan].forEach((v) => {
      if (v === null || v === undefined) return;
      if (v > hi) hi = v;
      if (v < lo) lo = v;
    });
  });
  const ticks = niceTicks(lo, hi);
  const y0 = ticks[0] ?? lo;
  const y1 = ticks[ticks.length - 1] ?? hi;
  return {
    width,
    height,
    m,
    pw,
    ph,
    n,
    slot,
    base: m.top + ph,
    ticks,
    x: (i) => m.left + (i + 0.5) * slot,
    y: (v) => m.top + ph - ((v - y0) / (y1 - y0)) * ph,
  };
}
