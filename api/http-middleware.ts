/**
 * Cross-cutting HTTP middleware: request id, access log, latency metric,
 * security headers, URL size limit, method guard, handler timeout, rate limit.
 */
import crypto from 'node:crypto';
import type Koa from 'koa';
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

/**
 * Refuses request targets longer than `maxUrl` characters (414) and methods other than
 * GET/HEAD/OPTIONS (405), except POST on the paths in `postPaths` (the login code exchange,
 * capture) and PUT/DELETE on the paths `writePath` accepts (operators' calendar and overrides).
 */
export function requestGuard(
  maxUrl: number,
  postPaths: ReadonlySet<string> = new Set(),
  writePath: (path: string) => boolean = () => false,
): Koa.Middleware {
  return (ctx, next) => {
    if (ctx.originalUrl.length > maxUrl) {
      ctx.throw(414, `the URL is longer than ${maxUrl} characters`);
    }
    const m = ctx.method;
    if (m === 'GET' || m === 'HEAD') return next();
    if (m === 'POST' && postPaths.has(ctx.path)) return next();
    if ((m === 'PUT' || m === 'DELETE') && writePath(ctx.path)) return next();
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
  /** Counts one request of the client (its address) now; throws the 429 past the limit. */
  chargeClient(ctx: Koa.Context): void;
  /** Stops the sweeper of expired client entries. */
  close(): void;
}

/**
 * Per client, at most `perMinute` requests per fixed one-minute window that starts with the
 * client's first request; 0 = off. The client is what `clientOf` says: the API key's id for a
 * request with a valid key (two keys never share a budget, and a key keeps its budget from any
 * address), else the address (ctx.ip: the socket address, or X-Forwarded-For when the app trusts
 * a proxy). Paths in `exempt` (probes) are never limited. Past the limit: a 429 HttpError with
 * Retry-After (seconds until the window ends), mapped by the error middleware.
 *
 * Hand-written instead of koa-ratelimit (which it replaced): same semantics,
 * but synchronous and allocation-free on the hot path; koa-ratelimit's memory
 * driver builds a limiter object per request and costs about a tenth of a
 * cached /predict answer (`npm run bench:api`).
 */
export function rateLimiter(
  perMinute: number,
  exempt: ReadonlySet<string>,
  clientOf: (ctx: Koa.Context) => string = (ctx) => `ip ${ctx.ip || 'unknown'}`,
): RateLimiter {
  if (perMinute <= 0)
    return { middleware: (_ctx, next) => next(), chargeClient: () => undefined, close: () => undefined };
  const windowMs = 60_000;
  const windows = new Map<string, { endsAt: number; count: number }>();
  // Forget clients whose window has ended, so the map does not grow with every address ever seen.
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const [client, w] of windows) if (w.endsAt <= now) windows.delete(client);
  }, windowMs);
  sweeper.unref();
  const message = `rate limit exceeded: at most ${perMinute} requests per minute per client`;
  const charge = (ctx: Koa.Context, client: string): void => {
    const now = Date.now();
    let w = windows.get(client);
    if (w === undefined || w.endsAt <= now) {
      w = { endsAt: now + windowMs, count: 0 };
      windows.set(client, w);
    }
    w.count += 1;
    if (w.count <= perMinute) return;
    rateLimited.inc();
    const retryAfterS = Math.max(1, Math.ceil((w.endsAt - now) / 1000));
    ctx.throw(429, message, { headers: { 'Retry-After': String(retryAfterS) } });
  };
  const middleware: Koa.Middleware = (ctx, next) => {
    if (exempt.has(ctx.path)) return next();
    charge(ctx, clientOf(ctx));
    return next();
  };
  return {
    middleware,
    chargeClient: (ctx) => charge(ctx, `ip ${ctx.ip || 'unknown'}`),
    close: () => clearInterval(sweeper),
  };
}
