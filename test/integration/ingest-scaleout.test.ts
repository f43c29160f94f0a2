/**
 * Several ingest members in one consumer group, as separate processes (the real CLI,
 * `tillcast ingest`), on the test broker, sharing one ClickHouse while the real POS
 * export is replayed. There is no ClickHouse server binary on this machine: the shared
 * ClickHouse is test/clickhouse-http-facade.ts in a process of its own, the real engine
 * behind ClickHouse's HTTP interface (CLICKHOUSE_URL), the only way several processes
 * share one database here. Each test has its own topics, group and database on it.
 *
 * The sales topic has 4 partitions: the three restaurants are keyed to partitions 1, 0
 * and 3, so with two members each owns at least one busy partition. Session timeout 6 s
 * (KAFKA_SESSION_TIMEOUT_MS; the broker's minimum), so a member that went silent loses
 * its partitions within seconds.
 *
 * A batch is caught in flight deterministically: when a member logs that a batch started
 * (debug), the test freezes the facade (SIGSTOP: no ClickHouse answer, so no batch can
 * finish), stops the member once it waits for ClickHouse, and asks the broker that the
 * batch's offsets are not committed (stopMidBatch). Then:
 *   a. the member is SIGKILLed mid-batch; a survivor gets the partition and starts again at
 *      or below the killed batch's first offset (redelivery);
 *   b. a member is added mid-replay; the group rebalances and both members own partitions;
 *   c. the member stays stopped past the session timeout (a zombie) while the other member
 *      takes its partitions and moves past its batch, then is continued: its late writes land
 *      (a stale watermark row written after the owner's), its commit is refused, it rejoins,
 *      and nothing a reader sees regressed.
 * Every test ends with totals equal to the independent reference of the export
 * (test/reference-totals.ts) for every hour, every hour closed with revision 1, and no
 * event stored twice.
 */
import path from 'node:path';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { killAllChildren, requireBuiltCli, spawnCli, type CliProcess, type LogLine } from '../child-process';
import { startFacadeProcess, type FacadeProcess } from '../clickhouse-http-facade';
import {
  committedOffsets,
  createTopics,
  faultScenario,
  livingProcess,
  removeScenarioDirs,
  waitForCommitted,
  type FaultScenario,
} from '../fault-helpers';
import { computeReferenceHourly, utcToDublinLocal } from '../reference-totals';
import { waitFor } from '../kafka-broker';
import { requireSharedExport } from '../shared-data';

jest.setTimeout(180_000);

const HOUR = 3_600_000;
/** Winter (Europe/Dublin = UTC): the last local day closes at midnight UTC after THROUGH. */
const FROM = '2020-11-16';
const THROUGH = '2020-11-27';
const logger = createLogger('silent');

let file: string;
let reference: ReturnType<typeof computeReferenceHourly>;
let facade: FacadeProcess;
let scratch: FaultScenario;
const clients: ClickHouse[] = [];
const stopped = new Set<number>();
let passed = 0;

const signal = (pid: number, sig: 'SIGSTOP' | 'SIGCONT') => {
  process.kill(pid, sig);
  if (sig === 'SIGSTOP') stopped.add(pid);
  else stopped.delete(pid);
};

beforeAll(async () => {
  requireBuiltCli();
  file = requireSharedExport();
  scratch = faultScenario('ingscale');
  facade = await startFacadeProcess({
    dataDir: path.join(scratch.dir, 'server-data'),
    scratchDir: scratch.dir,
  });
  reference = computeReferenceHourly(file);
}, 120_000);

afterAll(async () => {
  for (const pid of stopped) process.kill(pid, 'SIGCONT'); // a stopped process cannot even die of SIGTERM
  await killAllChildren();
  for (const c of clients) await c.close();
  await facade?.stop();
  // The facade's data directory is in `scratch`; a failed run keeps them all for a post-mortem.
  if (passed === 3) removeScenarioDirs();
  else if (scratch)
    process.stderr.write(`[ingest-scaleout] kept ${scratch.dir} (and the tests' own) for a post-mortem\n`);
});

interface Setup {
  s: FaultScenario;
  env: Record<string, string>;
  ch: ClickHouse;
}

