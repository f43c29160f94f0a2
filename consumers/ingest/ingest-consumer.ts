/**
 * The ingest role: a kafkajs consumer group on the sales topic. Each batch is
 * processed (batch-processor.ts) and only then are its offsets committed, so a
 * crash at any point redelivers work that is idempotent to redo.
 *
 * Several processes may be members of the group. A member that lost its partitions
 * while a batch was in flight (stalled past the session timeout: a zombie) still writes
 * that batch, then its commit is refused; its writes are outranked by the owner's
 * (row-versions.ts), and it rejoins the group rather than stopping.
 */
import type { Consumer, Kafka, Producer, IHeaders, Message } from 'kafkajs';
import type { KafkaJSError } from 'kafkajs';
import type { BranchDirectory } from '../../lib/branches';
import type { ClickHouse } from '../../clickhouse/client';
import type { Config } from '../../lib/config';
import { commitBatch, protocolErrorIn } from '../../lib/kafka-client';
import type { Logger } from '../../lib/logger';
import { topicNames } from '../../lib/topics';
import type { AvroCodec } from '../../schemas/avro-codec';
import type { HourClosed } from '../../schemas/events';
import { processBatch, type DeadLetter, type IngestDeps } from './batch-processor';
import { HOUR_MS, type BranchClock } from './hour-close';
import * as metrics from './metrics';
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
  onCommitted?: (info: { partition: number; messages: number; timestamps: string[] }) => void;
  /**
   * Called once when the consumer stopped for good: kafkajs crashed it with an error it does not
   * restart from (a non-retriable one), so nothing would be consumed again. The app shuts the
   * process down with exit code 1 (app/app.ts); without an owner the error is only logged.
   */
  onFatal?: (err: unknown) => void;
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

/**
 * Upper bound on the bytes of one produce request of dead letters or HourClosed events. The
 * broker refuses a record batch over its message.max.bytes (1 MB by default) with
 * MESSAGE_TOO_LARGE, which kafkajs does not retry: one batch of a few large rejected messages
 * would stop the consumer for good. A single message over the bound still goes (alone): it fit
 * the sales topic, whose limit the DLQ shares.
 */
export const MAX_PRODUCE_BYTES = 900_000;
/** Per-record overhead of the record batch format (varint lengths, attributes, deltas), rounded up. */
const RECORD_OVERHEAD_BYTES = 64;

/** A message's share of a produce request (key, value, headers and record overhead). */
export function messageBytes(m: {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: IHeaders;
}): number {
  const len = (x: unknown): number =>
    Buffer.isBuffer(x) ? x.length : typeof x === 'string' ? Buffer.byteLength(x) : 0;
  let n = RECORD_OVERHEAD_BYTES + len(m.key) + len(m.value);
  for (const [name, v] of Object.entries(m.headers ?? {})) {
    n += Buffer.byteLength(name) + 8;
    for (const x of Array.isArray(v) ? v : [v]) n += len(x);
  }
  return n;
}

/** Splits items, in order, into chunks of at most `limit` bytes (an item larger than that is a chunk of its own). */
export function chunkBySize<T>(
  items: readonly T[],
  size: (item: T) => number,
  limit = MAX_PRODUCE_BYTES,
): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = size(item);
    if (current.length > 0 && bytes + n > limit) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Group-membership errors of an offset commit: the group has moved on without this member. */
const FENCED = new Set(['ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS']);

/** The protocol error behind a refused commit, if it says this member is out of the generation. */
export function refusedByGroup(err: unknown): (KafkaJSError & { type: string }) | undefined {
  return protocolErrorIn(err, FENCED);
}

