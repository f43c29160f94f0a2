/**
 * processBatch against a real, fresh embedded ClickHouse database (no mocks):
 * the real SalesStore, the real codec, and plain in-memory collectors for the two
 * callbacks (dead letters, HourClosed events). A "crash" is a callback that throws
 * once, followed by what a restarted consumer does: reload the branch clocks from
 * ClickHouse and get the same batch again (its offsets were never committed).
 *
 * Times are January 2021 (Europe/Dublin = UTC), lateness 5 min, correction window 72 h.
 */
import { BranchDirectory, NORY_BRANCHES } from '../../lib/branches';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import type { Config } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { migrate } from '../../clickhouse/migrate';
import { defaultCodec } from '../../schemas/avro-codec';
import type { Heartbeat, HourClosed, SaleEvent } from '../../schemas/events';
import { testConfig } from '../../test/test-config';
import { processBatch, type DeadLetter, type IngestDeps, type RawMessage } from './batch-processor';
import { HOUR_MS } from '../../lib/time/units';
import type { BranchClock } from './hour-close';
import { SalesStore } from '../../clickhouse/store/sales-store';

const BRANCH = NORY_BRANCHES[0]!.id; // Europe/Dublin, EUR
const OTHER = NORY_BRANCHES[1]!.id;
const t = (iso: string) => Date.parse(iso);
const codec = defaultCodec();

let config: Config;
let ch: ClickHouse;
let store: SalesStore;

beforeAll(async () => {
  config = testConfig();
  const logger = createLogger('silent');
  ch = createClickHouse(config, logger);
  await migrate(ch, logger);
  store = new SalesStore(ch);
});

afterAll(async () => {
  await ch?.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
  await ch?.close();
});

/** Each test works on its own branch ids and topic name (they keep its rows apart in the shared database). */
let branchSeq = 0;
interface World {
  a: string;
  b: string;
  topic: string;
  directory: BranchDirectory;
}
function freshBranches(): World {
  branchSeq++;
  const a = `${BRANCH}-${branchSeq}`;
  const b = `${OTHER}-${branchSeq}`;
  const directory = new BranchDirectory([
    { ...NORY_BRANCHES[0]!, id: a, pos_company_id: undefined },
    { ...NORY_BRANCHES[1]!, id: b, pos_company_id: undefined },
  ]);
  return { a, b, topic: `pos.sales.test-${branchSeq}`, directory };
}

function sale(
  branch: string,
  id: string,
  iso: string,
  total: number,
  over: Partial<SaleEvent> = {},
): SaleEvent {
  return {
    event_id: id,
    branch_id: branch,
    occurred_at: t(iso),
    status: total < 0 ? 'REFUND' : 'SALE',
    channel: 'RESTAURANT',
    currency: 'EUR',
    total_minor: total,
    net_minor: Math.round(total / 1.135),
    tax_minor: total - Math.round(total / 1.135),
    tip_minor: 0,
    covers: 2,
    pos: { source: 'test' },
    ...over,
  };
}

const heartbeat = (branch: string, iso: string): Heartbeat => ({
  branch_id: branch,
  at: t(iso),
  source: 'test',
});

/** A fake partition: assigns increasing offsets like the broker would. */
class Partition {
  private next = 0;
  readonly log: RawMessage[] = [];
  append(...values: (SaleEvent | Heartbeat | Buffer)[]): RawMessage[] {
    return values.map((v) => {
      const value = Buffer.isBuffer(v) ? v : 'event_id' in v ? codec.encodeSale(v) : codec.encodeHeartbeat(v);
      const branch = Buffer.isBuffer(v) ? null : v.branch_id;
      const m: RawMessage = {
        offset: String(this.next++),
        key: branch === null ? null : Buffer.from(branch),
        value,
      };
      this.log.push(m);
      return m;
    });
  }
}

interface Collected {
  letters: DeadLetter[];
  closed: HourClosed[];
}

/** Callbacks that throw once (a crash at that point of the batch) when armed. */
interface Faults {
  deadLetter?: boolean;
  publishHoursClosed?: boolean;
}

