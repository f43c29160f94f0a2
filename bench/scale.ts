/**
 * `npm run bench:scale`: the scaled-out topology on this machine, under faults, with one JSON
 * line at the end.
 *
 * - Kafka: a 3-broker KRaft cluster (separate JVMs, test/kafka-broker.ts); tillcast's topics
 *   with replication factor 3 and min.insync.replicas 2.
 * - ClickHouse: ONE shared engine for every process. There is no ClickHouse server binary on
 *   this machine, so the shared "server" is the real engine (chdb) behind
 *   test/clickhouse-http-facade.ts in a process of its own; every role process talks to it over
 *   ClickHouse's HTTP interface (CLICKHOUSE_URL), as it would to a server. It runs statements one
 *   at a time, so it is the bottleneck of this topology, not a model of a server's throughput.
 * - Roles: BENCH_INGEST (2) ingest processes in one consumer group, BENCH_FORECASTERS (2)
 *   forecaster processes, BENCH_APIS (2) API processes, each the real CLI (`tillcast ingest` …).
 *
 * Phase 1, the export under faults: the shared POS export (../shared/data) is replayed at
 * BENCH_REPLAY_SPEED (222 days in about 40 s). Once about a third of it is stored, the broker
 * leading most sales partitions is SIGKILLed; at about half, one ingest member (the one owning the branches' partitions) and one
 * forecaster member are SIGKILLed and started again; the broker is restarted when everything
 * is stored. Throughout, every API process is polled round-robin. At the end the stored events
 * and the closed hours are compared with an independent reference computed from the CSV
 * (test/reference-totals.ts), to the cent and the order, and every branch must have a forecast
 * run from its last closed hour.
 * Phase 2, the refresh burst: BENCH_BURST_BRANCHES (1000) simulated branches with 40 days of
 * closed hours; every branch closes one hour at once and the forecaster members share the
 * refreshes (counted per member from their /metrics).
 *
 * Prints: {"brokers":3,"ingest_members":2,"forecaster_members":2,"api_processes":2,"events":N,
 *   "broker_killed":true,"member_kills":2,"exact":true,"refreshed_branches_ok":true,
 *   "api_errors":0,"events_per_s":X,"burst_branches":1000,"burst_s":X,…}
 * BENCH_LOG_DIR=<dir> keeps every role process's log lines there.
 * Exit code 1 when a correctness field fails (exact, refreshed_branches_ok, api_errors > 0, or more
 * than one training at a time across the forecaster members).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { NORY_BRANCHES, type Branch } from '../lib/branches';
import { toDateTime } from '../clickhouse/datetime-text';
import { loadConfig, type Config } from '../lib/config';
import { createKafka } from '../lib/kafka-client';
import { createLogger } from '../lib/logger';
import { HOUR_MS } from '../lib/time/units';
import { isolatedKafkaEnv, topicNames } from '../lib/topics';
import { SalesStore, type HourRow } from '../clickhouse/store/sales-store';
import { closedHourRow } from '../test/closed-hours';
import { syntheticSeries } from '../model/testing/synthetic';
import { simulatedBranches } from '../producers/simulator';
import { defaultCodec } from '../schemas/avro-codec';
import { apiBase, childProcesses, isTrainingChild } from '../test/fault-helpers';
import { killAllChildren, runCli, spawnCli, type CliProcess } from '../test/child-process';
import { startFacadeProcess, type FacadeProcess } from '../test/clickhouse-http-facade';
import { kafkaCluster, testKafkaClientEnv, type KafkaCluster } from '../test/kafka-broker';
import { computeReference } from '../test/reference-totals';
import { EXPORT_CLOSE_AT, requireSharedExport } from '../test/shared-data';
import { createClickHouse, type ClickHouse } from '../clickhouse/client';

const INGEST = Number(process.env.BENCH_INGEST ?? 2);
const FORECASTERS = Number(process.env.BENCH_FORECASTERS ?? 2);
const APIS = Number(process.env.BENCH_APIS ?? 2);
const BURST_BRANCHES = Number(process.env.BENCH_BURST_BRANCHES ?? 1000);
const CLUSTER_PORT = Number(process.env.BENCH_CLUSTER_PORT ?? 19600);
/**
 * Replay pace (`tillcast replay --speed`): the export's 222 days in about 40 s, so the broker kill
 * lands while receipts are still being published (at `max` the whole export is published, and
 * mostly stored, in a few seconds).
 */
