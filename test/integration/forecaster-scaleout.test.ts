/**
 * Two forecaster members: `tillcast forecaster` twice, as separate processes (the real CLI), on
 * the test broker, sharing one ClickHouse. There is no ClickHouse server binary on this machine:
 * the shared ClickHouse is test/clickhouse-http-facade.ts in a process of its own, the real
 * engine behind ClickHouse's HTTP interface (CLICKHOUSE_URL), the only way several processes
 * share one database here.
 *
 * Eight demo branches, four per hours-closed partition (2 partitions), 100 days of synthetic
 * closed history written by the test; no model at first.
 *
 *   1. Both members start without a model and both publish the same "no model yet" decision. The
 *      owner of the training partition starts training; it is SIGKILLed mid-training (its training
 *      child is burning CPU, no model is registered yet). The other member is given the partition
 *      and the uncommitted decision (the same offsets: redelivered), trains, registers exactly one
 *      model for that decision, and skips the duplicate.
 *   2. The killed member is restarted. A local day closes on all eight branches: each member sees
 *      the midnight on its own four branches and publishes the same fine-tune decision; exactly one
 *      training follows and one model is registered for it; it becomes current (promoted by the
 *      trainer if it beats the first model on the holdout day, else by `tillcast models promote`)
 *      and both members use it within their registry poll; and every branch's runs all come from
 *      one member, the owner of its partition, with both members refreshing some.
 *   3. A zombie trainer: two fresh members; the owner of the training partition is stopped
 *      (SIGSTOP, with its training child) in the middle of a training, past its session timeout;
 *      the other member is given the partition and starts the same decision; when the zombie
 *      continues it learns it lost the partition, abandons its training (the child exits) and
 *      registers nothing: one model for the decision, the new owner's.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Producer } from 'kafkajs';
import { loadConfig } from '../../lib/config';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import { createLogger } from '../../lib/logger';
import { topicNames } from '../../lib/topics';
import { migrate } from '../../clickhouse/migrate';
import { SalesStore } from '../../clickhouse/store/sales-store';
import { closedHourRow } from '../closed-hours';
import { ModelRegistry } from '../../clickhouse/store/model-registry';
import { encodeDecision, newDecision } from '../../consumers/forecaster/model-lifecycle';
import { PartitionOwnership } from '../../consumers/forecaster/partition-ownership';
import { syntheticSeries } from '../../model/testing/synthetic';
import { simulatedBranches } from '../../producers/simulator';
import { defaultCodec } from '../../schemas/avro-codec';
import {
  killAllChildren,
  requireBuiltCli,
  runCli,
  spawnCli,
  type CliProcess,
  type LogLine,
} from '../child-process';
import { startFacadeProcess, type FacadeProcess } from '../clickhouse-http-facade';
import {
  createTopics,
  faultScenario,
  livingProcess,
  trainingChild,
  waitForCommitted,
  type FaultScenario,
} from '../fault-helpers';
import { waitFor } from '../kafka-broker';

jest.setTimeout(300_000);

const HOUR = 3_600_000;
/** Long enough that a full training takes seconds of CPU past loading TensorFlow: the kill lands mid-fit. */
const DAYS = 100;
/** Hours up to 02-20 20:00 UTC (= Europe/Dublin in February) are closed; test 2 closes up to 02-21 23:00. */
const HISTORY_END = Date.UTC(2024, 1, 20, 21);
const MIDNIGHT = Date.UTC(2024, 1, 22);
const PARTITIONS = 2;
const logger = createLogger('silent');
const codec = defaultCodec();

let s: FaultScenario;
let env: Record<string, string>;
let facade: FacadeProcess;
let ch: ClickHouse;
let producer: Producer;
let ownership: PartitionOwnership;
/** Four branches per partition. */
let chosen: ReturnType<typeof simulatedBranches> = [];
let rowVersion = 1;
const passed = new Set<string>();

const member = (name: string) => spawnCli(name, ['forecaster'], env);
const lines = (p: CliProcess, msg: string, pred: (l: LogLine) => boolean = () => true) =>
  p.logs(msg).filter(pred);

