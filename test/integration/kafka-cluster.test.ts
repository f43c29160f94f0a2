/**
 * tillcast on a real 3-broker Kafka cluster (scripts/kafka-cluster.sh: three KRaft JVMs on
 * 127.0.0.1, ports 19400-19405, a cluster of this file's own).
 *
 *   1. The topics tillcast creates come out with 3 replicas and min.insync.replicas=2, found
 *      from the cluster size; an override larger than the cluster is refused by name.
 *   2. The broker leading the sales topic's partitions is SIGKILLed in the middle of a
 *      whole-export replay (72,700 receipts) and restarted after the replay: the stored
 *      receipts and every hourly aggregate equal the independent CSV reference to the cent and
 *      the order, every hour of the reference is closed (in sales_hourly and on the
 *      hours-closed topic), the API answered every poll throughout, and leadership moved.
 *
 * The app runs in process on the embedded engine with the ingest and API roles. The
 * forecaster role is off: its trainings (child processes, minutes each on this box) would
 * dwarf the fault; the API serves forecast runs seeded before the replay instead, and the
 * hours-closed topic the forecaster would consume is read back by the test.
 */
import type { Admin, Kafka } from 'kafkajs';
import type { Message } from 'kafkajs';
import { Fixtures } from '../../bench/api-fixtures';
import type { ApiRole } from '../../api/role';
import { createApp, type App } from '../../app/app';
import { NORY_BRANCHES } from '../../lib/branches';
import { resolveReplicationFactor, topicNames, isolatedKafkaEnv } from '../../lib/topics';
import type { Logger } from '../../lib/logger';
import { loadPosExport } from '../../producers/pos-export';
import { Publisher } from '../../producers/publisher';
import { replay } from '../../producers/replay';
import { createTestKey, destroyAgent, request, useApiKey } from '../api-helpers';
import { kafkaCluster, uniqueName, waitFor } from '../kafka-broker';
import { computeReferenceHourly } from '../reference-totals';
import { EXPORT_CLOSE_AT, requireSharedExport } from '../shared-data';
import { testConfig } from '../test-config';

jest.setTimeout(900_000);

/** Ports 19400-19405: this file's own cluster (assigned range 19400-19419). */
const cluster = kafkaCluster('leader-kill', 19400);
const file = requireSharedExport();
const HOUR = 3_600_000;

let app: App;
let admin: Admin;
let base: string;
let names: ReturnType<typeof topicNames>;
/** Ends the test's background loops (API poller, progress lines); afterAll calls it too, should the test fail early. */
let stopBackground: () => Promise<void> = () => Promise.resolve();

/** A Publisher that, at its `pauseAt`-th message, flushes what it has and waits for `resume`. */
class PausingPublisher extends Publisher {
  private count = 0;
  private release!: () => void;
  private readonly resumed = new Promise<void>((resolve) => (this.release = resolve));
  readonly paused: Promise<number>;
  private pausedAt!: (n: number) => void;

  constructor(
    kafka: Kafka,
    logger: Logger,
    private readonly pauseAt: number,
  ) {
    super(kafka, logger);
    this.paused = new Promise<number>((resolve) => (this.pausedAt = resolve));
  }

  override async send(topic: string, message: Message): Promise<void> {
    if (++this.count === this.pauseAt) {
      await this.flush();
      this.pausedAt(this.count - 1);
      await this.resumed;
    }
    await super.send(topic, message);
  }

  resume(): void {
    this.release();
  }
}

async function rows<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await app.ctx.ch.client.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

async function storedEvents(): Promise<number> {
  const r = await rows<{ n: string }>(`SELECT count() AS n FROM ${app.ctx.ch.table('sales_events')} FINAL`);
  return Number(r[0]?.n);
}

/** Sum of the high watermarks of a topic's partitions: how many messages the cluster holds. */
async function topicEnd(topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

async function salesLeaders(): Promise<{ partition: number; leader: number; isr: number[] }[]> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [names.sales] });
  return (topics[0]?.partitions ?? []).map((p) => ({
    partition: p.partitionId,
    leader: p.leader,
    isr: p.isr,
  }));
}

beforeAll(async () => {
  // A fresh cluster unless one is running (left by an interrupted run: reused, its topics apart).
  if (!(await cluster.status()).nodes.some((n) => n.running)) await cluster.wipe();
  await cluster.start();
  const config = testConfig({
    ROLES: 'ingest,api',
    ...isolatedKafkaEnv(uniqueName('cluster')),
    KAFKA_BROKERS: cluster.bootstrap,
    KAFKA_SALES_PARTITIONS: '3',
    HOST: '127.0.0.1',
    PORT: '0',
    API_FORECAST_POLL_MS: '500',
  });
  names = topicNames(config);
  app = createApp(config);
  await app.start(); // creates the topics: the replication follows the cluster
  base = (app.roles.get('api') as ApiRole).api.url();
  admin = app.ctx.kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await stopBackground();
  destroyAgent();
  await admin?.disconnect();
  await app?.stop();
  await app?.ctx.ch.client
    .command({ query: `DROP DATABASE IF EXISTS ${app.ctx.ch.database}` })
    .catch(() => {});
  await cluster.stop();
});

