// @ts-check
/** Draws an answer of /predict: the "no forecast for …" notice, the totals, the chart and the tables. */

import { renderBranchInfo } from './branch-info.js';
import { dateRuns, localDate } from './calendar.js';
import { renderChart } from './chart.js';
import { append, byId, clear, h } from './dom.js';
import { dayLabel, instantLabel, money, orders, SOURCE_HELP } from './format.js';
import { clearError, setPageState, setStatus } from './status.js';
import { state } from './state.js';
import { renderDaily, renderWeekly } from './tables.js';

/** @import { PredictResponse } from './api-types.js' */
/** @import { View } from './state.js' */

/** Event on `document` after an answer is drawn (the day editor follows what is drawn). */
export const RENDERED = 'tillcast:rendered';

/**
 * Shows `d` in place of whatever was shown; `<main data-loaded>` then says what is drawn.
 * @param {PredictResponse} d
 * @param {View} view
 */
export function renderResults(d, view) {
  clearError();
  renderBranchInfo();
  renderMissing(d);
  renderSideErrors();
  renderSummary(d);
  byId('results', HTMLElement).hidden = false;
  renderChart(d, view);
  renderWeekly(d);
  renderDaily(d);
  const main = byId('dashboard', HTMLElement);
  main.setAttribute('data-loaded', [d.branch.id, d.range.start, d.range.end, view].join('|'));
  main.setAttribute('data-branch', d.branch.id);
  main.setAttribute('data-start', d.range.start);
  main.setAttribute('data-end', d.range.end);
  main.setAttribute('data-view', view);
  /** @type {Intl.DateTimeFormatOptions} */
  const fmt = { day: 'numeric', month: 'short', year: 'numeric' };
  setStatus(
    'Showing ' +
      d.branch.name +
      ', ' +
      dayLabel(d.range.start, fmt) +
      ' to ' +
      dayLabel(d.range.end, fmt) +
      '.',
  );
  setPageState('ready');
  document.dispatchEvent(new CustomEvent(RENDERED));
}

/** What of the calendar and the scorecard could not be read (the forecast is drawn all the same). */
function renderSideErrors() {
  const box = byId('side-errors', HTMLElement);
  box.textContent = state.sideErrors.join(' ');
  box.hidden = state.sideErrors.length === 0;
}

/** `coverage.missing` as "No forecast for …", with why (beyond the horizon, or no data). @param {PredictResponse} d */
function renderMissing(d) {
  const box = byId('missing', HTMLElement);
  clear(box);
  const missing = d.coverage.missing;
  if (!missing.length) {
    box.hidden = true;
    box.removeAttribute('data-dates');
    return;
  }
  /** @type {Intl.DateTimeFormatOptions} */
  const fmt = { weekday: 'short', day: 'numeric', month: 'short' };
  const text = dateRuns(missing)
    .map(([a, b]) => (a === b ? dayLabel(a, fmt) : dayLabel(a, fmt) + ' – ' + dayLabel(b, fmt)))
    .join(', ');
  const tz = d.branch.timezone;
  const horizonDate = localDate(Date.parse(d.forecast.horizon_end) - 1, tz);
  const beyond = missing.filter((x) => x >= horizonDate).length;
  const why =
    beyond === missing.length
      ? 'The forecast only reaches ' + instantLabel(d.forecast.horizon_end, tz) + '.'
      : beyond > 0
        ? 'Beyond the forecast horizon (' +
          instantLabel(d.forecast.horizon_end, tz) +
          ') or before the branch’s history.'
        : 'These hours have neither till data nor a forecast.';
  append(box, [
    h('strong', { text: 'No forecast for ' + text + '.' }),
    ' ',
    why +
      ' Totals that include these days are left empty (' +
      d.coverage.missing_hours +
      ' hours without numbers).',
  ]);
  box.setAttribute('data-dates', missing.join(','));
  box.hidden = false;
}

/** The three figures above the chart: sales, orders, days and where the numbers come from. @param {PredictResponse} d */
function renderSummary(d) {
  const t = d.totals;
  const cur = d.branch.currency;
  const sales = byId('kpi-sales', HTMLElement);
  sales.textContent = money(t.sales, cur);
  sales.setAttribute('data-value', t.sales === null ? '' : String(t.sales));
  byId('kpi-sales-range', HTMLElement).textContent =
    t.sales === null
      ? 'incomplete: some days have no numbers'
      : 'likely ' + money(t.sales_p10, cur) + ' – ' + money(t.sales_p90, cur);
  const ord = byId('kpi-orders', HTMLElement);
  ord.textContent = orders(t.orders);
  ord.setAttribute('data-value', t.orders === null ? '' : String(t.orders));
  byId('kpi-orders-range', HTMLElement).textContent =
    t.orders === null ? '' : 'likely ' + orders(t.orders_p10) + ' – ' + orders(t.orders_p90);
  byId('kpi-days', HTMLElement).textContent = d.range.days + (d.range.days === 1 ? ' day' : ' days');
  const source = byId('kpi-source', HTMLElement);
  source.textContent = SOURCE_HELP[t.source] || t.source;
  source.setAttribute('data-value', t.source);
}
