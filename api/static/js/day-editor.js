// @ts-check
/**
 * The day editor: for a key that may write the branch (GET v1/me), the panel under the tables
 * where an operator sets or clears the override and the calendar entry of one date (the "Edit"
 * button of a day in the daily table opens it). What is typed goes to the API as it is: the API
 * checks it, and what it refuses is said in the form with its message (400 names the field, which
 * is marked invalid; 403, 409 and 503 are said as such). After a change the answer drawn is loaded
 * again, so the table shows the plan and the entry as the API now has them.
 */

import { asApiError, writeCalendar, writeOverride } from './api-client.js';
import { effectLabel } from './day-calendar.js';
import { byId } from './dom.js';
import { dayLabel, instantLabel, money, orders } from './format.js';
import { reload } from './loader.js';
import { RENDERED } from './results.js';
import { mayWrite, state } from './state.js';
import { SIGNED_OUT } from './status.js';

/** @import { CalendarEntry, DayCalendar, DayRow } from './api-types.js' */

/** @typedef {'override' | 'calendar'} FormName */

/** Set after a change: the next drawing fills the inputs from what the API now has. */
let refill = false;

export function wireDayEditor() {
  byId('daily-table', HTMLTableElement).addEventListener('click', (ev) => {
    const btn = ev.target instanceof Element ? ev.target.closest('button.edit-day') : null;
    const date = btn ? btn.getAttribute('data-date') : null;
    if (date) openEditor(date);
  });
  byId('day-editor-close', HTMLButtonElement).addEventListener('click', () => closeEditor(true));
  byId('day-editor', HTMLElement).addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') closeEditor(true);
  });
  byId('override-form', HTMLFormElement).addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = overrideBody();
    void submit('override', true, (branch, date) => writeOverride(branch, date, body));
  });
  byId('override-clear', HTMLButtonElement).addEventListener(
    'click',
    () => void submit('override', false, (branch, date) => writeOverride(branch, date)),
  );
  byId('calendar-form', HTMLFormElement).addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = calendarBody();
    void submit('calendar', true, (branch, date) => writeCalendar(branch, date, body));
  });
  byId('calendar-remove', HTMLButtonElement).addEventListener(
    'click',
    () => void submit('calendar', false, (branch, date) => writeCalendar(branch, date)),
  );
  kindInputs().forEach((el) => el.addEventListener('change', syncKind));
  document.addEventListener(RENDERED, () => syncEditor());
}

/** @param {string} date */
function openEditor(date) {
  state.editing = date;
  refill = true;
  message('override', '', '');
  message('calendar', '', '');
  syncEditor();
  const panel = byId('day-editor', HTMLElement);
  if (panel.hidden) return;
  byId('day-editor-title', HTMLElement).focus();
}

/** @param {boolean} returnFocus back to the day's Edit button */
function closeEditor(returnFocus) {
  const date = state.editing;
  state.editing = null;
  byId('day-editor', HTMLElement).hidden = true;
  markExpanded();
  if (returnFocus && date) {
    const btn = document.querySelector('button.edit-day[data-date="' + date + '"]');
    if (btn instanceof HTMLButtonElement) btn.focus();
  }
}

/** The Edit buttons say which day's panel is open. */
function markExpanded() {
  document.querySelectorAll('button.edit-day').forEach((b) => {
    b.setAttribute('aria-expanded', b.getAttribute('data-date') === state.editing ? 'true' : 'false');
  });
}

/** The day being edited, in the answer drawn (null when it is not in it). @returns {DayRow | null} */
function editedDay() {
  const d = state.data;
  if (!d || !state.editing || !mayWrite(d.branch.id)) return null;
  return (d.daily || []).find((r) => r.date === state.editing) || null;
}