beforeAll(async () => {
  requireBuiltCli();
  s = faultScenario('fcscale', {
    KAFKA_SALES_PARTITIONS: String(PARTITIONS),
    DEMO_BRANCHES: '24',
    // Failures are given up, not retried: every training in this file is one the test expects.
    TRAIN_RETRY_MS: '0',
    FORECASTER_MODEL_POLL_MS: '500',
    // 'run written' (debug) names the member that wrote each run.
    LOG_LEVEL: 'debug',
  });
  await createTopics(s);
  facade = await startFacadeProcess({ dataDir: path.join(s.dir, 'server-data'), scratchDir: s.dir });
  env = { ...s.env, CLICKHOUSE_URL: facade.url };
  ch = createClickHouse(loadConfig({ ...process.env, ...env, LOG_LEVEL: 'warn' }), logger);
  await migrate(ch, logger);

  ownership = new PartitionOwnership(topicNames(s.config).hoursClosed, PARTITIONS);
  const all = simulatedBranches(24);
  chosen = [0, 1].flatMap((p) => all.filter((b) => ownership.partitionOf(b.id) === p).slice(0, 4));
  expect(chosen).toHaveLength(8);

  const start = HISTORY_END - DAYS * 24 * HOUR;
  const rows = chosen.flatMap((b, i) => {
    const series = syntheticSeries({
      branchId: b.id,
      timezone: b.timezone,
      start,
      hours: DAYS * 24,
      level: 60 + 15 * i,
      seed: i + 1,
    });
    return Array.from(series.sales, (v, h) =>
      closedHourRow(b, start + h * HOUR, v, series.orders[h]!, rowVersion++),
    );
  });
  await new SalesStore(ch).insertHours(rows);
  producer = s.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
}, 180_000);

afterAll(async () => {
  await killAllChildren();
  await producer?.disconnect();
  await ch?.close();
  await facade?.stop();
  if (passed.size === 3) fs.rmSync(s.dir, { recursive: true, force: true });
  else if (s) process.stderr.write(`[forecaster-scaleout] kept ${s.dir} for a post-mortem\n`);
});

const registered = async () =>
  await (
    await ch.client.query({
      query: `SELECT version, decision_id FROM ${ch.table('models')} FINAL ORDER BY version`,
      format: 'JSONEachRow',
    })
  ).json<{ version: string; decision_id: string }>();

let a: CliProcess;
let b: CliProcess;
let survivor: CliProcess;
let firstModel = '';

