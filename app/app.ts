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
 * stop() reports whether that finished; runUntilSignal turns an unfinished one into exit code 5,
 * and the CLI exits even when a client still holds sockets or timers.
 */
import type { Kafka } from 'kafkajs';
import { migrate } from '../clickhouse/migrate';
import { defaultCodec, type AvroCodec } from '../schemas/avro-codec';
import { createIngestRole } from '../consumers/ingest/ingest-consumer';
import { createForecasterRole, type ForecasterRole } from '../consumers/forecaster/forecaster-role';
import { loadNeuralEngine } from '../consumers/forecaster/neural-engine';
import { createApiRole, type ApiRole } from '../api/role';
import { simulatedBranches } from '../producers/simulator';
import { BranchDirectory } from '../lib/branches';
import { createClickHouse, type ClickHouse } from '../clickhouse/client';
import type { Config } from '../lib/config';
import { createKafka } from '../lib/kafka-client';
import { anyBrokerAccepts } from '../lib/broker-reachability';
import { isRetriable } from '../lib/errors';
import { EXIT } from '../lib/exit-codes';
import { createLogger, type Logger } from '../lib/logger';
import { provisionKafka } from '../lib/kafka-provision';
import { kafkaCredentialsFor, type KafkaPrincipal } from '../lib/kafka-principals';
import { collectProcessMetrics, createMetricsServer } from '../lib/metrics-server';

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
  /** stop() ends with a commit and leaving a Kafka group: it cannot finish while no broker is reachable. */
  readonly stopNeedsKafka?: boolean;
}

export interface AppContext {
  config: Config;
  logger: Logger;
  ch: ClickHouse;
  /** This process's own principal (topic checks, tools; lib/kafka-principals.ts). */
  kafka: Kafka;
  /** The client a role authenticates with: its own principal when the config gives it one (one client per principal). */
  kafkaFor(who: KafkaPrincipal): Kafka;
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
    const r = createIngestRole({
      ...ctx,
      kafka: ctx.kafkaFor('ingest'),
      onFatal: (err) => app.fail(err),
      // In one process a corrected closed hour shows in the API at once instead of after its TTL.
      onHoursCorrected: (branchIds) => {
        const api = apiOf(app.roles);
        for (const id of branchIds) api?.notifyActuals(id);
      },
    });
    return { name: 'ingest', start: () => r.start(), stop: () => r.stop(), stopNeedsKafka: true };
  },
  forecaster: (ctx, app) => {
    const r = createForecasterRole({
      ...ctx,
      kafka: ctx.kafkaFor('forecaster'),
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
      stopNeedsKafka: true,
    };
    return role;
  },
  api: (ctx) => createApiRole(ctx),
};

/** What the shutdown stops: a role, or `tillcast start`'s event source. */
export type StopStep = Pick<Role, 'name' | 'stop' | 'stopNeedsKafka'>;

/**
 * How a stop ended. Not clean: `pending` is the step the time ran out in, `abandoned` the steps
 * given up: no Kafka broker was reachable (their uncommitted batch is redelivered to the next
 * member, as after a crash), or the source outlasted its share of the bound.
 */
export interface StopOutcome {
  clean: boolean;
  pending?: string;
  abandoned: string[];
  /** Steps whose stop threw (logged). */
  failed: string[];
}

export interface App {
  readonly ctx: AppContext;
  readonly roles: ReadonlyMap<string, Role>;
  start(): Promise<void>;
  /**
   * The ordered shutdown, bounded by `timeoutMs` (default SHUTDOWN_TIMEOUT_MS); `source` (what
   * publishes the input, `tillcast start`'s simulator or replay) is stopped first. Resolves when it
   * finished or its time ran out, never exits the process: work left running (a kafkajs retry, a
   * batch) is the caller's to end, the CLI by exiting.
   */
  stop(opts?: { timeoutMs?: number; source?: StopStep }): Promise<StopOutcome>;
  /** The shutdown step in progress (e.g. "stop ingest"), for a log line when it is cut short. */
  pendingStep(): string | undefined;
  /** Resolves with the error when a role stopped for good (the process should shut down, exit 1). */
  readonly failed: Promise<unknown>;
}