function makeDeps(
  directory: BranchDirectory,
  clocks: Map<string, BranchClock>,
  out: Collected,
  faults: Faults = {},
  salesStore: SalesStore = store,
): IngestDeps {
  return {
    store: salesStore,
    decode: (buf) => codec.decode(buf),
    rules: {
      branches: directory,
      acceptUnknownBranches: false,
      maxFutureMs: config.INGEST_MAX_FUTURE_S * 1000,
      now: Date.now,
    },
    settings: { allowedLatenessMs: 5 * 60_000, correctionWindowMs: 72 * HOUR_MS },
    branches: directory,
    clocks,
    deadLetter: async (letters) => {
      if (faults.deadLetter) {
        faults.deadLetter = false;
        throw new Error('injected crash before the dead letters were sent');
      }
      out.letters.push(...letters);
      await Promise.resolve();
    },
    publishHoursClosed: async (events) => {
      if (faults.publishHoursClosed) {
        faults.publishHoursClosed = false;
        throw new Error('injected crash before the HourClosed events were published');
      }
      out.closed.push(...events);
      await Promise.resolve();
    },
    now: Date.now,
    logger: createLogger('silent'),
  };
}

/** A consumer of partition 0 of the world's topic: its in-memory clocks, and what it published. */
function consumer(w: World, clocks = new Map<string, BranchClock>(), salesStore = store) {
  const out: Collected = { letters: [], closed: [] };
  return {
    out,
    clocks,
    run: (messages: RawMessage[], faults: Faults = {}) =>
      processBatch(makeDeps(w.directory, clocks, out, faults, salesStore), w.topic, 0, messages),
  };
}

/** What a restarted consumer starts from: the clocks ClickHouse has. */
async function restarted(w: World) {
  return consumer(w, await store.loadClocks());
}

interface HourState {
  sales: number;
  orders: number;
  refunds: number;
  voids: number;
  closed: number;
  revision: number;
}