/** Topics, group and a database of the test's own on the shared facade. */
async function setup(name: string, speed = 'x100000'): Promise<Setup & { replay: () => CliProcess }> {
  const s = faultScenario(name, {
    KAFKA_SALES_PARTITIONS: '4',
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    CLICKHOUSE_URL: facade.url,
    CLICKHOUSE_DATABASE: name.replace(/-/g, '_'),
    // 'batch started', 'batch clocks loaded' and 'batch committed' (with offsets) are debug lines.
    LOG_LEVEL: 'debug',
  });
  await createTopics(s);
  const ch = createClickHouse(loadConfig({ ...process.env, ...s.env, LOG_LEVEL: 'warn' }), logger);
  clients.push(ch);
  const replay = () =>
    spawnCli('replay', ['replay', file, '--from', FROM, '--through', THROUGH, '--speed', speed], {
      ...s.env,
      LOG_LEVEL: 'warn',
    });
  return { s, env: s.env, ch, replay };
}

async function member(env: Record<string, string>, name: string): Promise<CliProcess> {
  const c = spawnCli(name, ['ingest'], env);
  await c.waitForLog('ingest consuming', { description: 'the ingest to consume', timeoutMs: 120_000 });
  return c;
}

interface BatchLine {
  partition: number;
  firstOffset: string;
  lastOffset: string;
}
const batchOf = (l: LogLine): BatchLine => ({
  partition: Number(l.partition),
  firstOffset: String(l.firstOffset),
  lastOffset: String(l.lastOffset),
});
const committedBatches = (c: CliProcess) => c.logs('batch committed').map(batchOf);
/** Batches a member committed since it last joined the group (under its latest assignment). */
const committedSinceJoin = (c: CliProcess) => {
  const lastJoin = c.lines.map((l) => l.msg).lastIndexOf('joined ingest group');
  return c.lines
    .slice(lastJoin + 1)
    .filter((l) => l.msg === 'batch committed')
    .map(batchOf);
};

/** Partitions of the sales topic in a 'joined ingest group' line. */
const assigned = (l: LogLine): number[] =>
  Object.values((l.memberAssignment ?? {}) as Record<string, number[]>)
    .flat()
    .sort((a, b) => a - b);
const latestAssignment = (c: CliProcess) => {
  const joins = c.logs('joined ingest group');
  return joins.length === 0 ? [] : assigned(joins[joins.length - 1]!);
};

/**
 * Polls until the process sleeps and burns no CPU over three samples: with the facade frozen, a
 * member in the middle of a batch is then waiting for a ClickHouse answer (Kafka answers in
 * milliseconds). Stopped there, it resumes with its statement answered: a member stopped in the
 * middle of JavaScript instead would send its next statement on a keep-alive socket the server
 * may have closed meanwhile ("socket hang up": its batch fails and is retried, no late write).
 */
async function waitUntilBlocked(pid: number): Promise<void> {
  let last: number | undefined;
  let still = 0;
  await waitFor(
    () => {
      const p = livingProcess(pid);
      if (!p) throw new Error(`process ${pid} is gone`);
      still = p.state === 'S' && p.cpuS === last ? still + 1 : 0;
      last = p.cpuS;
      return still >= 3;
    },
    { description: `process ${pid} to block`, timeoutMs: 15_000, intervalMs: 20 },
  );
}

/**
 * Catches one of `members` in the middle of a batch. On its 'batch started' line the facade is
 * SIGSTOPped at once, in the line's callback, so the batch's statements wait there. The member is
 * stopped as soon as it blocks on ClickHouse; then the facade goes on and answers the statement
 * in flight, before any other member can have taken the partition: the batch's clocks are the
 * pre-takeover ones. Accepted only if the batch is not committed (the broker says so) and has not
 * saved its branch clocks yet (its last write), so its writes are still to come; on a loaded
 * machine the member may have got that far before the freeze, and the next batch is tried.
 * Returns with the member stopped and the facade running.
 */
