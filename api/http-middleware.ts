/**
 * Cross-cutting HTTP middleware: request id, access log, latency metric,
 * security headers, URL size limit, method guard, handler timeout, rate limit.
 */
import crypto from 'node:crypto';
import type Koa from 'koa';
import ratelimit from 'koa-ratelimit';
import { UnavailableError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { observeRequest, rateLimited } from './metrics';

/** CSP of JSON answers: nothing may load, nothing may frame them. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * CSP of HTML pages (/docs and the future dashboard at / with assets under
 * /static/): scripts, styles, images, fonts and API calls from this origin only;
 * `extraStyleHashes` allow specific inline <style> blocks (the docs page's).
 */
export function htmlCsp(extraStyleHashes: readonly string[] = []): string {
  const styles = ["'self'", ...extraStyleHashes.map((h) => `'${h}'`)].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src ${styles}`,
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Per-request context in ctx.state: the request id and a child logger made on first use. */
export class RequestState {
  private child: Logger | undefined;
  constructor(
    private readonly base: Logger,
    readonly requestId: string,
  ) {}
  get log(): Logger {
    return (this.child ??= this.base.child({ req_id: this.requestId }));
  }
}

export const requestState = (ctx: Koa.Context): RequestState | undefined =>
  (ctx.state as { req?: RequestState }).req;

/** Outermost: request id, security headers, access log and the latency histogram; `Connection: close` while draining. */
export function requestContext(logger: Logger, isAccepting: () => boolean = () => true): Koa.Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('x-request-id');
    const requestId = incoming && REQUEST_ID_RE.test(incoming) ? incoming : crypto.randomUUID();
    const state = new RequestState(logger, requestId);
    (ctx.state as { req?: RequestState }).req = state;
    ctx.set('X-Request-Id', requestId);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Content-Security-Policy', API_CSP);
    if (!isAccepting()) ctx.set('Connection', 'close');
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      observeRequest(typeof route === 'string' ? route : 'unmatched', ctx.method, ctx.status, seconds);
      if (logger.isLevelEnabled('info')) {
        state.log.info(
          {
            method: ctx.method,
            url: ctx.originalUrl.length > 512 ? `${ctx.originalUrl.slice(0, 512)}…` : ctx.originalUrl,
            route,
            status: ctx.status,
            ms: Math.round(seconds * 1e4) / 10,
            ip: ctx.ip,
            bytes: ctx.length ?? null,
          },
          'request',
        );
      }
    }
  };
}

/** Refuses request targets longer than `maxUrl` characters (414) and methods other than GET/HEAD/OPTIONS (405). */
export function requestGuard(maxUrl: number): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.originalUrl.length > maxUrl) {
      ctx.throw(414, `the URL is longer than ${maxUrl} characters`);
    }
    const m = ctx.method;
    if (m === 'GET' || m === 'HEAD') {
      await next();
      return;
    }
    if (m === 'OPTIONS') {
      // CORS preflights were answered by the CORS middleware; other OPTIONS get the method list.
      ctx.set('Allow', 'GET, HEAD, OPTIONS');
      ctx.status = 204;
      return;
    }
    ctx.throw(405, `method ${m.length > 16 ? `${m.slice(0, 16)}…` : m} is not allowed; use GET`, {
      headers: { Allow: 'GET, HEAD, OPTIONS' },
    });
  };
}

/**
 * Rejects with 503 `timeout` when `work` takes longer than `ms` (the work itself
 * goes on; its result is dropped). Wraps the awaited I/O of a request (cache
 * misses); everything else a route does is in memory.
 */
export async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new UnavailableError('timeout', `the request took longer than ${ms} ms`, 1)),
      ms,
    );
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RateLimiter {
  middleware: Koa.Middleware;
  /** Stops the sweeper of expired client entries. */
  close(): void;
}

/**
 * Per client IP (ctx.ip: the socket address, or X-Forwarded-For when the app
 * trusts a proxy), `perMinute` requests per rolling window of one minute; 0 = off.
 * Paths in `exempt` (probes, metrics) are never limited.
 */
export function rateLimiter(perMinute: number, exempt: ReadonlySet<string>): RateLimiter {
  if (perMinute <= 0) return { middleware: (_ctx, next) => next(), close: () => undefined };
  const db = new Map<string, { reset: number }>();
  // koa-ratelimit's memory driver never forgets a client: sweep expired windows.
  const sweeper = setInterval(() => {
    const now = Date.now() / 1000;
    for (const [k, v] of db) if (v.reset < now) db.delete(k);
  }, 60_000);
  sweeper.unref();
  const limit = ratelimit({
    driver: 'memory',
    db,
    duration: 60_000,
    max: perMinute,
    id: (ctx) => ctx.ip || 'unknown',
    whitelist: (ctx) => exempt.has(ctx.path),
    errorMessage: `rate limit exceeded: at most ${perMinute} requests per minute per client`,
    // No X-RateLimit-* headers on every answer (they cost on the hot path); 429s carry Retry-After.
    disableHeader: true,
    throw: true,
    onLimited: () => rateLimited.inc(),
  } as ratelimit.MiddlewareOptions);
  return { middleware: limit, close: () => clearInterval(sweeper) };
}
