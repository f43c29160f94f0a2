/**
 * When the forecaster role trains, on the real test broker, a fresh embedded
 * database and the native backend: a process that starts with a model a week or
 * more behind the closed data publishes a retrain decision and, as the only member
 * of its trainer group, carries it out at once (a crash may have interrupted the
 * daily training); a failed training is tried again by the owner after its back-off
 * (TRAIN_RETRY_MS, doubling), on the data closed by then, and its decision stays
 * uncommitted until then.
 *
 * The model serving meanwhile (M0) is a real neural model trained here on the
 * first 28 of 36 days of synthetic history. Training after that goes through the
 * role's `train` seam, which records the job and fails, so that the failure and
 * its retries are deterministic; the test waits for the role's committed offsets,
 * never for a fixed time.
 */
import '../../model/testing/node-realm';
import type { Admin, Kafka } from 'kafkajs';
import { BranchDirectory, type Branch } from '../../lib/branches';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import { createKafka } from '../../lib/kafka-client';
import { createLogger } from '../../lib/logger';
import { ensureTopicsOn, isolatedKafkaEnv, topicNames } from '../../lib/topics';
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
const DAYS = 36;
/** History ends at 09:00 UTC: the hours closed by the test are mid-morning, no local day closes. */
const HISTORY_END = Date.UTC(2024, 1, 20, 9);
const logger = createLogger('silent'); // the injected failures log errors on purpose
const codec = defaultCodec();
const base = testConfig();
const branches = new BranchDirectory(simulatedBranches(2));
let ch: ClickHouse;
let sales: SalesStore;
let version = 1;
let m0Version = '';
const admins: Admin[] = [];

const hourRow = (b: Branch, hourStart: number, salesEur: number, orders: number) =>
  closedHourRow(b, hourStart, salesEur, orders, version++);

beforeAll(async () => {
  ch = createClickHouse(base, logger);
  await migrate(ch, logger);
  sales = new SalesStore(ch);
  const start = HISTORY_END - DAYS * 24 * HOUR;
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
      Array.from(s.sales, (v, h) => hourRow(branches.list()[i]!, s.start + h * HOUR, v, s.orders[h]!)),
    ),
  );
  // M0 knows the first 28 days only: eight days behind the closed data.
  const m0 = await runTrainingJob({
    kind: 'full',
    series: series.map((s) => ({
      ...s,
      sales: s.sales.slice(0, 28 * 24),
      orders: s.orders.slice(0, 28 * 24),
    })),
    modelsDir: base.MODELS_DIR,
    seed: 1,
  });
  const store = new ForecastStore(ch);
  m0Version = m0.record.version;
  await store.registerModel(m0.record);
  await store.promote(m0.record.version, 'initial', 'forecaster-role test');
});

afterAll(async () => {
  for (const a of admins) await a.disconnect();
  await ch?.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
  await ch?.close();
});

