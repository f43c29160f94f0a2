/**
 * Two ingest members writing the same partition's hours, interleaved exactly: the
 * ordering argument of row-versions.ts proved on the real engine (embedded chdb, a
 * fresh database). A member here is processBatch with its own in-memory clocks and a
 * SalesStore that can hold it just before one of its ClickHouse calls, which is where
 * a zombie stalls: it computed from what ClickHouse said before the partition's new
 * owner moved on, and it writes after.
 *
 * Every scenario first shows that the stale write really landed after the owner's
 * (rows written since it was released), then that it changed nothing a reader sees.
 * Times are January 2021 (UTC), lateness 5 min, correction window 72 h.
 */
import { BranchDirectory, NORY_BRANCHES } from '../../lib/branches';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import type { Config } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { migrate } from '../../clickhouse/migrate';
import { defaultCodec } from '../../schemas/avro-codec';
import type { Heartbeat, HourClosed, SaleEvent } from '../../schemas/events';
import { testConfig } from '../../test/test-config';
import { processBatch, type IngestDeps, type RawMessage } from './batch-processor';
import { HOUR_MS } from '../../lib/time/units';
import type { BranchClock } from './hour-close';
import { clockVersion, eventsOfHourVersion, hourVersion } from '../../clickhouse/store/row-versions';
import {
  emptyAggregate,
  SalesStore,
  type HourRow,
  type NewEventRow,
} from '../../clickhouse/store/sales-store';

const t = (iso: string) => Date.parse(iso);
const codec = defaultCodec();
const TOPIC = 'pos.sales.concurrent';

let config: Config;
let ch: ClickHouse;

beforeAll(async () => {
  config = testConfig();
  const logger = createLogger('silent');
  ch = createClickHouse(config, logger);
  await migrate(ch, logger);
});

afterAll(async () => {
  await ch?.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
  await ch?.close();
});

type StoreCall =
  'findEvents' | 'insertEvents' | 'storedHours' | 'aggregateHours' | 'insertHours' | 'saveClocks';

/** A SalesStore that can stop its member just before one call, until the test releases it. */
class HoldingStore extends SalesStore {
  private hold: { call: StoreCall; reached: () => void; released: Promise<void> } | undefined;

  /** Resolves `reached` when the member gets to `call`; it goes on after `release()`. */
  holdBefore(call: StoreCall): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const reached = new Promise<void>((resolve) => (this.hold = { call, reached: resolve, released }));
    return { reached, release };
  }

  private async gate(call: StoreCall): Promise<void> {
    const h = this.hold;
    if (h?.call !== call) return;
    this.hold = undefined;
    h.reached();
    await h.released;
  }

  override async findEvents(branchIds: string[], eventIds: string[]) {
    await this.gate('findEvents');
    return super.findEvents(branchIds, eventIds);
  }
  override async insertEvents(rows: NewEventRow[]) {
    await this.gate('insertEvents');
    return super.insertEvents(rows);
  }
  override async storedHours(hours: Map<string, Set<number>>) {
    await this.gate('storedHours');
    return super.storedHours(hours);
  }
  override async aggregateHours(hours: Map<string, Set<number>>) {
    await this.gate('aggregateHours');
    return super.aggregateHours(hours);
  }
  override async insertHours(rows: HourRow[]) {
    await this.gate('insertHours');
    return super.insertHours(rows);
  }
  override async saveClocks(clocks: Map<string, BranchClock>) {
    await this.gate('saveClocks');
    return super.saveClocks(clocks);
  }
}

let seq = 0;
function freshBranch(): { id: string; directory: BranchDirectory } {
  const id = `${NORY_BRANCHES[0]!.id}-cw${++seq}`;
  return { id, directory: new BranchDirectory([{ ...NORY_BRANCHES[0]!, id, pos_company_id: undefined }]) };
}

