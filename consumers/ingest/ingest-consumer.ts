/**
 * The ingest role: a kafkajs consumer group on the sales topic. Each batch is
 * processed (batch-processor.ts) and only then are its offsets committed (its last
 * step, steps/commit.ts), so a crash at any point redelivers work that is idempotent to redo.
 *
 * Several processes may be members of the group. A member that lost its partitions
 * while a batch was in flight (stalled past the session timeout: a zombie) still writes
 * that batch, then its commit is refused; its writes are outranked by the owner's
 * (clickhouse/store/row-versions.ts), and it rejoins the group rather than stopping.
 *
 * The role's parts: the consumer's settings (ingestConsumer), what every batch works with
 * (ingestDeps), group membership (watchGroup), the crash-restart policy (watchCrashes), consume
 * and shutdown; each batch is batch-handler.ts's.
 */
import type { Consumer, EachBatchHandler, Kafka, Producer } from 'kafkajs';
import type { BranchDirectory } from '../../lib/branches';
import type { ClickHouse } from '../../clickhouse/client';
import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import { topicNames } from '../../lib/topics';
import type { AvroCodec } from '../../schemas/avro-codec';
import type { IngestDeps } from './batch-context';
import { createBatchHandler, type BatchHandlerOptions } from './batch-handler';
import { HOUR_MS } from '../../lib/time/units';
import type { BranchClock } from './hour-close';
import { createBatchOutputs } from './produce';
import { SalesStore } from '../../clickhouse/store/sales-store';

export interface IngestRole {
  start(): Promise<void>;
  /** Finishes the batch in flight, commits, disconnects. */
  stop(): Promise<void>;
  /** Last successful batch or idle heartbeat (epoch ms), for health checks. */
  lastHeartbeat(): number;
}

export interface IngestOptions {
  config: Config;
  kafka: Kafka;
  ch: ClickHouse;
  codec: AvroCodec;
  branches: BranchDirectory;
  logger: Logger;
  now?: () => number;
  /** Called after a batch is committed, with its messages' Kafka timestamps (benchmarks measure latency with it). */
  onCommitted?: BatchHandlerOptions['onCommitted'];
  /** A committed batch corrected closed hours of these branches (the in-process API re-reads their recent days). */
  onHoursCorrected?: BatchHandlerOptions['onHoursCorrected'];
  /**
   * Called once when the consumer stopped for good: kafkajs crashed it with an error it does not
   * restart from (a non-retriable one), so nothing would be consumed again. The app shuts the
   * process down with exit code 1 (app/app.ts); without an owner the error is only logged.
   */
  onFatal?: (err: unknown) => void;
}

/** What the role's parts share. */
interface RoleState {
  /** Between start and stop (a crash then is fatal unless kafkajs restarts the consumer). */
  running: boolean;
  /** onFatal was called (once). */
  fatal: boolean;
  heartbeatAt: number;
}

export function createIngestRole(opts: IngestOptions): IngestRole {
  const { config, kafka } = opts;
  const log = opts.logger.child({ module: 'ingest' });
  const now = opts.now ?? Date.now;
  const state: RoleState = { running: false, fatal: false, heartbeatAt: now() };
  const consumer = ingestConsumer(kafka, config);
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  const outputs = createBatchOutputs(producer, topicNames(config), opts.codec, now);
  const deps = ingestDeps(opts, outputs, log, now);
  watchGroup(consumer, deps.clocksRead, log, () => (state.heartbeatAt = now()));
  watchCrashes(consumer, state, log, opts.onFatal);
  const eachBatch = createBatchHandler({
    consumer,
    deps,
    log,
    now,
    onProgress: () => (state.heartbeatAt = now()),
    onCommitted: opts.onCommitted,
    onHoursCorrected: opts.onHoursCorrected,
  });

  return {
    start: () => consume(consumer, producer, eachBatch, state, config, log),
    stop: () => shutdown(consumer, producer, state, log),
    lastHeartbeat: () => state.heartbeatAt,
  };
}

