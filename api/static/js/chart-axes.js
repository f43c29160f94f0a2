// @ts-check
/**
 * The chart's axes: y grid with amounts and the axis title; x labels from the
 * rows' own local dates and hours (so 23- and 25-hour days read as the branch
 * lives them), thinned to what fits.
 */

import { weekday } from './calendar.js';
import { r2 } from './chart-scales.js';
import { svgEl } from './dom.js';
import { dayLabel, moneyCompact } from './format.js';

/** @import { Frame } from './chart-scales.js' */
/** @import { DayPoint, HourPoint, Series } from './chart-series.js' */

/**
 * @param {SVGElement} svg
 * @param {Frame} f
 * @param {string} currency
 */
export function renderYAxis(svg, f, currency) {
  const { m, pw, ph } = f;
  const gGrid = svgEl('g', { class: 'grid' }, svg);
  f.ticks.forEach((t) => {
    const yy = r2(f.y(t));
    svgEl(
      'line',
      { x1: m.left, x2: m.left + pw, y1: yy, y2: yy, class: t === 0 ? 'grid-line zero' : 'grid-line' },
      gGrid,
    );
    svgEl(
      'text',
      {
        x: m.left - 8,
        y: yy,
        dy: '0.32em',
        'text-anchor': 'end',
        class: 'tick-label y-tick',
        text: moneyCompact(t, currency),
      },
      gGrid,
    );
  });
  svgEl(
    'text',
    {
      x: 0,
      y: 0,
      transform: 'translate(14 ' + (m.top + ph / 2) + ') rotate(-90)',
      'text-anchor': 'middle',
      class: 'axis-title',
      'data-testid': 'y-axis-title',
      text: 'Sales (' + currency + ')',
    },
    svg,
  );
}

/**
 * Day (and hour) labels, then the axis line.
 * @param {SVGElement} svg
 * @param {Series} series
 * @param {Frame} f
 */
export function renderXAxis(svg, series, f) {
  const gX = svgEl('g', { class: 'x-axis' }, svg);
  if (series.daily) dayLabels(gX, series.rows, f);
  else {
    hourlyDayLabels(gX, series.rows, f);
    hourLabels(gX, series.rows, f);
  }
  svgEl('line', { x1: f.m.left, x2: f.m.left + f.pw, y1: f.base, y2: f.base, class: 'axis-line' }, svg);
}

/**
 * Daily view: weekday and date under each day, or every n-th day, or Mondays only.
 * @param {SVGElement} gX
 * @param {DayPoint[]} rows
 * @param {Frame} f
 */
function dayLabels(gX, rows, f) {
  const every = Math.max(1, Math.ceil(58 / f.slot));
  rows.forEach((r, i) => {
    // Dense ranges: label Mondays only (week starts), else every n-th day.
    if (every >= 4 ? weekday(r.date) !== 1 : i % every !== 0) return;
    const x = r2(f.x(i));
    svgEl(
      'text',
      {
        x,
        y: f.base + 16,
        'text-anchor': 'middle',
        class: 'tick-label x-tick',
        text: dayLabel(r.date, { weekday: 'short' }),
      },
      gX,
    );
    svgEl(
      'text',
      {
        x,
        y: f.base + 31,
        'text-anchor': 'middle',
        class: 'tick-label x-tick-date',
        'data-testid': 'x-day-label',
        'data-date': r.date,
        text: dayLabel(r.date, { day: 'numeric', month: 'short' }),
      },
      gX,
    );
  });
}

/**
 * Hourly view: a separator line between local days (stronger before Mondays) and
 * the day's date, on every day, every other day or Mondays only.
 * @param {SVGElement} gX
 * @param {HourPoint[]} rows
 * @param {Frame} f
 */
function hourlyDayLabels(gX, rows, f) {
  const { m, slot, base } = f;
  /** Row index ranges [first, last] of each local day. @type {[number, number][]} */
  const days = [];
  rows.forEach((r, i) => {
    const last = days[days.length - 1];
    if (i === 0 || !last || r.date !== rows[i - 1]?.date) days.push([i, i]);
    else last[1] = i;
  });
  const dayPx = f.pw / Math.max(1, days.length);
  // Label every day, every other day, or Mondays only, whatever fits.
  const dayEvery = dayPx >= 64 ? 1 : dayPx * 2 >= 64 ? 2 : 7;
  const firstMonday = days.findIndex(([a]) => weekday(rows[a]?.date ?? '') === 1);
  days.forEach(([a, b], di) => {
    const xa = m.left + a * slot;
    const xb = m.left + (b + 1) * slot;
    const date = rows[a]?.date ?? '';
    if (a > 0)
      svgEl(
        'line',
        {
          x1: r2(xa),
          x2: r2(xa),
          y1: m.top,
          y2: base + 36,
          class: weekday(date) === 1 ? 'day-sep week' : 'day-sep',
          'data-date': date,
        },
        gX,
      );
    const show =
      dayEvery === 1 ||
      (dayEvery === 2 && di % 2 === 0) ||
      (dayEvery === 7 &&
        (weekday(date) === 1 || (di === 0 && (firstMonday < 0 || firstMonday * dayPx >= 48))));
    if (!show) return;
    /** @type {Intl.DateTimeFormatOptions} */
    const fmt =
      dayEvery === 1 && xb - xa >= 84
        ? { weekday: 'short', day: 'numeric', month: 'short' }
        : { day: 'numeric', month: 'short' };
    const centred = dayEvery === 1;
    svgEl(
      'text',
      {
        x: r2(centred ? (xa + xb) / 2 : xa + 3),
        y: base + 34,
        'text-anchor': centred ? 'middle' : 'start',
        class: 'tick-label x-tick-date',
        'data-testid': 'x-day-label',
        'data-date': date,
        text: dayLabel(date, fmt),
      },
      gX,
    );
  });
}

/**
 * Hourly view: hour ticks every 1, 2, 3, 4, 6 or 12 hours (the first that leaves 24 px),
 * labelled by the row's local hour ("09", or "09:00" when there is room); none at midnight.
 * @param {SVGElement} gX
 * @param {HourPoint[]} rows
 * @param {Frame} f
 */
function hourLabels(gX, rows, f) {
  const { m, slot, base } = f;
  const hourStep = [1, 2, 3, 4, 6, 12].find((step) => slot * step >= 24) ?? 0;
  if (!hourStep) return;
  const longHours = slot * hourStep >= 42;
  rows.forEach((r, i) => {
    if (r.hour % hourStep !== 0 || r.hour === 0) return;
    const prev = rows[i - 1];
    // The repeated hour of a fall-back day (e.g. 01:00 +01:00 then 01:00 +00:00): label it once when tight.
    if (prev && prev.hour === r.hour && prev.date === r.date && slot < 30) return;
    const label = longHours ? r.hh + ':' + r.mm : r.hh;
    const xc = r2(m.left + i * slot);
    svgEl('line', { x1: xc, x2: xc, y1: base, y2: base + 4, class: 'tick' }, gX);
    svgEl(
      'text',
      {
        x: xc,
        y: base + 15,
        'text-anchor': 'middle',
        class: 'tick-label x-tick',
        'data-testid': 'x-hour-label',
        'data-start': r.key,
        text: label,
      },
      gX,
    );
  });
}
