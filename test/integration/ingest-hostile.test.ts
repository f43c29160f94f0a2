/**
 * Hostile input on the sales topic, through the real broker into the real
 * embedded engine (test/hostile-corpus.ts builds the messages; nothing mocked).
 *
 *   phase 0  a day of the shared export (2020-12-10), so every branch has a clock;
 *   phase 1  > 1,000 hostile messages interleaved with the next day (2020-12-11):
 *            every one that must be refused is in the DLQ topic (original key and
 *            bytes, code and reason headers) and in ingest_rejections; every valid
 *            event is stored and counted exactly once; too-late ones stored raw;
 *   phase 2  the harmless ones again (the whole day, a replay ×10, too-late copies):
 *            nothing changes anywhere;
 *   phase 3  one more valid event lands: the consumer never stopped.
 */
import crypto from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { loadPosExport } from '../../producers/pos-export';
import { replay } from '../../producers/replay';
import type { SaleEvent } from '../../schemas/events';
import { HEADER_BYTES } from '../../schemas/avro-codec';
import { DLQ_HEADERS } from '../../consumers/ingest/produce';
import { buildHostileCorpus, rawSaleBody, type StreamItem } from '../hostile-corpus';
import { createHarness, type Harness } from '../ingest-harness';
import { uniqueName, waitFor } from '../kafka-broker';
import { requireSharedExport } from '../shared-data';

const HOUR = 3_600_000;
const DAY0 = '2020-12-10';
const DAY1 = '2020-12-11';
/** Europe/Dublin is UTC in December: local midnights are UTC midnights. */
const midnightAfter = (date: string) => Date.parse(`${date}T00:00:00Z`) + 24 * HOUR;

const header = (m: KafkaMessage, name: string) => m.headers?.[name]?.toString();
const identity = (key: string | null, value: Buffer | null) =>
  `${key ?? '<null>'}|${crypto
    .createHash('sha256')
    .update(value ?? Buffer.alloc(0))
    .digest('hex')}`;

async function publish(h: Harness, items: StreamItem[]): Promise<void> {
  for (const item of items) {
    // A request holds one record batch per partition, and the broker caps a batch at 1 MB:
    // the big ones travel alone.
    const big = (item.value?.length ?? 0) > 32_768;
    if (big) await h.publisher.flush();
    await h.publisher.send(h.topics.sales, { key: item.key, value: item.value });
    if (big) await h.publisher.flush();
  }
  await h.publisher.flush();
}

/** Every message of a topic, read from the beginning by a consumer group of its own. */
async function readTopic(h: Harness, topic: string): Promise<KafkaMessage[]> {
  const admin = h.kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const total = ends.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  const got: KafkaMessage[] = [];
  const consumer = h.kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message);
        await Promise.resolve();
      },
    });
    await waitFor(() => got.length >= total, {
      description: `${total} messages of ${topic}`,
      timeoutMs: 60_000,
    });
  } finally {
    await consumer.disconnect();
  }
  return got;
}

