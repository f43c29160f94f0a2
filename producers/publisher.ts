/**
 * The publishing library shared by the POS replay and the simulator: batches
 * messages into few large requests, uses kafkajs's idempotent producer (acks
 * from all in-sync replicas, retries without duplicates), and applies
 * backpressure: `send` resolves once the message is buffered, and waits for the
 * broker when the buffer is full, so a fast source never outruns memory.
 */
import type { Kafka, Message, Producer } from 'kafkajs';
import type { Logger } from '../lib/logger';

export interface PublisherOptions {
  /** Messages per request; a full buffer makes `send` wait for the broker. */
  maxBatchMessages?: number;
  /** How long a partly filled buffer may wait before it is sent. */
  lingerMs?: number;
}

export interface PublisherStats {
  sent: number;
  requests: number;
  retriedRequests: number;
}

export class Publisher {
  private readonly producer: Producer;
  private buffer: { topic: string; message: Message }[] = [];
  private chain: Promise<void> = Promise.resolve();
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingerError: Error | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  readonly stats: PublisherStats = { sent: 0, requests: 0, retriedRequests: 0 };

  constructor(
    kafka: Kafka,
    private readonly logger: Logger,
    opts: PublisherOptions = {},
  ) {
    this.maxBatch = opts.maxBatchMessages ?? 5000;
    this.lingerMs = opts.lingerMs ?? 20;
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // Ride out a broker restart: ~2 minutes of backoff before giving up.
      retry: { retries: 12, initialRetryTime: 300, maxRetryTime: 15_000 },
    });
    this.producer.on(this.producer.events.REQUEST_TIMEOUT, () => {
      this.stats.retriedRequests++;
    });
  }

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  /**
   * Buffers one message. A full buffer starts a send without waiting for it, so the
   * next buffer fills while the broker works; only when a send is still in flight
   * and the next buffer is full too does `send` wait (backpressure).
   */
  async send(topic: string, message: Message): Promise<void> {
    if (this.lingerError) {
      const err = this.lingerError;
      this.lingerError = undefined;
      throw err;
    }
    this.buffer.push({ topic, message });
    if (this.buffer.length >= this.maxBatch) {
      if (this.inFlight) await this.inFlight;
      if (this.buffer.length >= this.maxBatch) {
        this.inFlight = this.flush()
          .catch((err: unknown) => {
            this.lingerError = err instanceof Error ? err : new Error(String(err));
          })
          .finally(() => {
            this.inFlight = undefined;
          });
      }
    } else if (!this.lingerTimer) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.flush().catch((err: unknown) => {
          this.lingerError = err instanceof Error ? err : new Error(String(err));
        });
      }, this.lingerMs);
    }
  }

  /** Sends everything buffered; resolves when the broker acknowledged it (and everything sent before). */
  async flush(): Promise<void> {
    if (this.lingerTimer) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    const next = this.chain.then(() => this.sendBuffered());
    // A failed flush must not poison later ones; the caller of this flush sees the error.
    this.chain = next.catch(() => undefined);
    await next;
    if (this.lingerError) {
      const err = this.lingerError;
      this.lingerError = undefined;
      throw err;
    }
  }

  private async sendBuffered(): Promise<void> {
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    const byTopic = new Map<string, Message[]>();
    for (const { topic, message } of batch) {
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push(message);
    }
    try {
      await this.producer.sendBatch({
        // acks=all: the leader answers once every in-sync replica has the batch, at least
        // min.insync.replicas of them (2 of 3 on a cluster, lib/topics.ts), so a broker crash
        // loses no acknowledged receipt. (kafkajs's idempotent producer refuses anything else.)
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } catch (err) {
      // Keep the messages (in order) so a later flush can still deliver them.
      this.buffer = batch.concat(this.buffer);
      this.logger.error(
        { err, messages: batch.length },
        'publish failed after retries; messages kept in the buffer',
      );
      throw err;
    }
    this.stats.sent += batch.length;
    this.stats.requests++;
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.producer.disconnect();
    }
  }
}
