/**
 * Composition root: builds clients and roles from one Config and returns
 * `{ start, stop }`. No singletons: tests build as many apps as they like.
 *
 * Roles (ROLES): ingest, forecaster, api. All three run in one process on the
 * embedded engine (its data directory belongs to one process), or each as its
 * own process against a ClickHouse server (CLICKHOUSE_URL), as docker compose does.
 *
 * Shutdown order (SIGTERM, bounded by SHUTDOWN_TIMEOUT_MS):
 *   readiness 503 -> stop HTTP -> stop consumers (finish batch, commit) -> flush writes -> close clients.
 */
import type { Kafka } from 'kafkajs';
import { migrate } from '../clickhouse/migrate';
import { defaultCodec, type AvroCodec } from '../schemas/avro-codec';
import { createIngestRole } from '../consumers/ingest/ingest-consumer';
import { createForecasterRole, type ForecasterRole } from '../consumers/forecaster/forecaster-role';
import { loadNeuralEngine } from '../consumers/forecaster/neural-engine';
import { createApiRole, type ApiRole } from '../api/role';
import { simulatedBranches } from '../producers/simulator';
import { BranchDirectory } from './branches';
import { createClickHouse, type ClickHouse } from './clickhouse';
import type { Config } from './config';
import { createKafka } from './kafka-client';
import { isRetriable } from './errors';
import { EXIT } from './exit-codes';
import { createLogger, type Logger } from './logger';
import { ensureTopicsOn } from './topics';
import { collectProcessMetrics, createMetricsServer } from './metrics-server';

/** The branch directory: BRANCHES_FILE (or the built-in table) plus DEMO_BRANCHES simulated ones. */
export function loadBranchDirectory(config: Config): BranchDirectory {
  const base = BranchDirectory.load(config.BRANCHES_FILE).list();
  return new BranchDirectory([...base, ...simulatedBranches(config.DEMO_BRANCHES)]);
}

/** A long-running part of the app; stop() must be safe to call after a failed start(). */
export interface Role {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Called first on shutdown (e.g. the API answers /ready with 503). */
  drain?(): void;
}

export interface AppContext {
  config: Config;
  logger: Logger;
  ch: ClickHouse;
  kafka: Kafka;
  codec: AvroCodec;
  branches: BranchDirectory;
}

/** Builds a role from the shared context; registered per role name. */
export type RoleFactory = (
  ctx: AppContext,
  app: { roles: ReadonlyMap<string, Role>; fail(err: unknown): void },
) => Role;

/** The forecaster role with its handle (tests wait on `forecaster.idle()`, benchmarks call `refresh`). */
export interface ForecasterAppRole extends Role {
  readonly forecaster: ForecasterRole;
}

/** The in-process API, if this app runs one (roles are looked up when called, so start order does not matter). */
function apiOf(roles: ReadonlyMap<string, Role>): ApiRole['api'] | undefined {
  return (roles.get('api') as ApiRole | undefined)?.api;
}

export const ROLE_FACTORIES: Record<Config['ROLES'][number], RoleFactory> = {
  ingest: (ctx, app) => {
    const r = createIngestRole({ ...ctx, onFatal: (err) => app.fail(err) });
    return { name: 'ingest', start: () => r.start(), stop: () => r.stop() };
  },
  forecaster: (ctx, app) => {
    const r = createForecasterRole({
      ...ctx,
      loadEngine: loadNeuralEngine,
      // In one process the API swaps in a new run at once instead of at its next poll.
      onRunsWritten: (branchIds) => {
        const api = apiOf(app.roles);
        for (const id of branchIds) api?.notifyRun(id);
      },
    });
    const role: ForecasterAppRole = {
      name: 'forecaster',
      forecaster: r,
      start: () => r.start(),
      stop: () => r.stop(),
    };
    return role;
  },
  api: (ctx) => createApiRole(ctx),
};

