// @ts-check
/**
 * What the chart draws for the rows: hatched zones where there are no numbers,
 * bars for actual (closed) rows, the p10–p90 band and p50 line over forecast
 * (and mixed) rows, the plan over the days a manager overrode (dashed), and
 * one point per row carrying its numbers for tests and the tooltip.
 */

import { isForecastLike, segments } from './chart-series.js';
import { r2 } from './chart-scales.js';
import { svgEl } from './dom.js';

/** @import { Frame } from './chart-scales.js' */
/** @import { Point } from './chart-series.js' */

/**
 * @param {SVGElement} svg
 * @param {Point[]} rows
 * @param {Frame} f
 */
export function renderMissingZones(svg, rows, f) {
  const { m, slot, ph } = f;
  const g = svgEl('g', { class: 'missing-zones' }, svg);
  segments(rows, (r) => r.source === 'missing').forEach(([a, b]) => {
    const x0 = m.left + a * slot;
    const w = (b - a + 1) * slot;
    svgEl(
      'rect',
      {
        x: r2(x0),
        y: m.top,
        width: r2(w),
        height: ph,
        class: 'missing-zone',
        'data-testid': 'missing-zone',
        'data-from': rows[a]?.key,
        'data-to': rows[b]?.key,
      },
      g,
    );
    if (w >= 70)
      svgEl(
        'text',
        {
          x: r2(x0 + w / 2),
          y: m.top + 18,
          class: 'missing-label',
          'text-anchor': 'middle',
          text: 'no forecast',
        },
        g,
      );
  });
}

/**
 * @param {SVGElement} svg
 * @param {Point[]} rows
 * @param {Frame} f
 * @param {boolean} daily
 */
export function renderActualBars(svg, rows, f, daily) {
  const { slot, x, y } = f;
  const g = svgEl('g', { class: 'actual-bars' }, svg);
  const bw = slot < 2 ? slot : Math.max(1, slot * (daily ? 0.6 : 0.72));
  rows.forEach((r, i) => {
    if (r.source !== 'actual' || r.sales === null) return;
    const ya = y(Math.max(0, r.sales));
    const yb = y(Math.min(0, r.sales));
    svgEl(
      'rect',
      {
        x: r2(x(i) - bw / 2),
        y: r2(ya),
        width: r2(bw),
        height: r2(Math.max(0, yb - ya)),
        class: 'bar-actual',
        'data-testid': 'actual-bar',
        'data-start': r.key,
        'data-value': String(r.sales),
      },
      g,
    );
  });
}

/** @param {[number, number][]} list @returns {string} SVG path data through the points */
function pathData(list) {
  return list.map((p, idx) => (idx === 0 ? 'M' : 'L') + r2(p[0]) + ',' + r2(p[1])).join('');
}

/**
 * Outline of the band (p90 left to right, then p10 back) and the p50 line over rows a..b
 * (a lone row: a short flat piece either side of its centre).
 * @param {Point[]} rows
 * @param {number} a
 * @param {number} b
 * @param {Frame} f
 * @returns {{ band: [number, number][], line: [number, number][] }}
 */
function bandOutline(rows, a, b, f) {
  const { slot, x } = f;
  // Forecast rows have sales; p10/p90 fall back to it when absent.
  /** @param {number | null} v */
  const y = (v) => f.y(v ?? 0);
  /** @type {[number, number][]} */
  const top = [];
  /** @type {[number, number][]} */
  const bottom = [];
  /** @type {[number, number][]} */
  const line = [];
  const lone = a === b ? rows[a] : undefined;
  if (lone) {
    const half = Math.max(2, slot * 0.35);
    const p10 = lone.p10 ?? lone.sales;
    const p90 = lone.p90 ?? lone.sales;
    top.push([x(a) - half, y(p90)], [x(a) + half, y(p90)]);
    bottom.push([x(a) + half, y(p10)], [x(a) - half, y(p10)]);
    line.push([x(a) - half, y(lone.sales)], [x(a) + half, y(lone.sales)]);
  } else {
    for (let i = a; i <= b; i++) {
      const r = rows[i];
      if (!r) continue;
      top.push([x(i), y(r.p90 ?? r.sales)]);
      line.push([x(i), y(r.sales)]);
    }
    for (let j = b; j >= a; j--) {
      const r = rows[j];
      if (!r) continue;
      bottom.push([x(j), y(r.p10 ?? r.sales)]);
    }
  }
  return { band: top.concat(bottom), line };
}

/**
 * The p10–p90 band and the p50 line over each run of forecast (and mixed) rows.
 * @param {SVGElement} svg
 * @param {Point[]} rows
 * @param {Frame} f
 */
export function renderBands(svg, rows, f) {
  const gBand = svgEl('g', { class: 'bands' }, svg);
  const gLine = svgEl('g', { class: 'lines' }, svg);
  segments(rows, isForecastLike).forEach(([a, b]) => {
    const span = { 'data-from': rows[a]?.key, 'data-to': rows[b]?.key };
    const { band, line } = bandOutline(rows, a, b, f);
    svgEl('path', { d: pathData(band) + 'Z', class: 'band', 'data-testid': 'band', ...span }, gBand);
    svgEl('path', { d: pathData(line), class: 'line-p50', 'data-testid': 'p50-line', ...span }, gLine);
  });
}

/**
 * The plan (the manager's override spread over the hours) over each run of rows of overridden days:
 * a dashed line, a short flat piece for a lone day; `data-values` lists the plan of each row.
 * @param {SVGElement} svg
 * @param {Point[]} rows
 * @param {Frame} f
 */
export function renderPlan(svg, rows, f) {
  const g = svgEl('g', { class: 'plans' }, svg);
  segments(rows, (r) => r.plan !== null).forEach(([a, b]) => {
    /** @type {[number, number][]} */
    const line = [];
    const half = Math.max(2, f.slot * 0.35);
    for (let i = a; i <= b; i++) {
      const v = rows[i]?.plan ?? 0;
      if (a === b) line.push([f.x(i) - half, f.y(v)], [f.x(i) + half, f.y(v)]);
      else line.push([f.x(i), f.y(v)]);
    }
    svgEl(
      'path',
      {
        d: pathData(line),
        class: 'line-plan',
        'data-testid': 'plan-line',
        'data-from': rows[a]?.key,
        'data-to': rows[b]?.key,
        'data-values': rows
          .slice(a, b + 1)
          .map((r) => String(r.plan))
          .join(','),
      },
      g,
    );
  });
}

/**
 * One point per row, with its numbers as data-* (hidden when the slots are too narrow to show them).
 * @param {SVGElement} svg
 * @param {Point[]} rows
 * @param {Frame} f
 */
export function renderPoints(svg, rows, f) {
  const { slot, x, y, base } = f;
  const showPoints = slot >= 9;
  const g = svgEl(
    'g',
    { class: 'points' + (showPoints ? '' : ' points-hidden'), 'data-testid': 'p50-points' },
    svg,
  );
  rows.forEach((r, i) => {
    svgEl(
      'circle',
      {
        cx: r2(x(i)),
        cy: r2(r.sales === null ? base : y(r.sales)),
        r: r.sales === null ? 0 : Math.min(4, Math.max(2, slot * 0.12)),
        class: 'pt pt-' + r.source,
        'data-testid': 'p50-point',
        'data-index': String(i),
        'data-start': r.key,
        'data-source': r.source,
        'data-value': r.sales === null ? '' : String(r.sales),
        'data-p10': r.p10 === null ? '' : String(r.p10),
        'data-p90': r.p90 === null ? '' : String(r.p90),
      },
      g,
    );
  });
}
