/**
 * API metrics (prom-client default registry, created once at module scope so
 * several servers in one process share them). /metrics serves the whole
 * default registry, so ingest and forecaster metrics of the same process show too.
 */
import { Counter, Gauge, Histogram, register } from 'prom-client';

export { register };

export const httpRequestDuration = new Histogram({
  name: 'tillcast_api_request_duration_seconds',
  help: 'HTTP request latency by route (the matched route pattern, `unmatched` otherwise), method and status',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});

type LookupCache = 'forecast' | 'actuals' | 'response';
type LookupResult = 'hit' | 'miss' | 'revalidated' | 'stale';
/** Lookups counted since the last scrape, per `cache:result`; added to the counter when it is collected. */
const pendingLookups = new Map<string, { cache: LookupCache; result: LookupResult; n: number }>();

export const cacheLookups = new Counter({
  name: 'tillcast_api_cache_lookups_total',
  help: 'Cache lookups by cache (response: assembled /predict bodies; actuals: closed-hour days; forecast: latest run per branch) and result (hit, miss; response also `stale`: expired by the actuals TTL, served while rebuilt in the background, and `revalidated`: a rebuild found unchanged inputs and reused the body)',
  labelNames: ['cache', 'result'] as const,
  collect() {
    for (const p of pendingLookups.values()) {
      if (p.n === 0) continue;
      this.inc({ cache: p.cache, result: p.result }, p.n);
      p.n = 0;
    }
  },
});

export const forecastRunsLoaded = new Counter({
  name: 'tillcast_api_forecast_runs_loaded_total',
  help: 'Forecast runs loaded into memory (swapped in as the latest of their branch)',
});

export const forecastRunsRejected = new Counter({
  name: 'tillcast_api_forecast_runs_rejected_total',
  help: 'Forecast runs not served because fewer points were found than their run row announces',
});

export const forecastPollErrors = new Counter({
  name: 'tillcast_api_forecast_poll_errors_total',
  help: 'Failed polls of forecast_runs / branch_watermarks',
  labelNames: ['what'] as const,
});

export const forecastBranches = new Gauge({
  name: 'tillcast_api_forecast_branches',
  help: 'Branches with a forecast run in memory',
});

export const forecastLastPoll = new Gauge({
  name: 'tillcast_api_forecast_last_poll_timestamp_seconds',
  help: 'Wall-clock time of the last successful forecast poll',
});

export const actualsQueries = new Histogram({
  name: 'tillcast_api_actuals_query_seconds',
  help: 'ClickHouse reads of closed-hour actuals (cache misses)',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
});

export const rateLimited = new Counter({
  name: 'tillcast_api_rate_limited_total',
  help: 'Requests refused with 429',
});

/**
 * Counts one cache lookup. Several happen per request, and prom-client hashes
 * the label set on every inc(), even through a labelled child: a plain number
 * is bumped here and the counter catches up when it is collected (scrape).
 */
export function countLookup(cache: LookupCache, result: LookupResult): void {
  const key = `${cache}:${result}`;
  const p = pendingLookups.get(key);
  if (p) p.n += 1;
  else pendingLookups.set(key, { cache, result, n: 1 });
}

type Observer = { observe(v: number): void };
const durationChildren = new Map<string, Observer>();
/** httpRequestDuration.observe with the labelled child memoised (routes x methods x statuses stay few). */
export function observeRequest(route: string, method: string, status: number, seconds: number): void {
  const key = `${route} ${method} ${status}`;
  let child = durationChildren.get(key);
  if (!child) {
    child = httpRequestDuration.labels(route, method, String(status));
    if (durationChildren.size < 10_000) durationChildren.set(key, child);
  }
  child.observe(seconds);
}

export const authOutcomes = new Counter({
  name: 'tillcast_api_auth_total',
  help: 'Requests by authentication outcome (ok; missing: no key on a route that needs one; invalid: unknown, malformed or revoked key; forbidden: a valid key outside its scopes). Labels never carry a key or its id',
  labelNames: ['outcome'] as const,
});