test('the topics get 3 replicas and min.insync.replicas=2 on the 3-broker cluster', async () => {
  const described = await admin.describeCluster();
  expect(described.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);

  const topics = [names.sales, names.hoursClosed, names.dlq, names.training];
  const { topics: meta } = await admin.fetchTopicMetadata({ topics });
  expect(meta.map((t) => [t.name, t.partitions.length]).sort()).toEqual(
    [
      [names.sales, 3],
      [names.hoursClosed, 3],
      [names.dlq, 1],
      [names.training, 1],
    ].sort(),
  );
  for (const t of meta)
    for (const p of t.partitions)
      expect({ t: t.name, replicas: [...p.replicas].sort() }).toEqual({ t: t.name, replicas: [1, 2, 3] });

  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: 2 /* TOPIC */, name, configNames: ['min.insync.replicas'] })),
  });
  expect(
    configs.resources
      .map((r) => [
        r.resourceName,
        r.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue,
      ])
      .sort(),
  ).toEqual(topics.map((t) => [t, '2']).sort());

  // The brokers' own settings for 3 nodes (scripts/kafka.sh derives them from the voter count).
  const brokerConfigs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [1, 2, 3].map((id) => ({
      type: 4 /* BROKER */,
      name: String(id),
      configNames: [
        'min.insync.replicas',
        'unclean.leader.election.enable',
        'offsets.topic.replication.factor',
        'transaction.state.log.replication.factor',
      ],
    })),
  });
  for (const r of brokerConfigs.resources)
    expect({
      broker: r.resourceName,
      settings: Object.fromEntries(r.configEntries.map((e) => [e.configName, e.configValue])),
    }).toEqual({
      broker: r.resourceName,
      settings: {
        'min.insync.replicas': '2',
        'unclean.leader.election.enable': 'false',
        'offsets.topic.replication.factor': '3',
        'transaction.state.log.replication.factor': '3',
      },
    });
  // The consumer offsets (the ingest group's commits) are on all three brokers too.
  const { topics: internal } = await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] });
  expect(internal[0]!.partitions.every((p) => p.replicas.length === 3)).toBe(true);

  await expect(resolveReplicationFactor(admin, {})).resolves.toBe(3);
  await expect(resolveReplicationFactor(admin, { KAFKA_REPLICATION_FACTOR: 2 })).resolves.toBe(2);
  await expect(resolveReplicationFactor(admin, { KAFKA_REPLICATION_FACTOR: 4 })).rejects.toThrow(
    'KAFKA_REPLICATION_FACTOR is 4 but the Kafka cluster has 3 broker(s)',
  );
});