export interface App {
  readonly ctx: AppContext;
  readonly roles: ReadonlyMap<string, Role>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves with the error when a role stopped for good (the process should shut down, exit 1). */
  readonly failed: Promise<unknown>;
}

export function createApp(config: Config, opts: { logger?: Logger; branches?: BranchDirectory } = {}): App {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const log = logger.child({ module: 'app' });
  const ctx: AppContext = {
    config,
    logger,
    ch: createClickHouse(config, logger),
    kafka: createKafka(config, logger),
    codec: defaultCodec(),
    branches: opts.branches ?? loadBranchDirectory(config),
  };
  collectProcessMetrics();
  const roles = new Map<string, Role>();
  let fail!: (err: unknown) => void;
  const failed = new Promise<unknown>((resolve) => (fail = resolve));
  // Start order: ingest before forecaster before api; stop runs the reverse.
  const order: Config['ROLES'][number][] = ['ingest', 'forecaster', 'api'];
  for (const name of order)
    if (config.ROLES.includes(name)) roles.set(name, ROLE_FACTORIES[name](ctx, { roles, fail }));
  // Without the API, metrics get a small server of their own (stopped last, started first).
  if (!roles.has('api') && config.METRICS_PORT > 0) {
    const metrics = createMetricsServer(config.METRICS_PORT, config.HOST, logger);
    const rest = [...roles.entries()];
    roles.clear();
    roles.set('metrics', { name: 'metrics', start: () => metrics.start(), stop: () => metrics.stop() });
    for (const [k, v] of rest) roles.set(k, v);
  }

  let stopping: Promise<void> | undefined;
  const app: App = {
    ctx,
    roles,
    failed,
    async start() {
      await migrate(ctx.ch, logger, undefined, config.CLICKHOUSE_CLUSTER);
      await ensureTopicsOn(ctx.kafka, config);
      for (const role of roles.values()) {
        await role.start();
        log.info({ role: role.name }, 'role started');
      }
    },
    stop() {
      stopping ??= (async () => {
        const timeout = new Promise<'timeout'>((resolve) =>
          setTimeout(() => resolve('timeout'), config.SHUTDOWN_TIMEOUT_MS).unref(),
        );
        const orderly = (async () => {
          for (const role of roles.values()) role.drain?.();
          for (const role of [...roles.values()].reverse()) {
            try {
              await role.stop();
              log.info({ role: role.name }, 'role stopped');
            } catch (err) {
              log.error({ err, role: role.name }, 'role failed to stop cleanly');
            }
          }
          await ctx.ch.close();
          return 'done' as const;
        })();
        if ((await Promise.race([orderly, timeout])) === 'timeout') {
          log.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out');
        }
      })();
      return stopping;
    },
  };
  return app;
}

/**
 * Exit code of a failed start: 3 (a component is down) when the error, or one it wraps (kafkajs
 * wraps connection errors in a non-retriable "retries exceeded"), is retriable; 1 otherwise.
 */
export function startFailureExitCode(err: unknown): number {
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (isRetriable(e)) return EXIT.down;
    e = (e as { cause?: unknown }).cause;
  }
  return EXIT.failure;
}

/**
 * Runs an app until SIGTERM/SIGINT or until a role fails for good, then stops it in order.
 * A failed start sets exit code 3 when a component is down (startFailureExitCode), else 1; a
 * role failing for good sets 1 (the caller exits with process.exitCode).
 */
export async function runUntilSignal(app: App, log: Logger): Promise<void> {
  try {
    await app.start();
  } catch (err) {
    process.exitCode = startFailureExitCode(err);
    log.fatal({ err, exitCode: process.exitCode }, 'start failed; stopping what started');
    await app.stop();
    return;
  }
  const why = await new Promise<string>((resolve) => {
    const onSignal = (signal: string) => resolve(signal);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    void app.failed.then((err) => {
      log.fatal({ err }, 'a role stopped for good; shutting down with exit code 1');
      process.exitCode = 1;
      resolve('role failure');
    });
  });
  log.info({ why }, 'shutting down');
  await app.stop();
}
