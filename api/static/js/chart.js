// @ts-check
/**
 * The hand-written SVG chart of an answer: title, legend, then the parts drawn
 * in paint order (no-data zones, y grid, x axis, actual bars, p10–p90 band and
 * p50 line, points, focus overlay). Each part lives in its own module.
 */

import { renderXAxis, renderYAxis } from './chart-axes.js';
import { attachFocus, detachFocus } from './chart-focus.js';
import {
  renderActualBars,
  renderBands,
  renderMissingZones,
  renderPlan,
  renderPoints,
} from './chart-marks.js';
import { chartFrame } from './chart-scales.js';
import { chartSeries } from './chart-series.js';
import { byId, clear, h, svgEl } from './dom.js';
import { money } from './format.js';

/** @import { PredictResponse } from './api-types.js' */
/** @import { Frame } from './chart-scales.js' */
/** @import { Point } from './chart-series.js' */
/** @import { View } from './state.js' */

/**
 * Redraws the chart of `d` at the chart's current width.
 * @param {PredictResponse} d
 * @param {View} view
 */
export function renderChart(d, view) {
  const host = byId('chart', HTMLElement);
  const series = chartSeries(d, view);
  const { daily, rows } = series;
  const cur = d.branch.currency;
  byId('chart-title', HTMLElement).textContent =
    (daily ? 'Daily sales' : 'Hourly sales') +
    ' (' +
    cur +
    ')' +
    (daily ? '' : ', local time ' + d.branch.timezone);
  renderLegend(rows, daily);
  clear(host);
  host.appendChild(
    h('div', {
      id: 'chart-tip',
      class: 'tip',
      'data-testid': 'chart-tooltip',
      hidden: 'hidden',
      'aria-live': 'polite',
    }),
  );
  if (!rows.length) {
    detachFocus();
    host.appendChild(h('p', { class: 'empty', text: 'No rows to draw.' }));
    return;
  }

  const frame = chartFrame(rows, Math.max(320, Math.floor(host.clientWidth || 800)), daily);
  const svg = chartRoot(frame, rows, view, d);
  renderMissingZones(svg, rows, frame);
  renderYAxis(svg, frame, cur);
  renderXAxis(svg, series, frame);
  renderActualBars(svg, rows, frame, daily);
  renderBands(svg, rows, frame);
  renderPlan(svg, rows, frame);
  renderPoints(svg, rows, frame);
  attachFocus(host, svg, series, frame, cur);
}

/**
 * Legend entries for what the chart can show (actual and no-data only when present).
 * @param {Point[]} rows
 * @param {boolean} daily
 */
function renderLegend(rows, daily) {
  const legend = byId('legend', HTMLElement);
  clear(legend);
  /** @param {string} src */
  const has = (src) => rows.some((r) => r.source === src);
  const items = [
    { key: 'actual', label: daily ? 'Actual (closed days)' : 'Actual (closed hours)', show: has('actual') },
    { key: 'p50', label: 'Forecast (median, p50)', show: true },
    { key: 'band', label: 'Likely range (p10–p90)', show: true },
    { key: 'plan', label: "Plan (manager's override)", show: rows.some((r) => r.plan !== null) },
    { key: 'mixed', label: 'Part actual, part forecast', show: daily && has('mixed') },
    { key: 'missing', label: 'No forecast', show: has('missing') },
  ];
  items.forEach((it) => {
    if (!it.show) return;
    legend.appendChild(
      h('li', { 'data-testid': 'legend-' + it.key }, [
        h('span', { class: 'swatch swatch-' + it.key, 'aria-hidden': 'true' }),
        it.label,
      ]),
    );
  });
}

/**
 * The <svg> with its text description (for screen readers), the hatch pattern and the plot background.
 * @param {Frame} f
 * @param {Point[]} rows
 * @param {View} view
 * @param {PredictResponse} d
 */
function chartRoot(f, rows, view, d) {
  const { width, height, m, pw, ph, n } = f;
  const actualCount = rows.filter((r) => r.source === 'actual').length;
  const missingCount = rows.filter((r) => r.source === 'missing').length;
  const unit = view === 'daily' ? 'days' : 'hours';
  const svg = svgEl('svg', {
    width,
    height,
    viewBox: '0 0 ' + width + ' ' + height,
    role: 'img',
    'aria-labelledby': 'chart-title chart-desc',
    'data-testid': 'chart-svg',
    'data-view': view,
    'data-points': n,
    class: 'chart-svg',
  });
  svgEl(
    'desc',
    {
      id: 'chart-desc',
      text:
        n +
        ' ' +
        unit +
        ': ' +
        actualCount +
        ' actual, ' +
        (n - actualCount - missingCount) +
        ' forecast, ' +
        missingCount +
        ' without numbers. Total sales ' +
        money(d.totals.sales, d.branch.currency) +
        '.',
    },
    svg,
  );
  const defs = svgEl('defs', null, svg);
  const pat = svgEl(
    'pattern',
    { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
    defs,
  );
  svgEl('rect', { width: 6, height: 6, class: 'hatch-bg' }, pat);
  svgEl('line', { x1: 0, y1: 0, x2: 0, y2: 6, class: 'hatch-line' }, pat);
  svgEl('rect', { x: m.left, y: m.top, width: pw, height: ph, class: 'plot-bg' }, svg);
  return svg;
}