async function stopMidBatch(
  s: FaultScenario,
  ch: ClickHouse,
  members: CliProcess[],
): Promise<{ member: CliProcess; batch: BatchLine; committedBefore: bigint; attempt: number }> {
  // Not the very first batches: the group is under way, and a redelivery has committed work below it.
  await waitFor(() => members.reduce((n, m) => n + committedBatches(m).length, 0) >= 6, {
    description: 'six committed batches',
    timeoutMs: 60_000,
  });
  for (let attempt = 1; attempt <= 10; attempt++) {
    let caught: { member: CliProcess; batch: BatchLine; startedAt: number } | undefined;
    const watches = members.map((m) =>
      m.nextLine(
        (_raw, l) => {
          if (caught || l?.msg !== 'batch started') return false;
          signal(facade.pid, 'SIGSTOP');
          caught = { member: m, batch: batchOf(l), startedAt: Date.parse(String(l.time)) };
          return true;
        },
        { description: 'a batch to start', timeoutMs: 60_000 },
      ),
    );
    await Promise.any(watches);
    for (const w of watches) w.catch(() => undefined);
    const { member: m, batch, startedAt } = caught!;
    await waitUntilBlocked(m.pid);
    signal(m.pid, 'SIGSTOP');
    signal(facade.pid, 'SIGCONT');
    const offsets = await committedOffsets(s, s.config.KAFKA_INGEST_GROUP, s.config.KAFKA_TOPIC_SALES);
    const committed = BigInt(offsets[batch.partition] ?? '-1');
    const next = committed < 0n ? 0n : committed; // where the partition's next owner starts
    // The facade runs statements one at a time in arrival order: after this round trip, the one the
    // member had in flight (sent before the freeze) has run.
    await rows(ch, 'SELECT 1');
    const [saved] = await rows<{ n: string }>(
      ch,
      `SELECT count() AS n FROM ${ch.table('branch_watermarks')}
       WHERE updated_at >= fromUnixTimestamp64Milli({t:Int64}, 'UTC')
         AND branch_id IN (SELECT branch_id FROM ${ch.table('sales_events')} WHERE kafka_partition = {p:UInt32})`,
      { t: startedAt, p: batch.partition },
    );
    if (next <= BigInt(batch.firstOffset) && Number(saved?.n) === 0)
      return { member: m, batch, committedBefore: next, attempt };
    signal(m.pid, 'SIGCONT'); // it got through that batch before the freeze: try the next one
  }
  throw new Error('no batch caught in flight in 10 attempts');
}

async function rows<T>(ch: ClickHouse, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  return (await ch.client.query({ query, query_params: params, format: 'JSONEachRow' })).json<T>();
}

interface HourState {
  sales: number;
  orders: number;
  closed: number;
  revision: number;
}

/** What readers see: branch -> UTC hour (ms) -> its latest row. */
async function hourly(ch: ClickHouse): Promise<Map<string, Map<number, HourState>>> {
  const out = new Map<string, Map<number, HourState>>();
  for (const r of await rows<{
    b: string;
    h: string;
    sales: string;
    orders: number;
    closed: number;
    revision: number;
  }>(
    ch,
    `SELECT branch_id AS b, toString(toUnixTimestamp(hour_start) * 1000) AS h, sales_minor AS sales, orders, closed, revision
     FROM ${ch.table('sales_hourly')} FINAL`,
  )) {
    let m = out.get(r.b);
    if (!m) out.set(r.b, (m = new Map<number, HourState>()));
    m.set(Number(r.h), { sales: Number(r.sales), orders: r.orders, closed: r.closed, revision: r.revision });
  }
  return out;
}

/** Each branch's clock as readers (and a restarted member) take it: the highest version. */
async function watermarks(ch: ClickHouse): Promise<Map<string, number>> {
  const r = await rows<{ b: string; wm: string }>(
    ch,
    `SELECT branch_id AS b, toString(toUnixTimestamp64Milli(argMax(watermark, version))) AS wm
     FROM ${ch.table('branch_watermarks')} GROUP BY branch_id`,
  );
  return new Map(r.map((x) => [x.b, Number(x.wm)]));
}

/**
 * Waits until the stored clock of every branch on the batch's partition is strictly later than
 * anything the zombie's batch can have carried for it. The replay publishes in event-time order, so
 * a branch's messages in the batch are no later than its first event stored after the batch; once
 * the replay has ended (its closing heartbeat is past every event), no later than its last event.
 */
async function ownerAheadInTime(ch: ClickHouse, batch: BatchLine, replayer: CliProcess): Promise<void> {
  await waitFor(
    async () => {
      const bounds = await rows<{ b: string; next: string; after: string; last: string }>(
        ch,
        `SELECT branch_id AS b,
                toString(toUnixTimestamp64Milli(minIf(occurred_at, kafka_offset > {last:UInt64}))) AS next,
                countIf(kafka_offset > {last:UInt64}) AS after,
                toString(toUnixTimestamp64Milli(max(occurred_at))) AS last
         FROM ${ch.table('sales_events')} WHERE kafka_partition = {p:UInt32} GROUP BY branch_id`,
        { p: batch.partition, last: batch.lastOffset },
      );
      const wm = await watermarks(ch);
      return bounds.every((x) => {
        const bound = x.after !== '0' ? Number(x.next) : replayer.running ? Infinity : Number(x.last);
        return (wm.get(x.b) ?? -Infinity) > bound;
      });
    },
    {
      description: `the owner's clocks past the zombie's batch on partition ${batch.partition}`,
      timeoutMs: 15_000,
    },
  );
}

