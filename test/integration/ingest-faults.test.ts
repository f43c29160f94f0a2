/**
 * Real faults against the real pipeline: `tillcast ingest` runs as a child
 * process (its own embedded ClickHouse data directory, topics and group) and is
 * killed, or its broker is stopped, while the shared export is replayed. When
 * the dust settles the ingest is stopped and its data directory is read with
 * `tillcast sql`: every hour of the replayed slice must equal the independent
 * reference (test/reference-totals.ts), and no event may be stored twice.
 *
 *   a. SIGKILL five times at seeded random points of a paced replay: after a
 *      committed batch (+ a random delay), while a batch publishes its dead letters
 *      or HourClosed events (between writing its rows and committing), or while it
 *      commits. Each time a new `tillcast ingest` takes over.
 *   b. The broker (a dedicated one) stopped for 30 s in the middle of a replay, then
 *      started again: the publisher rides it out, the ingest reconnects.
 *
 * Replaying a file twice is ingest-replay.test.ts's business.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { loadBranchDirectory } from '../../app/app';
import { loadConfig, type Config } from '../../lib/config';
import { createKafka } from '../../lib/kafka-client';
import { createLogger } from '../../lib/logger';
import { ensureTopicsOn } from '../../lib/topics';
import { loadPosExport } from '../../producers/pos-export';
import { mulberry32 } from '../../producers/simulator';
import { killAllChildren, requireBuiltCli, spawnCli, sqlRows, type CliProcess } from '../child-process';
import {
  dedicatedBroker,
  startBroker,
  stopBroker,
  testBrokerAddress,
  uniqueName,
  waitFor,
} from '../kafka-broker';
import { computeReferenceHourly, utcToDublinLocal } from '../reference-totals';
import { requireSharedExport } from '../shared-data';

const HOUR = 3_600_000;
const SEED = Number(process.env.TILLCAST_FAULT_SEED ?? 20201101);

/** Everything one ingest-under-fire scenario uses: its topics, group, data directory and broker. */
interface Scenario {
  env: Record<string, string>;
  config: Config;
  kafka: Kafka;
  dataDir: string;
  /** Set at the end of a test that passed: its data directory is removed. */
  passed?: boolean;
}

