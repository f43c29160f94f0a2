/**
 * The ingest role: a kafkajs consumer group on the sales topic. Each batch is
 * processed (batch-processor.ts) and only then are its offsets committed, so a
 * crash at any point redelivers work that is idempotent to redo.
 */
import type { Consumer, Kafka, Producer, IHeaders } from 'kafkajs';
import type { BranchDirectory } from '../../lib/branches';
import type { ClickHouse } from '../../lib/clickhouse';
import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import { topicNames } from '../../lib/topics';
import type { AvroCodec } from '../../schemas/avro-codec';
import type { HourClosed } from '../../schemas/events';
import { processBatch, type DeadLetter, type Decoded, type IngestDeps } from './batch-processor';
import { HOUR_MS } from './hour-close';
import * as metrics from './metrics';
import { SalesStore } from './sales-store';

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
  onCommitted?: (info: { partition: number; messages: number; timestamps: string[] }) => void;
}

/** Header names of dead letters (documented in the README). */
export const DLQ_HEADERS = {
  reason: 'tillcast-dlq-reason',
  code: 'tillcast-dlq-code',
  sourceTopic: 'tillcast-source-topic',
  sourcePartition: 'tillcast-source-partition',
  sourceOffset: 'tillcast-source-offset',
  rejectedAt: 'tillcast-rejected-at',
} as const;

export function createIngestRole(opts: IngestOptions): IngestRole {
  const { config, kafka, ch, codec, branches } = opts;
  const log = opts.logger.child({ module: 'ingest' });
  const now = opts.now ?? Date.now;
  const topics = topicNames(config);
  const store = new SalesStore(ch);
  const clocks = new Map<string, import('./hour-close').BranchClock>();
  let versionSeq = 0;
  let lastVersion = 0;
  let heartbeatAt = now();

  const consumer: Consumer = kafka.consumer({
    groupId: config.KAFKA_INGEST_GROUP,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 8 * 1024 * 1024,
    maxBytes: 32 * 1024 * 1024,
    maxWaitTimeInMs: 250,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 },
  });
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });

  // Clocks are reloaded whenever the group rebalances: partitions (and so branches) may have moved.
  let clocksReady: Promise<void> = Promise.resolve();
  const reloadClocks = () => {
    clocksReady = store.loadClocks().then((loaded) => {
      clocks.clear();
      for (const [b, c] of loaded) clocks.set(b, c);
      log.info({ branches: loaded.size }, 'branch watermarks loaded');
    });
    clocksReady.catch((err: unknown) => log.error({ err }, 'cannot load branch watermarks'));
  };

  const nextVersion = () => {
    // Monotonic across restarts (wall clock based) and within a millisecond.
    const v = now() * 1000 + (versionSeq++ % 1000);
    lastVersion = Math.max(v, lastVersion + 1);
    return lastVersion;
  };

  const deadLetter = async (letters: DeadLetter[]) => {
    await producer.send({
      topic: topics.dlq,
      messages: letters.map((l) => {
        const headers: IHeaders = {
          [DLQ_HEADERS.reason]: l.reason,
          [DLQ_HEADERS.code]: l.code,
          [DLQ_HEADERS.sourceTopic]: topics.sales,
          [DLQ_HEADERS.sourcePartition]: String(l.partition),
          [DLQ_HEADERS.sourceOffset]: l.original.offset,
          [DLQ_HEADERS.rejectedAt]: new Date(now()).toISOString(),
        };
        return { key: l.original.key, value: l.original.value, headers };
      }),
    });
  };

  const publishHoursClosed = async (events: HourClosed[]) => {
    await producer.send({
      topic: topics.hoursClosed,
      messages: events.map((e) => ({ key: e.branch_id, value: codec.encode('hourClosed', e) })),
    });
  };

  const deps: IngestDeps = {
    store,
    decode: (buf) => codec.decode(buf) as Decoded,
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
    clocks,
    deadLetter,
    publishHoursClosed,
    nextVersion,
    now,
    logger: log,
  };

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    log.info({ memberAssignment: e.payload.memberAssignment }, 'joined ingest group');
    reloadClocks();
  });
  consumer.on(consumer.events.HEARTBEAT, () => {
    heartbeatAt = now();
  });
  consumer.on(consumer.events.CRASH, (e) => {
    log.error({ err: e.payload.error, restart: e.payload.restart }, 'ingest consumer crashed');
  });

  let running = false;
  return {
    async start() {
      await producer.connect();
      await consumer.connect();
      await consumer.subscribe({ topics: [topics.sales], fromBeginning: true });
      running = true;
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        // Branches are keyed to partitions, so batches of different partitions touch disjoint
        // branch clocks and can overlap (JS work of one with ClickHouse work of another).
        partitionsConsumedConcurrently: 3,
        eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
          if (!isRunning() || isStale() || batch.messages.length === 0) return;
          await clocksReady;
          const timer = metrics.batchSeconds.startTimer();
          const r = await processBatch(deps, batch.topic, batch.partition, batch.messages);
          const last = batch.lastOffset();
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
          resolveOffset(last); // moves the fetch position past the batch
          timer();
          heartbeatAt = now();
          opts.onCommitted?.({ partition: batch.partition, messages: batch.messages.length, timestamps: batch.messages.map((m) => m.timestamp) });
          metrics.eventsTotal.inc({ outcome: 'accepted' }, r.accepted);
          metrics.eventsTotal.inc({ outcome: 'duplicate' }, r.duplicates);
          metrics.eventsTotal.inc({ outcome: 'too_late' }, r.tooLate);
          metrics.eventsTotal.inc({ outcome: 'rejected' }, r.rejected);
          metrics.heartbeatsTotal.inc(r.heartbeats);
          for (const [code, n] of Object.entries(r.rejectionsByCode)) metrics.rejectionsTotal.inc({ code }, n);
          for (const h of r.hoursClosed) {
            metrics.hoursClosedTotal.inc({ kind: h.revision > 1 ? 'correction' : 'first' });
            const delay = (now() - (h.hour_start + HOUR_MS)) / 1000;
            if (h.revision === 1 && delay >= 0 && delay < 86_400) metrics.hourCloseDelaySeconds.observe(delay);
          }
          metrics.consumerLag.set({ partition: String(batch.partition) }, Number(batch.offsetLag()));
          log.debug({ partition: batch.partition, messages: batch.messages.length, ...r, hoursClosed: r.hoursClosed.length }, 'batch committed');
          await heartbeat();
        },
      });
      log.info({ topic: topics.sales, group: config.KAFKA_INGEST_GROUP }, 'ingest consuming');
    },
    async stop() {
      if (!running) return;
      running = false;
      // disconnect() waits for the batch in flight (which commits) before leaving the group.
      await consumer.disconnect();
      await producer.disconnect();
      log.info('ingest stopped');
    },
    lastHeartbeat: () => heartbeatAt,
  };
}
