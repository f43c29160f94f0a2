/**
 * The API's middleware, outermost first: request context (id, security headers, access log,
 * latency metric) -> CORS -> errors -> URL/method guard -> key authentication -> rate limit (per
 * key, else per address) -> routes (data routes demand a key) -> static files -> JSON 404.
 */
import cors from '@koa/cors';
import type Router from '@koa/router';
import type Koa from 'koa';
import type { Logger } from '../lib/logger';
import { errorMiddleware } from './error-middleware';
import { requestContext, requestGuard, type RateLimiter } from './http-middleware';
import type { KeyAuth } from './key-auth';
import { staticFiles } from './static-files';

export interface MiddlewareParts {
  log: Logger;
  /** false while shutting down: answers ask clients to close their connection. */
  isAccepting: () => boolean;
  /** Allowed origins ('*': any). */
  corsOrigins: readonly string[];
  maxUrlLength: number;
  limiter: RateLimiter;
  auth: KeyAuth;
  /** Paths that take POST (the login code exchange). */
  postPaths: ReadonlySet<string>;
  /** Paths that take PUT and DELETE (operators' calendar entries and overrides). */
  writePath: (path: string) => boolean;
  router: Router;
  staticDir: string;
}

export function useMiddlewareStack(app: Koa, parts: MiddlewareParts): void {
  app.use(requestContext(parts.log, parts.isAccepting));
  app.use(corsPolicy(parts.corsOrigins));
  app.use(errorMiddleware(parts.log));
  app.use(requestGuard(parts.maxUrlLength, parts.postPaths, parts.writePath));
  app.use(parts.auth.authenticate);
  app.use(parts.limiter.middleware);
  app.use(parts.router.routes());
  app.use(staticFiles(parts.staticDir));
}

/** CORS for the allowed origins (reads; PUT and DELETE of the operators' routes), exposing the headers clients read. */
export function corsPolicy(origins: readonly string[]): Koa.Middleware {
  const allowAll = origins.includes('*');
  const allowed = new Set(origins);
  const corsHeaders = cors({
    origin: (ctx) => {
      const origin = ctx.get('Origin');
      if (allowAll) return '*';
      return allowed.has(origin) ? origin : '';
    },
    // PUT and DELETE: the operators' routes, for a frontend on an allowed origin. Keys are bearer
    // tokens a page must hold, never ambient cookies, so this opens no cross-site request forgery.
    allowMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
    exposeHeaders: ['X-Request-Id', 'Retry-After', 'ETag', 'WWW-Authenticate'],
    maxAge: 600,
  });
  return (ctx, next): Promise<unknown> => {
    // Without an Origin header (same-origin pages, servers, probes) there is nothing for CORS to
    // answer; only Vary, so that a cache never hands this answer to a cross-origin request.
    if (ctx.get('Origin') === '') {
      ctx.vary('Origin');
      return next();
    }
    return corsHeaders(ctx, next) as Promise<unknown>;
  };
}
