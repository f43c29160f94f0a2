// @ts-check
/**
 * Loading what the controls ask for: debounced, one request in flight (a newer
 * one aborts it and its late answer is dropped), and a view toggle re-uses the
 * answer when it already holds the needed breakdown.
 */

import { ApiError, asApiError, fetchPredict, isAbort } from './api-client.js';
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
  state.timer = setTimeout(load, delay);
}

/** Loads (or re-draws) the chosen branch, range and view now. */
export function load() {
  clearTimeout(state.timer);
  const branch = state.branch;
  if (!branch) return;
  writeUrl(state);
  if (parseDate(state.start) === null || parseDate(state.end) === null) {
    abortInFlight();
    showError(new ApiError(0, 'invalid_range', 'Pick a start and an end date.'));
    return;
  }
  const rangeKey = [branch.id, state.start, state.end].join('|');
  const d = state.data;
  // Toggling the view re-uses the answer when it holds the needed breakdown.
  if (d && state.dataKey.split('#')[0] === rangeKey && (state.view === 'daily' ? d.daily : d.hourly)) {
    abortInFlight();
    renderResults(d, state.view);
    return;
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
  void fetchAndRender(q, rangeKey + '#' + granularity, seq, controller);
}

/**
 * @param {URLSearchParams} q
 * @param {string} dataKey
 * @param {number} seq the request's number: when another request started since, its answer is dropped
 * @param {AbortController | null} controller
 */
async function fetchAndRender(q, dataKey, seq, controller) {
  const main = byId('dashboard', HTMLElement);
  try {
    const body = await fetchPredict(q, controller ? controller.signal : undefined);
    if (seq === state.seq) {
      state.data = body;
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
