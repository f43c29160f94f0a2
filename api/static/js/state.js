// @ts-check
/** What the page shows and is loading: one object, shared by the modules that wire and load it. */

/** @import { AccuracyResponse, BranchListItem, CalendarEntry, MeResponse, PredictResponse } from './api-types.js' */

/** @typedef {'hourly' | 'daily'} View */

/**
 * @typedef {object} DashboardState
 * @property {BranchListItem[]} branches from GET v1/branches
 * @property {BranchListItem | null} branch the chosen one
 * @property {string} start range start, yyyy-mm-dd (as typed: may be empty or invalid)
 * @property {string} end range end, included
 * @property {View} view
 * @property {boolean} rangeIsDefault the range follows the branch (and is left out of the URL)
 * @property {PredictResponse | null} data the answer drawn
 * @property {Map<string, CalendarEntry> | null} calendar the calendar entries of `data`'s range by date (null: not read)
 * @property {AccuracyResponse | null} accuracy the scorecard of `data`'s range (null: not read)
 * @property {string[]} sideErrors why the calendar or the scorecard could not be read (shown, not fatal)
 * @property {MeResponse | null} me the key and the branches it may write (null: unknown, so no editing)
 * @property {string | null} editing the date whose plan the operator panel shows
 * @property {string} dataKey `branch|start|end#granularity` of `data`
 * @property {number} seq request counter: answers of superseded requests are dropped
 * @property {AbortController | null} controller of the request in flight
 * @property {number} timer pending scheduled load
 */

/** @type {DashboardState} */
export const state = {
  branches: [],
  branch: null,
  start: '',
  end: '',
  view: 'hourly',
  rangeIsDefault: true,
  data: null,
  calendar: null,
  accuracy: null,
  sideErrors: [],
  me: null,
  editing: null,
  dataKey: '',
  seq: 0,
  controller: null,
  timer: 0,
};

/** May the key write this branch's calendar and overrides (GET v1/me)? @param {string} branchId */
export function mayWrite(branchId) {
  return state.me !== null && state.me.write_branches.includes(branchId);
}
