// @ts-check
/**
 * Reading single values off the chart: a crosshair, a dot and a tooltip for the
 * row under the pointer, or the row chosen with the keyboard while the chart
 * has focus (arrows, PageUp/PageDown by a day or a week, Home, End, Escape).
 * The focused row survives a redraw (resize) while the chart keeps focus.
 */

import { r2 } from './chart-scales.js';
import { byId, clear, h, svgEl } from './dom.js';
import { dayLabel, money, orders } from './format.js';

/** @import { Frame } from './chart-scales.js' */
/** @import { Point, Series } from './chart-series.js' */

/**
 * The chart drawn last.
 * @typedef {object} FocusTarget
 * @property {Series} series
 * @property {Frame} frame
 * @property {string} currency
 * @property {SVGElement} cross
 * @property {SVGElement} mark
 */

/** @type {FocusTarget | null} */
let target = null;
/** Index of the focused row; -1: none. */
let focus = -1;

/** A new answer: nothing focused. */
export function resetFocus() {
  focus = -1;
}

/** Nothing drawn (no rows): the keys have nothing to move over. */
export function detachFocus() {
  target = null;
}

/**
 * Adds the crosshair, the focus dot and the pointer overlay to the chart, puts the
 * chart into `host` (before the tooltip) and makes it the one the keys move over.
 * @param {HTMLElement} host
 * @param {SVGElement} svg
 * @param {Series} series
 * @param {Frame} frame
 * @param {string} currency
 */
export function attachFocus(host, svg, series, frame, currency) {
  const { m, base, pw, ph, width, n, slot } = frame;
  const cross = svgEl(
    'line',
    { x1: 0, x2: 0, y1: m.top, y2: base, class: 'crosshair', visibility: 'hidden' },
    svg,
  );
  const mark = svgEl('circle', { cx: 0, cy: 0, r: 4.5, class: 'focus-dot', visibility: 'hidden' }, svg);
  const overlay = svgEl('rect', { x: m.left, y: m.top, width: pw, height: ph, class: 'overlay' }, svg);
  host.insertBefore(svg, host.firstChild);

  target = { series, frame, currency, cross, mark };
  overlay.addEventListener('pointermove', (ev) => {
    const box = svg.getBoundingClientRect();
    const px = ((ev.clientX - box.left) * width) / box.width;
    const i = Math.floor((px - m.left) / slot);
    showFocus(Math.max(0, Math.min(n - 1, i)));
  });
  overlay.addEventListener('pointerleave', () => {
    if (document.activeElement !== host) hideFocus();
  });
  if (focus >= 0 && focus < n && document.activeElement === host) showFocus(focus);
}

/**
 * The tooltip's lines: when (local), then the numbers.
 * @param {Series} series
 * @param {number} i
 * @param {string} currency
 * @returns {string[]}
 */
function tipText(series, i, currency) {
  /** @type {Point} */
  let r;
  let when;
  let noForecast = 'No forecast';
  if (series.daily) {
    const d = series.rows[i];
    if (!d) return [];
    r = d;
    when =
      dayLabel(d.date, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }) +
      (d.hours !== 24 ? ' (' + d.hours + ' h)' : '');
    if (d.missingHours) noForecast += ' for ' + d.missingHours + ' of ' + d.hours + ' hours';
  } else {
    const hr = series.rows[i];
    if (!hr) return [];
    r = hr;
    when =
      dayLabel(hr.date, { weekday: 'short', day: 'numeric', month: 'short' }) +
      ' ' +
      hr.hh +
      ':' +
      hr.mm +
      ' (UTC' +
      hr.offset +
      ')';
  }
  const lines = [when];
  if (r.sales === null) {
    lines.push(noForecast);
  } else if (r.source === 'actual') {
    lines.push('Actual: ' + money(r.sales, currency, 2) + ', ' + orders(r.orders) + ' orders');
  } else {
    lines.push(
      (r.source === 'mixed' ? 'Actual + forecast: ' : 'Forecast: ') +
        money(r.sales, currency) +
        ', ' +
        orders(r.orders) +
        ' orders',
    );
    lines.push('Likely ' + money(r.p10, currency) + ' – ' + money(r.p90, currency));
  }
  if (r.plan !== null) lines.push('Plan (override): ' + money(r.plan, currency));
  return lines;
}

/** Crosshair, dot and tooltip on row i. @param {number} i */
function showFocus(i) {
  const c = target;
  const r = c?.series.rows[i];
  if (!c || !r) return;
  focus = i;
  const x = r2(c.frame.x(i));
  const cx = String(x);
  c.cross.setAttribute('x1', cx);
  c.cross.setAttribute('x2', cx);
  c.cross.setAttribute('visibility', 'visible');
  if (r.sales !== null) {
    c.mark.setAttribute('cx', cx);
    c.mark.setAttribute('cy', String(r2(c.frame.y(r.sales))));
    c.mark.setAttribute('class', 'focus-dot focus-' + r.source);
    c.mark.setAttribute('visibility', 'visible');
  } else {
    c.mark.setAttribute('visibility', 'hidden');
  }
  const tip = byId('chart-tip', HTMLElement);
  clear(tip);
  tipText(c.series, i, c.currency).forEach((line, k) => {
    tip.appendChild(h(k === 0 ? 'strong' : 'span', { text: line }));
  });
  tip.setAttribute('data-index', String(i));
  tip.hidden = false;
  // Position beside the crosshair (CSSOM, allowed by the CSP; no inline style attribute).
  const host = byId('chart', HTMLElement);
  const svg = host.querySelector('svg');
  const scale = svg ? svg.getBoundingClientRect().width / c.frame.width : 1;
  let left = x * scale + 12;
  if (left + tip.offsetWidth > host.clientWidth - 4) left = x * scale - 12 - tip.offsetWidth;
  tip.style.left = Math.max(0, left) + 'px';
  tip.style.top = c.frame.m.top + 'px';
}

export function hideFocus() {
  const c = target;
  if (c) {
    c.cross.setAttribute('visibility', 'hidden');
    c.mark.setAttribute('visibility', 'hidden');
  }
  // Absent until the first answer is drawn.
  const tip = document.getElementById('chart-tip');
  if (tip) tip.hidden = true;
}

/** Keys on the focused chart. @param {KeyboardEvent} ev */
export function onChartKey(ev) {
  const c = target;
  if (!c) return;
  const n = c.series.rows.length;
  const i = focus < 0 ? 0 : focus;
  const page = c.series.daily ? 7 : 24;
  let next;
  switch (ev.key) {
    case 'ArrowRight':
      next = focus < 0 ? 0 : i + 1;
      break;
    case 'ArrowLeft':
      next = focus < 0 ? n - 1 : i - 1;
      break;
    case 'PageDown':
      next = i + page;
      break;
    case 'PageUp':
      next = i - page;
      break;
    case 'Home':
      next = 0;
      break;
    case 'End':
      next = n - 1;
      break;
    case 'Escape':
      hideFocus();
      focus = -1;
      return;
    default:
      return;
  }
  ev.preventDefault();
  showFocus(Math.max(0, Math.min(n - 1, next)));
}
