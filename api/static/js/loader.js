// @ts-check
/**
 * Loading what the controls ask for: debounced, one request in flight (a newer
 * one aborts it and its late answer is dropped), and a view toggle re-uses the
 * answer when it already holds the needed breakdown. With /predict come the
 * range's calendar entries and the overrides' scorecard: when those cannot be
 * read the forecast is still drawn, with a note saying what is missing.
 */

import { ApiError, asApiError, fetchAccuracy, fetchCalendar, fetchPredict, isAbort } from './api-client.js';
import { parseDate } from './calendar.js';
import { resetFocus } from './chart-focus.js';
import { byId } from './dom.js';
import { renderResults } from './results.js';
import { state } from './state.js';
import { setPageState, setStatus, showError } from './status.js';
import { writeUrl } from './url-state.js';

/** Loads after `delay` ms, replacing a load already scheduled. @param {number} delay */
export function scheduleLoad(delay) {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => void load(), delay);
}

/** Loads the answer drawn again (after an operator's change): resolves once it is drawn. */
export function reload() {
  state.dataKey = '';
  return load();
}

/**
 * Loads (or re-draws) the chosen branch, range and view now.
 * @returns {Promise<void>} settles once the answer is drawn (or the error shown, or a newer load took over)
 */
export function load() {
  clearTimeout(state.timer);
  const branch = state.branch;
  if (!branch) return Promise.resolve();
  writeUrl(state);
  if (parseDate(state.start) === null || parseDate(state.end) === null) {
    abortInFlight();
    showError(new ApiError(0, 'invalid_range', 'Pick a start and an end date.'));
    return Promise.resolve();
  }
  const rangeKey = [branch.id, state.start, state.end].join('|');
  const d = state.data;
  // Toggling the view re-uses the answer when it holds the needed breakdown.
  if (d && state.dataKey.split('#')[0] === rangeKey && (state.view === 'daily' ? d.daily : d.hourly)) {
    abortInFlight();
    renderResults(d, state.view);
    return Promise.resolve();
  }
  const granularity = state.view === 'hourly' ? 'weekly,daily,hourly' : 'weekly,daily';
  const q = new URLSearchParams();
  q.set('branch_id', branch.id);
  q.set('start', state.start);
  q.set('end', state.end);
  q.set('granularity', granularity);
  // Each day says where its number comes from (the daily table shows it).
  q.set('explain', 'true');
  abortInFlight();
  const controller = typeof AbortController === 'function' ? new AbortController() : null;
  state.controller = controller;
  const seq = ++state.seq;
  setPageState('loading');
  byId('dashboard', HTMLElement).setAttribute('aria-busy', 'true');
  setStatus('Loading ' + branch.name + ', ' + state.start + ' to ' + state.end + '…');
  return fetchAndRender(q, rangeKey + '#' + granularity, seq, controller);
}

/**
 * The range's calendar entries and scorecard; a failure is kept as a note (the forecast stands).
 * @param {string} branchId
 * @param {AbortSignal | undefined} signal
 */
async function sideData(branchId, signal) {
  /** @type {string[]} */
  const errors = [];
  /** @param {string} what @param {unknown} err */
  const failed = (what, err) => {
    if (isAbort(err)) throw err;
    const e = asApiError(err);
    errors.push('The ' + what + ' could not be read: ' + e.message + (e.status ? ' (' + e.status + ')' : ''));
    return null;
  };
  const [calendar, accuracy] = await Promise.all([
    fetchCalendar(branchId, state.start, state.end, signal).catch((err) => failed('calendar', err)),
    fetchAccuracy(branchId, state.start, state.end, signal).catch((err) =>
      failed('overrides scorecard', err),
    ),
  ]);
  return {
    calendar: calendar ? new Map(calendar.entries.map((e) => [e.date, e])) : null,
    accuracy,
    errors,
  };
}

/**
 * @param {URLSearchParams} q
 * @param {string} dataKey
 * @param {number} seq the request's number: when another request started since, its answer is dropped
 * @param {AbortController | null} controller
 */
async function fetchAndRender(q, dataKey, seq, controller) {
  const main = byId('dashboard', HTMLElement);
  const signal = controller ? controller.signal : undefined;
  try {
    const branchId = q.get('branch_id') || '';
    const [body, side] = await Promise.all([fetchPredict(q, signal), sideData(branchId, signal)]);
    if (seq === state.seq) {
      state.data = body;
      state.calendar = side.calendar;
      state.accuracy = side.accuracy;
      state.sideErrors = side.errors;
      state.dataKey = dataKey;
      resetFocus();
      renderResults(body, state.view);
    }
  } catch (err) {
    if (seq === state.seq && !isAbort(err)) {
      state.data = null;
      state.dataKey = '';
      main.removeAttribute('data-loaded');
      showError(asApiError(err));
    }
  }
  if (seq === state.seq) main.removeAttribute('aria-busy');
}

/** Drops the request in flight (its answer, if any, is ignored). */
function abortInFlight() {
  state.seq++;
  if (state.controller) state.controller.abort();
  state.controller = null;
}