/** Shows the panel for `state.editing` with what the API has for that day (after every drawing). */
function syncEditor() {
  const r = editedDay();
  const d = state.data;
  if (!r || !d) {
    if (state.editing !== null || !byId('day-editor', HTMLElement).hidden) closeEditor(false);
    return;
  }
  const cur = d.branch.currency;
  const panel = byId('day-editor', HTMLElement);
  panel.setAttribute('data-date', r.date);
  byId('day-editor-title', HTMLElement).textContent =
    'Plan of ' + dayLabel(r.date, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
  byId('day-editor-model', HTMLElement).textContent =
    r.sales === null
      ? 'The model has no forecast for this day.'
      : (r.source === 'actual' ? 'Actual: ' : 'Model: ') +
        money(r.sales, cur) +
        (r.source === 'actual'
          ? ''
          : ' (likely ' + money(r.sales_p10, cur) + ' – ' + money(r.sales_p90, cur) + ')') +
        ', ' +
        orders(r.orders) +
        ' orders.';
  byId('override-currency', HTMLElement).textContent = cur;
  syncOverride(r, cur);
  syncCalendar(r);
  refill = false;
  panel.hidden = false;
  markExpanded();
}

/** @param {DayRow} r @param {string} cur */
function syncOverride(r, cur) {
  const o = r.override || null;
  const current = byId('override-current', HTMLElement);
  current.textContent = o
    ? 'In force: ' +
      [
        o.sales !== null ? 'sales ' + money(o.sales, cur, 2) : '',
        o.orders !== null ? o.orders + ' orders' : '',
      ]
        .filter(Boolean)
        .join(', ') +
      (o.reason ? ' (' + o.reason + ')' : '') +
      ', set by ' +
      o.set_by.key_name +
      ' on ' +
      instantLabel(o.set_at, state.data ? state.data.branch.timezone : 'UTC') +
      (r.plan ? '. Plan: ' + money(r.plan.sales, cur) + '.' : '.')
    : 'No override in force: the plan is the model’s forecast.';
  current.setAttribute('data-sales', o && o.sales !== null ? String(o.sales) : '');
  current.setAttribute('data-orders', o && o.orders !== null ? String(o.orders) : '');
  // A closed day's override is final (the API answers 409): its scorecard is in the table.
  const closed = r.source === 'actual';
  byId('override-fields', HTMLFieldSetElement).disabled = closed;
  if (closed)
    message('override', 'info', 'This day has closed: its override can no longer be set or cleared.');
  byId('override-clear', HTMLButtonElement).disabled = closed || !o;
  if (refill) {
    input('override-sales').value = o && o.sales !== null ? String(o.sales) : '';
    input('override-orders').value = o && o.orders !== null ? String(o.orders) : '';
    input('override-reason').value = o ? o.reason : '';
  }
}

/** @param {DayRow} r */
function syncCalendar(r) {
  /** @type {(DayCalendar & Partial<CalendarEntry>) | null} */
  const e = state.calendar ? state.calendar.get(r.date) || null : r.calendar || null;
  const current = byId('calendar-current', HTMLElement);
  current.textContent = e
    ? 'In force: ' +
      (e.kind === 'closed' ? 'closed' : 'event') +
      ', “' +
      e.name +
      '”' +
      (typeof e.expected_effect === 'number' ? ', expected ' + effectLabel(e.expected_effect) : '') +
      (e.changed_by ? ', set by ' + e.changed_by.key_name : '') +
      '.'
    : 'No calendar entry on this day.';
  current.setAttribute('data-kind', e ? e.kind : '');
  current.setAttribute('data-name', e ? e.name : '');
  byId('calendar-remove', HTMLButtonElement).disabled = !e;
  if (refill) {
    kindInputs().forEach((k) => (k.checked = k.value === (e ? e.kind : 'closed')));
    input('calendar-name').value = e ? e.name : '';
    byId('calendar-note', HTMLTextAreaElement).value = e && e.note ? e.note : '';
    input('calendar-effect').value =
      e && typeof e.expected_effect === 'number' ? String(Math.round(e.expected_effect * 1e6) / 1e4) : '';
  }
  syncKind();
}

/** The expected effect is for events only. */
function syncKind() {
  const event = kindInputs().some((k) => k.checked && k.value === 'event');
  input('calendar-effect').disabled = !event;
}

/** @returns {HTMLInputElement[]} */
function kindInputs() {
  return Array.from(byId('calendar-form', HTMLFormElement).querySelectorAll('input[name="kind"]')).filter(
    (el) => el instanceof HTMLInputElement,
  );
}

/** @param {string} id */
const input = (id) => byId(id, HTMLInputElement);

/**
 * A typed number as the API takes it: a plain number as a JSON number, anything else as typed
 * (the API then says what is wrong with it, naming the field).
 * @param {string} text
 * @param {RegExp} plain
 */
function typedNumber(text, plain) {
  const t = text.trim().replace(/^−/, '-');
  return plain.test(t) ? Number(t) : t;
}

function overrideBody() {
  /** @type {{ sales?: unknown, orders?: unknown, reason?: string }} */
  const body = {};
  const sales = input('override-sales').value.trim();
  const ord = input('override-orders').value.trim();
  const reason = input('override-reason').value.trim();
  if (sales) body.sales = typedNumber(sales, /^-?\d+(\.\d+)?$/);
  if (ord) body.orders = typedNumber(ord, /^-?\d+$/);
  if (reason) body.reason = reason;
  return body;
}

function calendarBody() {
  const kind = kindInputs().find((k) => k.checked)?.value || 'closed';
  /** @type {{ kind: string, name: string, note?: string, expected_effect?: unknown }} */
  const body = { kind, name: input('calendar-name').value.trim() };
  const note = byId('calendar-note', HTMLTextAreaElement).value.trim();
  if (note) body.note = note;
  const effect = input('calendar-effect').value.trim().replace(/\s*%$/, '');
  if (kind === 'event' && effect) {
    const v = typedNumber(effect, /^[+-]?\d+(\.\d+)?$/);
    // Percent typed, a fraction sent (30 → 0.3), without float noise.
    body.expected_effect = typeof v === 'number' ? Math.round(v * 1e4) / 1e6 : v;
  }
  return body;
}

/**
 * Sends a change, then draws the range again.
 * @param {FormName} which
 * @param {boolean} set a set (else a clear)
 * @param {(branchId: string, date: string) => Promise<{ changed: boolean }>} send
 */
async function submit(which, set, send) {
  const d = state.data;
  const date = state.editing;
  if (!d || !date || inFlight) return;
  const branchId = d.branch.id;
  const form = byId(which + '-form', HTMLFormElement);
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  busy(form, true);
  message(which, 'info', set ? 'Saving…' : 'Clearing…');
  const label = dayLabel(date, { weekday: 'short', day: 'numeric', month: 'short' });
  try {
    const { changed } = await send(branchId, date);
    refill = true;
    await reload();
    if (state.editing !== date) return;
    const what = which === 'override' ? 'override' : 'calendar entry';
    message(
      which,
      'ok',
      !changed
        ? set
          ? 'Nothing changed: this ' + what + ' was already in force.'
          : 'Nothing changed: ' + label + ' had no ' + what + '.'
        : set
          ? 'Saved the ' + what + ' of ' + label + '.'
          : (which === 'override' ? 'Cleared the override of ' : 'Removed the calendar entry of ') +
            label +
            '.',
    );
  } catch (err) {
    refused(which, err);
  } finally {
    busy(form, false);
  }
}

/** A change in flight: further presses wait for it (buttons stay focusable, marked aria-disabled). */
let inFlight = false;

/** @param {HTMLFormElement} form @param {boolean} on */
function busy(form, on) {
  inFlight = on;
  form.setAttribute('aria-busy', on ? 'true' : 'false');
  form.querySelectorAll('button').forEach((b) => b.setAttribute('aria-disabled', on ? 'true' : 'false'));
  if (on) return;
  // Which buttons apply (nothing to clear, a closed day) follows what is drawn now; a button that
  // no longer applies hands the focus to the panel, so the keyboard stays in it.
  syncEditor();
  const panel = byId('day-editor', HTMLElement);
  const active = document.activeElement;
  if (
    !panel.hidden &&
    (!active || active === document.body || (active instanceof HTMLButtonElement && active.disabled))
  )
    byId('day-editor-title', HTMLElement).focus();
}

/** Says why the API refused a change; the field it names is marked and focused. @param {FormName} which @param {unknown} err */
function refused(which, err) {
  const e = asApiError(err);
  if (e.status === 401) {
    document.dispatchEvent(new CustomEvent(SIGNED_OUT, { detail: e.message }));
    return;
  }
  const title =
    e.status === 400
      ? 'Not saved, please check'
      : e.status === 403
        ? 'Not saved: this key may not change this branch'
        : e.status === 409
          ? 'Refused'
          : e.status === 429
            ? 'Too many requests'
            : e.status === 503 || e.status === 0
              ? 'Not saved: the API is unavailable'
              : 'Not saved';
  message(
    which,
    'error',
    title +
      ': ' +
      e.message +
      (e.retryAfter ? ' Try again in ' + e.retryAfter + ' s.' : '') +
      (e.status ? ' (' + e.status + ' ' + e.code + ')' : ''),
    e,
  );
  const field = e.field ? byId(which + '-form', HTMLFormElement).elements.namedItem(e.field) : null;
  if (field instanceof HTMLInputElement || field instanceof HTMLTextAreaElement) {
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', which + '-message');
    field.focus();
  }
}

/**
 * @param {FormName} which
 * @param {'' | 'info' | 'ok' | 'error'} kind
 * @param {string} text
 * @param {{ status: number, code: string, field: string | null }} [err]
 */
function message(which, kind, text, err) {
  const p = byId(which + '-message', HTMLElement);
  p.textContent = text;
  p.className = 'form-message' + (kind ? ' ' + kind : '');
  p.setAttribute('data-kind', kind);
  p.setAttribute('data-status', err ? String(err.status) : '');
  p.setAttribute('data-code', err ? err.code : '');
  p.setAttribute('data-field', err && err.field ? err.field : '');
}
