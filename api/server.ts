/**
 * The prediction API: `createApiServer(deps, options)` builds the Koa app, the
 * forecast and actuals caches and the routes WITHOUT listening. The composition
 * root calls `start()` (initial cache load + polling), `listen()`, and on
 * shutdown `setReady(false)` then `stop()`.
 *
 * Middleware order (outermost first): request context (id, security headers,
 * access log, latency metric) -> CORS -> errors -> URL/method guard -> rate
 * limit -> routes -> static files -> JSON 404. Time limits: Node's header and
 * request timeouts on the socket, and `requestTimeoutMs` on a /predict cache
 * miss (the only awaited ClickHouse work of a request; /ready's ping has its own).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import cors from '@koa/cors';
import Router from '@koa/router';
import Koa from 'koa';
import type { BranchDirectory } from '../lib/branches';
import type { ClickHouse } from '../clickhouse/client';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { ActualsCache } from './actuals-cache';
import { createApiCaches } from './caches';
import { DOCS_STYLE_HASH, renderDocsPage } from './docs-page';
import { errorBody, errorMiddleware } from './error-middleware';
import type { ForecastCache } from './forecast-cache';
import { htmlCsp, rateLimiter, requestContext, requestGuard } from './http-middleware';
import { branchesRoute } from './routes/branches';
import { healthRoute, metricsRoute, readyRoute } from './routes/health';
import { predictRoute } from './routes/predict';
import { openApiDocument } from './schemas';
import { DEFAULT_STATIC_DIR, staticFiles } from './static-files';

export interface ApiDeps {
  config: Config;
  ch: ClickHouse;
  branches: BranchDirectory;
  logger: Logger;
}

/** Tunables with defaults (candidates for config variables, see the report / README). */
export interface ApiOptions {
  /** Poll period of forecast_runs and branch_watermarks (API_FORECAST_POLL_MS). */
  forecastPollMs: number;
  /** Every N-th forecast poll reads all branches, not only recent run rows. */
  forecastFullRescanEvery: number;
  /** Recent closed-hour actuals are re-read after this long (API_ACTUALS_TTL_MS); also the stale-while-revalidate window of /predict answers. */
  actualsTtlMs: number;
  /** Cached closed days (branch x date). */
  actualsMaxDays: number;
  /** Time limit of the ClickHouse work of one request (a /predict cache miss); slower: 503 `timeout` (API_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  /** Longest request target (path + query) accepted; longer: 414. */
  maxUrlLength: number;
  /** Trust X-Forwarded-For for the client IP (behind a reverse proxy only) (API_TRUST_PROXY). */
  trustProxy: boolean;
  /** Assembled /predict bodies kept (entries / bytes). */
  responseCacheEntries: number;
  responseCacheBytes: number;
  /** Retry-After (s) of the 503 for a branch without a forecast. */
  noForecastRetryAfterS: number;
  /** Dashboard assets folder served at / and /static/. */
  staticDir: string;
}

export const DEFAULT_API_OPTIONS: ApiOptions = {
  forecastPollMs: 2_000,
  forecastFullRescanEvery: 30,
  actualsTtlMs: 30_000,
  actualsMaxDays: 50_000,
  requestTimeoutMs: 5_000,
  maxUrlLength: 2_048,
  trustProxy: false,
  responseCacheEntries: 20_000,
  responseCacheBytes: 256 * 1024 * 1024,
  noForecastRetryAfterS: 60,
  staticDir: DEFAULT_STATIC_DIR,
};

