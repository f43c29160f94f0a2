/**
 * The API as a role of the composition root (app/app.ts):
 *   api: (ctx) => createApiRole(ctx)
 * start() loads the caches and listens on HOST:PORT; drain() makes /ready 503;
 * stop() shuts the HTTP server down gracefully (ClickHouse is closed by the app).
 */
import type { BranchDirectory } from '../lib/branches';
import type { ClickHouse } from '../clickhouse/client';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { createApiServer, type ApiOptions, type ApiServer } from './server';

export interface ApiRole {
  readonly name: 'api';
  readonly api: ApiServer;
  start(): Promise<void>;
  stop(): Promise<void>;
  drain(): void;
}

export function createApiRole(
  ctx: { config: Config; ch: ClickHouse; branches: BranchDirectory; logger: Logger },
  options: Partial<ApiOptions> = {},
): ApiRole {
  const api = createApiServer(
    { config: ctx.config, ch: ctx.ch, branches: ctx.branches, logger: ctx.logger },
    {
      forecastPollMs: ctx.config.API_FORECAST_POLL_MS,
      actualsTtlMs: ctx.config.API_ACTUALS_TTL_MS,
      requestTimeoutMs: ctx.config.API_REQUEST_TIMEOUT_MS,
      trustProxy: ctx.config.API_TRUST_PROXY,
      ...options,
    },
  );
  return {
    name: 'api',
    api,
    async start() {
      await api.start();
      await api.listen(ctx.config.PORT, ctx.config.HOST);
    },
    stop: () => api.stop(),
    drain: () => api.setReady(false),
  };
}
