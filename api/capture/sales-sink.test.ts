/**
 * The capture sink against a scripted kafkajs producer: concurrent calls share produce requests
 * (group commit) with acks=all, a call resolves only once its messages were acknowledged, a slow
 * broker or a full queue answers 503 (UnavailableError) without waiting, and a failed send
 * replaces the producer.
 */
import type { Kafka, Message, ProducerBatch } from 'kafkajs';
import { UnavailableError } from '../../lib/errors';
import { createLogger } from '../../lib/logger';
import { createSalesSink } from './sales-sink';

interface Script {
  producers: number;
  batches: ProducerBatch[];
  /** What the next sendBatch does. */
  next: () => Promise<void>;
}

function scriptedKafka(script: Script): Kafka {
  return {
    producer: () => {
      script.producers++;
      return {
        connect: () => Promise.resolve(),
        disconnect: () => Promise.resolve(),
        sendBatch: async (b: ProducerBatch) => {
          await script.next();
          script.batches.push(b);
          return [];
        },
      };
    },
  } as unknown as Kafka;
}

const logger = createLogger('silent');
const msgs = (n: number, tag: string): Message[] =>
  Array.from({ length: n }, (_, i) => ({ key: 'b', value: Buffer.from(`${tag}${i}`) }));
const values = (b: ProducerBatch) =>
  (b.topicMessages ?? []).flatMap((t) => t.messages.map((m) => String(m.value)));

test('calls that arrive while a send is in flight go together in the next one, acks=all', async () => {
  let release!: () => void;
  const script: Script = {
    producers: 0,
    batches: [],
    next: () => new Promise<void>((r) => (release = r)),
  };
  const sink = createSalesSink(scriptedKafka(script), logger, {
    topic: 'sales',
    sendTimeoutMs: 5_000,
    maxPendingEvents: 1_000,
  });
  const first = sink.publish(msgs(1, 'a'));
  await new Promise((r) => setImmediate(r));
  const later = [sink.publish(msgs(2, 'b')), sink.publish(msgs(3, 'c'))];
  release();
  await first;
  await new Promise((r) => setImmediate(r));
  release();
  await Promise.all(later);
  expect(script.batches.map(values)).toEqual([['a0'], ['b0', 'b1', 'c0', 'c1', 'c2']]);
  expect(script.batches.map((b) => [b.acks, b.topicMessages?.[0]?.topic])).toEqual([
    [-1, 'sales'],
    [-1, 'sales'],
  ]);
  expect(script.producers).toBe(1);
  await sink.close();
});

test('no acknowledgement in time: 503 for the call; a full queue: 503 at once', async () => {
  const script: Script = { producers: 0, batches: [], next: () => new Promise<void>(() => undefined) };
  const sink = createSalesSink(scriptedKafka(script), logger, {
    topic: 'sales',
    sendTimeoutMs: 200,
    maxPendingEvents: 10,
  });
  const slow = sink.publish(msgs(6, 'a'));
  const full = sink.publish(msgs(5, 'b'));
  await expect(full).rejects.toMatchObject({ code: 'kafka_unavailable', retryAfterS: 2 });
  await expect(full).rejects.toBeInstanceOf(UnavailableError);
  await expect(slow).rejects.toThrow('no acknowledgement within 200 ms');
  await sink.close();
});

test('a failed send rejects its calls and the next call gets a new producer', async () => {
  let fail = true;
  const script: Script = {
    producers: 0,
    batches: [],
    next: () => (fail ? Promise.reject(new Error('broker gone')) : Promise.resolve()),
  };
  const sink = createSalesSink(scriptedKafka(script), logger, {
    topic: 'sales',
    sendTimeoutMs: 5_000,
    maxPendingEvents: 100,
  });
  await expect(sink.publish(msgs(2, 'a'))).rejects.toMatchObject({ code: 'kafka_unavailable' });
  fail = false;
  await sink.publish(msgs(1, 'b'));
  expect(script.batches.map(values)).toEqual([['b0']]);
  expect(script.producers).toBe(2);
  await sink.close();
  await expect(sink.publish(msgs(1, 'c'))).rejects.toThrow('the process is stopping');
});