const sale = (branch: string, id: string, iso: string, total: number): SaleEvent => ({
  event_id: id,
  branch_id: branch,
  occurred_at: t(iso),
  status: 'SALE',
  channel: 'RESTAURANT',
  currency: 'EUR',
  total_minor: total,
  net_minor: Math.round(total / 1.135),
  tax_minor: total - Math.round(total / 1.135),
  tip_minor: 0,
  covers: 2,
  pos: { source: 'test' },
});
const heartbeat = (branch: string, iso: string): Heartbeat => ({
  branch_id: branch,
  at: t(iso),
  source: 'test',
});

/** One partition's log: the same messages (same offsets) whichever member reads them. */
function partitionLog(...values: (SaleEvent | Heartbeat)[]): RawMessage[] {
  return values.map((v, i) => ({
    offset: String(i),
    key: Buffer.from(v.branch_id),
    value: 'event_id' in v ? codec.encodeSale(v) : codec.encodeHeartbeat(v),
  }));
}

/** An ingest member: its own clocks (what it believes), its store, what it published. */
function member(directory: BranchDirectory) {
  const store = new HoldingStore(ch);
  const clocks = new Map<string, BranchClock>();
  const published: HourClosed[] = [];
  const deps: IngestDeps = {
    store,
    decode: (buf) => codec.decode(buf),
    rules: { branches: directory, acceptUnknownBranches: false, maxFutureMs: 3_600_000, now: Date.now },
    settings: { allowedLatenessMs: 5 * 60_000, correctionWindowMs: 72 * HOUR_MS },
    branches: directory,
    clocks,
    deadLetter: () => Promise.resolve(),
    publishHoursClosed: (events) => {
      published.push(...events);
      return Promise.resolve();
    },
    now: Date.now,
    logger: createLogger('silent'),
  };
  return {
    store,
    clocks,
    published,
    run: (messages: RawMessage[]) => processBatch(deps, TOPIC, 0, messages),
  };
}

interface HourView {
  sales: number;
  orders: number;
  closed: number;
  revision: number;
}