function scenario(name: string, brokers: string): Scenario {
  const base = uniqueName(name);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `tillcast-${name}-`));
  const env = {
    // As deployed. (kafkajs picks its retry defaults from NODE_ENV: under "test" its backoff grows
    // by 1.5 instead of 2, and the ~1 min the client's 8 retries are sized for shrinks to ~15 s.)
    NODE_ENV: 'production',
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC_SALES: `${base}.sales`,
    KAFKA_TOPIC_DLQ: `${base}.dlq`,
    KAFKA_TOPIC_HOURS_CLOSED: `${base}.hours`,
    KAFKA_INGEST_GROUP: `${base}.ingest`,
    KAFKA_SALES_PARTITIONS: '3',
    CLICKHOUSE_DATA_DIR: dataDir,
    CLICKHOUSE_DATABASE: 'tillcast',
  };
  const config = loadConfig({ ...process.env, ...env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' });
  return { env, config, kafka: createKafka(config, createLogger(config.LOG_LEVEL)), dataDir };
}

async function createTopics(s: Scenario): Promise<void> {
  await ensureTopicsOn(s.kafka, s.config);
}

/** Starts `tillcast ingest` (debug logs: one line per committed batch) and waits until it consumes. */
async function startIngest(s: Scenario, name: string): Promise<CliProcess> {
  const child = spawnCli(name, ['ingest'], { ...s.env, LOG_LEVEL: 'debug' });
  await child.waitForLog('ingest consuming', {
    description: 'the ingest to start consuming',
    timeoutMs: 90_000,
  });
  return child;
}

/** Polls until the ingest group has committed every message of the sales topic. */
async function waitForCommitted(s: Scenario, timeoutMs: number): Promise<void> {
  const admin = s.kafka.admin();
  await admin.connect();
  try {
    const topic = s.config.KAFKA_TOPIC_SALES;
    await waitFor(
      async () => {
        const ends = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({
          groupId: s.config.KAFKA_INGEST_GROUP,
          topics: [topic],
        });
        return ends.every((e) => {
          const c = committed?.partitions.find((p) => p.partition === e.partition);
          return c !== undefined && BigInt(c.offset === '-1' ? '0' : c.offset) >= BigInt(e.high);
        });
      },
      {
        description: 'the ingest group to commit every message of the sales topic',
        timeoutMs,
        intervalMs: 250,
      },
    );
  } finally {
    await admin.disconnect();
  }
}

/**
 * The broker drops a member that died without leaving only when its session expires (30 s,
 * the ingest's sessionTimeout), and a new member's join waits for that. An operator (or
 * Kubernetes' preStop) would not wait: this sends the LeaveGroup the dead process never sent,
 * through kafkajs's internal cluster client (kafkajs has no admin call for it). What the
 * ingest must survive is the same: its uncommitted batch is redelivered to the next member.
 */
async function evictDeadMembers(s: Scenario): Promise<number> {
  const groupId = s.config.KAFKA_INGEST_GROUP;
  const admin = s.kafka.admin();
  await admin.connect();
  const { groups } = await admin.describeGroups([groupId]).finally(() => admin.disconnect());
  const members = groups[0]?.members ?? [];
  if (members.length === 0) return 0;
  const createCluster = Object.getOwnPropertySymbols(s.kafka).find(
    (sym) => sym.description === 'private:Kafka:createCluster',
  );
  if (!createCluster) throw new Error('kafkajs internals changed: no private:Kafka:createCluster');
  type Broker = { leaveGroup(req: { groupId: string; memberId: string }): Promise<unknown> };
  type Cluster = {
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    findGroupCoordinator(req: { groupId: string }): Promise<Broker>;
  };
  const cluster = (s.kafka as unknown as Record<symbol, (opts: object) => Cluster>)[createCluster]!({});
  await cluster.connect();
  try {
    const coordinator = await cluster.findGroupCoordinator({ groupId });
    for (const m of members) await coordinator.leaveGroup({ groupId, memberId: m.memberId });
  } finally {
    await cluster.disconnect();
  }
  return members.length;
}

async function messagesInSalesTopic(s: Scenario): Promise<number> {
  const admin = s.kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(s.config.KAFKA_TOPIC_SALES).finally(() => admin.disconnect());
  return ends.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
}

/** The reference, cut to the local dates of the replayed slice: branch -> UTC hour -> totals. */
function referenceSlice(file: string, from: string, through: string) {
  const out = new Map<string, Map<number, { sales: number; orders: number }>>();
  for (const [branch, hours] of computeReferenceHourly(file)) {
    const m = new Map<number, { sales: number; orders: number }>();
    for (const [hour, v] of hours) {
      const date = utcToDublinLocal(hour).slice(0, 10);
      if (date >= from && date <= through) m.set(hour, { sales: v.salesCents, orders: v.orders });
    }
    out.set(branch, m);
  }
  return out;
}

/**
 * Reads the ingest's data directory (the ingest must have exited) and compares it with the
 * reference: every hour's sales and orders, every hour of the slice closed, no event twice.
 */
async function verifyAgainstReference(
  s: Scenario,
  file: string,
  from: string,
  through: string,
  published: number,
) {
  const hourly = await sqlRows<{
    b: string;
    h: string;
    sales: string;
    orders: number;
    closed: number;
    revision: number;
  }>(
    s.env,
    `SELECT branch_id AS b, toString(toUnixTimestamp(hour_start) * 1000) AS h, sales_minor AS sales, orders, closed, revision
     FROM tillcast.sales_hourly FINAL`,
  );
  const [counts] = await sqlRows<{ n: string; ids: string; rows: string }>(
    s.env,
    'SELECT count() AS n, uniqExact(branch_id, event_id) AS ids, (SELECT count() FROM tillcast.sales_events) AS rows FROM tillcast.sales_events FINAL',
  );
  expect({ storedEvents: Number(counts?.n), distinctIds: Number(counts?.ids) }).toEqual({
    storedEvents: published,
    distinctIds: published,
  });

  const reference = referenceSlice(file, from, through);
  const closeAt = Date.parse(`${through}T00:00:00Z`) + 24 * HOUR; // Dublin = UTC in winter
  const mismatches: string[] = [];
  for (const [branch, ref] of reference) {
    const mine = new Map(hourly.filter((r) => r.b === branch).map((r) => [Number(r.h), r]));
    for (const hour of new Set([...ref.keys(), ...mine.keys()])) {
      const got = { sales: Number(mine.get(hour)?.sales ?? 0), orders: Number(mine.get(hour)?.orders ?? 0) };
      const want = ref.get(hour) ?? { sales: 0, orders: 0 };
      if (got.sales !== want.sales || got.orders !== want.orders) {
        mismatches.push(
          `${branch} ${new Date(hour).toISOString()} got ${JSON.stringify(got)} want ${JSON.stringify(want)}`,
        );
      }
    }
    // Closed: every hour from the branch's first receipt of the slice to the end of its last day.
    const first = Math.min(...ref.keys());
    const open: string[] = [];
    for (let hour = first; hour < closeAt; hour += HOUR) {
      const r = mine.get(hour);
      if (!r || r.closed !== 1 || r.revision < 1)
        open.push(
          `${new Date(hour).toISOString()} ${r ? `closed=${r.closed} revision=${r.revision}` : 'no row'}`,
        );
    }
    expect({ branch, hoursNotClosed: open.slice(0, 10) }).toEqual({ branch, hoursNotClosed: [] });
  }
  expect(mismatches.slice(0, 10)).toEqual([]);
  return { hours: hourly.length, rawRows: Number(counts?.rows) };
}

describe('ingest under real faults (child processes, real broker, real engine)', () => {
  const file = requireSharedExport();
  const scenarios: Scenario[] = [];
  const broker = dedicatedBroker('ingest-faults', Number(process.env.TILLCAST_FAULT_BROKER_PORT ?? 19392));
  let brokerUp: Promise<void> | undefined;

  beforeAll(() => {
    requireBuiltCli();
    // The dedicated broker of test b boots (~10 s) while test a runs.
    brokerUp = startBroker({ target: broker });
    brokerUp.catch(() => undefined);
  });

  afterAll(async () => {
    await killAllChildren();
    await brokerUp?.catch(() => undefined);
    await stopBroker({ target: broker }).catch((err: unknown) =>
      process.stderr.write(`[faults] cannot stop the dedicated broker: ${String(err)}\n`),
    );
    // A failed run keeps its data directories (named on stderr) for `tillcast sql` post-mortems.
    for (const s of scenarios) {
      if (s.passed) fs.rmSync(s.dataDir, { recursive: true, force: true });
      else process.stderr.write(`[faults] kept ${s.dataDir} (CLICKHOUSE_DATA_DIR) of a failed scenario\n`);
    }
  });

  it('survives SIGKILL of the ingest at five random points of a replay: every hour equals the reference, no event twice', async () => {
    const from = '2020-11-16';
    const through = '2020-12-15';
    const s = scenario('kill', testBrokerAddress());
    scenarios.push(s);
    await createTopics(s);
    const rnd = mulberry32(SEED);
    const t0 = Date.now();

    let ingest = await startIngest(s, 'ingest#0');
    const incarnations = [ingest];
    // ~11,500 receipts over 30 days at x100000: about 26 s of publishing, while the kills happen.
    const replayer = spawnCli(
      'replay',
      ['replay', file, '--from', from, '--through', through, '--speed', 'x100000'],
      {
        ...s.env,
        LOG_LEVEL: 'warn',
      },
    );

    const modes = {
      'after-commit': (raw: string) => raw.includes('"msg":"batch committed"'),
      // Dead letters or HourClosed events going out: the batch's rows are written, its offsets not committed.
      'mid-batch': (raw: string) => raw.includes('"msg":"Request Produce('),
      'at-commit': (raw: string) => raw.includes('"msg":"Request OffsetCommit('),
    } as const;
    const kills: { mode: keyof typeof modes; nth: number; delayMs: number }[] = [];
    for (let k = 1; k <= 5; k++) {
      const mode = (Object.keys(modes) as (keyof typeof modes)[])[Math.floor(rnd() * 3)]!;
      const nth = 1 + Math.floor(rnd() * 4);
      const delayMs = mode === 'after-commit' ? Math.floor(rnd() * 400) : 0;
      let seen = 0;
      await ingest.nextLine((raw) => modes[mode](raw) && ++seen >= nth, {
        description: `${mode} #${nth}`,
        timeoutMs: 60_000,
      });
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      expect((await ingest.kill('SIGKILL')).signal).toBe('SIGKILL');
      kills.push({ mode, nth, delayMs });
      expect(await evictDeadMembers(s)).toBeGreaterThanOrEqual(1);
      ingest = await startIngest(s, `ingest#${k}`);
      incarnations.push(ingest);
    }

    const replayExit = await replayer.waitForExit(120_000);
    expect(replayExit.code).toBe(0);
    const published = Number(/(\d+) events published/.exec(replayer.output.join('\n'))?.[1]);
    expect(published).toBeGreaterThan(10_000);
    await waitForCommitted(s, 90_000);
    expect(ingest.running).toBe(true);
    expect((await ingest.kill('SIGTERM')).code).toBe(0);

    // How much each successor got again (events it found already stored): the work the kill interrupted.
    const redelivered = incarnations
      .slice(1)
      .map((c) => c.logs('batch committed').reduce((n, l) => n + Number(l.duplicates ?? 0), 0));
    process.stderr.write(
      `[faults] seed ${SEED}: kills ${JSON.stringify(kills.map((k, i) => ({ ...k, redelivered: redelivered[i] })))}; ${published} events ingested in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
    );
    const r = await verifyAgainstReference(s, file, from, through, published);
    s.passed = true;
    process.stderr.write(
      `[faults] verified ${r.hours} hours (${r.rawRows} raw event rows before FINAL) in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
    );
  }, 240_000);

  it('rides out its broker stopped for 30 s mid-stream: the publisher retries, the ingest reconnects, totals equal the reference', async () => {
    const from = '2020-12-01';
    const through = '2020-12-15';
    await brokerUp;
    const s = scenario('outage', broker.address);
    scenarios.push(s);
    await createTopics(s);
    const t0 = Date.now();
    const ingest = await startIngest(s, 'ingest');

    // `tillcast replay` (the Publisher) as a child, so that kafkajs runs with its production retry
    // defaults rather than jest's NODE_ENV=test ones. 15 days at x100000: ~13 s of publishing.
    const replayer = spawnCli(
      'replay',
      ['replay', file, '--from', from, '--through', through, '--speed', 'x100000'],
      { ...s.env, LOG_LEVEL: 'info' },
    );
    let committed = 0;
    await ingest.nextLine((raw) => raw.includes('"msg":"batch committed"') && ++committed >= 3, {
      description: 'three committed batches',
      timeoutMs: 60_000,
    });
    expect(replayer.running).toBe(true); // the broker goes away in the middle of the stream
    await stopBroker({ target: broker });
    const down = Date.now();
    // The outage itself: 30 s with the broker away (a fault's duration, not a wait for a condition).
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    expect({ replayRunning: replayer.running, ingestRunning: ingest.running }).toEqual({
      replayRunning: true,
      ingestRunning: true,
    });
    await startBroker({ target: broker });
    const outageS = (Date.now() - down) / 1000;

    const replayExit = await replayer.waitForExit(180_000);
    expect({
      exit: replayExit.code,
      failures: replayer.logs('publish failed after retries; messages kept in the buffer').length,
    }).toEqual({ exit: 0, failures: 0 });
    const published = Number(/(\d+) events published/.exec(replayer.output.join('\n'))?.[1]);

    // The topic holds exactly what the replay sent: its retries lost nothing and duplicated nothing.
    const { events } = await loadPosExport(file, { branches: loadBranchDirectory(s.config), from, through });
    expect(published).toBe(events.length);
    const hourIndex = (ms: number) => Math.floor(ms / HOUR);
    const heartbeats = 3 * (hourIndex(events.at(-1)!.occurred_at) - hourIndex(events[0]!.occurred_at) + 1);
    expect(await messagesInSalesTopic(s)).toBe(events.length + heartbeats);

    const crashes = () =>
      JSON.stringify(ingest.logs('ingest consumer crashed').map((l) => ({ restart: l.restart, err: l.err })));
    await waitForCommitted(s, 120_000).catch((err: Error) => {
      throw new Error(`${err.message}; the ingest's consumer crashes: ${crashes()}`);
    });
    // It felt the outage (kafkajs connection errors), and came back by itself.
    expect(
      ingest.lines.some(
        (l) => l.module === 'kafkajs' && /ECONNREFUSED|Connection error|Closed connection/.test(l.msg),
      ),
    ).toBe(true);
    expect(ingest.running).toBe(true);
    expect((await ingest.kill('SIGTERM')).code).toBe(0);

    const r = await verifyAgainstReference(s, file, from, through, published);
    s.passed = true;
    process.stderr.write(
      `[faults] broker away for ${outageS.toFixed(1)} s: ${published} events, ${r.hours} hours, consumer crashes (recovered) ${crashes()}, in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
    );
  }, 240_000);
});
