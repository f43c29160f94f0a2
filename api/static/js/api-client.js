// @ts-check
/**
 * Calls to the API on the page's own origin (the CSP allows nothing else):
 * GET v1/branches and GET v1/predict, with the session's API key as a bearer
 * token (auth.js). Failures become an ApiError carrying the API's own code and
 * message, which the page shows as they are (401: the login form asks for a key).
 */

import { currentKey } from './auth.js';

/** @import { BranchesResponse, ErrorBody, PredictResponse } from './api-types.js' */

// Relative to the page, so the dashboard also works behind a path prefix.
const API = 'v1/';

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status; 0 when there was no answer
   * @param {string} code the API's error code, or the page's (network_error, client_error, …)
   * @param {string} message
   * @param {string | null} [retryAfter] the Retry-After header
   */
  constructor(status, code, message, retryAfter) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** A fetch cancelled by its AbortController (a newer request replaced it). @param {unknown} err */
export function isAbort(err) {
  return typeof err === 'object' && err !== null && 'name' in err && err.name === 'AbortError';
}

/** Any failure as an ApiError (a bug in the page shows as client_error). @param {unknown} err */
export function asApiError(err) {
  if (err instanceof ApiError) return err;
  const message = typeof err === 'object' && err !== null && 'message' in err ? err.message : undefined;
  return new ApiError(0, 'client_error', String(message || err));
}

/** @param {unknown} body @returns {{ code?: unknown, message?: unknown } | undefined} */
function errorOf(body) {
  if (typeof body !== 'object' || body === null) return undefined;
  return /** @type {ErrorBody} */ (body).error || undefined;
}

/**
 * GET a JSON answer; any non-2xx or non-JSON answer rejects with an ApiError.
 * @param {string} url
 * @param {AbortSignal} [signal]
 * @returns {Promise<unknown>}
 */
async function fetchJson(url, signal) {
  /** @type {Response} */
  let res;
  try {
    /** @type {Record<string, string>} */
    const headers = { Accept: 'application/json' };
    const key = currentKey();
    if (key) headers.Authorization = 'Bearer ' + key;
    res = await fetch(url, { signal, headers });
  } catch (err) {
    if (isAbort(err)) throw err;
    const why = err instanceof Error && err.message ? err.message : 'network error';
    throw new ApiError(0, 'network_error', 'Cannot reach the API (' + why + ').');
  }
  const text = await res.text();
  /** @type {unknown} */
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const e = errorOf(body);
    throw new ApiError(
      res.status,
      (e && typeof e.code === 'string' && e.code) || 'http_' + res.status,
      (e && typeof e.message === 'string' && e.message) || 'HTTP ' + res.status + ' ' + res.statusText,
      res.headers.get('Retry-After'),
    );
  }
  if (body === null)
    throw new ApiError(res.status, 'bad_response', 'The API answered with something that is not JSON.');
  return body;
}

/** @returns {Promise<BranchesResponse>} */
export async function fetchBranches() {
  return /** @type {BranchesResponse} */ (await fetchJson(API + 'branches'));
}

/**
 * @param {URLSearchParams} query branch_id, start, end, granularity
 * @param {AbortSignal} [signal]
 * @returns {Promise<PredictResponse>}
 */
export async function fetchPredict(query, signal) {
  return /** @type {PredictResponse} */ (await fetchJson(API + 'predict?' + query.toString(), signal));
}
