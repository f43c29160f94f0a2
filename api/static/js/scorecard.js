// @ts-check
/**
 * The overrides' scorecard (GET v1/branches/{id}/accuracy): on each overridden day that has closed,
 * the actual, the model's p50 the override replaced, the override and who was closer; under the
 * daily table, a summary of the range. `data-*` hold the API's exact numbers for tests.
 */

import { byId, clear, h } from './dom.js';
import { money, orders } from './format.js';
import { state } from './state.js';

/** @import { AccuracySummary, Score, ScoredDay } from './api-types.js' */

/** @type {Record<string, string>} */
const CLOSER = { override: 'override closer', model: 'model closer', tie: 'tie' };

/** @param {string} date @returns {ScoredDay | null} */
export function scoredDay(date) {
  const a = state.accuracy;
  return (a && a.days.find((d) => d.date === date)) || null;
}

/**
 * One measure's line: "Sales: actual €1,900 · model €1,750 · override €2,000 (override closer)".
 * @param {string} label @param {Score} s @param {(v: number) => string} fmt
 */
function measureLine(label, s, fmt) {
  if (s.override === null) return null;
  return (
    label +
    ': actual ' +
    fmt(s.actual) +
    ' · model ' +
    fmt(s.model) +
    ' · override ' +
    fmt(s.override) +
    (s.closer ? ' (' + CLOSER[s.closer] + ')' : '')
  );
}

/** The scorecard of a closed overridden day (null when it has none). @param {string} date @param {string} currency */
export function scorecardNote(date, currency) {
  const d = scoredDay(date);
  if (!d) return null;
  const lines = [
    measureLine('Sales', d.sales, (v) => money(v, currency)),
    measureLine('Orders', d.orders, (v) => orders(v)),
  ].filter((x) => x !== null);
  return h(
    'span',
    {
      class: 'note scorecard',
      'data-field': 'scorecard',
      'data-actual': String(d.sales.actual),
      'data-model': String(d.sales.model),
      'data-override': d.sales.override === null ? '' : String(d.sales.override),
      'data-closer': d.sales.closer || '',
      'data-orders-actual': String(d.orders.actual),
      'data-orders-model': String(d.orders.model),
      'data-orders-override': d.orders.override === null ? '' : String(d.orders.override),
      'data-orders-closer': d.orders.closer || '',
      title:
        'Scorecard: the day has closed. Its actual against the forecast the override replaced and the override' +
        (d.reason ? ' (' + d.reason + ')' : '') +
        ', set by ' +
        d.set_by.key_name +
        '.',
    },
    lines.map((t) => h('span', { class: 'score-line', text: t })),
  );
}

/**
 * "Sales, 3 days: the override was closer on 2, the model on 1; mean error model €250, override €180."
 * @param {string} label @param {AccuracySummary} s @param {(v: number) => string} fmt
 */
function summaryText(label, s, fmt) {
  if (s.days === 0) return null;
  let text =
    label +
    ', ' +
    s.days +
    (s.days === 1 ? ' day' : ' days') +
    ': override closer on ' +
    s.override_closer +
    ', model closer on ' +
    s.model_closer +
    (s.ties ? ', ' + s.ties + (s.ties === 1 ? ' tie' : ' ties') : '');
  if (s.model_mae !== null && s.override_mae !== null)
    text += '; mean error model ' + fmt(s.model_mae) + ', override ' + fmt(s.override_mae);
  if (s.mae_improvement !== null && s.mae_improvement !== 0)
    text +=
      s.mae_improvement > 0
        ? ' (overrides better by ' + fmt(s.mae_improvement) + ' a day)'
        : ' (the model better by ' + fmt(-s.mae_improvement) + ' a day)';
  return text + '.';
}

/** The summary line under the daily table (hidden without scored or pending overrides). @param {string} currency */
export function renderScoreSummary(currency) {
  const box = byId('score-summary', HTMLElement);
  clear(box);
  const a = state.accuracy;
  if (!a || (a.days.length === 0 && a.pending.length === 0)) {
    box.hidden = true;
    return;
  }
  const sales = a.summary.branch.sales;
  const ord = a.summary.branch.orders;
  const parts = [
    summaryText('Sales', sales, (v) => money(v, currency)),
    summaryText('Orders', ord, (v) => orders(v)),
    a.pending.length
      ? a.pending.length +
        (a.pending.length === 1 ? ' overridden day is' : ' overridden days are') +
        ' not closed yet.'
      : null,
  ].filter((x) => x !== null);
  box.append(h('strong', { text: 'Overrides against the model in this range: ' }), parts.join(' '));
  box.setAttribute('data-days', String(sales.days));
  box.setAttribute('data-override-closer', String(sales.override_closer));
  box.setAttribute('data-model-closer', String(sales.model_closer));
  box.setAttribute('data-ties', String(sales.ties));
  box.setAttribute('data-model-mae', sales.model_mae === null ? '' : String(sales.model_mae));
  box.setAttribute('data-override-mae', sales.override_mae === null ? '' : String(sales.override_mae));
  box.setAttribute('data-pending', a.pending.join(','));
  box.hidden = false;
}