async function rows<T>(h: Harness, query: string): Promise<T[]> {
  const rs = await h.ch.client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

function expectedHourly(events: SaleEvent[]): Map<string, { sales: number; orders: number }> {
  const out = new Map<string, { sales: number; orders: number }>();
  for (const e of events) {
    if (e.status === 'VOID') continue;
    const k = `${e.branch_id}|${Math.floor(e.occurred_at / HOUR) * HOUR}`;
    const b = out.get(k) ?? { sales: 0, orders: 0 };
    b.sales += e.total_minor;
    if (e.status === 'SALE') b.orders++;
    out.set(k, b);
  }
  return out;
}

describe('hostile input on the sales topic', () => {
  const file = requireSharedExport();
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('dead-letters every hostile message, counts every valid event exactly once, shrugs off duplicates and keeps consuming', async () => {
    const lateness = h.config.INGEST_ALLOWED_LATENESS_S * 1000;
    const branchIds = h.branches.list().map((b) => b.id);
    const earlier = (await loadPosExport(file, { branches: h.branches, from: DAY0, through: DAY0 })).events;
    const day = (await loadPosExport(file, { branches: h.branches, from: DAY1, through: DAY1 })).events;
    expect(earlier.length).toBeGreaterThan(300);
    expect(day.length).toBeGreaterThan(500);

    // ---- phase 0: a normal day, so every branch has a clock.
    await h.startIngest();
    await replay({
      events: earlier,
      branchIds,
      publisher: h.publisher,
      codec: h.codec,
      topic: h.topics.sales,
      speed: 'max',
      closeAt: midnightAfter(DAY0) + lateness,
    });
    await h.waitForIngestCaughtUp();

    // ---- phase 1: the hostile corpus, interleaved with the next day.
    const corpus = buildHostileCorpus({
      seed: 20201211,
      codec: h.codec,
      branches: h.branches,
      valid: day,
      earlier,
      branchIds,
      closeAt: midnightAfter(DAY1) + lateness,
      now: Date.now(),
    });
    expect(corpus.hostileCount).toBeGreaterThanOrEqual(1000);
    // The hand-written Avro writer agrees with the codec on valid events (so its hostile variants are what they claim).
    for (const e of day.slice(0, 50))
      expect(Buffer.concat([h.codec.encodeSale(e).subarray(0, HEADER_BYTES), rawSaleBody(e)])).toEqual(
        h.codec.encodeSale(e),
      );

    await publish(h, corpus.stream);
    await h.waitForIngestCaughtUp();
    // Events held back until their hours had closed: corrections.
    await publish(h, corpus.late);
    await h.waitForIngestCaughtUp();

    // Every message that must be refused is in the DLQ: same key, same bytes, an allowed code, a reason.
    const mustReject = corpus.stream.filter((i) => i.expect.outcome === 'rejected');
    const dlq = await readTopic(h, h.topics.dlq);
    const pending = new Map<string, KafkaMessage[]>();
    for (const m of dlq) {
      const id = identity(m.key?.toString() ?? null, m.value);
      pending.set(id, [...(pending.get(id) ?? []), m]);
    }
    const missing: string[] = [];
    const byLabel: Record<string, Record<string, number>> = {};
    for (const item of mustReject) {
      if (item.expect.outcome !== 'rejected') continue;
      const codes = item.expect.codes;
      const candidates = pending.get(identity(item.key, item.value)) ?? [];
      const at = candidates.findIndex((m) => codes.includes(header(m, DLQ_HEADERS.code) ?? ''));
      if (at < 0) {
        missing.push(
          `${item.label}: want ${codes.join('|')}, DLQ has ${candidates.map((m) => header(m, DLQ_HEADERS.code)).join(',') || 'nothing'}`,
        );
        continue;
      }
      const [m] = candidates.splice(at, 1);
      const code = header(m!, DLQ_HEADERS.code)!;
      (byLabel[item.label] ??= {})[code] = (byLabel[item.label]?.[code] ?? 0) + 1;
      expect(header(m!, DLQ_HEADERS.reason)?.length).toBeGreaterThan(5);
      expect(header(m!, DLQ_HEADERS.sourceTopic)).toBe(h.topics.sales);
      expect(header(m!, DLQ_HEADERS.sourceOffset)).toMatch(/^\d+$/);
    }
    expect(missing.slice(0, 20)).toEqual([]);
    const unexpected = [...pending.values()]
      .flat()
      .map((m) => `${header(m, DLQ_HEADERS.code)}: ${header(m, DLQ_HEADERS.reason)}`);
    expect(unexpected.slice(0, 20)).toEqual([]); // nothing valid or harmless was dead-lettered
    expect(dlq).toHaveLength(mustReject.length);
    process.stderr.write(
      `[hostile] ${corpus.hostileCount} hostile messages; dead-lettered by class and code: ${JSON.stringify(byLabel)}\n`,
    );

    // ... and each has a row in ingest_rejections, at the offset the DLQ headers name.
    const recorded = await rows<{ code: string; p: number; o: string; payload_size: number }>(
      h,
      `SELECT code, kafka_partition AS p, toString(kafka_offset) AS o, payload_size FROM ${h.ch.table('ingest_rejections')} FINAL WHERE topic = '${h.topics.sales}'`,
    );
    const at = (code: string | undefined, p: string | number | undefined, o: string | undefined) =>
      `${code}@${p}:${o}`;
    expect(recorded.map((r) => at(r.code, r.p, r.o)).sort()).toEqual(
      dlq
        .map((m) =>
          at(
            header(m, DLQ_HEADERS.code),
            header(m, DLQ_HEADERS.sourcePartition),
            header(m, DLQ_HEADERS.sourceOffset),
          ),
        )
        .sort(),
    );
    expect(recorded.reduce((n, r) => n + r.payload_size, 0)).toBe(
      dlq.reduce((n, m) => n + (m.value?.length ?? 0), 0),
    );

    // Every valid event stored once (odd ids and metadata intact), too-late ones stored raw and flagged.
    const stored = await rows<{
      branch_id: string;
      event_id: string;
      total_minor: string;
      too_late: number;
      pos: Record<string, string>;
    }>(h, `SELECT branch_id, event_id, total_minor, too_late, pos FROM ${h.ch.table('sales_events')} FINAL`);
    const storedKey = (b: string, id: string, total: number | string, tooLate: number) =>
      JSON.stringify([b, id, Number(total), tooLate]);
    const counted = [...earlier, ...corpus.counted];
    expect(stored.map((r) => storedKey(r.branch_id, r.event_id, r.total_minor, r.too_late)).sort()).toEqual(
      [
        ...counted.map((e) => storedKey(e.branch_id, e.event_id, e.total_minor, 0)),
        ...corpus.tooLate.map((e) => storedKey(e.branch_id, e.event_id, e.total_minor, 1)),
      ].sort(),
    );
    const odd = corpus.stream.find((i) => i.label === 'odd-but-valid');
    if (odd?.expect.outcome !== 'accepted') throw new Error('the corpus has odd-but-valid events');
    const oddEvent = odd.expect.event;
    expect(stored.find((r) => r.event_id === oddEvent.event_id)?.pos).toEqual(oddEvent.pos);

    // Hourly aggregates equal an expectation computed from the valid events alone.
    const want = expectedHourly(counted);
    const got = await h.hourly();
    const mismatches: string[] = [];
    const seen = new Set<string>();
    for (const [branch, hours] of got) {
      for (const [hour, v] of hours) {
        const k = `${branch}|${hour}`;
        seen.add(k);
        const w = want.get(k) ?? { sales: 0, orders: 0 };
        if (v.sales !== w.sales || v.orders !== w.orders)
          mismatches.push(`${k} got ${v.sales}/${v.orders} want ${w.sales}/${w.orders}`);
      }
    }
    for (const k of want.keys()) if (!seen.has(k)) mismatches.push(`${k} missing`);
    expect(mismatches.slice(0, 20)).toEqual([]);

    // Every hour of both days is closed; the hours of the events sent after the close were corrected.
    const closeD1 = midnightAfter(DAY1);
    for (const branch of branchIds) {
      const mine = got.get(branch)!;
      const first = Math.min(
        ...earlier.filter((e) => e.branch_id === branch).map((e) => Math.floor(e.occurred_at / HOUR) * HOUR),
      );
      const expectedHours = (closeD1 - first) / HOUR;
      const closed = [...mine].filter(([hour, v]) => hour < closeD1 && v.closed === 1 && v.revision >= 1);
      expect({ branch, closed: closed.length }).toEqual({ branch, closed: expectedHours });
    }
    const corrected = corpus.late
      .map((i) => (i.expect.outcome === 'accepted' ? i.expect.event : undefined))
      .filter((e) => e !== undefined);
    expect(corrected.length).toBeGreaterThan(10);
    for (const e of corrected)
      expect(
        got.get(e.branch_id)?.get(Math.floor(e.occurred_at / HOUR) * HOUR)?.revision,
      ).toBeGreaterThanOrEqual(2);

    // ---- phase 2: the harmless ones again. Nothing changes: not a total, not a revision, no dead letter.
    const snapshot = async () => ({
      hourly: await rows(
        h,
        `SELECT branch_id, hour_start, sales_minor, orders, refunds, voids, closed, revision FROM ${h.ch.table('sales_hourly')} FINAL ORDER BY branch_id, hour_start`,
      ),
      events: await rows(
        h,
        `SELECT branch_id, event_id, occurred_at, total_minor, too_late FROM ${h.ch.table('sales_events')} FINAL ORDER BY branch_id, event_id`,
      ),
      rejections: await rows(h, `SELECT count() AS n FROM ${h.ch.table('ingest_rejections')} FINAL`),
    });
    const before = await snapshot();
    await publish(h, corpus.harmless);
    await h.waitForIngestCaughtUp();
    const after = await snapshot();
    expect(after.events).toEqual(before.events);
    expect(after.rejections).toEqual(before.rejections);
    const hourDiff = (a: unknown[], b: unknown[]) => {
      const sa = new Set(a.map((x) => JSON.stringify(x)));
      const sb = new Set(b.map((x) => JSON.stringify(x)));
      return {
        added: [...sb].filter((x) => !sa.has(x)).slice(0, 10),
        removed: [...sa].filter((x) => !sb.has(x)).slice(0, 10),
      };
    };
    expect(hourDiff(before.hourly, after.hourly)).toEqual({ added: [], removed: [] });
    const admin = h.kafka.admin();
    await admin.connect();
    const dlqEnd = await admin.fetchTopicOffsets(h.topics.dlq).finally(() => admin.disconnect());
    expect(dlqEnd.reduce((n, p) => n + Number(p.high), 0)).toBe(dlq.length);

    // ---- phase 3: the consumer is still consuming.
    const last: SaleEvent = {
      ...day[0]!,
      event_id: 'after-the-storm',
      occurred_at: Date.parse('2020-12-12T12:34:00Z'),
      status: 'SALE',
      total_minor: 4321,
      net_minor: 3807,
      tax_minor: 514,
    };
    await publish(h, [
      {
        label: 'valid',
        key: last.branch_id,
        value: h.codec.encodeSale(last),
        expect: { outcome: 'accepted', event: last },
      },
    ]);
    const landed = await waitFor(
      async () =>
        (await h.hourly(last.branch_id)).get(last.branch_id)?.get(Date.parse('2020-12-12T12:00:00Z')),
      {
        description: 'the last valid event to be aggregated',
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
    expect(landed).toMatchObject({ sales: 4321, orders: 1 });
  }, 300_000);

  it('a batch of large rejected messages does not wedge the consumer (its dead letters exceed one broker request)', async () => {
    const h2 = await createHarness();
    try {
      // Four 400 KB blobs on one partition: each fits the topic (1 MB), together they do not.
      const blobs = Array.from({ length: 4 }, (_, i) => Buffer.alloc(400_000, i + 1));
      const valid: SaleEvent = {
        event_id: 'after-the-blobs',
        branch_id: h2.branches.list()[0]!.id,
        occurred_at: Date.parse('2020-12-12T12:34:00Z'),
        status: 'SALE',
        channel: 'RESTAURANT',
        currency: 'EUR',
        total_minor: 1234,
        net_minor: 1087,
        tax_minor: 147,
        tip_minor: 0,
        covers: null,
        pos: {},
      };
      await publish(h2, [
        ...blobs.map((value): StreamItem => ({
          label: 'blob',
          key: valid.branch_id,
          value,
          expect: { outcome: 'rejected', codes: ['oversized'] },
        })),
        {
          label: 'valid',
          key: valid.branch_id,
          value: h2.codec.encodeSale(valid),
          expect: { outcome: 'accepted', event: valid },
        },
      ]);
      // Published before the consumer starts, so its first fetch takes them all in one batch.
      await h2.startIngest();
      await h2.waitForIngestCaughtUp(30_000).catch((err: Error) => {
        throw new Error(
          `${err.message}. The batch's dead letters (1.6 MB) go to the DLQ in one produce request, over the broker's 1 MB limit: MESSAGE_TOO_LARGE is not retriable, so the consumer stops for good ("ingest consumer crashed", restart: false).`,
        );
      });
      const dlq = await readTopic(h2, h2.topics.dlq);
      expect(
        dlq.map((m) => [
          header(m, DLQ_HEADERS.code),
          m.value?.equals(blobs[Number(header(m, DLQ_HEADERS.sourceOffset))]!),
        ]),
      ).toEqual(blobs.map(() => ['oversized', true]));
      expect(
        (await h2.hourly(valid.branch_id)).get(valid.branch_id)?.get(Date.parse('2020-12-12T12:00:00Z')),
      ).toMatchObject({ sales: 1234, orders: 1 });
    } finally {
      await h2.close();
    }
  }, 120_000);
});
