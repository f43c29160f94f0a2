// @ts-check
/**
 * Calls to the API on the page's own origin (the CSP allows nothing else):
 * GET v1/branches, v1/me and v1/predict, a branch's calendar and override scorecard,
 * and the operators' writes (PUT/DELETE of a day's calendar entry and override), with
 * the session's API key as a bearer token (auth.js). Failures become an ApiError
 * carrying the API's own code, message and details, which the page shows as they are
 * (401: the login form asks for a key).
 */

import { currentKey } from './auth.js';

/**
 * @import { AccuracyResponse, BranchesResponse, CalendarListResponse, CalendarWriteResponse, ErrorBody,
 *   MeResponse, OverrideResponse, PredictResponse } from './api-types.js'
 */

// Relative to the page, so the dashboard also works behind a path prefix.
const API = 'v1/';

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status; 0 when there was no answer
   * @param {string} code the API's error code, or the page's (network_error, client_error, …)
   * @param {string} message
   * @param {string | null} [retryAfter] the Retry-After header
   * @param {Record<string, unknown>} [details] the API's details (`field` or `parameter` names what was wrong)
   */
  constructor(status, code, message, retryAfter, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.details = details || {};
  }

  /** The body field or parameter the API named as wrong, if any. */
  get field() {
    const f = this.details.field ?? this.details.parameter;
    return typeof f === 'string' ? f : null;
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

/** @param {unknown} body @returns {{ code?: unknown, message?: unknown, details?: unknown } | undefined} */
function errorOf(body) {
  if (typeof body !== 'object' || body === null) return undefined;
  return /** @type {ErrorBody} */ (body).error || undefined;
}

/**
 * A JSON answer; any non-2xx or non-JSON answer rejects with an ApiError.
 * @param {string} url
 * @param {{ signal?: AbortSignal, method?: 'GET' | 'PUT' | 'DELETE', body?: unknown }} [opts] a body is sent as JSON
 * @returns {Promise<unknown>}
 */
async function fetchJson(url, opts = {}) {
  /** @type {Response} */
  let res;
  try {
    /** @type {Record<string, string>} */
    const headers = { Accept: 'application/json' };
    const key = currentKey();
    if (key) headers.Authorization = 'Bearer ' + key;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    res = await fetch(url, {
      method: opts.method || 'GET',
      signal: opts.signal,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
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
    const details = e && typeof e.details === 'object' && e.details !== null ? e.details : undefined;
    throw new ApiError(
      res.status,
      (e && typeof e.code === 'string' && e.code) || 'http_' + res.status,
      (e && typeof e.message === 'string' && e.message) || 'HTTP ' + res.status + ' ' + res.statusText,
      res.headers.get('Retry-After'),
      /** @type {Record<string, unknown> | undefined} */ (details),
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
  return /** @type {PredictResponse} */ (await fetchJson(API + 'predict?' + query.toString(), { signal }));
}

/** The key and the branches it may write. @returns {Promise<MeResponse>} */
export async function fetchMe() {
  return /** @type {MeResponse} */ (await fetchJson(API + 'me'));
}

/** @param {string} branchId */
const branchPath = (branchId) => API + 'branches/' + encodeURIComponent(branchId);

/** @param {string} start @param {string} end */
const rangeQuery = (start, end) => '?' + new URLSearchParams({ start, end }).toString();

/**
 * The calendar entries in force over start..end.
 * @param {string} branchId @param {string} start @param {string} end @param {AbortSignal} [signal]
 * @returns {Promise<CalendarListResponse>}
 */
export async function fetchCalendar(branchId, start, end, signal) {
  const url = branchPath(branchId) + '/calendar' + rangeQuery(start, end);
  return /** @type {CalendarListResponse} */ (await fetchJson(url, { signal }));
}

/**
 * The scorecard of the overridden days of start..end that have closed.
 * @param {string} branchId @param {string} start @param {string} end @param {AbortSignal} [signal]
 * @returns {Promise<AccuracyResponse>}
 */
export async function fetchAccuracy(branchId, start, end, signal) {
  const url = branchPath(branchId) + '/accuracy' + rangeQuery(start, end);
  return /** @type {AccuracyResponse} */ (await fetchJson(url, { signal }));
}

/**
 * Sets (with a body) or clears (without) a day's override.
 * @param {string} branchId @param {string} date
 * @param {{ sales?: unknown, orders?: unknown, reason?: string }} [body]
 * @returns {Promise<OverrideResponse>}
 */
export async function writeOverride(branchId, date, body) {
  const url = branchPath(branchId) + '/overrides/' + encodeURIComponent(date);
  return /** @type {OverrideResponse} */ (
    await fetchJson(url, body ? { method: 'PUT', body } : { method: 'DELETE' })
  );
}

/**
 * Sets (with a body) or removes (without) a day's calendar entry.
 * @param {string} branchId @param {string} date
 * @param {{ kind: string, name: string, note?: string, expected_effect?: unknown }} [body]
 * @returns {Promise<CalendarWriteResponse>}
 */
export async function writeCalendar(branchId, date, body) {
  const url = branchPath(branchId) + '/calendar/' + encodeURIComponent(date);
  return /** @type {CalendarWriteResponse} */ (
    await fetchJson(url, body ? { method: 'PUT', body } : { method: 'DELETE' })
  );
}