/** The ClickHouse server's clock, after every write so far: rows written from now on are later. */
async function writeMark(ch: ClickHouse): Promise<string> {
  const now = async () => (await rows<{ n: string }>(ch, 'SELECT toString(now64(3)) AS n'))[0]!.n;
  const mark = await now();
  for (let t = mark; t === mark; t = await now()) {
    /* until the next millisecond: a write stamped `mark` was done before it was read */
  }
  return mark;
}

/** Totals of every hour equal the reference; every hour of the slice closed at revision 1; no event twice. */
async function verify(ch: ClickHouse, published: number): Promise<number> {
  const [counts] = await rows<{ n: string; ids: string }>(
    ch,
    `SELECT count() AS n, uniqExact(branch_id, event_id) AS ids FROM ${ch.table('sales_events')} FINAL`,
  );
  expect({ stored: Number(counts?.n), distinct: Number(counts?.ids) }).toEqual({
    stored: published,
    distinct: published,
  });
  const mine = await hourly(ch);
  const closeAt = Date.parse(`${THROUGH}T00:00:00Z`) + 24 * HOUR;
  const mismatches: string[] = [];
  let hours = 0;
  for (const [branch, all] of reference) {
    const ref = new Map<number, { sales: number; orders: number }>();
    for (const [hour, v] of all) {
      const date = utcToDublinLocal(hour).slice(0, 10);
      if (date >= FROM && date <= THROUGH) ref.set(hour, { sales: v.salesCents, orders: v.orders });
    }
    const got = mine.get(branch) ?? new Map<number, HourState>();
    for (let hour = Math.min(...ref.keys()); hour < closeAt; hour += HOUR) {
      const want = { ...(ref.get(hour) ?? { sales: 0, orders: 0 }), closed: 1, revision: 1 };
      const have = got.get(hour);
      hours++;
      if (JSON.stringify(have) !== JSON.stringify(want))
        mismatches.push(
          `${branch} ${new Date(hour).toISOString()} got ${JSON.stringify(have)} want ${JSON.stringify(want)}`,
        );
    }
    const outside = [...got.keys()].filter((h) => h < Math.min(...ref.keys()) || h >= closeAt);
    expect({ branch, hoursOutsideTheSlice: outside }).toEqual({ branch, hoursOutsideTheSlice: [] });
  }
  expect(mismatches.slice(0, 10)).toEqual([]);
  return hours;
}

/** Waits for the replay to end and the group to commit everything; returns the events published. */
async function drain(s: FaultScenario, replayer: CliProcess): Promise<number> {
  const exit = await replayer.waitForExit(120_000);
  expect(exit.code).toBe(0);
  const published = Number(/(\d+) events published/.exec(replayer.output.join('\n'))?.[1]);
  expect(published).toBeGreaterThan(3_000);
  await waitForCommitted(s, s.config.KAFKA_INGEST_GROUP, s.config.KAFKA_TOPIC_SALES, 120_000);
  return published;
}