async function hours(branch: string): Promise<Map<string, HourState>> {
  const rs = await ch.client.query({
    query: `SELECT toUnixTimestamp(hour_start) * 1000 AS h, sales_minor, orders, refunds, voids, closed, revision
            FROM ${ch.table('sales_hourly')} FINAL WHERE branch_id = {b:String} ORDER BY hour_start`,
    query_params: { b: branch },
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{
    h: string;
    sales_minor: string;
    orders: number;
    refunds: number;
    voids: number;
    closed: number;
    revision: number;
  }>();
  return new Map(
    rows.map((r) => [
      new Date(Number(r.h)).toISOString().slice(5, 16),
      {
        sales: Number(r.sales_minor),
        orders: r.orders,
        refunds: r.refunds,
        voids: r.voids,
        closed: r.closed,
        revision: r.revision,
      },
    ]),
  );
}

async function rawEvents(
  branch: string,
): Promise<{ event_id: string; total_minor: number; too_late: number }[]> {
  const rs = await ch.client.query({
    query: `SELECT event_id, total_minor, too_late FROM ${ch.table('sales_events')} FINAL WHERE branch_id = {b:String} ORDER BY event_id`,
    query_params: { b: branch },
    format: 'JSONEachRow',
  });
  return (await rs.json<{ event_id: string; total_minor: string; too_late: number }>()).map((r) => ({
    ...r,
    total_minor: Number(r.total_minor),
  }));
}

async function rejections(
  topic: string,
): Promise<{ code: string; branch_id: string; event_id: string; kafka_offset: string }[]> {
  const rs = await ch.client.query({
    query: `SELECT code, branch_id, event_id, toString(kafka_offset) AS kafka_offset FROM ${ch.table('ingest_rejections')} FINAL
            WHERE topic = {t:String} ORDER BY kafka_offset`,
    query_params: { t: topic },
    format: 'JSONEachRow',
  });
  return rs.json();
}

const closes = (out: Collected) =>
  out.closed.map((c) => ({
    hour: new Date(c.hour_start).toISOString().slice(5, 16),
    sales: c.sales_minor,
    orders: c.orders,
    revision: c.revision,
  }));

describe('processBatch against a real ClickHouse database', () => {
  it('closes an hour once the watermark passes its end plus the lateness; quiet hours become zero rows', async () => {
    const w = freshBranches();
    const { a } = w;
    const p = new Partition();
    const c = consumer(w);

    const r1 = await c.run(
      p.append(
        sale(a, 'r1', '2021-01-05T10:10:00Z', 1250),
        sale(a, 'r2', '2021-01-05T10:50:00Z', 800),
        sale(a, 'r3', '2021-01-05T12:30:00Z', 2000),
      ),
    );
    // Watermark 12:30 - 5 min: 10:00 and 11:00 close (11:00 had no sale: a zero row), 12:00 stays open.
    expect(r1).toMatchObject({ accepted: 3, duplicates: 0, rejected: 0, tooLate: 0 });
    expect(closes(c.out)).toEqual([
      { hour: '01-05T10:00', sales: 2050, orders: 2, revision: 1 },
      { hour: '01-05T11:00', sales: 0, orders: 0, revision: 1 },
    ]);
    expect(Object.fromEntries(await hours(a))).toEqual({
      '01-05T10:00': { sales: 2050, orders: 2, refunds: 0, voids: 0, closed: 1, revision: 1 },
      '01-05T11:00': { sales: 0, orders: 0, refunds: 0, voids: 0, closed: 1, revision: 1 },
      '01-05T12:00': { sales: 2000, orders: 1, refunds: 0, voids: 0, closed: 0, revision: 0 },
    });

    // 13:04:59 - 5 min is still inside 12:00: nothing closes.
    await c.run(p.append(heartbeat(a, '2021-01-05T13:04:59Z')));
    expect(c.out.closed).toHaveLength(2);
    // 13:05 - 5 min = 13:00: hour 12:00 closes; a quiet afternoon closes as zero rows.
    await c.run(p.append(heartbeat(a, '2021-01-05T13:05:00Z')));
    expect(closes(c.out).slice(2)).toEqual([{ hour: '01-05T12:00', sales: 2000, orders: 1, revision: 1 }]);
    await c.run(p.append(heartbeat(a, '2021-01-05T16:05:00Z')));
    expect(closes(c.out).slice(3)).toEqual(
      ['01-05T13:00', '01-05T14:00', '01-05T15:00'].map((hour) => ({
        hour,
        sales: 0,
        orders: 0,
        revision: 1,
      })),
    );
    const h = await hours(a);
    expect([...h.keys()]).toEqual([
      '01-05T10:00',
      '01-05T11:00',
      '01-05T12:00',
      '01-05T13:00',
      '01-05T14:00',
      '01-05T15:00',
    ]);
    expect([...h.values()].every((v) => v.closed === 1 && v.revision === 1)).toBe(true);
    expect((await store.loadClocks()).get(a)).toEqual({
      watermark: t('2021-01-05T16:05:00Z'),
      closedThrough: t('2021-01-05T16:00:00Z'),
    });
  });

  it('counts refunds and voids apart: refunds reduce sales, voids are excluded', async () => {
    const w = freshBranches();
    const { a } = w;
    const p = new Partition();
    const c = consumer(w);
    await c.run(
      p.append(
        sale(a, 's1', '2021-01-05T10:05:00Z', 1000),
        sale(a, 's0', '2021-01-05T10:06:00Z', 0), // a zero-total receipt is an order
        sale(a, 'f1', '2021-01-05T10:10:00Z', -300),
        sale(a, 'v1', '2021-01-05T10:20:00Z', 999, { status: 'VOID' }),
        sale(a, 'v1-rev', '2021-01-05T10:21:00Z', -999, { status: 'VOID' }),
        heartbeat(a, '2021-01-05T11:05:00Z'),
      ),
    );
    expect((await hours(a)).get('01-05T10:00')).toEqual({
      sales: 700,
      orders: 2,
      refunds: 1,
      voids: 2,
      closed: 1,
      revision: 1,
    });
    expect(closes(c.out)).toEqual([{ hour: '01-05T10:00', sales: 700, orders: 2, revision: 1 }]);
  });

  it('a late event within the correction window yields revision 2 with corrected totals and an HourClosed revision 2', async () => {
    const w = freshBranches();
    const { a } = w;
    const p = new Partition();
    const c = consumer(w);
    await c.run(p.append(sale(a, 'e1', '2021-01-05T10:15:00Z', 1000), heartbeat(a, '2021-01-05T14:05:00Z')));
    expect((await hours(a)).get('01-05T10:00')).toMatchObject({
      sales: 1000,
      orders: 1,
      closed: 1,
      revision: 1,
    });
    const before = c.out.closed.length;

    // 30 hours later in event time, an event of 10:00 arrives: within 72 h of the closed-through point.
    await c.run(p.append(heartbeat(a, '2021-01-06T20:05:00Z')));
    const r = await c.run(p.append(sale(a, 'late-1', '2021-01-05T10:40:00Z', 450)));
    expect(r).toMatchObject({ accepted: 1, tooLate: 0 });
    expect((await hours(a)).get('01-05T10:00')).toEqual({
      sales: 1450,
      orders: 2,
      refunds: 0,
      voids: 0,
      closed: 1,
      revision: 2,
    });
    const fresh = closes(c.out)
      .slice(before)
      .filter((x) => x.hour === '01-05T10:00');
    expect(fresh).toEqual([{ hour: '01-05T10:00', sales: 1450, orders: 2, revision: 2 }]);

    // A second correction of the same hour: revision 3.
    await c.run(p.append(sale(a, 'late-2', '2021-01-05T10:41:00Z', -50)));
    expect((await hours(a)).get('01-05T10:00')).toMatchObject({
      sales: 1400,
      orders: 2,
      refunds: 1,
      revision: 3,
    });
    expect(closes(c.out).at(-1)).toEqual({ hour: '01-05T10:00', sales: 1400, orders: 2, revision: 3 });
  });

  it('a too-late event is stored raw with too_late=1 and not aggregated; no HourClosed', async () => {
    const w = freshBranches();
    const { a } = w;
    const p = new Partition();
    const c = consumer(w);
    await c.run(p.append(sale(a, 'e1', '2021-01-05T10:15:00Z', 1000), heartbeat(a, '2021-01-09T12:05:00Z')));
    const hoursBefore = await hours(a);
    const closedBefore = c.out.closed.length;

    // 10:00 on the 5th is more than 72 h before the closed-through point (12:00 on the 9th).
    const r = await c.run(p.append(sale(a, 'old-1', '2021-01-05T10:20:00Z', 777)));
    expect(r).toMatchObject({ accepted: 0, tooLate: 1, rejected: 0 });
    expect(await rawEvents(a)).toEqual([
      { event_id: 'e1', total_minor: 1000, too_late: 0 },
      { event_id: 'old-1', total_minor: 777, too_late: 1 },
    ]);
    expect(await hours(a)).toEqual(hoursBefore);
    expect(c.out.closed.length).toBe(closedBefore);
    expect(c.out.letters).toEqual([]);
  });

  it('a duplicate of a too-late event changes nothing either', async () => {
    const w = freshBranches();
    const { a } = w;
    const p = new Partition();
    const c = consumer(w);
    await c.run(p.append(sale(a, 'e1', '2021-01-05T10:15:00Z', 1000), heartbeat(a, '2021-01-09T12:05:00Z')));
    // Too late, and in an hour before the branch's history (no row for it).
    const old = sale(a, 'old-1', '2021-01-04T08:20:00Z', 777);
    await c.run(p.append(old));
    const hoursBefore = await hours(a);
    const closedBefore = c.out.closed.length;

    const r = await c.run(p.append(old));
    expect(r).toMatchObject({ accepted: 0, duplicates: 1, rejected: 0 });
    expect(await hours(a)).toEqual(hoursBefore);
    expect(closes(c.out).slice(closedBefore)).toEqual([]);
  });

  it('conflicting duplicates are dead-lettered and recorded; the first write wins', async () => {
    const w = freshBranches();
    const { a } = w;
    const p = new Partition();
    const c = consumer(w);
    const original = sale(a, 'dup-1', '2021-01-05T10:15:00Z', 1000);
    await c.run(p.append(original, heartbeat(a, '2021-01-05T11:05:00Z')));
    const before = await hours(a);

    // A later batch: same id, another amount. And within one batch: a new id twice, differently.
    const [conflict, first, conflictInBatch] = p.append(
      { ...original, total_minor: 9999, net_minor: 8800, tax_minor: 1199 },
      sale(a, 'dup-2', '2021-01-05T11:30:00Z', 500),
      sale(a, 'dup-2', '2021-01-05T11:30:00Z', 501),
    );
    const r = await c.run([conflict!, first!, conflictInBatch!]);
    expect(r).toMatchObject({ accepted: 1, rejected: 2, rejectionsByCode: { conflicting_duplicate: 2 } });
    expect(
      c.out.letters.map((l) => ({ code: l.code, partition: l.partition, original: l.original })),
    ).toEqual([
      { code: 'conflicting_duplicate', partition: 0, original: conflict },
      { code: 'conflicting_duplicate', partition: 0, original: conflictInBatch },
    ]);
    expect(c.out.letters.every((l) => /already recorded with different content/.test(l.reason))).toBe(true);
    expect(await rejections(w.topic)).toEqual([
      { code: 'conflicting_duplicate', branch_id: a, event_id: 'dup-1', kafka_offset: conflict!.offset },
      {
        code: 'conflicting_duplicate',
        branch_id: a,
        event_id: 'dup-2',
        kafka_offset: conflictInBatch!.offset,
      },
    ]);
    const after = await hours(a);
    expect(after.get('01-05T10:00')).toEqual(before.get('01-05T10:00'));
    expect(after.get('01-05T11:00')).toMatchObject({ sales: 500, orders: 1 });
    expect((await rawEvents(a)).map((e) => [e.event_id, e.total_minor])).toEqual([
      ['dup-1', 1000],
      ['dup-2', 500],
    ]);
  });

  it('exact duplicates change nothing: no new revision, no HourClosed, no dead letter', async () => {
    const w = freshBranches();
    const { a } = w;
    const p = new Partition();
    const c = consumer(w);
    const events = [
      sale(a, 'x1', '2021-01-05T10:15:00Z', 1000),
      sale(a, 'x2', '2021-01-05T11:15:00Z', 300),
      sale(a, 'x3', '2021-01-05T12:15:00Z', 700),
    ];
    await c.run(p.append(...events, heartbeat(a, '2021-01-05T12:05:00Z')));
    const before = await hours(a);
    const closedBefore = c.out.closed.length;

    // Closed hours (10, 11) and the open one (12), each copy ten times, across two batches.
    const copies = Array.from({ length: 10 }, () => events).flat();
    const r1 = await c.run(p.append(...copies.slice(0, 15)));
    const r2 = await c.run(p.append(...copies.slice(15)));
    expect(r1.duplicates + r2.duplicates).toBe(30);
    expect(r1.accepted + r2.accepted + r1.rejected + r2.rejected).toBe(0);
    expect(await hours(a)).toEqual(before);
    expect(c.out.closed.length).toBe(closedBefore);
    expect(c.out.letters).toEqual([]);
    expect(await rawEvents(a)).toHaveLength(3);
  });

  it('a message keyed otherwise than its branch is dead-lettered as key_mismatch and moves no clock', async () => {
    const w = freshBranches();
    const { a, b } = w;
    const p = new Partition();
    const c = consumer(w);
    await c.run(p.append(sale(a, 'k1', '2021-01-05T10:15:00Z', 1000)));

    // Valid events, but keyed by the other branch or not at all: they may sit on another
    // partition than their branch, whose clock belongs to the consumer of that partition.
    const good = p.append(sale(a, 'k2', '2021-01-05T10:20:00Z', 200));
    const wrongKey = { ...p.append(sale(a, 'k3', '2021-01-05T10:25:00Z', 300))[0]!, key: Buffer.from(b) };
    const noKey = { ...p.append(heartbeat(a, '2021-01-05T18:05:00Z'))[0]!, key: null };
    const r = await c.run([...good, wrongKey, noKey]);
    expect(r).toMatchObject({
      accepted: 1,
      rejected: 2,
      heartbeats: 0,
      rejectionsByCode: { key_mismatch: 2 },
    });
    expect(c.out.letters.map((l) => [l.code, l.original.offset])).toEqual([
      ['key_mismatch', wrongKey.offset],
      ['key_mismatch', noKey.offset],
    ]);
    expect(c.out.letters.every((l) => l.reason.includes(a))).toBe(true);
    expect(await rejections(w.topic)).toEqual([
      { code: 'key_mismatch', branch_id: a, event_id: 'k3', kafka_offset: wrongKey.offset },
      { code: 'key_mismatch', branch_id: a, event_id: '', kafka_offset: noKey.offset },
    ]);
    expect((await rawEvents(a)).map((e) => e.event_id)).toEqual(['k1', 'k2']);
    // The rejected heartbeat closed nothing.
    expect(c.out.closed).toEqual([]);
    expect((await hours(a)).get('01-05T10:00')).toMatchObject({ sales: 1200, orders: 2, closed: 0 });
  });

  it('a branch with only heartbeats closes nothing and writes nothing', async () => {
    const w = freshBranches();
    const { a, b } = w;
    const p = new Partition();
    const c = consumer(w);
    const r = await c.run(
      p.append(
        heartbeat(b, '2021-01-05T10:00:00Z'),
        heartbeat(b, '2021-01-05T18:00:00Z'),
        heartbeat(b, '2021-01-06T09:00:00Z'),
      ),
    );
    expect(r).toMatchObject({ heartbeats: 3, hoursWritten: 0, hoursClosed: [] });
    expect(c.out.closed).toEqual([]);
    expect((await hours(b)).size).toBe(0);
    expect((await store.loadClocks()).has(b)).toBe(false);

    // Its first sale then seeds its history at that hour, not at the first heartbeat.
    await c.run(
      p.append(sale(b, 'first', '2021-01-06T12:10:00Z', 100), heartbeat(b, '2021-01-06T13:05:00Z')),
    );
    expect([...(await hours(b)).keys()]).toEqual(['01-06T12:00']);
    expect(closes(c.out)).toEqual([{ hour: '01-06T12:00', sales: 100, orders: 1, revision: 1 }]);
    expect((await hours(a)).size).toBe(0);
  });

  it('redelivering a committed batch yields identical aggregates and publishes nothing new', async () => {
    const w = freshBranches();
    const { a, b } = w;
    const p = new Partition();
    const c = consumer(w);
    const batch = p.append(
      sale(a, 'a1', '2021-01-05T10:15:00Z', 1000),
      sale(b, 'b1', '2021-01-05T10:20:00Z', 400),
      sale(a, 'a2', '2021-01-05T11:15:00Z', 300),
      heartbeat(a, '2021-01-05T12:05:00Z'),
      heartbeat(b, '2021-01-05T12:05:00Z'),
      Buffer.from('garbage'),
    );
    await c.run(batch);
    const before = { a: await hours(a), b: await hours(b) };
    const closedBefore = c.out.closed.length;
    const lettersBefore = c.out.letters.length;

    // The commit was lost: the same consumer gets the same batch again.
    await c.run(batch);
    expect({ a: await hours(a), b: await hours(b) }).toEqual(before);
    expect(c.out.closed.length).toBe(closedBefore);
    // Dead letters are at least once: the undecodable message may go again, with the same offset.
    expect(c.out.letters.slice(lettersBefore).map((l) => l.original.offset)).toEqual([batch[5]!.offset]);
    // ingest_rejections collapses the redelivered copy (same topic, partition, offset and code).
    expect(await rejections(w.topic)).toEqual([
      { code: 'not_single_object', branch_id: '', event_id: '', kafka_offset: batch[5]!.offset },
    ]);
  });

  it('duplicate lookups in chunks of ids find every stored copy (redelivery with 3 ids per query)', async () => {
    const w = freshBranches();
    const p = new Partition();
    const sales = Array.from({ length: 10 }, (_, i) =>
      sale(i % 2 ? w.b : w.a, `c${i}`, `2021-01-05T10:${String(10 + i).padStart(2, '0')}:00Z`, 100 + i),
    );
    const batch = p.append(...sales, heartbeat(w.a, '2021-01-05T11:05:00Z'));
    const c = consumer(w);
    await c.run(batch);
    const before = { a: await hours(w.a), b: await hours(w.b) };

    const chunked = new SalesStore(ch, 3);
    const found = await chunked.findEvents(
      [w.a, w.b],
      sales.map((x) => x.event_id),
    );
    expect(found.map((f) => f.event_id).sort()).toEqual(sales.map((x) => x.event_id).sort());
    expect(found.find((f) => f.event_id === 'c7')).toMatchObject({ branch_id: w.b, total_minor: 107 });

    // A redelivery to a restarted consumer whose store looks ids up 3 at a time changes nothing.
    const again = consumer(w, await store.loadClocks(), chunked);
    await again.run(batch);
    expect({ a: await hours(w.a), b: await hours(w.b) }).toEqual(before);
    expect(again.out.letters).toEqual([]);
  });

  // ---- crash in the middle of a batch: what a restarted consumer makes of the redelivery ----

  async function cleanRun(w: World, batches: (SaleEvent | Heartbeat)[][]) {
    const p = new Partition();
    const c = consumer(w);
    for (const b of batches) await c.run(p.append(...b));
    return c;
  }

  it('a crash after the raw events were written (before HourClosed and clocks) then a redelivery equals a clean run', async () => {
    const x = freshBranches();
    const y = freshBranches();
    const batch = (branch: string) => [
      sale(branch, 'c1', '2021-01-05T10:15:00Z', 1000),
      sale(branch, 'c2', '2021-01-05T11:20:00Z', 400),
      sale(branch, 'c3', '2021-01-05T13:15:00Z', 300),
      heartbeat(branch, '2021-01-05T14:05:00Z'),
    ];
    const next = (branch: string) => [
      sale(branch, 'c4', '2021-01-05T15:30:00Z', 50),
      heartbeat(branch, '2021-01-05T16:05:00Z'),
    ];

    // Reference: no crash.
    const clean = await cleanRun(x, [batch(x.a), next(x.a)]);

    // Crash: the first batch (the branch's very first) dies before its HourClosed events went out.
    const p = new Partition();
    const first = p.append(...batch(y.a));
    const c1 = consumer(y);
    await expect(c1.run(first, { publishHoursClosed: true })).rejects.toThrow(/injected crash/);
    const c2 = await restarted(y);
    await c2.run(first);
    await c2.run(p.append(...next(y.a)));

    expect(await hours(y.a)).toEqual(await hours(x.a));
    expect(closes(c2.out)).toEqual(closes(clean.out));
    expect((await store.loadClocks()).get(y.a)).toEqual((await store.loadClocks()).get(x.a));
  });

  it('a crash after a correction was written but before its HourClosed went out: the redelivery still publishes revision 2', async () => {
    const w = freshBranches();
    const { a } = w;
    const p = new Partition();
    const c1 = consumer(w);
    await c1.run(p.append(sale(a, 'e1', '2021-01-05T10:15:00Z', 1000), heartbeat(a, '2021-01-05T14:05:00Z')));

    const late = p.append(sale(a, 'late-1', '2021-01-05T10:40:00Z', 450));
    await expect(c1.run(late, { publishHoursClosed: true })).rejects.toThrow(/injected crash/);
    const c2 = await restarted(w);
    await c2.run(late);

    expect((await hours(a)).get('01-05T10:00')).toMatchObject({
      sales: 1450,
      orders: 2,
      closed: 1,
      revision: 2,
    });
    // The forecaster must hear about the corrected hour at least once.
    expect(closes(c2.out)).toContainEqual({ hour: '01-05T10:00', sales: 1450, orders: 2, revision: 2 });
  });

  it('a crash before the dead letters went out: the redelivery dead-letters them (at least once)', async () => {
    const w = freshBranches();
    const { a } = w;
    const p = new Partition();
    const batch = p.append(
      sale(a, 'ok', '2021-01-05T10:15:00Z', 1000),
      sale(a, 'neg', '2021-01-05T10:16:00Z', -1000, { status: 'SALE' }),
      heartbeat(a, '2021-01-05T11:05:00Z'),
    );
    const c1 = consumer(w);
    await expect(c1.run(batch, { deadLetter: true })).rejects.toThrow(/injected crash/);
    expect(c1.out.letters).toEqual([]);
    const c2 = await restarted(w);
    await c2.run(batch);
    expect(c2.out.letters.map((l) => [l.code, l.original.offset])).toEqual([
      ['inconsistent_status', batch[1]!.offset],
    ]);
    expect(await rejections(w.topic)).toEqual([
      { code: 'inconsistent_status', branch_id: a, event_id: 'neg', kafka_offset: batch[1]!.offset },
    ]);
    expect((await hours(a)).get('01-05T10:00')).toMatchObject({
      sales: 1000,
      orders: 1,
      closed: 1,
      revision: 1,
    });
    expect(closes(c2.out)).toEqual([{ hour: '01-05T10:00', sales: 1000, orders: 1, revision: 1 }]);
  });
});
