/**
 * A kafkajs idempotent producer (one in flight, no topic auto-creation, short retries) that
 * connects on first use, so a process that never publishes never talks to Kafka. Concurrent
 * callers share one connection attempt; a failed attempt is forgotten (the next call tries
 * again). After a failed send the caller drops it: an idempotent producer whose send failed may
 * be out of sequence with the broker, a new one starts clean.
 */
import type { Kafka, Producer } from 'kafkajs';

export interface LazyProducer {
  /** The connected producer (connecting it first if needed); rejects when it cannot connect. */
  connected(): Promise<Producer>;
  /** Forgets the producer (disconnected in the background): the next `connected` makes a new one. */
  drop(): void;
  /** Disconnects the producer, waiting for a connection in progress. */
  close(): Promise<void>;
}

export function createLazyProducer(kafka: Kafka): LazyProducer {
  let producer: Producer | undefined;
  let connecting: Promise<Producer> | undefined;

  return {
    connected() {
      if (producer) return Promise.resolve(producer);
      connecting ??= (async () => {
        const p = kafka.producer({
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
          // Short: callers wait for this under their own send timeout, which answers 503 anyway.
          retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
        });
        try {
          await p.connect();
        } catch (err) {
          void p.disconnect().catch(() => undefined);
          throw err;
        }
        producer = p;
        return p;
      })().finally(() => {
        connecting = undefined;
      });
      return connecting;
    },
    drop() {
      const p = producer;
      producer = undefined;
      if (p) void p.disconnect().catch(() => undefined);
    },
    async close() {
      const p = producer ?? (await connecting?.catch(() => undefined));
      producer = undefined;
      await p?.disconnect().catch(() => undefined);
    },
  };
}