test('SIGKILL of the sales leader mid-replay: exact totals, no hour lost, the API kept answering', async () => {
  const ch = app.ctx.ch;
  useApiKey((await createTestKey(ch)).key); // the API needs a key (issue 14)
  // Forecast runs for the API to serve (the forecaster role is off, see the header).
  const fx = new Fixtures(ch);
  for (const b of NORY_BRANCHES)
    await fx.forecastRun(b, { origin: EXPORT_CLOSE_AT, hours: 14 * 24, runId: `seed-${b.id}` });
  const sushi = NORY_BRANCHES[0]!.id;
  // Actual days (filled in while the replay runs) and forecast days in one answer.
  const predictPath = `/predict?branch_id=${sushi}&start=2021-01-20&end=2021-02-07&granularity=daily`;
  await waitFor(async () => (await request(base, predictPath)).status === 200, {
    description: '/predict to serve the seeded run',
    timeoutMs: 30_000,
  });

  // The API is polled from now until the restarted broker is back in sync.
  const polls = { ok: 0, errors: [] as string[] };
  let polling = true;
  const poller = (async () => {
    for (let i = 0; polling; i++) {
      const path = i % 2 === 0 ? '/health' : predictPath;
      try {
        const a = await request(base, path, { timeoutMs: 15_000 });
        if (a.status === 200) polls.ok++;
        else polls.errors.push(`${path}: ${a.status} ${a.text.slice(0, 200)}`);
      } catch (err) {
        polls.errors.push(`${path}: ${(err as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  // A line every 15 s: should a wait below time out, the log shows where the pipeline stood.
  const progress = setInterval(() => {
    void (async () => {
      const [committed] = await admin.fetchOffsets({
        groupId: app.ctx.config.KAFKA_INGEST_GROUP,
        topics: [names.sales],
      });
      const ends = await admin.fetchTopicOffsets(names.sales);
      process.stderr.write(
        `[kafka-cluster] stored ${await storedEvents()}; committed ${JSON.stringify(committed?.partitions.map((p) => [p.partition, p.offset]))} of ${JSON.stringify(ends.map((e) => [e.partition, e.high]))}\n`,
      );
    })().catch(() => {});
  }, 15_000);
  stopBackground = async () => {
    clearInterval(progress);
    polling = false;
    await poller;
  };

  const { events, errors } = await loadPosExport(file, { branches: app.ctx.branches });
  expect(errors).toEqual([]);
  expect(events.length).toBe(72_700);
  // Pause (and kill) after about a third of the stream: receipts plus hourly heartbeats.
  const publisher = new PausingPublisher(app.ctx.kafka, app.ctx.logger, 30_000);
  await publisher.connect();
  const replayed = replay({
    events,
    branchIds: NORY_BRANCHES.map((b) => b.id),
    publisher,
    codec: app.ctx.codec,
    topic: names.sales,
    speed: 'max',
    closeAt: EXPORT_CLOSE_AT + app.ctx.config.INGEST_ALLOWED_LATENESS_S * 1000,
  });
  replayed.catch(() => {}); // awaited below; a rejection while the test waits must not go unhandled

  const publishedBeforeKill = await publisher.paused;
  // Some of it stored, so the kill lands while the ingest works through the stream.
  await waitFor(async () => (await storedEvents()) > 0, {
    description: 'the ingest to store receipts',
    timeoutMs: 120_000,
  });

  // The broker leading most sales partitions; a tie goes to the busiest partition's leader.
  const before = await salesLeaders();
  const offsets = await admin.fetchTopicOffsets(names.sales);
  const load = new Map<number, { partitions: number; messages: number }>();
  for (const p of before) {
    const l = load.get(p.leader) ?? { partitions: 0, messages: 0 };
    l.partitions++;
    l.messages += Number(offsets.find((o) => o.partition === p.partition)?.high ?? 0);
    load.set(p.leader, l);
  }
  const [victim] = [...load.entries()].sort(
    ([, a], [, b]) => b.partitions - a.partitions || b.messages - a.messages,
  )[0]!;
  const ledByVictim = before.filter((p) => p.leader === victim).map((p) => p.partition);
  const inSalesTopicAtKill = await topicEnd(names.sales);
  const storedAtKill = await storedEvents();

  await cluster.killNode(victim);
  const okAtKill = polls.ok;
  publisher.resume(); // the rest of the replay is published while the leader is gone

  // Leadership moves to the surviving replicas (after the controller's session timeout).
  const after = await waitFor(
    async () => {
      const now = await salesLeaders();
      return now.length === 3 && now.every((p) => p.leader >= 0 && p.leader !== victim) ? now : undefined;
    },
    {
      description: `the sales partitions led by node ${victim} to get another leader`,
      timeoutMs: 60_000,
      intervalMs: 250,
    },
  );

  const result = await replayed;
  await publisher.close();
  expect(result.events).toBe(72_700);
  // All of it published while the killed node was still down: acks=all with 2 in-sync replicas.
  expect((await cluster.status()).nodes.find((n) => n.nodeId === victim)?.running).toBe(false);

  const answeredWhileDown = polls.ok - okAtKill;
  await cluster.startNode(victim);
  await waitFor(async () => (await salesLeaders()).every((p) => p.isr.includes(victim)), {
    description: `node ${victim} back in sync on every sales partition`,
    timeoutMs: 120_000,
    intervalMs: 500,
  });

  // The ingest group committed everything there is.
  const ends = await admin.fetchTopicOffsets(names.sales);
  await waitFor(
    async () => {
      const [committed] = await admin.fetchOffsets({
        groupId: app.ctx.config.KAFKA_INGEST_GROUP,
        topics: [names.sales],
      });
      return ends.every((e) => {
        const c = committed?.partitions.find((p) => p.partition === e.partition);
        // -1: nothing committed, right for a partition no branch hashes to (high 0).
        return c !== undefined && Math.max(0, Number(c.offset)) >= Number(e.high);
      });
    },
    {
      description: 'the ingest group to commit every published message',
      timeoutMs: 300_000,
      intervalMs: 500,
    },
  );
  await stopBackground();

  // The kill hit the middle of the replay: part, not all, of it published and stored.
  const totalMessages = ends.reduce((s, e) => s + Number(e.high), 0);
  expect(publishedBeforeKill).toBeGreaterThan(0);
  expect(inSalesTopicAtKill).toBe(publishedBeforeKill);
  expect(inSalesTopicAtKill).toBeLessThan(totalMessages);
  expect(storedAtKill).toBeGreaterThan(0);
  expect(storedAtKill).toBeLessThan(72_700);
  // Leadership really moved: every partition the victim led has another leader.
  expect(ledByVictim.length).toBeGreaterThanOrEqual(1);
  for (const p of ledByVictim) expect(after.find((a) => a.partition === p)?.leader).not.toBe(victim);

  // Every receipt stored once; every hour equal to the reference, to the cent and the order.
  expect(await storedEvents()).toBe(72_700);
  const reference = computeReferenceHourly(file);
  const hourly = await rows<{
    branch_id: string;
    h: string;
    sales_minor: string;
    orders: string;
    closed: number;
  }>(
    `SELECT branch_id, toUnixTimestamp(hour_start) * 1000 AS h, sales_minor, orders, closed
     FROM ${ch.table('sales_hourly')} FINAL`,
  );
  const ours = new Map(hourly.map((r) => [`${r.branch_id} ${Number(r.h)}`, r]));
  const mismatches: string[] = [];
  const unclosed: string[] = [];
  let refHours = 0;
  for (const [branch, hours] of reference) {
    for (const [hour, want] of hours) {
      refHours++;
      const got = ours.get(`${branch} ${hour}`);
      if (!got || Number(got.sales_minor) !== want.salesCents || Number(got.orders) !== want.orders)
        mismatches.push(
          `${branch} ${new Date(hour).toISOString()} got ${JSON.stringify(got)} want ${JSON.stringify(want)}`,
        );
      if (got?.closed !== 1) unclosed.push(`${branch} ${new Date(hour).toISOString()}`);
    }
  }
  // Nothing beyond the reference (an hour without receipts stores zero).
  const extra = hourly.filter((r) => {
    const want = reference.get(r.branch_id)?.get(Number(r.h));
    return !want && (Number(r.sales_minor) !== 0 || Number(r.orders) !== 0);
  });
  expect(refHours).toBeGreaterThan(4_000);
  expect(mismatches.slice(0, 10)).toEqual([]);
  expect(unclosed.slice(0, 10)).toEqual([]);
  expect(extra.slice(0, 10)).toEqual([]);
  // No hour lost: every hour from a branch's first receipt up to the close of the export is closed.
  for (const [branch, hours] of reference) {
    const first = Math.min(...hours.keys());
    const closed = hourly.filter(
      (r) => r.branch_id === branch && r.closed === 1 && Number(r.h) < EXPORT_CLOSE_AT,
    );
    expect({ branch, closed: closed.length }).toEqual({ branch, closed: (EXPORT_CLOSE_AT - first) / HOUR });
  }

  // Every closed hour reached the hours-closed topic (the forecaster's trigger) despite the kill.
  const announced = await readHoursClosed(
    app.ctx.kafka,
    names.hoursClosed,
    await topicEnd(names.hoursClosed),
  );
  const closedHours = hourly.filter((r) => r.closed === 1).map((r) => `${r.branch_id} ${Number(r.h)}`);
  expect(closedHours.filter((k) => !announced.has(k)).slice(0, 10)).toEqual([]);

  // The API answered every poll, before, during and after the outage.
  expect(polls.errors.slice(0, 10)).toEqual([]);
  expect(polls.ok).toBeGreaterThan(20);
  expect(answeredWhileDown).toBeGreaterThan(5);
  process.stderr.write(
    `[kafka-cluster] killed node ${victim} (led sales partitions ${ledByVictim.join(',')} of ${before.map((p) => `${p.partition}:${p.leader}`).join(' ')}); ` +
      `published ${inSalesTopicAtKill}/${totalMessages} and stored ${storedAtKill}/72700 at the kill; ` +
      `leaders after ${after.map((p) => `${p.partition}:${p.leader}`).join(' ')}; API polls ok ${polls.ok} (${answeredWhileDown} while node ${victim} was down), errors ${polls.errors.length}\n`,
  );
});

/** "branch hourStart" of every HourClosed message on the topic (read from the start by a group of its own). */
async function readHoursClosed(kafka: Kafka, topic: string, expected: number): Promise<Set<string>> {
  const seen = new Set<string>();
  let read = 0;
  const consumer = kafka.consumer({ groupId: uniqueName('hours-reader'), allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        read++;
        const e = app.ctx.codec.decode(message.value!);
        if (e.kind !== 'hourClosed') throw new Error(`not an HourClosed on ${topic}: ${e.kind}`);
        seen.add(`${e.value.branch_id} ${e.value.hour_start}`);
        return Promise.resolve();
      },
    });
    await waitFor(() => read >= expected, {
      description: `${expected} HourClosed messages`,
      timeoutMs: 120_000,
      intervalMs: 200,
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}
