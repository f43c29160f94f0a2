// @ts-check
/** The weekly and daily tables, each with the range total in its footer. */

import { byId, clear, h } from './dom.js';
import { dayLabel, money, orders, SOURCE_HELP, SOURCE_LABEL } from './format.js';

/** @import { PredictResponse, Source, Values } from './api-types.js' */

/**
 * A number cell; `data-value` holds the exact number (empty when null) for tests.
 * @param {string} field
 * @param {number | null} v
 * @param {string} text
 */
function valueCell(field, v, text) {
  return h('td', { class: 'num', 'data-field': field, 'data-value': v === null ? '' : String(v), text });
}

/** Sales p10 – p90 (empty for actual rows, where both equal the sales). @param {Values} r @param {string} currency */
function rangeCell(r, currency) {
  const td = h('td', {
    class: 'num range',
    'data-field': 'sales_range',
    'data-p10': r.sales_p10 === null ? '' : String(r.sales_p10),
    'data-p90': r.sales_p90 === null ? '' : String(r.sales_p90),
  });
  td.textContent =
    r.sales_p10 === null
      ? '—'
      : r.source === 'actual'
        ? ''
        : money(r.sales_p10, currency) + ' – ' + money(r.sales_p90, currency);
  return td;
}

/** @param {Source} src */
function sourceCell(src) {
  return h(
    'td',
    { 'data-field': 'source', 'data-value': src },
    h('span', { class: 'badge src-' + src, title: SOURCE_HELP[src] || src, text: SOURCE_LABEL[src] || src }),
  );
}

/** @param {Values} r @param {string} currency */
function valueCells(r, currency) {
  return [
    valueCell('sales', r.sales, money(r.sales, currency)),
    rangeCell(r, currency),
    valueCell('orders', r.orders, orders(r.orders)),
    sourceCell(r.source),
  ];
}

/** @param {PredictResponse} d */
export function renderWeekly(d) {
  const table = byId('weekly-table', HTMLTableElement);
  const body = table.tBodies[0];
  if (!body) return;
  clear(body);
  (d.weekly || []).forEach((w) => {
    const span =
      w.first_date === w.last_date
        ? dayLabel(w.first_date, { weekday: 'short', day: 'numeric', month: 'short' })
        : dayLabel(w.first_date, { day: 'numeric', month: 'short' }) +
          ' – ' +
          dayLabel(w.last_date, { day: 'numeric', month: 'short' });
    const week = h(
      'th',
      { scope: 'row', title: 'ISO week ' + w.iso_week + ', from Monday ' + w.week_start },
      [
        h('span', { class: 'date-main', text: 'Week ' + Number(w.iso_week.slice(6)) }),
        h('span', {
          class: 'note',
          'data-field': 'days',
          'data-value': String(w.days),
          text: span + (w.days < 7 ? ' · ' + w.days + (w.days === 1 ? ' day' : ' days') : ''),
        }),
      ],
    );
    body.appendChild(
      h(
        'tr',
        {
          'data-testid': 'weekly-row',
          'data-week-start': w.week_start,
          'data-iso-week': w.iso_week,
          'data-first-date': w.first_date,
          'data-last-date': w.last_date,
          class: 'src-row-' + w.source,
        },
        [week, ...valueCells(w, d.branch.currency)],
      ),
    );
  });
  totalRow(table, d);
}

/** @param {PredictResponse} d */
export function renderDaily(d) {
  const table = byId('daily-table', HTMLTableElement);
  const body = table.tBodies[0];
  if (!body) return;
  clear(body);
  (d.daily || []).forEach((r) => {
    const notes = [];
    if (r.hours !== 24) notes.push(r.hours + ' h day (clock change)');
    if (r.missing_hours > 0 && r.missing_hours < r.hours) notes.push(r.missing_hours + ' h without numbers');
    const date = h('th', { scope: 'row' }, [
      h('span', {
        class: 'date-main',
        text: dayLabel(r.date, { weekday: 'short', day: 'numeric', month: 'short' }),
      }),
      notes.length ? h('span', { class: 'note', text: notes.join(', ') }) : null,
    ]);
    body.appendChild(
      h(
        'tr',
        {
          'data-testid': 'daily-row',
          'data-date': r.date,
          'data-hours': String(r.hours),
          class: 'src-row-' + r.source,
        },
        [date, ...valueCells(r, d.branch.currency)],
      ),
    );
  });
  totalRow(table, d);
}

/** @param {HTMLTableElement} table @param {PredictResponse} d */
function totalRow(table, d) {
  const foot = table.tFoot;
  if (!foot) return;
  clear(foot);
  const days = d.range.days;
  const head = h('th', { scope: 'row', text: 'Total, ' + days + (days === 1 ? ' day' : ' days') });
  foot.appendChild(
    h('tr', { 'data-testid': 'total-row' }, [head, ...valueCells(d.totals, d.branch.currency)]),
  );
}
