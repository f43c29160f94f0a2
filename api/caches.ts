/**
 * The API's caches and their lifecycle: the latest forecast run per branch, closed-hour actuals
 * per day, the managers' overrides in force, assembled /predict answers, and the one poller that
 * keeps the first three fresh (forecast_runs, branch_watermarks and the override ledger's
 * signatures, each on its own period).
 */
import type { ClickHouse } from '../clickhouse/client';
import type { Logger } from '../lib/logger';
import { Poller } from '../lib/poller';
import { ActualsCache } from './actuals-cache';
import { CalendarCache } from './calendar-cache';
import { ForecastCache } from './forecast-cache';
import { OverridesCache } from './overrides-cache';
import { ResponseCache } from './response-cache';

export interface ApiCacheOptions {
  /** Poll period of forecast_runs and branch_watermarks. */
  pollMs: number;
  /** Every N-th forecast poll reads all branches, not only recent run rows. */
  forecastFullRescanEvery: number;
  /** Recent closed-hour actuals are re-read after this long; also the stale window of answers. */
  actualsTtlMs: number;
  /** Cached closed days (branch x date). */
  actualsMaxDays: number;
  /** INGEST_CORRECTION_WINDOW_H in ms. */
  correctionWindowMs: number;
  /** Assembled /predict bodies kept (entries / bytes). */
  responseCacheEntries: number;
  responseCacheBytes: number;
}

export interface ApiCaches {
  readonly forecast: ForecastCache;
  readonly actuals: ActualsCache;
  readonly overrides: OverridesCache;
  /** The branch calendar's current entries (/predict's per-day `calendar`). */
  readonly calendar: CalendarCache;
  readonly responses: ResponseCache;
  /** Initial loads (failures are logged: /ready stays 503 until a poll succeeds), then polling. */
  start(): Promise<void>;
  /** Stops polling and waits for the reads in progress. */
  stop(): Promise<void>;
}

export function createApiCaches(ch: ClickHouse, logger: Logger, opts: ApiCacheOptions): ApiCaches {
  const forecast = new ForecastCache(ch, logger, {
    pollMs: opts.pollMs,
    fullRescanEvery: opts.forecastFullRescanEvery,
  });
  const actuals = new ActualsCache(ch, logger, {
    ttlMs: opts.actualsTtlMs,
    pollMs: opts.pollMs,
    maxDays: opts.actualsMaxDays,
    correctionWindowMs: opts.correctionWindowMs,
  });
  // Answers are kept through their stale-while-revalidate window (the actuals TTL), then dropped.
  const responses = new ResponseCache(opts.responseCacheEntries, opts.responseCacheBytes, opts.actualsTtlMs);
  // Overrides polled with the forecasts' period: a PUT through another process shows within it.
  const overrides = new OverridesCache(ch, logger, opts.pollMs);
  // The branch calendar likewise: a change through another process shows within one poll period.
  const calendar = new CalendarCache(ch, logger, opts.pollMs);
  const poller = new Poller(logger);
  poller.add(forecast.pollTask());
  poller.add(actuals.pollTask());
  poller.add(overrides.pollTask());
  poller.add(calendar.pollTask());
  return {
    forecast,
    actuals,
    overrides,
    calendar,
    responses,
    async start() {
      await Promise.all([forecast.load(), actuals.load(), overrides.load(), calendar.load()]);
      poller.start();
    },
    async stop() {
      await poller.stop();
      await Promise.all([forecast.stop(), actuals.stop(), overrides.stop(), calendar.stop()]);
    },
  };
}
