// @ts-check
/** The page's state mirrored in its URL: ?branch=…&start=…&end=…&view=daily. */

/** @import { DashboardState } from './state.js' */

/** The query the page was opened with (each null when absent). */
export function readUrl() {
  const p = new URLSearchParams(location.search);
  return { branch: p.get('branch'), start: p.get('start'), end: p.get('end'), view: p.get('view') };
}

/**
 * Writes the chosen branch, the range unless it is the branch's default, and the view
 * unless it is hourly (no history entry: the URL is for sharing and reloading).
 * @param {DashboardState} state
 */
export function writeUrl(state) {
  if (!state.branch) return;
  const p = new URLSearchParams();
  p.set('branch', state.branch.id);
  if (!state.rangeIsDefault) {
    p.set('start', state.start);
    p.set('end', state.end);
  }
  if (state.view !== 'hourly') p.set('view', state.view);
  try {
    history.replaceState(null, '', '?' + p.toString());
  } catch {
    /* e.g. a file: URL; not important */
  }
}
