/**
 * A late correction refreshes the forecast it changes, on the real test broker and a fresh
 * embedded database: a branch has a run at origin O; ingest corrects an hour before O (its
 * sales_hourly row, then an HourClosed revision 2) and the forecaster writes a new run from O that
 * replaces the served one. A duplicate of that correction (HourClosed is at least once) and a
 * correction older than the history the model reads (2,736 h before the origin for the neural
 * engine: 16 weeks for Holt-Winters' day totals + 2 days) write no run; each is shown consumed (the group's committed offset passed it) before
 * the runs are counted.
 *
 * The model is a real neural model trained here on the whole synthetic history (so the role has
 * no reason to train; its `train` seam fails loudly if it tries).
 */
import '../../model/testing/node-realm';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { BranchDirectory, type Branch } from '../../lib/branches';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import { createKafka } from '../../lib/kafka-client';
import { createLogger } from '../../lib/logger';
import { ensureTopicsOn, isolatedKafkaEnv, topicNames } from '../../lib/topics';
import type { Config } from '../../lib/config';
import { migrate } from '../../clickhouse/migrate';
import { syntheticSeries } from '../../model/testing/synthetic';
import { simulatedBranches } from '../../producers/simulator';
import { defaultCodec } from '../../schemas/avro-codec';
import { uniqueName, waitFor } from '../../test/kafka-broker';
import { testConfig } from '../../test/test-config';
import { SalesStore } from '../../clickhouse/store/sales-store';
import { closedHourRow } from '../../test/closed-hours';
import { ForecastStore } from '../../clickhouse/store/forecast-store';
import { createForecasterRole, type ForecasterRole } from './forecaster-role';
import { loadNeuralEngine } from './neural-engine';
import { TrainingError, type TrainJob } from './train-runner';
import { runTrainingJob } from './training-job';

jest.setTimeout(120_000);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DAYS = 130;
/** History ends at 09:00 UTC (the branches open at 12:00 local): the origin O of the first runs. */
const ORIGIN = Date.UTC(2024, 1, 20, 9);
/** Yesterday's 19:00 UTC, a dinner peak: within the correction window and what the model reads. */
const RECENT_HOUR = ORIGIN - 14 * HOUR;
/** The same hour 120 days earlier: older than the 2,736 hours (114 days) the model reads. */
const OLD_HOUR = RECENT_HOUR - 120 * DAY;
const logger = createLogger('silent');
const codec = defaultCodec();
const base = testConfig();
const branches = new BranchDirectory(simulatedBranches(2));
const [corrected, other] = branches.list() as [Branch, Branch];
let ch: ClickHouse;
let sales: SalesStore;
let store: ForecastStore;
let version = 1;

beforeAll(async () => {
  ch = createClickHouse(base, logger);
  await migrate(ch, logger);
  sales = new SalesStore(ch);
  store = new ForecastStore(ch);
  const start = ORIGIN - DAYS * DAY;
  const series = branches.list().map((b, i) =>
    syntheticSeries({
      branchId: b.id,
      timezone: b.timezone,
      start,
      hours: DAYS * 24,
      level: 80 + 20 * i,
      seed: i + 1,
    }),
  );
  await sales.insertHours(
    series.flatMap((s, i) =>
      Array.from(s.sales, (v, h) =>
        closedHourRow(branches.list()[i]!, s.start + h * HOUR, v, s.orders[h]!, version++),
      ),
    ),
  );
  const m0 = await runTrainingJob({ kind: 'full', series, modelsDir: base.MODELS_DIR, seed: 1 });
  await store.registerModel(m0.record);
  await store.promote(m0.record.version, 'initial', 'correction-refresh test');
});

afterAll(async () => {
  await ch?.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
  await ch?.close();
});

/** Run ids of a branch, oldest first. */
async function runIds(branchId: string): Promise<string[]> {
  const rs = await ch.client.query({
    query: `SELECT run_id FROM ${ch.table('forecast_runs')} WHERE branch_id = {b:String} ORDER BY generated_at, run_id`,
    query_params: { b: branchId },
    format: 'JSONEachRow',
  });
  return (await rs.json<{ run_id: string }>()).map((r) => r.run_id);
}

