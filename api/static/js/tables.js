// @ts-check
/**
 * The weekly and daily tables, each with the range total in its footer. The daily table also
 * shows the operators' side of each day: its calendar entry, the plan beside the model's p50 when
 * the range has a manager's override, the scorecard of a closed overridden day, and (for a key
 * that may write the branch) the button that opens the day's editor (day-editor.js).
 */

import { calendarNote, entryOf } from './day-calendar.js';
import { byId, clear, h } from './dom.js';
import { dayLabel, money, orders, SOURCE_HELP, SOURCE_LABEL } from './format.js';
import { renderScoreSummary, scorecardNote } from './scorecard.js';
import { mayWrite, state } from './state.js';

/** @import { DayOverride, Explanation, Plan, PredictResponse, Source, Values } from './api-types.js' */

/** How the daily table names a special day's kind. */
const NOTE_KIND = {
  public_holiday: 'public holiday',
  eve_of_public_holiday: 'eve of',
  trading_day: 'trading day',
  likely_closure: 'likely closure',
  holiday_in_reference_week: 'holiday in the reference week',
};

/** A signed amount: "+€210", "−€40". @param {number} v @param {string} currency */
function signed(v, currency) {
  const text = money(Math.abs(v), currency);
  return (v < 0 ? '−' : '+') + text;
}

/**
 * Where a day's sales come from (explain=true): recent level, weekday/hour shape, calendar (the
 * special days named) and the model's correction, amounts that add up to the day's sales with the
 * closed hours' actual. Nothing for an all-actual day or a run without explanations.
 * `data-*` hold the exact amounts for tests.
 * @param {Explanation | undefined} e
 * @param {string} currency
 */
function explainNote(e, currency) {
  if (!e) return null;
  const s = e.sales;
  if (s.level === 0 && s.shape === 0 && s.calendar === 0 && s.network === 0) return null;
  const parts = [];
  if (s.actual !== 0) parts.push('closed hours ' + money(s.actual, currency));
  parts.push('level ' + money(s.level, currency));
  parts.push('shape ' + signed(s.shape, currency));
  const days = e.special_days.map((n) =>
    n.kind === 'eve_of_public_holiday' ? 'eve of ' + n.name : n.name + ', ' + NOTE_KIND[n.kind],
  );
  if (s.calendar !== 0 || days.length > 0)
    parts.push(
      'calendar ' + signed(s.calendar, currency) + (days.length ? ' (' + days.join('; ') + ')' : ''),
    );
  parts.push('model ' + signed(s.network, currency));
  return h('span', {
    class: 'note explain',
    'data-field': 'explain',
    'data-actual': String(s.actual),
    'data-level': String(s.level),
    'data-shape': String(s.shape),
    'data-calendar': String(s.calendar),
    'data-network': String(s.network),
    'data-special-days': e.special_days.map((n) => n.name).join('|'),
    title:
      "Where the sales forecast comes from: the branch's recent level, its weekday and hour shape, special days, and the model's correction. They add up to the sales shown.",
    text: parts.join(' · '),
  });
}

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

/**
 * The plan beside the model's p50 (daily table): the override where the day has one, else the
 * model's value; `data-value` is the plan's sales, `data-orders` its orders.
 * @param {Plan | undefined} p
 * @param {DayOverride | null | undefined} o the day's override (days only)
 * @param {string} currency
 */
