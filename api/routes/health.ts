/**
 * Operations endpoints: GET /health (liveness: the event loop answers),
 * GET /ready (readiness), GET /metrics (Prometheus).
 *
 * Ready = accepting (not shutting down) AND ClickHouse answers a ping (result
 * cached for 1 s so probes cannot hammer it) AND the initial forecast load is
 * done AND forecasts are fresh: the last successful poll of forecast_runs is at
 * most max(3 poll intervals, 15 s) old — i.e. the in-memory runs lag ClickHouse
 * by at most that much. (The age of the runs themselves is not a readiness
 * criterion: serving yesterday's run beats serving nothing; see /branches.)
 */
import type Koa from 'koa';
import type { ClickHouse } from '../../clickhouse/client';
import type { ForecastCache } from '../forecast-cache';
import { register } from '../metrics';
import type { z } from 'zod';
import type { readyResponseSchema } from '../schemas';

export function healthRoute(): Koa.Middleware {
  return (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  };
}

export interface ReadyDeps {
  ch: ClickHouse;
  forecastCache: ForecastCache;
  isAccepting(): boolean;
  pingTimeoutMs?: number;
}

export function readyCheck(deps: ReadyDeps): () => Promise<z.infer<typeof readyResponseSchema>> {
  let last: { at: number; ok: boolean } | undefined;
  let inflight: Promise<boolean> | undefined;
  const timeoutMs = deps.pingTimeoutMs ?? 2_000;
  const ping = async (): Promise<boolean> => {
    if (last && Date.now() - last.at < 1_000) return last.ok;
    inflight ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const result = await Promise.race([
          deps.ch.client.ping().then((r) => r.success),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
        ]);
        last = { at: Date.now(), ok: result };
        return result;
      } catch {
        last = { at: Date.now(), ok: false };
        return false;
      } finally {
        clearTimeout(timer);
        inflight = undefined;
      }
    })();
    return inflight;
  };
  return async () => {
    const accepting = deps.isAccepting();
    const clickhouse = await ping();
    const s = deps.forecastCache.status();
    const age = s.lastPollOkAt === null ? null : Date.now() - s.lastPollOkAt;
    const fresh = age !== null && age <= Math.max(3 * deps.forecastCache.pollMs, 15_000);
    const ready = accepting && clickhouse && s.loaded && fresh;
    return {
      status: ready ? 'ready' : 'not_ready',
      checks: {
        accepting,
        clickhouse,
        forecasts_loaded: s.loaded,
        forecasts_fresh: fresh,
        last_forecast_poll_age_ms: age,
        branches_with_forecast: s.branches,
      },
    };
  };
}

export function readyRoute(deps: ReadyDeps): Koa.Middleware {
  const check = readyCheck(deps);
  return async (ctx) => {
    const body = await check();
    ctx.set('Cache-Control', 'no-store');
    ctx.status = body.status === 'ready' ? 200 : 503;
    if (ctx.status === 503) ctx.set('Retry-After', '5');
    ctx.body = body;
  };
}

export function metricsRoute(): Koa.Middleware {
  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = register.contentType;
    ctx.body = await register.metrics();
  };
}
