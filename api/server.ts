/**
 * The prediction API: `createApiServer(deps, options)` composes its parts WITHOUT listening:
 * - the caches and their poller (caches.ts),
 * - the routes (router.ts: /predict, /branches, health and readiness, metrics, docs),
 * - the middleware stack around them (middleware-stack.ts),
 * - the HTTP listener, made on listen() (http-listener.ts).
 * The composition root calls `start()` (initial cache load + polling), `listen()`, and on
 * shutdown `setReady(false)` then `stop()`.
 *
 * Time limits: Node's header and request timeouts on the socket, and `requestTimeoutMs` on a
 * /predict cache miss (the only awaited ClickHouse work of a request; /ready's ping has its own).
 */
import type http from 'node:http';
import Koa from 'koa';
import type { ClickHouse } from '../clickhouse/client';
import type { BranchDirectory } from '../lib/branches';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { HOUR_MS } from '../lib/time/units';
import type { ActualsCache } from './actuals-cache';
import { createApiCaches } from './caches';
import type { ForecastCache } from './forecast-cache';
import { ApiKeys } from '../clickhouse/store/api-keys';
import { CAPTURE_POST_PATHS, createCapture } from './capture/capture';
import type { SalesSink } from './capture/sales-sink';
import { createCalendarPublisher, type CalendarPublisher } from './calendar-publisher';
import { createKafka } from '../lib/kafka-client';
import { topicNames } from '../lib/topics';
import { defaultCodec } from '../schemas/avro-codec';
import { rateLimiter } from './http-middleware';
import { httpListener } from './http-listener';
import { keyAuth, principalOf, type KeyAuth } from './key-auth';
import { LoginCodes, type LoginGrant } from './login-codes';
import { useMiddlewareStack } from './middleware-stack';
import { apiRouter, EXEMPT_FROM_RATE_LIMIT, isOperatorWritePath, LOGIN_PATH } from './router';
import { DEFAULT_STATIC_DIR } from './static-files';

export interface ApiDeps {
  config: Config;
  ch: ClickHouse;
  branches: BranchDirectory;
  logger: Logger;
  /** The API's writing client (CLICKHOUSE_API_USAGE_USER): keys' last use, operators' calendar and overrides; default `ch`. */
  usageCh?: ClickHouse;
  /** Where POST /v1/events publishes; default: the sales topic as the `pos` Kafka principal (tests pass their own). */
  captureSink?: SalesSink;
  /** Where branch calendar changes are announced; default: the calendar topic as the `api` Kafka principal (tests pass their own). */
  calendarPublisher?: CalendarPublisher;
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
  /** Key authentication (AUTH_MODE): tests flush its usage or forget its cache. */
  readonly auth: KeyAuth;
  /** A one-time dashboard login code for the key (api/login-codes.ts; `tillcast start`). */
  issueLoginCode(grant: LoginGrant): string;
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

export function createApiServer(deps: ApiDeps, options: Partial<ApiOptions> = {}): ApiServer {
  const opts: ApiOptions = { ...DEFAULT_API_OPTIONS, ...options };
  const { config, ch, branches } = deps;
  const log = deps.logger.child({ module: 'api' });
  let accepting = true;
  const isAccepting = () => accepting;

  const caches = createApiCaches(ch, deps.logger, {
    pollMs: opts.forecastPollMs,
    forecastFullRescanEvery: opts.forecastFullRescanEvery,
    actualsTtlMs: opts.actualsTtlMs,
    actualsMaxDays: opts.actualsMaxDays,
    correctionWindowMs: config.INGEST_CORRECTION_WINDOW_H * HOUR_MS,
    responseCacheEntries: opts.responseCacheEntries,
    responseCacheBytes: opts.responseCacheBytes,
  });
  const limiter = rateLimiter(config.API_RATE_LIMIT_PER_MIN, EXEMPT_FROM_RATE_LIMIT, (ctx) => {
    const p = principalOf(ctx);
    return p ? `key ${p.keyId}` : `ip ${ctx.ip || 'unknown'}`;
  });
  const auth = keyAuth({
    mode: config.AUTH_MODE,
    keys: new ApiKeys(ch),
    usage: new ApiKeys(deps.usageCh ?? ch),
    branches,
    cacheTtlMs: config.API_KEY_CACHE_TTL_MS,
    usageFlushMs: config.API_KEY_USAGE_FLUSH_MS,
    logger: deps.logger,
    chargeLookup: (ctx) => limiter.chargeClient(ctx),
  });
  const loginCodes = new LoginCodes();
  // Kafka is reached on the first captured event only: an API that never captures never connects.
  const capture = createCapture({ config, branches, logger: deps.logger, auth, sink: deps.captureSink });
  // Like capture, Kafka is reached on the first calendar change only.
  const calendarPublisher =
    deps.calendarPublisher ??
    createCalendarPublisher(createKafka(config, deps.logger, 'api'), defaultCodec(), deps.logger, {
      topic: topicNames(config).calendar,
      sendTimeoutMs: config.CAPTURE_SEND_TIMEOUT_MS,
    });
  const router = apiRouter({
    ch,
    writer: deps.usageCh ?? ch,
    branches,
    caches,
    logger: deps.logger,
    isAccepting,
    noForecastRetryAfterS: opts.noForecastRetryAfterS,
    requestTimeoutMs: opts.requestTimeoutMs,
    staleWhileRevalidateMs: opts.actualsTtlMs,
    auth,
    loginCodes,
    capture,
    calendarPublisher,
  });

  const app = new Koa({ proxy: opts.trustProxy });
  app.silent = true;
  app.on('error', (err: unknown) => log.warn({ err }, 'koa error outside the error middleware'));
  useMiddlewareStack(app, {
    log,
    isAccepting,
    corsOrigins: config.CORS_ORIGINS,
    maxUrlLength: opts.maxUrlLength,
    limiter,
    auth,
    postPaths: new Set([LOGIN_PATH, ...CAPTURE_POST_PATHS]),
    writePath: isOperatorWritePath,
    router,
    staticDir: opts.staticDir,
  });

  const listener = httpListener(
    app,
    {
      requestTimeoutMs: opts.requestTimeoutMs,
      closeTimeoutMs: Math.max(100, config.SHUTDOWN_TIMEOUT_MS - 1_000),
    },
    log,
  );
  let stopping: Promise<void> | undefined;

  return {
    app,
    forecastCache: caches.forecast,
    actualsCache: caches.actuals,
    auth,
    issueLoginCode: (grant) => loginCodes.issue(grant),
    get server() {
      return listener.server;
    },
    async start() {
      await caches.start();
      log.info({ branchesWithForecast: caches.forecast.status().branches }, 'api caches loaded');
    },
    listen: (port = config.PORT, host = config.HOST) => listener.listen(port, host),
    url: () => listener.url(),
    setReady(ready: boolean) {
      accepting = ready;
    },
    stop() {
      stopping ??= (async () => {
        accepting = false;
        limiter.close();
        await listener.close();
        await capture.close();
        await calendarPublisher.close();
        await caches.stop();
        await auth.close();
        log.info('api stopped');
      })();
      return stopping;
    },
    notifyRun: (branchId) => caches.forecast.notifyRun(branchId),
    notifyActuals: (branchId) => caches.actuals.notifyActuals(branchId),
  };
}
