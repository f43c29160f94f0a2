// @ts-check
/** What the controls do: branch, dates, ◀ ▶, "Next 7 days" and the hourly/daily toggle. */

import { branchById, renderBranchInfo } from './branch-info.js';
import { addDays, dayCount, defaultRange, DEFAULT_DAYS, parseDate } from './calendar.js';
import { byId } from './dom.js';
import { scheduleLoad } from './loader.js';
import { state } from './state.js';

/**
 * @param {string} start
 * @param {string} end
 * @param {boolean} isDefault the branch's default range (follows the branch, left out of the URL)
 */
export function setRange(start, end, isDefault) {
  state.start = start;
  state.end = end;
  state.rangeIsDefault = isDefault;
  byId('start', HTMLInputElement).value = start;
  byId('end', HTMLInputElement).value = end;
}

/** Another branch: its default range too, unless the user chose one. */
export function onBranchChange() {
  const b = branchById(byId('branch', HTMLSelectElement).value);
  if (!b) return;
  state.branch = b;
  if (state.rangeIsDefault) {
    const r = defaultRange(b);
    setRange(r.start, r.end, true);
  }
  renderBranchInfo();
  scheduleLoad(0);
}

/** A date typed or picked (loads after a short pause). @param {'start' | 'end'} which */
export function onDateChange(which) {
  const start = byId('start', HTMLInputElement).value;
  let end = byId('end', HTMLInputElement).value;
  // Moving the start past the end keeps the range's length.
  if (
    which === 'start' &&
    parseDate(start) !== null &&
    parseDate(end) !== null &&
    parseDate(state.start) !== null &&
    end < start
  ) {
    const len =
      parseDate(state.end) !== null && state.end >= state.start
        ? dayCount(state.start, state.end)
        : DEFAULT_DAYS;
    end = addDays(start, len - 1);
    byId('end', HTMLInputElement).value = end;
  }
  state.start = start;
  state.end = end;
  state.rangeIsDefault = false;
  scheduleLoad(250);
}

/** ◀ ▶: the range moved by its own length. @param {1 | -1} direction */
export function shiftRange(direction) {
  if (parseDate(state.start) === null || parseDate(state.end) === null || state.end < state.start) return;
  const len = dayCount(state.start, state.end);
  setRange(addDays(state.start, direction * len), addDays(state.end, direction * len), false);
  scheduleLoad(0);
}

/** "Next 7 days": back to the branch's default range. */
export function useDefaultRange() {
  if (!state.branch) return;
  const r = defaultRange(state.branch);
  setRange(r.start, r.end, true);
  scheduleLoad(0);
}

export function onViewChange() {
  const checked = document.querySelector('input[name="view"]:checked');
  state.view = checked instanceof HTMLInputElement && checked.value === 'daily' ? 'daily' : 'hourly';
  scheduleLoad(0);
}