/** A forecaster role on its own topics and group whose trainings fail; `jobs` records them. */
async function failingForecaster(retryMs: number) {
  const config = testConfig({
    ...isolatedKafkaEnv(uniqueName('fr')),
    CLICKHOUSE_DATABASE: base.CLICKHOUSE_DATABASE,
    MODELS_DIR: base.MODELS_DIR,
    TRAIN_RETRY_MS: String(retryMs),
  });
  const kafka: Kafka = createKafka(config, logger);
  await ensureTopicsOn(kafka, config);
  const admin = kafka.admin();
  await admin.connect();
  admins.push(admin);
  const jobs: TrainJob[] = [];
  const times: number[] = [];
  const role: ForecasterRole = createForecasterRole({
    config,
    kafka,
    ch,
    codec,
    branches,
    logger,
    loadEngine: loadNeuralEngine,
    train: (job) => {
      jobs.push(job);
      times.push(Date.now());
      return Promise.reject(new TrainingError(`injected training failure ${jobs.length}`));
    },
  });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const topic = topicNames(config).hoursClosed;
  let sent = 0;
  return {
    role,
    jobs,
    times,
    config,
    /** Closes `hourStart` for the first branch and waits until the role has handled and committed it. */
    async closeHour(hourStart: number) {
      const b = branches.list()[0]!;
      await sales.insertHours([hourRow(b, hourStart, 50, 2)]);
      const [meta] = await producer.send({
        topic,
        messages: [
          {
            key: b.id,
            value: codec.encode('hourClosed', {
              branch_id: b.id,
              hour_start: hourStart,
              sales_minor: 5000,
              orders: 2,
              revision: 1,
              closed_at: Date.now(),
            }),
          },
        ],
      });
      sent++;
      const next = BigInt(meta!.baseOffset!) + 1n;
      await waitFor(
        async () => {
          const [t] = await admin.fetchOffsets({ groupId: config.KAFKA_FORECASTER_GROUP, topics: [topic] });
          const committed = t?.partitions.find((p) => p.partition === meta!.partition)?.offset ?? '-1';
          return BigInt(committed) >= next;
        },
        { description: `the forecaster to commit HourClosed #${sent}` },
      );
      await role.idle(); // a training it started has settled
    },
    async stop() {
      await role.stop();
      await producer.disconnect();
    },
  };
}

/** Committed offset of the trainer group on the training topic ('-1': nothing committed). */
async function trainerCommitted(config: { KAFKA_TRAINER_GROUP: string; KAFKA_TOPIC_TRAINING: string }) {
  const [t] = await admins[0]!.fetchOffsets({
    groupId: config.KAFKA_TRAINER_GROUP,
    topics: [config.KAFKA_TOPIC_TRAINING],
  });
  return t?.partitions[0]?.offset ?? '-1';
}

describe('forecaster role: when it trains', () => {
  it('retrains at start when its model is a week behind, and tries a failed training again after the back-off, on the newer data', async () => {
    const f = await failingForecaster(3_000);
    try {
      await f.role.start();
      await waitFor(() => f.jobs.length >= 1, { description: 'the start-up retrain', timeoutMs: 60_000 });
      expect(f.role.currentModel()?.version).toBe(m0Version); // M0 keeps serving
      await f.closeHour(HISTORY_END);
      const closedAt = Date.now();
      await waitFor(() => f.jobs.length >= 3, { description: 'two retries', timeoutMs: 60_000 });
      expect(f.jobs.map((j) => j.kind)).toEqual(['full', 'full', 'full']);
      // Back-off 3 s, then 6 s (the seam records when each try started).
      expect(f.times[1]! - f.times[0]!).toBeGreaterThanOrEqual(3_000);
      expect(f.times[2]! - f.times[1]!).toBeGreaterThanOrEqual(6_000);
      // A try after the hour closed trains on it.
      const first = f.jobs[0]!.histories.find((h) => h.branchId === branches.list()[0]!.id)!.sales.length;
      const after = f.jobs.findIndex((_j, i) => f.times[i]! > closedAt);
      expect(after).toBeGreaterThan(0);
      expect(f.jobs[after]!.histories.find((h) => h.branchId === branches.list()[0]!.id)!.sales.length).toBe(
        first + 1,
      );
      // Retrying: the decision is not committed (another owner would retry it).
      expect(await trainerCommitted(f.config)).toBe('-1');
      expect(f.role.currentModel()?.version).toBe(m0Version);
    } finally {
      await f.stop();
    }
  });

  it('waits out the back-off: no new try at an hour close before TRAIN_RETRY_MS has passed', async () => {
    const f = await failingForecaster(3_600_000);
    try {
      await f.role.start();
      await waitFor(() => f.jobs.length >= 1, { description: 'the start-up retrain', timeoutMs: 60_000 });
      await f.role.idle();
      await f.closeHour(HISTORY_END + 2 * HOUR);
      expect(f.jobs).toHaveLength(1);
      expect(await trainerCommitted(f.config)).toBe('-1');
    } finally {
      await f.stop();
    }
  });
});
