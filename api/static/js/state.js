// @ts-check
/** What the page shows and is loading: one object, shared by the modules that wire and load it. */

/** @import { BranchListItem, PredictResponse } from './api-types.js' */

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
  dataKey: '',
  seq: 0,
  controller: null,
  timer: 0,
};