describe('ingest members in one group, sharing one ClickHouse (facade process), through rebalances', () => {
  it('a. a member SIGKILLed mid-batch: a survivor redoes its batch; totals equal the reference', async () => {
    const { s, env, ch, replay } = await setup('ingscale-kill');
    const members = await Promise.all(['a1', 'a2', 'a3'].map((n) => member(env, n)));
    const replayer = replay();

    const { member: victim, batch, committedBefore, attempt } = await stopMidBatch(s, ch, members);
    const killedAt = victim.lines.length;
    const survivors = members.filter((m) => m !== victim);
    const survivorLinesAtKill = new Map(survivors.map((m) => [m, m.lines.length]));
    expect((await victim.kill('SIGKILL')).signal).toBe('SIGKILL');
    stopped.delete(victim.pid);
    // Its last batch of that partition started and never committed (batches of its other
    // partitions may have been in flight too).
    const startedThere = victim.lines
      .slice(0, killedAt)
      .filter((l) => l.msg === 'batch started' && Number(l.partition) === batch.partition)
      .map(batchOf);
    expect(startedThere.at(-1)).toEqual(batch);
    expect(committedBatches(victim)).not.toContainEqual(batch);

    // Its session expires (6 s): a survivor gets the partition and starts at the committed offset,
    // at or below the killed batch's first: the batch is delivered again.
    const redelivered = (m: CliProcess) =>
      m.lines
        .slice(survivorLinesAtKill.get(m))
        .filter((l) => l.msg === 'batch started')
        .map(batchOf)
        .find((b) => b.partition === batch.partition && BigInt(b.firstOffset) <= BigInt(batch.firstOffset));
    const published = await drain(s, replayer);
    const redoneBy = survivors.filter((m) => redelivered(m) !== undefined);
    expect(redoneBy).toHaveLength(1);
    expect(BigInt(redelivered(redoneBy[0]!)!.firstOffset)).toBe(committedBefore);

    for (const m of survivors) expect((await m.kill('SIGTERM')).code).toBe(0);
    const hours = await verify(ch, published);
    process.stderr.write(
      `[ingest-scaleout] a: ${victim.name} killed in batch ${JSON.stringify(batch)} (caught in flight at try ${attempt}); ${redoneBy[0]!.name} redid it from offset ${committedBefore}; ${published} events, ${hours} hours exact\n`,
    );
    passed++;
  });

  it('b. a member added mid-replay: the group rebalances, both own partitions and commit batches; totals equal the reference', async () => {
    const { s, env, ch, replay } = await setup('ingscale-add', 'x50000');
    const first = await member(env, 'b1');
    expect(latestAssignment(first)).toEqual([0, 1, 2, 3]);
    const replayer = replay();
    let batches = 0;
    await first.nextLine((_raw, l) => l?.msg === 'batch committed' && ++batches >= 3, {
      description: 'three committed batches',
      timeoutMs: 60_000,
    });

    const second = await member(env, 'b2');
    const joinedMidReplay = replayer.running;
    await second.nextLine((_raw, l) => l?.msg === 'batch committed', {
      description: 'a first committed batch of the added member',
      timeoutMs: 60_000,
    });
    const published = await drain(s, replayer);
    expect(joinedMidReplay).toBe(true);

    // The rebalance, from both sides: the partitions are split between the two.
    const a1 = latestAssignment(first);
    const a2 = latestAssignment(second);
    expect([...a1, ...a2].sort()).toEqual([0, 1, 2, 3]);
    expect(a1.length).toBeGreaterThan(0);
    expect(a2.length).toBeGreaterThan(0);
    expect(first.logs('joined ingest group').length).toBeGreaterThanOrEqual(2);
    // Each committed batches of its own partitions after the split.
    for (const [m, mine] of [
      [first, a1],
      [second, a2],
    ] as const) {
      const since = committedSinceJoin(m);
      expect(since.length).toBeGreaterThan(0);
      expect(since.filter((b) => !mine.includes(b.partition))).toEqual([]);
    }

    for (const m of [first, second]) expect((await m.kill('SIGTERM')).code).toBe(0);
    const hours = await verify(ch, published);
    process.stderr.write(
      `[ingest-scaleout] b: ${second.name} joined mid-replay; partitions ${JSON.stringify(a1)} / ${JSON.stringify(a2)}; ${committedBatches(second).length} batches by the added member; ${hours} hours exact\n`,
    );
    passed++;
  });

  it('c. a zombie: stopped mid-batch past the session timeout, continued after the owner moved on; its late writes regress nothing', async () => {
    const { s, env, ch, replay } = await setup('ingscale-zombie');
    const members = await Promise.all(['c1', 'c2'].map((n) => member(env, n)));
    const replayer = replay();

    const { member: zombie, batch, attempt } = await stopMidBatch(s, ch, members);
    const stoppedAt = Date.now();
    const owner = members.find((m) => m !== zombie)!;
    // The zombie's session expires; the owner gets its partitions and commits past its batch.
    await owner.nextLine(
      (_raw, l) =>
        l?.msg === 'batch committed' &&
        Number(l.partition) === batch.partition &&
        BigInt(String(l.lastOffset)) > BigInt(batch.lastOffset),
      {
        description: `the owner to commit past the zombie's batch on partition ${batch.partition}`,
        timeoutMs: 20_000,
      },
    );
    expect(latestAssignment(owner)).toEqual([0, 1, 2, 3]);
    // Past the batch in offsets is not enough: its last messages may be another branch's (a partition
    // carries several), leaving the zombie's clock of a branch equal to the owner's, not behind it.
    await ownerAheadInTime(ch, batch, replayer);

    // What readers see now: it must not go back when the zombie writes.
    const before = { hours: await hourly(ch), watermarks: await watermarks(ch) };
    const mark = await writeMark(ch);
    const joinsBefore = zombie.logs('joined ingest group').length;
    // Continued well within its ClickHouse request timeout (30 s), so its statement in flight completes.
    expect(Date.now() - stoppedAt).toBeLessThan(25_000);
    const linesBeforeContinue = zombie.lines.length;
    // branch_watermarks is a ReplacingMergeTree(version): a background merge folds the zombie's
    // late row into the owner's newer one (as it should) and the row would vanish before it is
    // looked for. Merges of that table wait until it has been seen.
    await ch.client.command({ query: `SYSTEM STOP MERGES ${ch.table('branch_watermarks')}` });
    signal(zombie.pid, 'SIGCONT');
    // (Its batches of other partitions in flight are refused too.)
    const refusedLine = await zombie
      .nextLine(
        (_raw, l) =>
          (l?.msg.startsWith('batch written but its commit was refused') ?? false) &&
          JSON.stringify(batchOf(l!)) === JSON.stringify(batch),
        { description: "the zombie's refused commit of the stopped batch", timeoutMs: 60_000 },
      )
      .then((raw) => JSON.parse(raw) as LogLine);
    expect(['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS']).toContain(refusedLine.code);

    // The window was real: a clock row written after the owner's, behind the owner's watermark
    // (with a wall-clock version it would be the newest row of its branch and win).
    const late = await rows<{ b: string; wm: string }>(
      ch,
      `SELECT branch_id AS b, toString(toUnixTimestamp64Milli(watermark)) AS wm FROM ${ch.table('branch_watermarks')}
       WHERE updated_at > {mark:DateTime64(3, 'UTC')}`,
      { mark },
    );
    const stale = late.filter((r) => Number(r.wm) < (before.watermarks.get(r.b) ?? Infinity));
    if (stale.length === 0)
      process.stderr.write(
        `[ingest-scaleout] c: no stale clock row; late rows ${JSON.stringify(late)}, owner's ${JSON.stringify([...before.watermarks])}; the zombie after SIGCONT:\n${zombie.lines
          .slice(linesBeforeContinue)
          .filter((l) => l.module !== 'kafkajs')
          .map((l) => JSON.stringify(l))
          .join('\n')}\n`,
      );
    expect(stale.length).toBeGreaterThan(0);
    await ch.client.command({ query: `SYSTEM START MERGES ${ch.table('branch_watermarks')}` });

    // Nothing regressed: no closed hour reopened or changed, no watermark went back.
    const after = { hours: await hourly(ch), watermarks: await watermarks(ch) };
    const regressed: string[] = [];
    for (const [b, hs] of before.hours)
      for (const [h, v] of hs)
        if (v.closed === 1 && JSON.stringify(after.hours.get(b)?.get(h)) !== JSON.stringify(v))
          regressed.push(
            `${b} ${new Date(h).toISOString()} ${JSON.stringify(v)} -> ${JSON.stringify(after.hours.get(b)?.get(h))}`,
          );
    for (const [b, wm] of before.watermarks)
      if ((after.watermarks.get(b) ?? -Infinity) < wm) regressed.push(`${b} watermark went back`);
    expect(regressed).toEqual([]);

    // The zombie did not stop for good: it rejoined the group.
    await waitFor(() => zombie.logs('joined ingest group').length > joinsBefore, {
      description: 'the zombie to rejoin the group',
      timeoutMs: 60_000,
    });
    const published = await drain(s, replayer);
    expect(zombie.logs('ingest consumer crashed').filter((l) => l.restart === false)).toEqual([]);
    for (const m of members) expect((await m.kill('SIGTERM')).code).toBe(0);
    const hours = await verify(ch, published);
    process.stderr.write(
      `[ingest-scaleout] c: ${zombie.name} stopped ${((Date.now() - stoppedAt) / 1000).toFixed(0)} s in batch ${JSON.stringify(batch)} (caught in flight at try ${attempt}); ${stale.length} stale clock rows written late (outranked); commit refused with ${String(refusedLine.code)}; ${hours} hours exact\n`,
    );
    passed++;
  });
});
