/**
 * Every route of the API: /predict and /branches (also under /v1), the operations endpoints
 * (/health, /ready, /metrics) and the documentation (/openapi.json, /docs).
 */
import Router from '@koa/router';
import type { ClickHouse } from '../clickhouse/client';
import type { BranchDirectory } from '../lib/branches';
import type { Logger } from '../lib/logger';
import type { ApiCaches } from './caches';
import { CAPTURE_EVENTS_PATH, SQUARE_WEBHOOK_PATH, type Capture } from './capture/capture';
import type { KeyAuth } from './key-auth';
import type { LoginCodes } from './login-codes';
import { branchesRoute, meRoute } from './routes/branches';
import { loginRoute } from './routes/login';
import { docsRoute, openApiRoute } from './routes/docs';
import { healthRoute, metricsRoute, readyRoute } from './routes/health';
import { predictRoute } from './routes/predict';
import { calendarRoutes } from './routes/calendar';
import type { CalendarPublisher } from './calendar-publisher';
import { BranchCalendar } from '../clickhouse/store/branch-calendar';
import { groupPredictRoute } from './routes/group-predict';
import { overrideRoutes } from './routes/overrides';
import { Overrides } from '../clickhouse/store/overrides';

export interface RouterDeps {
  /** Reads (in server mode the read-only `api` user). */
  ch: ClickHouse;
  /**
   * Writes of operators' data (calendar entries, overrides): in server mode the `api_usage` user
   * (CLICKHOUSE_API_USAGE_USER), which may insert into those tables and the keys' last use only.
   */
  writer: ClickHouse;
  branches: BranchDirectory;
  caches: ApiCaches;
  logger: Logger;
  /** false while shutting down: /ready answers 503. */
  isAccepting: () => boolean;
  /** Retry-After (s) of the 503 for a branch without a forecast. */
  noForecastRetryAfterS: number;
  /** Time limit of a /predict cache miss (its ClickHouse work). */
  requestTimeoutMs: number;
  /** How long past its actuals' TTL a /predict answer is served while rebuilt. */
  staleWhileRevalidateMs: number;
  auth: KeyAuth;
  loginCodes: LoginCodes;
  /** POST /v1/events and the Square webhook (api/capture/, docs/capture.md). */
  capture?: Capture;
  /** Where branch calendar changes are announced (the forecaster refreshes the branch). */
  calendarPublisher: CalendarPublisher;
}

export function apiRouter(deps: RouterDeps): Router {
  const { branches, caches } = deps;
  const router = new Router();
  const predict = predictRoute({
    branches,
    forecastCache: caches.forecast,
    actualsCache: caches.actuals,
    responseCache: caches.responses,
    overrides: caches.overrides,
    calendar: caches.calendar,
    noForecastRetryAfterS: deps.noForecastRetryAfterS,
    buildTimeoutMs: deps.requestTimeoutMs,
    staleWhileRevalidateMs: deps.staleWhileRevalidateMs,
    logger: deps.logger,
    mayRead: deps.auth.assertMayRead,
  });
  const branchList = branchesRoute({
    branches,
    forecastCache: caches.forecast,
    actualsCache: caches.actuals,
    mayRead: deps.auth.mayRead,
  });
  // Every data route demands a key (AUTH_MODE=keys); which branches it may read is the route's.
  for (const prefix of ['/v1', '']) {
    router.get(`${prefix}/predict`, deps.auth.requireKey, predict);
    router.get(`${prefix}/branches`, deps.auth.requireKey, branchList);
  }
  router.get(
    '/v1/groups/:group_id/predict',
    deps.auth.requireKey,
    groupPredictRoute({
      branches,
      forecastCache: caches.forecast,
      actualsCache: caches.actuals,
      buildTimeoutMs: deps.requestTimeoutMs,
      authMode: deps.auth.mode,
      mayRead: deps.auth.mayRead,
    }),
  );
  // Managers' overrides (issue 16): write scope checked per branch in the routes.
  const overrides = overrideRoutes({
    branches,
    forecastCache: caches.forecast,
    actualsCache: caches.actuals,
    overridesCache: caches.overrides,
    reader: new Overrides(deps.ch),
    writer: new Overrides(deps.writer),
    assertMayWrite: deps.auth.assertMayWrite,
    assertMayRead: deps.auth.assertMayRead,
    noForecastRetryAfterS: deps.noForecastRetryAfterS,
    requestTimeoutMs: deps.requestTimeoutMs,
    logger: deps.logger,
  });
  router.put('/v1/branches/:branch_id/overrides/:date', deps.auth.requireKey, overrides.put);
  router.delete('/v1/branches/:branch_id/overrides/:date', deps.auth.requireKey, overrides.del);
  router.get('/v1/branches/:branch_id/accuracy', deps.auth.requireKey, overrides.accuracy);
  // The branch calendar (issue 16): write scope checked per branch in the routes.
  const calendar = calendarRoutes({
    branches,
    reader: new BranchCalendar(deps.ch),
    writer: new BranchCalendar(deps.writer),
    cache: caches.calendar,
    publisher: deps.calendarPublisher,
    logger: deps.logger,
    assertMayRead: deps.auth.assertMayRead,
    assertMayWrite: deps.auth.assertMayWrite,
  });
  router.put('/v1/branches/:branch_id/calendar/:date', deps.auth.requireKey, calendar.put);
  router.delete('/v1/branches/:branch_id/calendar/:date', deps.auth.requireKey, calendar.remove);
  router.get('/v1/branches/:branch_id/calendar', deps.auth.requireKey, calendar.list);
  router.get('/v1/me', deps.auth.requireKey, meRoute({ branches, authMode: deps.auth.mode }));
  router.post(LOGIN_PATH, loginRoute(deps.loginCodes));
  if (deps.capture) {
    router.post(CAPTURE_EVENTS_PATH, deps.auth.requireCapture, deps.capture.events);
    router.post(SQUARE_WEBHOOK_PATH, deps.capture.square);
  }
  router.get('/health', healthRoute());
  router.get(
    '/ready',
    readyRoute({ ch: deps.ch, forecastCache: caches.forecast, isAccepting: deps.isAccepting }),
  );
  router.get('/metrics', deps.auth.requireMetrics, metricsRoute());
  router.get('/openapi.json', openApiRoute());
  router.get('/docs', docsRoute());
  return router;
}

/** The operators' write routes: PUT and DELETE on a branch's calendar entry or override of a date. */
const OPERATOR_WRITE_PATH = /^\/v1\/branches\/[^/]+\/(?:calendar|overrides)\/[^/]+$/;

/** Whether a path takes PUT and DELETE (the request guard lets them through only there). */
export const isOperatorWritePath = (path: string): boolean => OPERATOR_WRITE_PATH.test(path);

/** Paths the rate limit never counts (probes and scrapes). */
export const EXEMPT_FROM_RATE_LIMIT: ReadonlySet<string> = new Set(['/health', '/ready', '/metrics']);

/** Where the dashboard swaps a one-time login code for its key (a POST, like the capture routes). */
export const LOGIN_PATH = '/auth/login';