export function createApp(config: Config, opts: { logger?: Logger; branches?: BranchDirectory } = {}): App {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const log = logger.child({ module: 'app' });
  const kafka = createKafka(config, logger);
  const clients = new Map<string, Kafka>();
  const ctx: AppContext = {
    config,
    logger,
    ch: createClickHouse(config, logger),
    kafka,
    kafkaFor: (who) => {
      const user = kafkaCredentialsFor(config, who)?.username ?? '';
      if (user === (kafkaCredentialsFor(config)?.username ?? '')) return kafka;
      let client = clients.get(user);
      if (!client) clients.set(user, (client = createKafka(config, logger, who)));
      return client;
    },
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

  let stopping: Promise<StopOutcome> | undefined;
  let step: string | undefined;
  const app: App = {
    ctx,
    roles,
    failed,
    pendingStep: () => step,
    async start() {
      await migrate(ctx.ch, logger, undefined, config.CLICKHOUSE_CLUSTER);
      // A process without a Kafka role (the API) provisions nothing: it only publishes, on first use
      // (capture as pos, calendar changes as api), to topics `tillcast init` made.
      if (roles.has('ingest') || roles.has('forecaster'))
        await provisionKafka(
          ctx.kafka,
          config,
          logger,
          (['ingest', 'forecaster'] as const).filter((r) => roles.has(r)),
        );
      for (const role of roles.values()) {
        await role.start();
        log.info({ role: role.name }, 'role started');
      }
    },
    stop(opts = {}) {
      stopping ??= (async () => {
        const timeoutMs = opts.timeoutMs ?? config.SHUTDOWN_TIMEOUT_MS;
        const abandoned: string[] = [];
        const failed: string[] = [];
        let kafkaGone = false;
        /** Runs one step; false when it was given up (Kafka unreachable, or its share of the bound ran out). */
        const run = async (what: StopStep, maxMs = Infinity): Promise<boolean> => {
          step = `stop ${what.name}`;
          const watch = what.stopNeedsKafka
            ? whileKafkaReachable(config.KAFKA_BROKERS, kafkaGone ? 1 : 2)
            : undefined;
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<'late'>((resolve) => {
            if (maxMs < Infinity) timer = setTimeout(() => resolve('late'), maxMs);
          });
          try {
            const how = await Promise.race([
              what.stop().then(() => 'stopped' as const),
              late,
              ...(watch ? [watch.gone] : []),
            ]);
            if (how === 'stopped') return true;
            abandoned.push(what.name);
            if (how === 'kafka gone') {
              kafkaGone = true;
              log.warn(
                { role: what.name, brokers: config.KAFKA_BROKERS },
                'no Kafka broker reachable: not waiting for the role to commit and leave its group (its uncommitted input is redelivered)',
              );
            } else
              log.warn({ role: what.name, afterMs: maxMs }, 'still not stopped; stopping the roles anyway');
            return false;
          } finally {
            watch?.end();
            clearTimeout(timer);
          }
        };
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
          timer.unref();
        });
        const orderly = (async () => {
          step = 'drain';
          for (const role of roles.values()) role.drain?.();
          // The event source first (no new input while the consumers finish), with half the bound at most.
          for (const [what, maxMs] of [
            ...(opts.source ? [[opts.source, timeoutMs / 2] as const] : []),
            ...[...roles.values()].reverse().map((r) => [r, Infinity] as const),
          ]) {
            try {
              if ((await run(what, maxMs)) && what !== opts.source)
                log.info({ role: what.name }, 'role stopped');
            } catch (err) {
              failed.push(what.name);
              log.error({ err, role: what.name }, 'role failed to stop cleanly');
            }
          }
          step = 'close ClickHouse';
          await ctx.ch.close();
          step = undefined;
          return 'done' as const;
        })();
        const how = await Promise.race([orderly, timeout]);
        clearTimeout(timer);
        if (how === 'timeout') {
          log.error({ timeoutMs, pending: step, abandoned, failed }, 'shutdown timed out with work pending');
          return { clean: false, pending: step, abandoned, failed };
        }
        return { clean: abandoned.length === 0 && failed.length === 0, abandoned, failed };
      })();
      return stopping;
    },
  };
  return app;
}

