/**
 * The API as a role of the composition root (app/app.ts):
 *   api: (ctx) => createApiRole(ctx)
 * start() loads the caches and listens on HOST:PORT; drain() makes /ready 503;
 * stop() shuts the HTTP server down gracefully (ClickHouse is closed by the app).
 */
import type { BranchDirectory } from '../lib/branches';
import { createClickHouse, type ClickHouse } from '../clickhouse/client';
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
  // Server mode: the `api` user is read-only, so the keys' last use and the operators' calendar
  // entries and overrides are written as a user that may insert into those tables and nothing
  // else (clickhouse/server/users.xml, `api_usage`).
  const usageCh =
    ctx.config.CLICKHOUSE_URL !== undefined && ctx.config.CLICKHOUSE_API_USAGE_USER !== undefined
      ? createClickHouse(
          {
            ...ctx.config,
            CLICKHOUSE_USER: ctx.config.CLICKHOUSE_API_USAGE_USER,
            CLICKHOUSE_PASSWORD: ctx.config.CLICKHOUSE_API_USAGE_PASSWORD,
          },
          ctx.logger,
        )
      : undefined;
  const api = createApiServer(
    { config: ctx.config, ch: ctx.ch, branches: ctx.branches, logger: ctx.logger, usageCh },
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
    async stop() {
      try {
        await api.stop();
      } finally {
        await usageCh?.close();
      }
    },
    drain: () => api.setReady(false),
  };
}