const REPLAY_SPEED = process.env.BENCH_REPLAY_SPEED ?? 'x500000';
const HISTORY_DAYS = 40;
/** The burst's history ends mid-morning, away from midnight (as bench:refresh). */
const BURST_HISTORY_END = Date.UTC(2024, 1, 20, 9);

const log = (msg: string, fields: Record<string, unknown> = {}) =>
  process.stderr.write(
    `[bench:scale] ${msg}${Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ''}\n`,
  );

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// ---------------------------------------------------------------- the API under load

interface ApiLoad {
  readonly ok: number;
  readonly notYet: number;
  readonly errors: number;
  readonly errorSamples: string[];
  stop(): Promise<void>;
}

/**
 * Polls every API process round-robin with /predict of the three branches (and /health), one
 * request at a time. 200 is an answer, 503 no_forecast (before the first model) is "not yet";
 * anything else, or no answer, is an error.
 */
/** The bench's API key (admin), made after `tillcast init`: the APIs need one (issue 14). */
let benchKey = '';

function loadApis(bases: () => string[]): ApiLoad {
  const state = { ok: 0, notYet: 0, errors: 0, errorSamples: [] as string[] };
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const list = bases();
      const base = list[i % list.length]!;
      const branch = NORY_BRANCHES[i % NORY_BRANCHES.length]!.id;
      const url =
        i % 5 === 4
          ? `${base}/health`
          : `${base}/predict?branch_id=${branch}&start=2021-02-01&end=2021-02-07`;
      try {
        const res = await fetch(url, {
          signal: AbortSignal.timeout(10_000),
          headers: { Authorization: `Bearer ${benchKey}` },
        });
        const body = await res.text();
        if (res.status === 200) state.ok++;
        else if (res.status === 503 && body.includes('no_forecast')) state.notYet++;
        else {
          state.errors++;
          if (state.errorSamples.length < 5)
            state.errorSamples.push(`${res.status} ${url}: ${body.slice(0, 200)}`);
        }
      } catch (err) {
        state.errors++;
        if (state.errorSamples.length < 5) state.errorSamples.push(`${url}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    get ok() {
      return state.ok;
    },
    get notYet() {
      return state.notYet;
    },
    get errors() {
      return state.errors;
    },
    errorSamples: state.errorSamples,
    async stop() {
      running = false;
      await loop;
    },
  };
}

// ---------------------------------------------------------------- exactness

interface Exactness {
  exact: boolean;
  mismatches: string[];
}

/** Stored events and closed hours against the independent reference of the CSV. */
async function checkExact(ch: ClickHouse, file: string): Promise<Exactness> {
  const ref = computeReference(file);
  const mismatches: string[] = [];
  const totals = await query<{ branch_id: string; sales: string; orders: string }>(
    ch,
    `SELECT branch_id, sumIf(total_minor, status != 'VOID') AS sales, countIf(status = 'SALE') AS orders
     FROM ${ch.table('sales_events')} FINAL WHERE too_late = 0 GROUP BY branch_id`,
  );
  for (const [branch, t] of ref.totals) {
    const got = totals.find((r) => r.branch_id === branch);
    if (!got || Number(got.sales) !== t.salesCents || Number(got.orders) !== t.orders)
      mismatches.push(`events ${branch}: ${JSON.stringify(got)} vs ${t.salesCents}/${t.orders}`);
  }
  const hours = await query<{ branch_id: string; h: string; sales: string; orders: string; closed: number }>(
    ch,
    `SELECT branch_id, toUnixTimestamp(hour_start) AS h, sales_minor AS sales, orders, closed
     FROM ${ch.table('sales_hourly')} FINAL WHERE branch_id IN {b:Array(String)}`,
    { b: [...ref.hourly.keys()] },
  );
  const stored = new Map(hours.map((r) => [`${r.branch_id}|${Number(r.h) * 1000}`, r]));
  for (const [branch, byHour] of ref.hourly) {
    for (const [hour, want] of byHour) {
      const got = stored.get(`${branch}|${hour}`);
      if (
        !got ||
        Number(got.closed) !== 1 ||
        Number(got.sales) !== want.salesCents ||
        Number(got.orders) !== want.orders
      )
        mismatches.push(
          `hour ${branch} ${new Date(hour).toISOString()}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`,
        );
    }
  }
  for (const r of hours) {
    const want = ref.hourly.get(r.branch_id)?.get(Number(r.h) * 1000);
    if (!want && (Number(r.sales) !== 0 || Number(r.orders) !== 0))
      mismatches.push(
        `hour ${r.branch_id} ${new Date(Number(r.h) * 1000).toISOString()} not in the reference: ${JSON.stringify(r)}`,
      );
  }
  return { exact: mismatches.length === 0, mismatches: mismatches.slice(0, 10) };
}

async function query<T>(ch: ClickHouse, sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await ch.client.query({ query: sql, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

async function count(ch: ClickHouse, sql: string, params: Record<string, unknown> = {}): Promise<number> {
  return Number((await query<{ n: string }>(ch, sql, params))[0]?.n ?? 0);
}

// ---------------------------------------------------------------- Kafka helpers

/** Node id of the broker leading most partitions of `topic`, and how many it leads. */
async function leaderOfMost(kafka: Kafka, topic: string): Promise<{ nodeId: number; partitions: number }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [meta] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    const byLeader = new Map<number, number>();
    for (const p of meta?.partitions ?? []) byLeader.set(p.leader, (byLeader.get(p.leader) ?? 0) + 1);
    const [nodeId, partitions] = [...byLeader].sort((a, b) => b[1] - a[1])[0] ?? [-1, 0];
    return { nodeId, partitions };
  } finally {
    await admin.disconnect();
  }
}

/** Sales partitions of the branches of the export (keyed by branch id, kafkajs's default partitioner). */
function partitionsOf(member: CliProcess, topic: string): number[] {
  const joins = member.logs('joined ingest group');
  const last = joins.at(-1)?.memberAssignment as Record<string, number[]> | undefined;
  return last?.[topic] ?? [];
}

// ---------------------------------------------------------------- trainings across members

/**
 * Samples, every 250 ms, the training children (dist/app/training-child.js) of the forecaster
 * members and keeps the most seen at once: the single-trainer rule says 1.
 */
function watchTrainings(forecasterPids: () => number[]) {
  let max = 0;
  const seen = new Set<number>();
  const timer = setInterval(() => {
    const now = forecasterPids().flatMap((pid) => childProcesses(pid).filter((p) => isTrainingChild(p.args)));
    for (const p of now) seen.add(p.pid);
    max = Math.max(max, now.length);
  }, 250);
  return {
    stop: () => clearInterval(timer),
    get maxConcurrent() {
      return max;
    },
    get started() {
      return seen.size;
    },
  };
}

// ---------------------------------------------------------------- metrics of a member

async function metricValue(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

// ---------------------------------------------------------------- the run

async function main(): Promise<void> {
  const file = requireSharedExport();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-bench-scale-'));
  const run = `scale-${Date.now().toString(36)}`;
  try {
    // --- the shared components
    const t0 = Date.now();
    cluster = kafkaCluster('bench-scale', CLUSTER_PORT, { nodes: 3 });
    await cluster.start();
    log('kafka cluster up', { bootstrap: cluster.bootstrap, s: (Date.now() - t0) / 1000 });
    facade = await startFacadeProcess({ dataDir: path.join(work, 'clickhouse'), scratchDir: work });
    log('shared clickhouse (chdb behind the HTTP facade, own process) up', { url: facade.url });

    const env: Record<string, string> = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      KAFKA_BROKERS: cluster.bootstrap,
      ...testKafkaClientEnv(), // the cluster's SCRAM admin (test/kafka-broker.ts)
      ...isolatedKafkaEnv(run),
      KAFKA_SALES_PARTITIONS: '6',
      CLICKHOUSE_URL: facade.url,
      CLICKHOUSE_DATABASE: 'tillcast',
      MODELS_DIR: path.join(work, 'models'), // one volume shared by the forecaster members, as in compose
      DEMO_BRANCHES: String(BURST_BRANCHES),
      HOST: '127.0.0.1',
      PORT: '0',
      API_FORECAST_POLL_MS: '500',
    };
    const config: Config = loadConfig({ ...env, LOG_LEVEL: 'warn' });
    // The bench's own clients: their retries while a broker is down are expected, not news.
    const logger = createLogger('error');
    const kafka = createKafka(config, logger);
    ch = createClickHouse(config, logger);
    const topics = topicNames(config);
    await runCli(['init'], env, 180_000);
    const made = await runCli(['keys', 'create', '--name', 'bench:scale', '--admin', '--json'], env);
    benchKey = (JSON.parse(made.stdout.join('\n')) as { key: string }).key;

    // --- the roles, each its own process
    const members = new Map<string, CliProcess>();
    const spawnRole = (
      role: 'ingest' | 'forecaster' | 'api',
      i: number,
      extra: Record<string, string> = {},
    ) => {
      const name = `${role}-${i}`;
      const child = spawnCli(name, [role], { ...env, ...extra });
      members.set(name, child);
      spawned.push(child);
      return child;
    };
    const forecasterPort = (i: number) => CLUSTER_PORT + 50 + i;
    for (let i = 0; i < INGEST; i++) spawnRole('ingest', i);
    for (let i = 0; i < FORECASTERS; i++)
      spawnRole('forecaster', i, { METRICS_PORT: String(forecasterPort(i)) });
    const apiBases: string[] = [];
    for (let i = 0; i < APIS; i++) apiBases.push(await apiBase(spawnRole('api', i), 180_000));
    for (let i = 0; i < INGEST; i++)
      await members.get(`ingest-${i}`)!.waitForLog('ingest consuming', {
        description: 'ingest to consume',
        timeoutMs: 180_000,
        orSeen: true,
      });
    log('roles up', { members: [...members.keys()], apis: apiBases });

    // --- phase 1: the export, under faults
    const ref = computeReference(file);
    const expectedEvents = [...ref.totals.values()].reduce((n, t) => n + t.rows, 0);
    const api = loadApis(() => apiBases);
    const trainingWatch = watchTrainings(() =>
      [...members.entries()]
        .filter(([n, c]) => n.startsWith('forecaster-') && c.running)
        .map(([, c]) => c.pid),
    );
    const tReplay = Date.now();
    const replay = spawnCli('replay', ['replay', file, '--speed', REPLAY_SPEED], env);
    const stored = () => count(ch!, `SELECT count() AS n FROM ${ch!.table('sales_events')} FINAL`);

    await until('a third of the export stored', async () => (await stored()) >= expectedEvents / 3, 600_000);
    const leader = await leaderOfMost(kafka, topics.sales);
    const storedAtKill = await stored();
    await cluster.killNode(leader.nodeId);
    log('broker SIGKILLed', { nodeId: leader.nodeId, ledSalesPartitions: leader.partitions, storedAtKill });
    const newLeader = await until(
      'another leader for the sales partitions',
      async () => {
        const l = await leaderOfMost(kafka, topics.sales);
        return l.nodeId !== leader.nodeId && l.nodeId >= 0 ? l : undefined;
      },
      120_000,
    );

    await until('half of the export stored', async () => (await stored()) >= expectedEvents / 2, 600_000);
    let memberKills = 0;
    const owner =
      [...members.entries()].find(
        ([n, c]) => n.startsWith('ingest-') && partitionsOf(c, topics.sales).length > 0,
      ) ?? [...members.entries()].find(([n]) => n.startsWith('ingest-'))!;
    await owner[1].kill('SIGKILL');
    memberKills++;
    const trainer = members.get('forecaster-0')!;
    await trainer.kill('SIGKILL');
    memberKills++;
    log('members SIGKILLed', { ingest: owner[0], forecaster: 'forecaster-0', stored: await stored() });
    spawnRole('ingest', Number(owner[0].split('-')[1]) + 100);
    spawnRole('forecaster', 100, { METRICS_PORT: String(forecasterPort(0)) });

    const replayExit = await replay.waitForExit(900_000);
    if (replayExit.code !== 0)
      throw new Error(`replay exited ${JSON.stringify(replayExit)}\n${replay.diagnostics()}`);
    await until('every event stored', async () => (await stored()) >= expectedEvents, 900_000, 1000);
    await cluster.startNode(leader.nodeId);
    log('broker restarted', { nodeId: leader.nodeId });
    // Exact once the last hours are aggregated (the replay's final heartbeat closes its last day).
    let exactness: Exactness = { exact: false, mismatches: [] };
    await until(
      'stored totals and closed hours equal to the reference',
      async () => {
        exactness = await checkExact(ch!, file);
        return exactness.exact;
      },
      600_000,
      2000,
    ).catch(() => undefined);
    const eventsPerS = expectedEvents / ((Date.now() - tReplay) / 1000);
    log('export stored', { exact: exactness.exact, eventsPerS: Math.round(eventsPerS) });

    // Every branch with a closed hour has a run from its last closed hour (= the export's close).
    const refreshedOk = await until(
      'a forecast run from 2021-02-01 00:00 for every branch of the export',
      async () =>
        (await count(
          ch!,
          `SELECT count(DISTINCT branch_id) AS n FROM ${ch!.table('forecast_runs')} WHERE origin = {o:DateTime('UTC')}`,
          { o: toDateTime(EXPORT_CLOSE_AT) },
        )) === NORY_BRANCHES.length,
      900_000,
      2000,
    )
      .then(() => true)
      .catch(() => false);
    const trainings = await count(ch, `SELECT count() AS n FROM ${ch.table('models')} FINAL`);
    await api.stop();
    trainingWatch.stop();
    log('phase 1 done', {
      refreshedOk,
      trainings,
      api: { ok: api.ok, notYet: api.notYet, errors: api.errors },
    });

    // --- phase 2: the refresh burst, shared by the forecaster members
    const sims: Branch[] = simulatedBranches(BURST_BRANCHES);
    let version = 1;
    const start = BURST_HISTORY_END - HISTORY_DAYS * 24 * HOUR_MS;
    let rows: HourRow[] = [];
    const sales = new SalesStore(ch);
    const writeRows = (list: HourRow[]) => sales.insertHours(list);
    for (const [i, b] of sims.entries()) {
      const s = syntheticSeries({
        branchId: b.id,
        timezone: b.timezone,
        start,
        hours: HISTORY_DAYS * 24,
        level: 60 + (i % 17) * 10,
        seed: i + 1,
      });
      for (let h = 0; h < s.sales.length; h++)
        rows.push(closedHourRow(b, s.start + h * HOUR_MS, s.sales[h]!, s.orders[h]!, version++));
      if (rows.length >= 100_000) {
        await writeRows(rows);
        rows = [];
      }
    }
    await writeRows(rows);
    const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await producer.connect();
    const codec = defaultCodec();
    const closeHour = async (hourStart: number) => {
      await writeRows(sims.map((b) => closedHourRow(b, hourStart, 50, 2, version++)));
      await producer.send({
        topic: topics.hoursClosed,
        acks: -1,
        messages: sims.map((b) => ({
          key: b.id,
          value: codec.encode('hourClosed', {
            branch_id: b.id,
            hour_start: hourStart,
            sales_minor: 5000,
            orders: 2,
            revision: 1,
            closed_at: Date.now(),
          }),
        })),
      });
    };
    const runsFrom = (origin: number) =>
      count(
        ch!,
        `SELECT count(DISTINCT branch_id) AS n FROM ${ch!.table('forecast_runs')} WHERE origin = {o:DateTime('UTC')} AND branch_id LIKE 'sim-%'`,
        {
          o: toDateTime(origin),
        },
      );
    // Warm-up (not measured): every branch's first refresh reads its whole history.
    await closeHour(BURST_HISTORY_END);
    await until(
      'the warm-up refresh of every simulated branch',
      async () => (await runsFrom(BURST_HISTORY_END + HOUR_MS)) >= sims.length,
      1_800_000,
      1000,
    );
    const forecasterPorts = [...Array(FORECASTERS).keys()].map(forecasterPort);
    const before = await Promise.all(
      forecasterPorts.map((p) => metricValue(p, 'tillcast_forecast_refreshes_total')),
    );
    const tBurst = Date.now();
    await closeHour(BURST_HISTORY_END + HOUR_MS);
    await until(
      'the burst refresh of every simulated branch',
      async () => (await runsFrom(BURST_HISTORY_END + 2 * HOUR_MS)) >= sims.length,
      1_800_000,
      250,
    );
    const burstS = (Date.now() - tBurst) / 1000;
    const after = await Promise.all(
      forecasterPorts.map((p) => metricValue(p, 'tillcast_forecast_refreshes_total')),
    );
    await producer.disconnect();

    const result = {
      brokers: cluster.nodeIds.length,
      ingest_members: INGEST,
      forecaster_members: FORECASTERS,
      api_processes: APIS,
      events: expectedEvents,
      replay_speed: REPLAY_SPEED,
      broker_killed: true,
      broker_killed_stored_fraction: Math.round((storedAtKill / expectedEvents) * 100) / 100,
      leader_moved_to: newLeader.nodeId,
      member_kills: memberKills,
      exact: exactness.exact,
      refreshed_branches_ok: refreshedOk,
      trainings,
      training_children_started: trainingWatch.started,
      max_concurrent_trainings: trainingWatch.maxConcurrent,
      api_requests: api.ok + api.notYet + api.errors,
      api_errors: api.errors,
      events_per_s: Math.round(eventsPerS),
      burst_branches: sims.length,
      burst_s: Math.round(burstS * 100) / 100,
      burst_refreshes_per_member: after.map((a, i) => a - before[i]!),
    };
    if (!exactness.exact) log('NOT EXACT', { mismatches: exactness.mismatches });
    if (api.errors > 0) log('API errors', { samples: api.errorSamples });
    console.log(JSON.stringify(result));
    if (
      !result.exact ||
      !result.refreshed_branches_ok ||
      result.api_errors > 0 ||
      result.max_concurrent_trainings > 1
    )
      process.exitCode = 1;
  } finally {
    if (!interrupted) await cleanup();
  }
}

/** What the run started, for cleanup() (also on SIGINT/SIGTERM). */
let cluster: KafkaCluster | undefined;
let facade: FacadeProcess | undefined;
let ch: ClickHouse | undefined;
let work: string | undefined;
/** Every role process of the run, for BENCH_LOG_DIR. */
const spawned: CliProcess[] = [];

let cleaning: Promise<void> | undefined;

/** Stops everything the run started; once, whoever calls it first (the run, a signal, a failure). */
function cleanup(): Promise<void> {
  cleaning ??= stopAll();
  return cleaning;
}

async function stopAll(): Promise<void> {
  // BENCH_LOG_DIR: each process's log lines (kafkajs debug excluded), for a post-mortem.
  const logDir = process.env.BENCH_LOG_DIR;
  if (logDir) {
    fs.mkdirSync(logDir, { recursive: true });
    for (const [i, c] of spawned.entries())
      fs.writeFileSync(
        path.join(logDir, `${String(i).padStart(2, '0')}-${c.name}.jsonl`),
        c.lines.map((l) => JSON.stringify(l)).join('\n'),
      );
  }
  await killAllChildren();
  await ch?.close().catch(() => undefined);
  await facade?.stop().catch(() => undefined);
  if (process.env.BENCH_KEEP_STACK !== '1') await cluster?.stop().catch(() => undefined);
  if (work) fs.rmSync(work, { recursive: true, force: true });
}

// Ctrl-C or a kill: the children, the facade and the brokers go with the bench.
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    interrupted = true;
    // At once, before anything awaits: a role process must not outlive the bench.
    for (const c of spawned) if (c.running) c.child.kill('SIGKILL');
    log(`${signal}: stopping the topology`);
    void cleanup().finally(() => process.exit(130));
  });

main().catch(async (err: unknown) => {
  console.error(err);
  await cleanup();
  process.exit(1);
});
