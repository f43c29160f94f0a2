// @ts-check
/**
 * tillcast dashboard: browser ES modules, no build step, no dependencies (the
 * page's CSP allows scripts, styles and API calls from this origin only).
 * index.html loads this module; it wires the controls, loads the branches,
 * picks the branch and range (from the URL, else the default) and loads the
 * first answer. Without an API key (auth.js) it shows the sign-in form first; a 401 at any
 * time brings it back. The module layout is described in api/static/README.md.
 *
 * Stable hooks for tests: data-testid attributes; chart points carry data-value
 * (the row's `sales`, empty when null), data-start and data-source; table cells
 * carry data-field and data-value; <body data-state> is loading|ready|error|login and
 * <main data-loaded> the query of the rendered answer.
 */

import { ApiError, asApiError, fetchBranches, fetchMe } from './api-client.js';
import { currentKey, forgetKey, redeemLoginLink, storeKey } from './auth.js';
import { branchById, byName, fillBranches, renderBranchInfo } from './branch-info.js';
import { defaultRange, parseDate } from './calendar.js';
import { renderChart } from './chart.js';
import { hideFocus, onChartKey } from './chart-focus.js';
import {
  onBranchChange,
  onDateChange,
  onViewChange,
  setRange,
  shiftRange,
  useDefaultRange,
} from './controls.js';
import { wireDayEditor } from './day-editor.js';
import { byId } from './dom.js';
import { load, scheduleLoad } from './loader.js';
import { state } from './state.js';
import { setPageState, setStatus, showError, SIGNED_OUT } from './status.js';
import { readUrl } from './url-state.js';

async function init() {
  const url = readUrl();
  if (url.view === 'daily') {
    state.view = 'daily';
    byId('view-daily', HTMLInputElement).checked = true;
  }
  wireControls();
  wireDayEditor();
  wireSignIn(url);
  redrawOnResize(byId('chart', HTMLElement));
  const link = await redeemLoginLink();
  if (link === 'refused') signInNote = 'This login link was already used or has expired: enter an API key.';
  // Asked even without a key: an API without keys (AUTH_MODE=none, local development) answers,
  // one with keys answers 401 and the sign-in form shows.
  loadBranches(url);
}

/** What the sign-in form says when the API asks for a key and none was sent. */
let signInNote = '';

/** @param {ReturnType<typeof readUrl>} url */
function loadBranches(url) {
  byId('login', HTMLElement).hidden = true;
  byId('dashboard', HTMLElement).hidden = false;
  byId('sign-out', HTMLButtonElement).hidden = !currentKey();
  setPageState('loading');
  setStatus('Loading branches…');
  // What the key may write decides whether days get an Edit button; unknown (an older API): none.
  const me = fetchMe().catch(() => null);
  fetchBranches()
    .then(async (body) => {
      state.me = await me;
      state.branches = body.branches || [];
      fillBranches();
      if (!state.branches.length) {
        setStatus('');
        showError(new ApiError(0, 'no_branches', 'This API key may read no branch.'));
        return;
      }
      // A branch in the URL that the key may not read: said plainly (the API would answer 403).
      if (url.branch && !branchById(url.branch)) {
        setStatus('');
        showError(
          new ApiError(
            403,
            'forbidden',
            'This API key may not read branch "' + url.branch + '". Pick one of its branches above.',
          ),
        );
        byId('branch', HTMLSelectElement).disabled = false;
        return;
      }
      start(url);
    })
    .catch((err) => showError(asApiError(err)));
}

/** Shows the sign-in form (with why, if anything went wrong). @param {string} message */
function showSignIn(message) {
  byId('dashboard', HTMLElement).hidden = true;
  byId('sign-out', HTMLButtonElement).hidden = true;
  byId('login', HTMLElement).hidden = false;
  byId('login-message', HTMLElement).textContent = message;
  setStatus('');
  setPageState('login');
  byId('api-key', HTMLInputElement).focus();
}

/** @param {ReturnType<typeof readUrl>} url */
function wireSignIn(url) {
  byId('login-form', HTMLFormElement).addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = byId('api-key', HTMLInputElement);
    const key = input.value.trim();
    input.value = '';
    if (!key) {
      showSignIn('Enter an API key.');
      return;
    }
    storeKey(key);
    loadBranches(url);
  });
  byId('sign-out', HTMLButtonElement).addEventListener('click', () => {
    forgetKey();
    showSignIn('');
  });
  document.addEventListener(SIGNED_OUT, (ev) => {
    const sent = currentKey() !== null;
    forgetKey();
    const why = ev instanceof CustomEvent && typeof ev.detail === 'string' ? ev.detail : '';
    showSignIn(
      sent ? 'The API refused this key' + (why ? ' (' + why + ')' : '') + '. Enter another.' : signInNote,
    );
  });
}

/**
 * Picks the URL's branch, else the first by name with a forecast, else the first; the URL's
 * range when it is for that branch, else the branch's default; and loads.
 * @param {ReturnType<typeof readUrl>} url
 */
function start(url) {
  const preferred =
    branchById(url.branch) ||
    state.branches
      .slice()
      .sort(byName)
      .find((b) => b.latest_forecast) ||
    state.branches[0];
  if (!preferred) return;
  state.branch = preferred;
  byId('branch', HTMLSelectElement).value = preferred.id;
  if (
    url.start !== null &&
    url.end !== null &&
    parseDate(url.start) !== null &&
    parseDate(url.end) !== null &&
    url.branch === preferred.id
  )
    setRange(url.start, url.end, false);
  else {
    const r = defaultRange(preferred);
    setRange(r.start, r.end, true);
  }
  renderBranchInfo();
  void load();
}

function wireControls() {
  byId('branch', HTMLSelectElement).addEventListener('change', onBranchChange);
  byId('start', HTMLInputElement).addEventListener('change', () => onDateChange('start'));
  byId('end', HTMLInputElement).addEventListener('change', () => onDateChange('end'));
  byId('earlier', HTMLButtonElement).addEventListener('click', () => shiftRange(-1));
  byId('later', HTMLButtonElement).addEventListener('click', () => shiftRange(1));
  byId('next7', HTMLButtonElement).addEventListener('click', useDefaultRange);
  document
    .querySelectorAll('input[name="view"]')
    .forEach((el) => el.addEventListener('change', onViewChange));
  byId('controls', HTMLFormElement).addEventListener('submit', (ev) => {
    ev.preventDefault();
    scheduleLoad(0);
  });
  const chart = byId('chart', HTMLElement);
  chart.addEventListener('keydown', onChartKey);
  chart.addEventListener('blur', hideFocus);
}

/** The chart is drawn at its box's width: redrawn when that changes by more than a few px. @param {HTMLElement} chart */
function redrawOnResize(chart) {
  let lastWidth = 0;
  const redraw = () => {
    const w = chart.clientWidth;
    if (state.data && !byId('results', HTMLElement).hidden && Math.abs(w - lastWidth) > 4) {
      lastWidth = w;
      renderChart(state.data, state.view);
    }
  };
  if (typeof ResizeObserver === 'function') {
    new ResizeObserver(() => requestAnimationFrame(redraw)).observe(chart);
  } else {
    window.addEventListener('resize', redraw);
  }
}

// Module scripts run after parsing (like `defer`); the check keeps init once the DOM is there either way.
const run = () => void init();
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', run);
else run();
