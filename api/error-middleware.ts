/**
 * The one place errors become HTTP: typed errors (lib/errors.ts) and Koa HTTP
 * errors map to a status and a JSON body `{error: {code, message, details}}`.
 * Unknown errors become a 500 with a generic message (details only carry the
 * request id): no stack traces, SQL or internal messages reach a client.
 */
import type Koa from 'koa';
import { HttpError } from 'koa';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  StorageError,
  UnauthenticatedError,
  UnavailableError,
  ValidationError,
} from '../lib/errors';
import type { Logger } from '../lib/logger';
import { requestState } from './http-middleware';
import type { ErrorResponse } from './schemas';

export interface MappedError {
  status: number;
  code: string;
  message: string;
  details: Record<string, unknown>;
  headers: Record<string, string>;
}

const HTTP_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  406: 'not_acceptable',
  408: 'request_timeout',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'headers_too_large',
  503: 'unavailable',
};

const retryAfter = (v: unknown, fallback: number): string => {
  const n = Math.ceil(Number(v));
  return String(Number.isFinite(n) && n >= 1 ? n : fallback);
};

export function mapError(err: unknown): MappedError {
  if (err instanceof ValidationError) {
    return { status: 400, code: err.code, message: err.message, details: { ...err.details }, headers: {} };
  }
  if (err instanceof UnauthenticatedError) {
    return {
      status: 401,
      code: err.code,
      message: err.message,
      details: {},
      headers: { 'WWW-Authenticate': err.challenge },
    };
  }
  if (err instanceof ForbiddenError) {
    return { status: 403, code: err.code, message: err.message, details: { ...err.details }, headers: {} };
  }
  if (err instanceof ConflictError) {
    return { status: 409, code: err.code, message: err.message, details: { ...err.details }, headers: {} };
  }
  if (err instanceof NotFoundError) {
    const details = (err as { details?: Record<string, unknown> }).details ?? {};
    return { status: 404, code: err.code, message: err.message, details: { ...details }, headers: {} };
  }
  if (err instanceof UnavailableError) {
    const ra = retryAfter(err.retryAfterS, 5);
    return {
      status: 503,
      code: err.code,
      message: err.message,
      details: { retry_after_s: Number(ra) },
      headers: { 'Retry-After': ra },
    };
  }
  if (err instanceof StorageError) {
    return {
      status: 503,
      code: 'storage_unavailable',
      message: 'storage is unavailable; try again shortly',
      details: { retry_after_s: 5 },
      headers: { 'Retry-After': '5' },
    };
  }
  if (err instanceof HttpError && err.status >= 400 && err.status < 500) {
    const headers: Record<string, string> = {};
    const details: Record<string, unknown> = {};
    const given = (err.headers ?? {}) as Record<string, unknown>;
    if (err.status === 429) {
      const ra = retryAfter(given['Retry-After'], 60);
      headers['Retry-After'] = ra;
      details.retry_after_s = Number(ra);
    }
    if (err.status === 405 && typeof given.Allow === 'string') headers.Allow = given.Allow;
    const code = HTTP_CODES[err.status] ?? 'bad_request';
    const message = err.expose && err.message ? err.message : code.replaceAll('_', ' ');
    return { status: err.status, code, message, details, headers };
  }
  return { status: 500, code: 'internal', message: 'internal error', details: {}, headers: {} };
}

export function errorBody(m: Pick<MappedError, 'code' | 'message' | 'details'>): ErrorResponse {
  return { error: { code: m.code, message: m.message, details: m.details } };
}

/** Catches everything thrown below it; answers unmatched requests with a JSON 404. */
export function errorMiddleware(logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.body === undefined && ctx.status === 404) {
        ctx.status = 404;
        ctx.body = errorBody({
          code: 'not_found',
          message: `no such path: ${truncate(ctx.path, 100)}`,
          details: {},
        });
      }
    } catch (err) {
      const m = mapError(err);
      if (m.status >= 500) {
        const log = requestState(ctx)?.log ?? logger;
        const msg = err instanceof Error ? err.message : String(err);
        if (m.status === 500) log.error({ err }, 'request failed');
        else if (err instanceof UnavailableError)
          log.info({ code: m.code, err: msg }, 'request answered 503');
        else log.warn({ code: m.code, err: msg }, 'request failed: dependency unavailable');
      }
      const requestId = requestState(ctx)?.requestId;
      if (m.status >= 500 && requestId) m.details.request_id = requestId;
      ctx.status = m.status;
      for (const [k, v] of Object.entries(m.headers)) ctx.set(k, v);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = errorBody(m);
    }
  };
}

/** Shortens user input echoed in messages. */
export function truncate(s: string, max = 64): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}