/** A forecaster role on its own topics and group, and what a test needs around it. */
async function forecaster() {
  const config: Config = testConfig({
    ...isolatedKafkaEnv(uniqueName('fc')),
    CLICKHOUSE_DATABASE: base.CLICKHOUSE_DATABASE,
    MODELS_DIR: base.MODELS_DIR,
    TRAIN_RETRY_MS: String(3_600_000),
  });
  const kafka: Kafka = createKafka(config, logger);
  await ensureTopicsOn(kafka, config);
  const admin: Admin = kafka.admin();
  await admin.connect();
  const trainings: TrainJob[] = [];
  const role: ForecasterRole = createForecasterRole({
    config,
    kafka,
    ch,
    codec,
    branches,
    logger,
    loadEngine: loadNeuralEngine,
    train: (job) => {
      trainings.push(job);
      return Promise.reject(new TrainingError('this test trains nothing'));
    },
  });
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const topic = topicNames(config).hoursClosed;
  return {
    role,
    trainings,
    /**
     * Ingest's correction of an hour of `corrected`: the hour's row at revision 2, then its
     * HourClosed (sent `copies` times); resolves once the role has committed past the last copy.
     */
    async correct(hourStart: number, salesEur: number, orders: number, copies = 1) {
      await sales.insertHours([
        { ...closedHourRow(corrected, hourStart, salesEur, orders, version++), revision: 2 },
      ]);
      const event = {
        key: corrected.id,
        value: codec.encode('hourClosed', {
          branch_id: corrected.id,
          hour_start: hourStart,
          sales_minor: Math.round(salesEur * 100),
          orders,
          revision: 2,
          closed_at: Date.now(),
        }),
      };
      const [meta] = await producer.send({ topic, messages: Array.from({ length: copies }, () => event) });
      const next = BigInt(meta!.baseOffset!) + BigInt(copies);
      await waitFor(
        async () => {
          const [t] = await admin.fetchOffsets({ groupId: config.KAFKA_FORECASTER_GROUP, topics: [topic] });
          const committed = t?.partitions.find((p) => p.partition === meta!.partition)?.offset ?? '-1';
          return BigInt(committed) >= next;
        },
        { description: 'the forecaster to commit the correction' },
      );
    },
    async stop() {
      await role.stop();
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}

describe('forecaster: a late correction of an hour before the latest origin', () => {
  it('refreshes the branch from its origin when the model reads the hour, once per revision, and not for an hour it does not read', async () => {
    const f = await forecaster();
    try {
      await f.role.start();
      // The start-up catch-up writes the first runs, at O.
      const first = await waitFor(
        async () => {
          const [run] = await store.runs.latestRuns({ branchId: corrected.id });
          return (await runIds(other.id)).length === 1 ? run : undefined;
        },
        { description: 'the first runs', timeoutMs: 60_000 },
      );
      expect(first.origin).toBe(ORIGIN);
      const before = (await store.runs.latestRunOf(corrected.id))!;
      expect(before.runId).toBe(first.runId);

      // 1. A correction the model reads: a new run from O replaces the served one.
      await f.correct(RECENT_HOUR, 3_000, 120);
      const after = await waitFor(
        async () => {
          const run = await store.runs.latestRunOf(corrected.id);
          return run && run.runId !== before.runId ? run : undefined;
        },
        { description: 'a new run after the correction' },
      );
      const [served] = await store.runs.latestRuns({ branchId: corrected.id });
      expect(served!.runId).toBe(after.runId);
      expect(served!.origin).toBe(ORIGIN);
      expect(served!.generatedAt).toBeGreaterThan(first.generatedAt);
      expect(after.points.map((p) => p.hourStart)).toEqual(before.points.map((p) => p.hourStart));
      expect(after.points).not.toEqual(before.points);
      expect(await runIds(corrected.id)).toEqual([before.runId, after.runId]);

      // 2. The same correction delivered twice more: the run already read that revision.
      await f.correct(RECENT_HOUR, 3_000, 120, 2);
      expect(await runIds(corrected.id)).toEqual([before.runId, after.runId]);

      // 3. A correction older than what the model reads: consumed, no run.
      await f.correct(OLD_HOUR, 3_000, 120);
      expect(await runIds(corrected.id)).toEqual([before.runId, after.runId]);
      expect((await store.runs.latestRunOf(corrected.id))!.runId).toBe(after.runId);

      // The other branch was never refreshed again, and nothing was trained.
      expect(await runIds(other.id)).toHaveLength(1);
      expect(f.trainings).toEqual([]);
    } finally {
      await f.stop();
    }
  });
});