export function createIngestRole(opts: IngestOptions): IngestRole {
  const { config, kafka, ch, codec, branches } = opts;
  const log = opts.logger.child({ module: 'ingest' });
  const now = opts.now ?? Date.now;
  const topics = topicNames(config);
  const store = new SalesStore(ch);
  // This member's branch clocks; each batch starts from these or a later stored one (batch-processor.ts).
  const clocks = new Map<string, BranchClock>();
  /** Branches whose stored clocks were read since the last group join (batch-processor.ts 1b). */
  const clocksRead = new Set<string>();
  let heartbeatAt = now();

  const consumer: Consumer = kafka.consumer({
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
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });

  /** Sends in produce requests of at most MAX_PRODUCE_BYTES each, in order. */
  const sendChunked = async (topic: string, messages: Message[]) => {
    for (const chunk of chunkBySize(messages, messageBytes)) await producer.send({ topic, messages: chunk });
  };

  const deadLetter = async (letters: DeadLetter[]) => {
    const rejectedAt = new Date(now()).toISOString();
    await sendChunked(
      topics.dlq,
      letters.map((l) => {
        const headers: IHeaders = {
          [DLQ_HEADERS.reason]: l.reason,
          [DLQ_HEADERS.code]: l.code,
          [DLQ_HEADERS.sourceTopic]: topics.sales,
          [DLQ_HEADERS.sourcePartition]: String(l.partition),
          [DLQ_HEADERS.sourceOffset]: l.original.offset,
          [DLQ_HEADERS.rejectedAt]: rejectedAt,
        };
        return { key: l.original.key, value: l.original.value, headers };
      }),
    );
  };

  const publishHoursClosed = async (events: HourClosed[]) => {
    await sendChunked(
      topics.hoursClosed,
      events.map((e) => ({ key: e.branch_id, value: codec.encode('hourClosed', e) })),
    );
  };

  const deps: IngestDeps = {
    store,
    decode: (buf) => codec.decode(buf),
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
    clocksRead,
    deadLetter,
    publishHoursClosed,
    now,
    logger: log,
  };

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    // Partitions may have moved: read the stored clocks again before trusting this member's own.
    clocksRead.clear();
    log.info({ memberAssignment: e.payload.memberAssignment }, 'joined ingest group');
  });
  consumer.on(consumer.events.HEARTBEAT, () => {
    heartbeatAt = now();
  });
  let running = false;
  const onFatal =
    opts.onFatal ??
    ((err: unknown) =>
      log.fatal(
        { err },
        'ingest consumer stopped for good (non-retriable error); nothing will be consumed until a restart',
      ));
  let fatal = false;
  consumer.on(consumer.events.CRASH, (e) => {
    log.error({ err: e.payload.error, restart: e.payload.restart }, 'ingest consumer crashed');
    // restart: false means kafkajs gave up on this consumer: without this the process would live
    // on, healthy-looking, and consume nothing.
    if (!e.payload.restart && running && !fatal) {
      fatal = true;
      onFatal(e.payload.error);
    }
  });

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
        // The payload's functions are called as its methods (kafkajs binds them, but the types do not say so).
        eachBatch: async (payload) => {
          const { batch } = payload;
          if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
          const offsets = {
            partition: batch.partition,
            firstOffset: batch.firstOffset(),
            lastOffset: batch.lastOffset(),
          };
          log.debug({ ...offsets, messages: batch.messages.length }, 'batch started');
          const timer = metrics.batchSeconds.startTimer();
          const r = await processBatch(deps, batch.topic, batch.partition, batch.messages);
          const last = batch.lastOffset();
          try {
            await commitBatch(consumer, payload, (BigInt(last) + 1n).toString());
          } catch (err) {
            const fenced = refusedByGroup(err);
            if (!fenced) throw err;
            clocksRead.clear();
            // This member lost the partition while the batch was in flight (it stalled past the
            // session timeout, or the group rebalanced without it): its owner redoes the batch. The
            // protocol error itself goes to kafkajs, which rejoins the group on it; wrapped in the
            // retrier's non-retriable error it would stop this consumer for good.
            metrics.commitsRefusedTotal.inc();
            log.warn(
              {
                ...offsets,
                code: fenced.type,
                hoursWritten: r.hoursWritten,
                accepted: r.accepted,
                duplicates: r.duplicates,
              },
              "batch written but its commit was refused: the group moved on without this member; rejoining (the partition's owner redoes the batch)",
            );
            throw fenced;
          }
          payload.resolveOffset(last); // moves the fetch position past the batch
          timer();
          heartbeatAt = now();
          opts.onCommitted?.({
            partition: batch.partition,
            messages: batch.messages.length,
            timestamps: batch.messages.map((m) => m.timestamp),
          });
          metrics.eventsTotal.inc({ outcome: 'accepted' }, r.accepted);
          metrics.eventsTotal.inc({ outcome: 'duplicate' }, r.duplicates);
          metrics.eventsTotal.inc({ outcome: 'too_late' }, r.tooLate);
          metrics.eventsTotal.inc({ outcome: 'rejected' }, r.rejected);
          metrics.heartbeatsTotal.inc(r.heartbeats);
          for (const [code, n] of Object.entries(r.rejectionsByCode))
            metrics.rejectionsTotal.inc({ code }, n);
          for (const h of r.hoursClosed) {
            metrics.hoursClosedTotal.inc({ kind: h.revision > 1 ? 'correction' : 'first' });
            const delay = (now() - (h.hour_start + HOUR_MS)) / 1000;
            if (h.revision === 1 && delay >= 0 && delay < 86_400)
              metrics.hourCloseDelaySeconds.observe(delay);
          }
          metrics.consumerLag.set({ partition: String(batch.partition) }, Number(batch.offsetLag()));
          log.debug(
            {
              ...offsets,
              messages: batch.messages.length,
              ...r,
              hoursClosed: r.hoursClosed.length,
            },
            'batch committed',
          );
          await payload.heartbeat();
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