export interface ApiServer {
  readonly app: Koa;
  readonly forecastCache: ForecastCache;
  readonly actualsCache: ActualsCache;
  /** The listening server, once listen() resolved. */
  readonly server: http.Server | undefined;
  /** Loads the caches (errors are logged; /ready stays 503 until a load succeeds) and starts polling. */
  start(): Promise<void>;
  /** Listens (defaults: config PORT and HOST; port 0 = any free port) and resolves with the server. */
  listen(port?: number, host?: string): Promise<http.Server>;
  /** Base URL of the listening server, e.g. http://127.0.0.1:39123. */
  url(): string;
  /** false: /ready answers 503 and responses ask clients to close their connection. */
  setReady(ready: boolean): void;
  /** Graceful: not ready, stop accepting, let in-flight requests finish (bounded by SHUTDOWN_TIMEOUT_MS), stop polling. Does not close ClickHouse. */
  stop(): Promise<void>;
  /** A run was written for the branch (in-process forecaster hook). */
  notifyRun(branchId: string): void;
  /** A closed hour of the branch was corrected (in-process ingest hook). */
  notifyActuals(branchId: string): void;
}

const EXEMPT_FROM_RATE_LIMIT = new Set(['/health', '/ready', '/metrics']);

export function createApiServer(deps: ApiDeps, options: Partial<ApiOptions> = {}): ApiServer {
  const opts: ApiOptions = { ...DEFAULT_API_OPTIONS, ...options };
  const { config, ch, branches } = deps;
  const log = deps.logger.child({ module: 'api' });

  const caches = createApiCaches(ch, deps.logger, {
    pollMs: opts.forecastPollMs,
    forecastFullRescanEvery: opts.forecastFullRescanEvery,
    actualsTtlMs: opts.actualsTtlMs,
    actualsMaxDays: opts.actualsMaxDays,
    correctionWindowMs: config.INGEST_CORRECTION_WINDOW_H * 3_600_000,
    responseCacheEntries: opts.responseCacheEntries,
    responseCacheBytes: opts.responseCacheBytes,
  });
  const { forecast: forecastCache, actuals: actualsCache, responses: responseCache } = caches;

  let accepting = true;
  const app = new Koa({ proxy: opts.trustProxy });
  app.silent = true;
  app.on('error', (err: unknown) => log.warn({ err }, 'koa error outside the error middleware'));

  const allowAll = config.CORS_ORIGINS.includes('*');
  const allowed = new Set(config.CORS_ORIGINS);
  const limiter = rateLimiter(config.API_RATE_LIMIT_PER_MIN, EXEMPT_FROM_RATE_LIMIT);

  const openApiJson = JSON.stringify(openApiDocument());
  const docsHtml = renderDocsPage(openApiDocument());
  const docsCsp = htmlCsp([DOCS_STYLE_HASH]);

  const router = new Router();
  const predict = predictRoute({
    branches,
    forecastCache,
    actualsCache,
    responseCache,
    noForecastRetryAfterS: opts.noForecastRetryAfterS,
    buildTimeoutMs: opts.requestTimeoutMs,
    staleWhileRevalidateMs: opts.actualsTtlMs,
    logger: deps.logger,
  });
  const branchList = branchesRoute({ branches, forecastCache, actualsCache });
  for (const prefix of ['/v1', '']) {
    router.get(`${prefix}/predict`, predict);
    router.get(`${prefix}/branches`, branchList);
  }
  router.get('/health', healthRoute());
  router.get('/ready', readyRoute({ ch, forecastCache, isAccepting: () => accepting }));
  router.get('/metrics', metricsRoute());
  router.get('/openapi.json', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=60');
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = openApiJson;
  });
  router.get('/docs', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=60');
    ctx.set('Content-Security-Policy', docsCsp);
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = docsHtml;
  });

  app.use(requestContext(log, () => accepting));
  const corsHeaders = cors({
    origin: (ctx) => {
      const origin = ctx.get('Origin');
      if (allowAll) return '*';
      return allowed.has(origin) ? origin : '';
    },
    allowMethods: ['GET', 'HEAD', 'OPTIONS'],
    exposeHeaders: ['X-Request-Id', 'Retry-After', 'ETag'],
    maxAge: 600,
  });
  app.use((ctx, next): Promise<unknown> => {
    // Without an Origin header (same-origin pages, servers, probes) there is nothing for CORS to
    // answer; only Vary, so that a cache never hands this answer to a cross-origin request.
    if (ctx.get('Origin') === '') {
      ctx.vary('Origin');
      return next();
    }
    return corsHeaders(ctx, next) as Promise<unknown>;
  });
  app.use(errorMiddleware(log));
  app.use(requestGuard(opts.maxUrlLength));
  app.use(limiter.middleware);
  app.use(router.routes());
  app.use(staticFiles(opts.staticDir));

  let server: http.Server | undefined;
  const sockets = new Set<Socket>();
  let stopping: Promise<void> | undefined;

  const api: ApiServer = {
    app,
    forecastCache,
    actualsCache,
    get server() {
      return server;
    },
    async start() {
      await caches.start();
      log.info({ branchesWithForecast: forecastCache.status().branches }, 'api caches loaded');
    },
    listen(port = config.PORT, host = config.HOST) {
      if (server) return Promise.reject(new Error('already listening'));
      const handler = app.callback();
      const s = http.createServer((req, res) => void handler(req, res));
      server = s;
      s.keepAliveTimeout = 5_000;
      s.headersTimeout = 10_000;
      s.requestTimeout = Math.max(10_000, opts.requestTimeoutMs * 2);
      s.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      // Malformed requests the HTTP parser refuses (bad bytes in the URL, header
      // overflow, header timeout) get a JSON error too instead of Node's bare answer.
      s.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
        if (err.code === 'ECONNRESET' || !socket.writable) {
          socket.destroy();
          return;
        }
        const status =
          err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
        const code =
          status === 431 ? 'headers_too_large' : status === 408 ? 'request_timeout' : 'bad_request';
        const message =
          status === 431
            ? 'request headers (or URL) too large'
            : status === 408
              ? 'request timed out'
              : 'malformed HTTP request';
        const body = JSON.stringify(errorBody({ code, message, details: {} }));
        socket.end(
          `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      return new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => {
          s.off('error', reject);
          const a = s.address() as AddressInfo;
          log.info({ host: a.address, port: a.port }, 'api listening');
          resolve(s);
        });
      });
    },
    url() {
      const a = server?.address();
      if (!a || typeof a === 'string') throw new Error('not listening');
      const host =
        a.family === 'IPv6'
          ? `[${a.address === '::' ? '::1' : a.address}]`
          : a.address === '0.0.0.0'
            ? '127.0.0.1'
            : a.address;
      return `http://${host}:${a.port}`;
    },
    setReady(ready: boolean) {
      accepting = ready;
    },
    stop() {
      stopping ??= (async () => {
        accepting = false;
        limiter.close();
        const s = server;
        if (s) {
          const closed = new Promise<void>((resolve) => s.close(() => resolve()));
          s.closeIdleConnections();
          const deadline = new Promise<'timeout'>((resolve) =>
            setTimeout(() => resolve('timeout'), Math.max(100, config.SHUTDOWN_TIMEOUT_MS - 1_000)).unref(),
          );
          // Keep-alive sockets that become idle after their in-flight request are closed by
          // `Connection: close` on that response; poll for stragglers meanwhile.
          const sweeper = setInterval(() => s.closeIdleConnections(), 100);
          if ((await Promise.race([closed, deadline])) === 'timeout') {
            log.warn(
              { open: sockets.size },
              'in-flight requests did not finish in time; closing connections',
            );
            s.closeAllConnections();
            await closed;
          }
          clearInterval(sweeper);
        }
        await caches.stop();
        log.info('api stopped');
      })();
      return stopping;
    },
    notifyRun(branchId: string) {
      forecastCache.notifyRun(branchId);
    },
    notifyActuals(branchId: string) {
      actualsCache.notifyActuals(branchId);
    },
  };
  return api;
}