describe('forecaster members share the work; one training per decision', () => {
  it('1. the trainer killed mid-training: the other member takes the decision over and registers one model for it', async () => {
    a = member('member-a');
    b = member('member-b');
    const started = await Promise.race(
      [a, b].map((p) =>
        p
          .nextLine((_raw, l) => l?.msg === 'training started', {
            description: 'a training',
            timeoutMs: 120_000,
          })
          .then(() => p),
      ),
    );
    const owner = started;
    survivor = owner === a ? b : a;
    const decision = String(lines(owner, 'training started')[0]!.decision);
    expect(decision).toBe(`full:${new Date(HISTORY_END).toISOString()}`);
    // Both members saw "no model yet" and published the same decision.
    for (const p of [a, b])
      await waitFor(
        () => lines(p, 'training decision published', (l) => l.decision === decision).length === 1,
        {
          description: `${p.name} to publish ${decision}`,
          timeoutMs: 60_000,
        },
      );

    // Mid-training: the child is past loading TensorFlow and the series, burning CPU in the fit.
    const child = await trainingChild(owner.pid);
    await waitFor(() => (livingProcess(child.pid)?.cpuS ?? 0) >= 3, {
      description: 'the training child to be training',
      timeoutMs: 90_000,
      intervalMs: 50,
    });
    expect(lines(owner, 'model registered')).toEqual([]);
    expect(await registered()).toEqual([]);
    const ownerReceived = String(lines(owner, 'training decision received')[0]!.offsets);
    expect((await owner.kill('SIGKILL')).signal).toBe('SIGKILL');
    await waitFor(() => livingProcess(child.pid) === undefined, {
      description: 'the orphaned training child to exit',
      timeoutMs: 15_000,
    });
    fs.rmSync(path.dirname(child.args[child.args.indexOf('--series-file') + 1]!), {
      recursive: true,
      force: true,
    });

    // The survivor is given the partition and the uncommitted decision, from the same offset.
    await survivor.waitForLog('model registered', {
      description: 'the takeover training',
      timeoutMs: 180_000,
      orSeen: true,
    });
    const received = lines(survivor, 'training decision received');
    expect(String(received[0]!.offsets).split('..')[0]).toBe(ownerReceived.split('..')[0]);
    expect(lines(survivor, 'training started').map((l) => l.decision)).toEqual([decision]);
    const models = await registered();
    expect(models.map((m) => m.decision_id)).toEqual([decision]);
    firstModel = models[0]!.version;
    expect(lines(survivor, 'model registered').map((l) => l.version)).toEqual([firstModel]);
    await survivor.waitForLog('model in use', {
      description: 'the new model in use',
      timeoutMs: 30_000,
      orSeen: true,
    });
    // The duplicate decision (the killed member's) is skipped, not trained again.
    await waitForCommitted(s, s.config.KAFKA_TRAINER_GROUP, s.config.KAFKA_TOPIC_TRAINING, 30_000);
    expect(lines(survivor, 'training started')).toHaveLength(1);
    passed.add('1');
  });

  it('2. a day close seen by both members: one training, one model, used by both; each branch refreshed by its partition owner', async () => {
    const restarted = member('member-restarted');
    const members = [survivor, restarted];
    await restarted.waitForLog('model in use', {
      description: 'the restarted member to load the model',
      timeoutMs: 90_000,
    });
    // Both in the hours-closed group with one partition each.
    const assigned = (p: CliProcess) =>
      lines(p, 'hours-closed partitions assigned').at(-1)?.partitions as number[] | undefined;
    await waitFor(
      () =>
        members.every((p) => assigned(p)?.length === 1) && assigned(survivor)![0] !== assigned(restarted)![0],
      { description: 'one hours-closed partition per member', timeoutMs: 90_000, intervalMs: 200 },
    );
    const logged = new Map(members.map((p) => [p, p.lines.length]));
    const since = (p: CliProcess, msg: string) => p.lines.slice(logged.get(p)).filter((l) => l.msg === msg);

    // Close the hours up to 02-21 23:00 on every branch: origin 02-22 00:00, a local midnight
    // (Europe/Dublin = UTC), a whole day after the first model's data, so the holdout can score it.
    await new SalesStore(ch).insertHours(
      chosen.flatMap((br) =>
        Array.from({ length: (MIDNIGHT - HISTORY_END) / HOUR }, (_, i) =>
          closedHourRow(br, HISTORY_END + i * HOUR, 40 + (i % 5), 2, rowVersion++),
        ),
      ),
    );
    await producer.send({
      topic: topicNames(s.config).hoursClosed,
      messages: chosen.map((br) => ({
        key: br.id,
        value: codec.encode('hourClosed', {
          branch_id: br.id,
          hour_start: MIDNIGHT - HOUR,
          sales_minor: 4000,
          orders: 2,
          revision: 1,
          closed_at: Date.now(),
        }),
      })),
    });
    const decision = `finetune:${new Date(MIDNIGHT).toISOString()}`;
    for (const p of members)
      await waitFor(() => since(p, 'training decision published').some((l) => l.decision === decision), {
        description: `${p.name} to see the day close`,
        timeoutMs: 60_000,
      });
    const trainer = await waitFor(() => members.find((p) => since(p, 'model registered').length > 0), {
      description: 'the fine-tune to be registered',
      timeoutMs: 180_000,
      intervalMs: 250,
    });
    const version = String(since(trainer, 'model registered')[0]!.version);
    const store = new ModelRegistry(ch);
    // The trainer promotes it if it is not worse than the first model on the holdout day; otherwise
    // the operator does (`tillcast models promote`, a manual promotion). Either way it becomes
    // current in the registry and both members pick it up within their poll period.
    const promotedByTrainer = await waitFor(
      () =>
        since(trainer, 'model in use').some((l) => l.version === version)
          ? 'trainer'
          : since(trainer, 'challenger not promoted: worse on the holdout').length > 0
            ? 'operator'
            : undefined,
      { description: 'the trainer to promote the fine-tune or not', timeoutMs: 30_000 },
    );
    if (promotedByTrainer === 'operator') await runCli(['models', 'promote', version], env);
    process.stderr.write(`[forecaster-scaleout] fine-tune ${version} promoted by the ${promotedByTrainer}\n`);
    for (const p of members)
      await waitFor(() => since(p, 'model in use').some((l) => l.version === version), {
        description: `${p.name} to use ${version}`,
        timeoutMs: 30_000,
      });
    expect((await store.currentModel())?.version).toBe(version);
    expect(await store.modelsForDecision(decision)).toEqual([version]);
    expect((await registered()).map((m) => m.version).sort()).toEqual([firstModel, version].sort());
    expect(members.flatMap((p) => since(p, 'training started').map((l) => l.decision))).toEqual([decision]);

    // Every branch: a run at the new origin by the new model, all of its runs from its partition's owner.
    await waitFor(
      async () => {
        const rs = await ch.client.query({
          query: `SELECT branch_id AS b, argMax(model_version, generated_at) AS m, max(origin) AS o FROM ${ch.table('forecast_runs')} GROUP BY b`,
          format: 'JSONEachRow',
        });
        const rows = await rs.json<{ b: string; m: string; o: string }>();
        return chosen.every((br) =>
          rows.some((r) => r.b === br.id && r.m === version && r.o.startsWith('2024-02-22 00:00')),
        );
      },
      {
        description: 'every branch served by the new model from midnight',
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    const writers = new Map<string, Set<string>>();
    for (const p of members)
      for (const l of since(p, 'run written')) {
        const set = writers.get(String(l.branch_id)) ?? new Set<string>();
        set.add(p.name);
        writers.set(String(l.branch_id), set);
      }
    const partitionOf = new Map(members.map((p) => [p.name, assigned(p)![0]]));
    for (const br of chosen) {
      const w = [...(writers.get(br.id) ?? [])];
      expect({ branch: br.id, writers: w.length }).toEqual({ branch: br.id, writers: 1 });
      expect(partitionOf.get(w[0]!)).toBe(ownership.partitionOf(br.id));
    }
    expect(new Set([...writers.values()].map((w) => [...w][0])).size).toBe(2);
    for (const p of members) expect((await p.kill('SIGTERM', 60_000)).code).toBe(0);
    passed.add('2');
  });

  it('3. a zombie trainer (stopped past its session mid-training) abandons the training to the new owner: one model', async () => {
    const DAY = 24 * HOUR;
    // A day of new closed data, so the decision below is not satisfied by an earlier model.
    await new SalesStore(ch).insertHours(
      chosen.flatMap((br) =>
        Array.from({ length: 24 }, (_, i) =>
          closedHourRow(br, MIDNIGHT + i * HOUR, 40 + (i % 7), 2, rowVersion++),
        ),
      ),
    );
    const c = member('member-c');
    const d = member('member-d');
    for (const p of [c, d])
      await p.waitForLog('model in use', {
        description: `${p.name} to load the model`,
        timeoutMs: 90_000,
        orSeen: true,
      });
    const decision = newDecision('full', MIDNIGHT + DAY, 'zombie trainer test', 'test');
    const { key, value } = encodeDecision(decision);
    await producer.send({ topic: s.config.KAFKA_TOPIC_TRAINING, messages: [{ key, value }] });
    const started = (p: CliProcess) =>
      lines(p, 'training started', (l) => l.decision === decision.id).length > 0;
    const zombie = await waitFor(() => [c, d].find(started), {
      description: 'the owner to start the training',
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const owner = zombie === c ? d : c;
    const child = await trainingChild(zombie.pid);
    await waitFor(() => (livingProcess(child.pid)?.cpuS ?? 0) >= 2, {
      description: 'the training child to be training',
      timeoutMs: 90_000,
      intervalMs: 50,
    });
    process.kill(child.pid, 'SIGSTOP');
    process.kill(zombie.pid, 'SIGSTOP');
    try {
      // Past the trainer session (10 s): the other member is given the partition and the decision.
      await waitFor(() => started(owner), {
        description: 'the takeover',
        timeoutMs: 120_000,
        intervalMs: 200,
      });
    } finally {
      process.kill(zombie.pid, 'SIGCONT');
      process.kill(child.pid, 'SIGCONT');
    }
    await zombie.waitForLog(
      'this trainer lost the training partition; abandoning the training to its new owner',
      {
        description: 'the zombie to learn it lost the partition',
        timeoutMs: 60_000,
        orSeen: true,
      },
    );
    await waitFor(() => livingProcess(child.pid) === undefined, {
      description: "the zombie's training child to exit",
      timeoutMs: 30_000,
    });
    await owner.waitForLog('model registered', {
      description: 'the new owner to register',
      timeoutMs: 240_000,
      orSeen: true,
    });
    const versions = await new ModelRegistry(ch).modelsForDecision(decision.id);
    expect(versions).toHaveLength(1);
    expect(lines(owner, 'model registered').map((l) => l.version)).toEqual(versions);
    expect(lines(zombie, 'model registered')).toEqual([]);
    for (const p of [c, d]) expect((await p.kill('SIGTERM', 60_000)).code).toBe(0);
    passed.add('3');
  });
});
