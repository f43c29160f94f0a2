/**
 * What the ingest produces to Kafka besides its ClickHouse rows: dead letters of rejected
 * messages and HourClosed events, each sent in produce requests of bounded size.
 */
import type { IHeaders, Message, Producer } from 'kafkajs';
import type { TopicNames } from '../../lib/topics';
import type { AvroCodec } from '../../schemas/avro-codec';
import type { HourClosed } from '../../schemas/events';
import type { DeadLetter, IngestDeps } from './batch-context';

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

/** The two producing callbacks of a batch (IngestDeps), sending through `producer`. */
export function createBatchOutputs(
  producer: Producer,
  topics: TopicNames,
  codec: AvroCodec,
  now: () => number,
): Pick<IngestDeps, 'deadLetter' | 'publishHoursClosed'> {
  /** Sends in produce requests of at most MAX_PRODUCE_BYTES each, in order. */
  const sendChunked = async (topic: string, messages: Message[]) => {
    for (const chunk of chunkBySize(messages, messageBytes)) await producer.send({ topic, messages: chunk });
  };
  const deadLetterMessage = (l: DeadLetter, rejectedAt: string): Message => {
    const headers: IHeaders = {
      [DLQ_HEADERS.reason]: l.reason,
      [DLQ_HEADERS.code]: l.code,
      [DLQ_HEADERS.sourceTopic]: topics.sales,
      [DLQ_HEADERS.sourcePartition]: String(l.partition),
      [DLQ_HEADERS.sourceOffset]: l.original.offset,
      [DLQ_HEADERS.rejectedAt]: rejectedAt,
    };
    return { key: l.original.key, value: l.original.value, headers };
  };
  return {
    deadLetter: async (letters) => {
      const rejectedAt = new Date(now()).toISOString();
      await sendChunked(
        topics.dlq,
        letters.map((l) => deadLetterMessage(l, rejectedAt)),
      );
    },
    publishHoursClosed: async (events: HourClosed[]) => {
      await sendChunked(
        topics.hoursClosed,
        events.map((e) => ({ key: e.branch_id, value: codec.encode('hourClosed', e) })),
      );
    },
  };
}