async function consume(
  consumer: Consumer,
  producer: Producer,
  eachBatch: EachBatchHandler,
  state: RoleState,
  config: Config,
  log: Logger,
): Promise<void> {
  const topics = topicNames(config);
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [topics.sales], fromBeginning: true });
  state.running = true;
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    // Branches are keyed to partitions, so batches of different partitions touch disjoint
    // branch clocks and can overlap (JS work of one with ClickHouse work of another).
    partitionsConsumedConcurrently: 3,
    eachBatch,
  });
  log.info({ topic: topics.sales, group: config.KAFKA_INGEST_GROUP }, 'ingest consuming');
}

/** Finishes the batch in flight (which commits), leaves the group, disconnects. */
async function shutdown(
  consumer: Consumer,
  producer: Producer,
  state: RoleState,
  log: Logger,
): Promise<void> {
  if (!state.running) return;
  state.running = false;
  // disconnect() waits for the batch in flight (which commits) before leaving the group.
  await consumer.disconnect();
  await producer.disconnect();
  log.info('ingest stopped');
}

function ingestConsumer(kafka: Kafka, config: Config): Consumer {
  return kafka.consumer({
    groupId: config.KAFKA_INGEST_GROUP,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 8 * 1024 * 1024,
    maxBytes: 32 * 1024 * 1024,
    maxWaitTimeInMs: 250,
    sessionTimeout: config.KAFKA_SESSION_TIMEOUT_MS,
    // kafkajs heartbeats between batches; a third of the session leaves room for two misses.
    heartbeatInterval: Math.min(3_000, Math.floor(config.KAFKA_SESSION_TIMEOUT_MS / 3)),
    // multiplier and factor explicit: kafkajs's defaults for them depend on NODE_ENV (see lib/kafka-client.ts).
    retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000, multiplier: 2, factor: 0.2 },
  });
}

/** What every batch of this member works with: its store, rules, clocks and outputs. */
function ingestDeps(
  opts: IngestOptions,
  outputs: Pick<IngestDeps, 'deadLetter' | 'publishHoursClosed'>,
  log: Logger,
  now: () => number,
): IngestDeps & { clocksRead: Set<string> } {
  const { config, branches } = opts;
  return {
    store: new SalesStore(opts.ch),
    decode: (buf) => opts.codec.decode(buf),
    rules: {
      branches,
      acceptUnknownBranches: config.INGEST_ACCEPT_UNKNOWN_BRANCHES,
      maxFutureMs: config.INGEST_MAX_FUTURE_S * 1000,
      now,
    },
    settings: {
      allowedLatenessMs: config.INGEST_ALLOWED_LATENESS_S * 1000,
      correctionWindowMs: config.INGEST_CORRECTION_WINDOW_H * HOUR_MS,
    },
    branches,
    // This member's branch clocks; each batch starts from these or a later stored one (steps/clocks.ts).
    clocks: new Map<string, BranchClock>(),
    // Branches whose stored clocks were read since the last group join (steps/clocks.ts, load clocks).
    clocksRead: new Set<string>(),
    ...outputs,
    now,
    logger: log,
  };
}

/** Group membership: a join may have moved partitions; kafkajs's heartbeats say the member is alive. */
function watchGroup(consumer: Consumer, clocksRead: Set<string>, log: Logger, onHeartbeat: () => void): void {
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    // Partitions may have moved: read the stored clocks again before trusting this member's own.
    clocksRead.clear();
    log.info({ memberAssignment: e.payload.memberAssignment }, 'joined ingest group');
  });
  consumer.on(consumer.events.HEARTBEAT, onHeartbeat);
}

/** The crash-restart policy: kafkajs restarts after most crashes; one it does not restart from is fatal. */
function watchCrashes(
  consumer: Consumer,
  state: RoleState,
  log: Logger,
  onFatal: ((err: unknown) => void) | undefined,
): void {
  const fatal =
    onFatal ??
    ((err: unknown) =>
      log.fatal(
        { err },
        'ingest consumer stopped for good (non-retriable error); nothing will be consumed until a restart',
      ));
  consumer.on(consumer.events.CRASH, (e) => {
    log.error({ err: e.payload.error, restart: e.payload.restart }, 'ingest consumer crashed');
    // restart: false means kafkajs gave up on this consumer: without this the process would live
    // on, healthy-looking, and consume nothing.
    if (!e.payload.restart && state.running && !state.fatal) {
      state.fatal = true;
      fatal(e.payload.error);
    }
  });
}
