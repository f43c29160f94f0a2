/**
 * Where captured events go: the sales topic, through one kafkajs idempotent producer (acks=all)
 * shared by every request of the process. Requests that arrive while a send is in flight wait
 * and go together in the next one (group commit): 50 concurrent requests cost a few round trips,
 * not 50. `publish` resolves only once the broker acknowledged every message of the call; it
 * rejects with a 503-mapped UnavailableError when Kafka did not answer within the send timeout,
 * when too many events already wait (bounded memory), or when the producer cannot connect. A
 * rejected call may still have reached the topic (its send went on): the POS sends it again, and
 * the (branch_id, event_id) identity makes that harmless.
 *
 * The producer connects on first use (lib/lazy-producer.ts), so an API process that never
 * captures never talks to Kafka. After a failed send it is replaced: an idempotent producer whose
 * send failed may be out of sequence with the broker, a new one starts clean.
 */
import type { Kafka, Message } from 'kafkajs';
import { UnavailableError } from '../../lib/errors';
import { createLazyProducer } from '../../lib/lazy-producer';
import type { Logger } from '../../lib/logger';
import { capturePublishSeconds } from './capture-metrics';

export interface SalesSinkOptions {
  topic: string;
  /** Longest wait for the acknowledgement of a call. */
  sendTimeoutMs: number;
  /** Events waiting or in flight, at most; beyond: 503 at once. */
  maxPendingEvents: number;
  /** Messages per produce request (a larger backlog goes in several, one after another). */
  maxBatchMessages?: number;
}

interface Waiting {
  messages: Message[];
  resolve: () => void;
  reject: (err: Error) => void;
  settled: boolean;
}

export interface SalesSink {
  /** Resolves once Kafka acknowledged all `messages` (acks=all). */
  publish(messages: Message[]): Promise<void>;
  close(): Promise<void>;
}

const RETRY_AFTER_S = 2;

export function createSalesSink(kafka: Kafka, logger: Logger, opts: SalesSinkOptions): SalesSink {
  const log = logger.child({ module: 'capture-sink' });
  const maxBatch = opts.maxBatchMessages ?? 2000;
  const producer = createLazyProducer(kafka);
  let queue: Waiting[] = [];
  let pending = 0;
  let sending = false;
  let closed = false;

  const unavailable = (why: string, cause?: unknown): UnavailableError =>
    new UnavailableError(
      'kafka_unavailable',
      `events could not be handed to Kafka (${why}); nothing of this request was accepted, send it again`,
      RETRY_AFTER_S,
      { cause },
    );

  /** Sends everything queued, in produce requests of at most maxBatch messages, until the queue is empty. */
  const pump = async (): Promise<void> => {
    if (sending) return;
    sending = true;
    try {
      while (queue.length > 0) {
        const batch: Waiting[] = [];
        let n = 0;
        while (queue.length > 0 && (n === 0 || n + (queue[0]?.messages.length ?? 0) <= maxBatch)) {
          const w = queue.shift() as Waiting;
          if (w.settled) {
            pending -= w.messages.length;
            continue;
          }
          batch.push(w);
          n += w.messages.length;
        }
        if (batch.length === 0) continue;
        const started = process.hrtime.bigint();
        try {
          const p = await producer.connected();
          await p.sendBatch({
            // acks=all: every in-sync replica has the batch (min.insync.replicas on a cluster).
            acks: -1,
            topicMessages: [{ topic: opts.topic, messages: batch.flatMap((w) => w.messages) }],
          });
          capturePublishSeconds.observe(
            { outcome: 'acked' },
            Number(process.hrtime.bigint() - started) / 1e9,
          );
          for (const w of batch) w.resolve();
        } catch (err) {
          capturePublishSeconds.observe(
            { outcome: 'failed' },
            Number(process.hrtime.bigint() - started) / 1e9,
          );
          log.warn(
            { err: err instanceof Error ? err.message : String(err), messages: n },
            'capture publish failed',
          );
          producer.drop();
          const e = unavailable('Kafka did not acknowledge', err);
          for (const w of batch) w.reject(e);
        } finally {
          for (const w of batch) pending -= w.messages.length;
        }
      }
    } finally {
      sending = false;
    }
  };

  return {
    publish(messages) {
      if (messages.length === 0) return Promise.resolve();
      if (closed) return Promise.reject(unavailable('the process is stopping'));
      if (pending + messages.length > opts.maxPendingEvents)
        return Promise.reject(unavailable(`${pending} events already wait for Kafka`));
      pending += messages.length;
      return new Promise<void>((resolve, reject) => {
        const w: Waiting = {
          messages,
          settled: false,
          resolve: () => {
            if (w.settled) return;
            w.settled = true;
            clearTimeout(timer);
            resolve();
          },
          reject: (err) => {
            if (w.settled) return;
            w.settled = true;
            clearTimeout(timer);
            reject(err);
          },
        };
        const timer = setTimeout(
          () => w.reject(unavailable(`no acknowledgement within ${opts.sendTimeoutMs} ms`)),
          opts.sendTimeoutMs,
        );
        queue.push(w);
        void pump();
      });
    },
    async close() {
      closed = true;
      const left = queue;
      queue = [];
      for (const w of left) w.reject(unavailable('the process is stopping'));
      await producer.close();
    },
  };
}
