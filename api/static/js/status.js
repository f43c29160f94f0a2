// @ts-check
/** The page's state flag (<body data-state>), the status line and the error box. */

import { byId, clear, append, h } from './dom.js';

/** @import { ApiError } from './api-client.js' */

/** @param {'loading' | 'ready' | 'error' | 'login'} s */
export function setPageState(s) {
  document.body.setAttribute('data-state', s);
}

/** @param {string} text */
export function setStatus(text) {
  byId('status', HTMLElement).textContent = text;
}

/** Event the page listens to: the API refused the key (401), so it asks for another. */
export const SIGNED_OUT = 'tillcast:signed-out';

/** Shows the error (with the API's message) in place of the results; a 401 asks for a key instead. @param {ApiError} err */
export function showError(err) {
  if (err.status === 401) {
    document.dispatchEvent(new CustomEvent(SIGNED_OUT, { detail: err.message }));
    return;
  }
  const box = byId('error', HTMLElement);
  clear(box);
  let title = 'The API answered with an error';
  if (err.code === 'no_forecast') title = 'No forecast yet';
  else if (err.code === 'network_error') title = 'The API cannot be reached';
  else if (err.status === 401) title = 'Not signed in';
  else if (err.status === 403) title = 'This key may not see that';
  else if (err.status === 429) title = 'Too many requests';
  else if (err.status === 400) title = 'Please check the range';
  else if (err.status === 404) title = 'Not found';
  else if (err.status >= 500) title = 'The API is unavailable';
  append(box, [
    h('strong', { text: title }),
    h('span', { class: 'error-message', 'data-testid': 'error-message', text: err.message }),
    err.retryAfter
      ? h('span', { class: 'error-retry', text: 'Try again in ' + err.retryAfter + ' s.' })
      : null,
    err.status ? h('span', { class: 'error-code', text: '(' + err.status + ' ' + err.code + ')' }) : null,
  ]);
  box.setAttribute('data-code', err.code || '');
  box.hidden = false;
  byId('results', HTMLElement).hidden = true;
  byId('missing', HTMLElement).hidden = true;
  setStatus('');
  setPageState('error');
}

export function clearError() {
  const box = byId('error', HTMLElement);
  box.hidden = true;
  clear(box);
}