/** Probe period, and connect bound of one probe, while a step that needs Kafka stops. */
const KAFKA_PROBE_MS = 500;

/**
 * Watches the brokers while a step that needs Kafka (commit, leave the group, publish) stops:
 * `gone` resolves once no broker accepted a connection at `refusals` probes in a row (2, 0.5 s
 * apart; 1 once an earlier step found Kafka gone). Giving up then is safe like a crash: the
 * batch in flight is uncommitted, and ingest's writes are idempotent on redelivery; waiting
 * would not help, kafkajs retries a missing broker for about a minute.
 */
function whileKafkaReachable(
  brokers: readonly string[],
  refusals: number,
): { gone: Promise<'kafka gone'>; end(): void } {
  let ended = false;
  const gone = (async () => {
    let seen = 0;
    for (;;) {
      if (ended) return new Promise<never>(() => undefined);
      seen = (await anyBrokerAccepts(brokers, KAFKA_PROBE_MS)) ? 0 : seen + 1;
      if (seen >= refusals) return 'kafka gone' as const;
      await new Promise((resolve) => setTimeout(resolve, KAFKA_PROBE_MS).unref());
    }
  })();
  return {
    gone,
    end: () => {
      ended = true;
    },
  };
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

/** What `tillcast start` runs around the app: its event source (simulator or replay). */
export interface RunHooks {
  /** After a successful start: start the source. */
  afterStart?: () => void;
  /** First step of the shutdown (stop publishing; it needs Kafka, and gets half the bound at most). */
  stopSource?: () => Promise<void>;
}

/**
 * Runs an app until SIGTERM/SIGINT or until a role fails for good, stops it in order within
 * SHUTDOWN_TIMEOUT_MS, and returns the process's exit code (the caller exits with it, which also
 * ends whatever a client still retries): 3 a start that found a component down
 * (startFailureExitCode), else 1 for a failed start; 1 a role that failed for good; 5 a shutdown
 * that did not finish (EXIT.shutdownIncomplete); 0 otherwise. It owns the process's signals: a
 * second SIGTERM/SIGINT during the shutdown exits at once with 5.
 */
export async function runUntilSignal(app: App, log: Logger, hooks: RunHooks = {}): Promise<number> {
  try {
    await app.start();
  } catch (err) {
    const code = startFailureExitCode(err);
    log.fatal({ err, exitCode: code }, 'start failed; stopping what started');
    await app.stop();
    return code;
  }
  hooks.afterStart?.();
  let failedForGood = false;
  const why = await new Promise<string>((resolve) => {
    const onSignal = (signal: string) => resolve(signal);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    void app.failed.then((err) => {
      log.fatal({ err }, 'a role stopped for good; shutting down with exit code 1');
      failedForGood = true;
      resolve('role failure');
    });
  });
  const cutShort = (signal: NodeJS.Signals) => {
    log.error(
      { signal, pending: app.pendingStep(), exitCode: EXIT.shutdownIncomplete },
      'second signal during the shutdown: exiting now',
    );
    process.exit(EXIT.shutdownIncomplete);
  };
  process.on('SIGTERM', cutShort);
  process.on('SIGINT', cutShort);
  log.info({ why, timeoutMs: app.ctx.config.SHUTDOWN_TIMEOUT_MS }, 'shutting down');
  const { stopSource } = hooks;
  const outcome = await app.stop(
    stopSource ? { source: { name: 'source', stop: stopSource, stopNeedsKafka: true } } : {},
  );
  if (failedForGood) return EXIT.failure;
  return outcome.clean ? EXIT.ok : EXIT.shutdownIncomplete;
}