function planCell(p, o, currency) {
  if (!p) return h('td', { class: 'num plan-col', 'data-field': 'plan_sales', 'data-value': '', text: '' });
  const overridden = o ? true : (p.overridden_days || 0) > 0;
  const title = o
    ? "Manager's override" +
      (o.sales !== null ? ': sales ' + money(o.sales, currency) : '') +
      (o.orders !== null ? (o.sales !== null ? ', ' : ': ') + o.orders + ' orders' : '') +
      (o.reason ? ' (' + o.reason + ')' : '') +
      ', set by ' +
      o.set_by.key_name
    : p.overridden_days
      ? 'With the ' + p.overridden_days + (p.overridden_days === 1 ? ' overridden day' : ' overridden days')
      : "No override: the model's value";
  return h(
    'td',
    {
      class: 'num plan-col' + (overridden ? ' overridden' : ''),
      'data-field': 'plan_sales',
      'data-value': p.sales === null ? '' : String(p.sales),
      'data-orders': p.orders === null ? '' : String(p.orders),
      'data-overridden': o ? 'true' : 'false',
      title,
    },
    [
      money(p.sales, currency),
      o && o.orders !== null ? h('span', { class: 'note', text: orders(p.orders) + ' orders' }) : null,
    ],
  );
}

/**
 * @param {Values & { plan?: Plan }} r
 * @param {string} currency
 * @param {{ plan: boolean, override?: DayOverride | null }} [opts] plan: the daily table's plan column
 */
function valueCells(r, currency, opts) {
  return [
    valueCell('sales', r.sales, money(r.sales, currency)),
    opts && opts.plan ? planCell(r.plan, opts.override, currency) : null,
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
  table.classList.toggle('has-plan', d.totals.plan !== undefined);
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
        [week, ...valueCells(w, d.branch.currency, { plan: true })],
      ),
    );
  });
  totalRow(table, d, true);
}

/** @param {PredictResponse} d */
export function renderDaily(d) {
  const table = byId('daily-table', HTMLTableElement);
  const body = table.tBodies[0];
  if (!body) return;
  clear(body);
  // The plan column shows when the answer carries plans (a day of the range has an override).
  table.classList.toggle('has-plan', d.totals.plan !== undefined);
  const cur = d.branch.currency;
  const canEdit = mayWrite(d.branch.id);
  // With the operators' columns and buttons the daily table takes the whole width.
  byId('tables', HTMLElement).classList.toggle(
    'wide-daily',
    canEdit || d.totals.plan !== undefined || (state.accuracy !== null && state.accuracy.days.length > 0),
  );
  (d.daily || []).forEach((r) => {
    const notes = [];
    if (r.hours !== 24) notes.push(r.hours + ' h day (clock change)');
    if (r.missing_hours > 0 && r.missing_hours < r.hours) notes.push(r.missing_hours + ' h without numbers');
    const label = dayLabel(r.date, { weekday: 'short', day: 'numeric', month: 'short' });
    const date = h('th', { scope: 'row' }, [
      h('span', { class: 'date-main' }, [
        label,
        canEdit
          ? h('button', {
              type: 'button',
              class: 'edit-day',
              'data-testid': 'edit-day',
              'data-date': r.date,
              'aria-label': 'Plan ' + label + ': override and calendar entry',
              'aria-controls': 'day-editor',
              'aria-expanded': state.editing === r.date ? 'true' : 'false',
              text: 'Edit',
            })
          : null,
      ]),
      notes.length ? h('span', { class: 'note', text: notes.join(', ') }) : null,
      calendarNote(entryOf(r)),
      explainNote(r.explain, cur),
      scorecardNote(r.date, cur),
    ]);
    body.appendChild(
      h(
        'tr',
        {
          'data-testid': 'daily-row',
          'data-date': r.date,
          'data-hours': String(r.hours),
          class: 'src-row-' + r.source + (r.override ? ' has-override' : ''),
        },
        [date, ...valueCells(r, cur, { plan: true, override: r.override })],
      ),
    );
  });
  totalRow(table, d, true);
  renderScoreSummary(cur);
}

/** @param {HTMLTableElement} table @param {PredictResponse} d @param {boolean} plan the plan column */
function totalRow(table, d, plan) {
  const foot = table.tFoot;
  if (!foot) return;
  clear(foot);
  const days = d.range.days;
  const head = h('th', { scope: 'row', text: 'Total, ' + days + (days === 1 ? ' day' : ' days') });
  foot.appendChild(
    h('tr', { 'data-testid': 'total-row' }, [head, ...valueCells(d.totals, d.branch.currency, { plan })]),
  );
}