/** What readers see (FINAL), by "HH:MM" of 2021-01-05. */
async function hours(branch: string): Promise<Record<string, HourView>> {
  const rs = await ch.client.query({
    query: `SELECT formatDateTime(hour_start, '%H:%i') AS h, sales_minor, orders, closed, revision
            FROM ${ch.table('sales_hourly')} FINAL WHERE branch_id = {b:String} ORDER BY hour_start`,
    query_params: { b: branch },
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{
    h: string;
    sales_minor: string;
    orders: number;
    closed: number;
    revision: number;
  }>();
  return Object.fromEntries(
    rows.map((r) => [
      r.h,
      { sales: Number(r.sales_minor), orders: r.orders, closed: r.closed, revision: r.revision },
    ]),
  );
}

const serverNow = async (): Promise<string> => {
  const rs = await ch.client.query({ query: 'SELECT toString(now64(3)) AS n', format: 'JSONEachRow' });
  return (await rs.json<{ n: string }>())[0]!.n;
};

/**
 * A point of the server's clock after every write so far and before any write from now on: rows
 * written since have a later updated_at (it defaults to the insert's now64(3)).
 */
async function writeMark(): Promise<string> {
  const mark = await serverNow();
  // Until the next millisecond: a write stamped with `mark` itself was done before it was read.
  for (let now = mark; now === mark; now = await serverNow()) {
    /* polling the server's clock */
  }
  return mark;
}

/** Rows written after `since` (the stale member's late writes), as they were written. */
async function writtenSince(branch: string, since: string) {
  const q = async <T>(query: string) =>
    (
      await ch.client.query({
        query,
        query_params: { b: branch, since },
        format: 'JSONEachRow',
      })
    ).json<T>();
  const hourRows = await q<{ h: string; orders: number; closed: number; revision: number }>(
    `SELECT formatDateTime(hour_start, '%H:%i') AS h, orders, closed, revision FROM ${ch.table('sales_hourly')}
     WHERE branch_id = {b:String} AND updated_at > {since:DateTime64(3, 'UTC')} ORDER BY hour_start`,
  );
  const clockRows = await q<{ wm: string }>(
    `SELECT formatDateTime(watermark, '%H:%i') AS wm FROM ${ch.table('branch_watermarks')}
     WHERE branch_id = {b:String} AND updated_at > {since:DateTime64(3, 'UTC')}`,
  );
  return { hours: hourRows, clocks: clockRows.map((r) => r.wm) };
}

describe('row versions', () => {
  it('rank hours by closed, then events aggregated, then revision; clocks by watermark; all above wall-clock versions', () => {
    const legacy = BigInt(Date.UTC(2100, 0, 1)) * 1000n + 999n; // older code: epoch ms × 1000
    const open = (events: number) => hourVersion({ closed: false, events, revision: 0 });
    const closed = (events: number, revision: number) => hourVersion({ closed: true, events, revision });
    expect(open(0)).toBeGreaterThan(legacy);
    expect(open(5)).toBeGreaterThan(open(4));
    expect(closed(0, 1)).toBeGreaterThan(open(4_000_000_000)); // no open row outranks a closed one
    expect(closed(5, 1)).toBeGreaterThan(closed(4, 9)); // more events beat a higher revision
    expect(closed(5, 3)).toBeGreaterThan(closed(5, 2));
    expect(eventsOfHourVersion(closed(123_456, 7))).toBe(123_456);
    expect(eventsOfHourVersion(legacy)).toBeNull();
    expect(closed(2 ** 32 - 1, 2 ** 30 - 1)).toBeLessThan(1n << 64n);
    expect(() => closed(2 ** 32, 1)).toThrow('does not fit');

    const clock = (wm: string, ct: string) => clockVersion({ watermark: t(wm), closedThrough: t(ct) });
    expect(clock('2021-01-05T12:10:00Z', '2021-01-05T12:00:00Z')).toBeGreaterThan(
      clock('2021-01-05T12:09:59.999Z', '2021-01-05T12:00:00Z'),
    );
    expect(clock('2021-01-05T12:10:00Z', '2021-01-05T12:00:00Z')).toBeGreaterThan(legacy);
    expect(clock('2109-01-01T00:00:00Z', '2109-01-01T00:00:00Z')).toBeLessThan(1n << 64n);
  });
});

describe('two members interleaved on one partition (real engine)', () => {
  it('a zombie that aggregated and advanced its clock before the owner moved on, and writes after, changes nothing', async () => {
    const { id: a, directory } = freshBranch();
    const log = partitionLog(
      sale(a, 'e1', '2021-01-05T10:10:00Z', 1000),
      sale(a, 'e2', '2021-01-05T10:40:00Z', 2000),
      // the owner gets further: a third sale in 10:00, then the watermark closes 10:00 and 11:00
      sale(a, 'e3', '2021-01-05T10:50:00Z', 500),
      sale(a, 'e4', '2021-01-05T11:30:00Z', 700),
      heartbeat(a, '2021-01-05T12:10:00Z'),
    );
    const zombie = member(directory);
    const owner = member(directory);

    // The zombie runs offsets 0-1 and stalls with its rows computed: hour 10:00 open with 2 sales,
    // clock at 10:40.
    const stall = zombie.store.holdBefore('insertHours');
    const late = zombie.run(log.slice(0, 2));
    await stall.reached;

    // It lost the partition: the owner gets the same uncommitted batch, then the rest.
    await owner.run(log.slice(0, 2));
    await owner.run(log.slice(2));
    const settled = await hours(a);
    expect(settled).toEqual({
      '10:00': { sales: 3500, orders: 3, closed: 1, revision: 1 },
      '11:00': { sales: 700, orders: 1, closed: 1, revision: 1 },
    });

    const since = await writeMark();
    stall.release();
    await late;
    // The late writes landed after the owner's: hour 10:00 open with 2 orders, and the 10:40 clock
    // (with wall-clock versions that clock row, versioned when it is saved, would win: the watermark
    // would go back, and the next member to load it would close 10:00 and 11:00 again).
    expect(await writtenSince(a, since)).toEqual({
      hours: [{ h: '10:00', orders: 2, closed: 0, revision: 0 }],
      clocks: ['10:40'],
    });
    // They are outranked: nothing reopened, no sale lost, the watermark did not go back.
    expect(await hours(a)).toEqual(settled);
    expect((await new SalesStore(ch).loadClocks([a])).get(a)).toEqual({
      watermark: t('2021-01-05T12:10:00Z'),
      closedThrough: t('2021-01-05T12:00:00Z'),
    });
  });

  // Held before aggregating, the zombie counts everything the owner stored meanwhile; held after, it
  // writes what it counted before. Either way its row (revision 2, from the revision 1 it read) must
  // not outrank the owner's corrections. (The owner's batches are cut so that no row of the zombie
  // equals one of the owner's: a late row must be told apart from the owner's to prove it landed.)
  it.each([
    {
      call: 'aggregateHours' as const,
      ownerBatches: [
        [3, 4],
        [4, 5],
      ],
      zombieOrders: 4,
      final: 3,
    },
    { call: 'insertHours' as const, ownerBatches: [[3, 5]], zombieOrders: 3, final: 2 },
  ])(
    'a zombie correction held before $call loses to the owner’s corrections: totals and revision stay the owner’s',
    async ({ call, ownerBatches, zombieOrders, final }) => {
      const { id: a, directory } = freshBranch();
      const log = partitionLog(
        sale(a, 'e1', '2021-01-05T10:10:00Z', 1000),
        sale(a, 'e2', '2021-01-05T10:40:00Z', 2000),
        heartbeat(a, '2021-01-05T12:10:00Z'),
        sale(a, 'late1', '2021-01-05T10:55:00Z', 300), // offset 3: a correction of 10:00
        sale(a, 'late2', '2021-01-05T10:56:00Z', 400), // offset 4: another one
      );
      await member(directory).run(log.slice(0, 3)); // committed: 10:00 and 11:00 closed, revision 1
      expect((await hours(a))['10:00']).toEqual({ sales: 3000, orders: 2, closed: 1, revision: 1 });

      // The zombie (the partition's owner until now) takes offset 3, stores late1, reads the stored
      // hour (revision 1) and stalls.
      const zombie = member(directory);
      const stall = zombie.store.holdBefore(call);
      const late = zombie.run(log.slice(3, 4));
      await stall.reached;

      // The owner redoes offset 3 (late1 is a duplicate now) and goes on to offset 4.
      const owner = member(directory);
      for (const [from, to] of ownerBatches) await owner.run(log.slice(from, to));
      const settled = await hours(a);
      expect(settled['10:00']).toEqual({ sales: 3700, orders: 4, closed: 1, revision: final });
      expect(owner.published.map((h) => h.revision)).toEqual(final === 3 ? [2, 3] : [2]);

      const since = await writeMark();
      stall.release();
      await late;
      // Its late correction landed: revision 2 (it read revision 1). With a wall-clock version it
      // would be the newest row and win; here the owner's row keeps its totals and revision.
      expect((await writtenSince(a, since)).hours).toEqual([
        { h: '10:00', orders: zombieOrders, closed: 1, revision: 2 },
      ]);
      expect(await hours(a)).toEqual(settled);
    },
  );

  it('a member that gets a partition back starts from the clock its other owner saved, not its own stale one', async () => {
    const { id: a, directory } = freshBranch();
    const log = partitionLog(
      sale(a, 'e1', '2021-01-05T10:10:00Z', 1000),
      sale(a, 'e2', '2021-01-05T11:40:00Z', 2000),
      heartbeat(a, '2021-01-05T14:10:00Z'), // closes 10:00 to 13:00
      sale(a, 'late', '2021-01-05T11:50:00Z', 300), // a correction of a closed hour
    );
    const m1 = member(directory);
    const m2 = member(directory);
    await m1.run(log.slice(0, 2)); // m1's clock: watermark 11:40, 10:00 closed
    await m2.run(log.slice(2, 3)); // a rebalance gave m2 the partition: 10:00-13:00 closed
    expect(m1.clocks.get(a)?.closedThrough).toBe(t('2021-01-05T11:00:00Z'));

    // Back to m1, whose own clock still says 11:00 is open: an open 11:00 row would reopen it.
    const r = await m1.run(log.slice(3));
    expect(
      r.hoursClosed.map((h) => [new Date(h.hour_start).toISOString().slice(11, 16), h.revision]),
    ).toEqual([['11:00', 2]]);
    expect(await hours(a)).toEqual({
      '10:00': { sales: 1000, orders: 1, closed: 1, revision: 1 },
      '11:00': { sales: 2300, orders: 2, closed: 1, revision: 2 },
      '12:00': { sales: 0, orders: 0, closed: 1, revision: 1 },
      '13:00': { sales: 0, orders: 0, closed: 1, revision: 1 },
    });
    expect(m1.clocks.get(a)).toEqual({
      watermark: t('2021-01-05T14:10:00Z'),
      closedThrough: t('2021-01-05T14:00:00Z'),
    });
  });

  it('rows of older code (wall-clock versions) give way to the first new write of their hour or clock', async () => {
    const { id: a, directory } = freshBranch();
    const log = partitionLog(
      sale(a, 'e1', '2021-01-05T10:10:00Z', 1000),
      heartbeat(a, '2021-01-05T11:10:00Z'),
      sale(a, 'late', '2021-01-05T10:20:00Z', 300),
      heartbeat(a, '2021-01-05T11:30:00Z'),
    );
    // What older code left behind: the raw sale, its hour closed and its clock, versioned by the
    // wall clock (epoch ms × 1000, as nextVersion() did).
    const e1 = codec.decode(log[0]!.value!).value as SaleEvent;
    const store = new SalesStore(ch);
    await store.insertEvents([{ event: e1, tooLate: false, partition: 0, offset: '0' }]);
    const legacy = Date.now() * 1000;
    await store.insertHours([
      {
        ...emptyAggregate(),
        branch_id: a,
        hour_start: t('2021-01-05T10:00:00Z'),
        timezone: 'Europe/Dublin',
        sales_minor: 1000,
        orders: 1,
        closed: true,
        revision: 1,
        version: legacy,
      },
    ]);
    await ch.client.insert({
      table: ch.table('branch_watermarks'),
      values: [
        {
          branch_id: a,
          watermark: '2021-01-05 11:10:00.000',
          closed_through: '2021-01-05 11:00:00',
          version: legacy,
        },
      ],
      format: 'JSONEachRow',
    });
    expect((await hours(a))['10:00']).toEqual({ sales: 1000, orders: 1, closed: 1, revision: 1 });

    // A new member corrects the hour and moves the clock on: its rows rank above the old ones.
    const owner = member(directory);
    await owner.run(log.slice(2));
    expect(await hours(a)).toEqual({ '10:00': { sales: 1300, orders: 2, closed: 1, revision: 2 } });
    expect((await store.loadClocks([a])).get(a)).toEqual({
      watermark: t('2021-01-05T11:30:00Z'),
      closedThrough: t('2021-01-05T11:00:00Z'),
    });
    // Redelivered, the old hour's sale is a duplicate: the stored totals (whatever their version) stand.
    await member(directory).run(log.slice(0, 2));
    expect(await hours(a)).toEqual({ '10:00': { sales: 1300, orders: 2, closed: 1, revision: 2 } });
  });
});
