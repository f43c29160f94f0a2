// @ts-check
/** The branch selector and the line about the chosen branch's forecast run. */

import { byId, clear, h } from './dom.js';
import { ago, instantLabel } from './format.js';
import { state } from './state.js';

/** @import { BranchListItem } from './api-types.js' */

/** By name, then id: the selector's order. @param {BranchListItem} a @param {BranchListItem} b */
export function byName(a, b) {
  return a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
}

/** Fills the selector from `state.branches`; branches without a forecast are marked. */
export function fillBranches() {
  const sel = byId('branch', HTMLSelectElement);
  clear(sel);
  const list = state.branches.slice().sort(byName);
  list.forEach((b) => {
    const label = b.name + (b.latest_forecast ? '' : ' (no forecast yet)');
    sel.appendChild(
      h('option', { value: b.id, text: label, 'data-has-forecast': b.latest_forecast ? 'true' : 'false' }),
    );
  });
  sel.disabled = list.length === 0;
}

/** @param {string | null} id @returns {BranchListItem | null} */
export function branchById(id) {
  return state.branches.find((b) => b.id === id) || null;
}

/** Zone, currency and the run drawn (else the branch's latest): generated, data through, horizon, model. */
export function renderBranchInfo() {
  const info = byId('branch-info', HTMLElement);
  clear(info);
  const b = state.branch;
  if (!b) return;
  const run = (state.data && state.data.branch.id === b.id && state.data.forecast) || b.latest_forecast;
  const tz = b.timezone;
  const parts = [h('span', { text: b.timezone + ' · ' + b.currency })];
  if (run) {
    parts.push(
      h('span', {
        'data-testid': 'generated-at',
        'data-value': run.generated_at,
        text: 'forecast generated ' + instantLabel(run.generated_at, tz) + ' (' + ago(run.generated_at) + ')',
      }),
      h('span', {
        'data-testid': 'data-through',
        'data-value': run.data_through,
        text: 'data through ' + instantLabel(run.data_through, tz),
      }),
      h('span', { text: 'covers until ' + instantLabel(run.horizon_end, tz) }),
      h('span', { class: 'muted', text: 'model ' + run.model_version }),
    );
  } else {
    parts.push(h('span', { 'data-testid': 'generated-at', text: 'no forecast yet' }));
  }
  if (b.last_closed_hour)
    parts.push(h('span', { text: 'last closed hour ' + instantLabel(b.last_closed_hour, tz) }));
  parts.forEach((p, i) => {
    if (i > 0) info.appendChild(document.createTextNode(' · '));
    info.appendChild(p);
  });
}
