// @ts-check
/**
 * A day's branch calendar entry as the daily table shows it: a closure ("Closed: Refit") or an
 * event ("Event: Match day, +30 %"), with its note. The entry comes from GET v1/branches/{id}/calendar
 * (with its expected effect), else from the day row of /predict (`calendar`). `data-*` hold the
 * exact fields for tests.
 */

import { h } from './dom.js';
import { state } from './state.js';

/** @import { CalendarEntry, DayCalendar, DayRow } from './api-types.js' */

/** An expected effect (a fraction) as a signed percentage: 0.3 → "+30 %". @param {number} f */
export function effectLabel(f) {
  const pct = Math.round(f * 1000) / 10;
  return (pct < 0 ? '−' : '+') + Math.abs(pct) + ' %';
}

/**
 * The entry in force on the row's date, from the calendar read with the answer, else the answer's own.
 * @param {DayRow} r
 * @returns {(DayCalendar & { expected_effect?: number }) | null}
 */
export function entryOf(r) {
  if (state.calendar) return state.calendar.get(r.date) || null;
  return r.calendar || null;
}

/** @param {(DayCalendar & Partial<CalendarEntry>) | null} e */
export function calendarNote(e) {
  if (!e) return null;
  const effect = e.kind === 'event' && typeof e.expected_effect === 'number' ? e.expected_effect : null;
  const label =
    (e.kind === 'closed' ? 'Closed: ' : 'Event: ') +
    e.name +
    (effect === null ? '' : ', ' + effectLabel(effect));
  return h(
    'span',
    {
      class: 'cal-entry cal-' + e.kind,
      'data-field': 'calendar',
      'data-kind': e.kind,
      'data-name': e.name,
      'data-note': e.note || '',
      'data-expected-effect': effect === null ? '' : String(effect),
      title:
        e.kind === 'closed'
          ? 'Closed on the branch calendar: the forecast of this day is 0.'
          : 'An event on the branch calendar: the forecast treats the day as a special day.',
    },
    [
      h('span', { class: 'cal-label', text: label }),
      e.note ? h('span', { class: 'note', text: e.note }) : null,
    ],
  );
}
