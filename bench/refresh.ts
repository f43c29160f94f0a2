/**
 * `npm run bench:refresh`: how fast the forecaster turns a closed hour into a
 * queryable forecast, on the real broker, the embedded engine and the native
 * backend. Prints one JSON line:
 *   {"refreshes": N, "p50_ms": X, "p95_ms": X, "burst_branches": 1000, "burst_s": X}
 *
 * Setup: BENCH_BRANCHES (1000) simulated branches with 40 days of closed hourly
 * history in sales_hourly (written by the ingest's own SalesStore), a neural
 * model trained on 20 of them, registered and promoted; then the forecaster role
 * starts and catches up (not measured).
 * - Latency: BENCH_REFRESHES (50) times, one branch's next hour is written
 *   closed and its HourClosed event published, one at a time; measured from the
 *   publish to the run being readable in forecast_runs (polled every 5 ms).
 * - Burst: every branch closes the following hour at once (1000 events in one
 *   send); measured from the publish until the last branch's run is written.
 */
import { loadBranchDirectory } from '../app/app';
import { BranchDirectory, type Branch } from '../lib/branches';
import { createClickHouse } from '../clickhouse/client';
import { toDateTime } from '../clickhouse/datetime-text';
import { createKafka } from '../lib/kafka-client';
import { createLogger } from '../lib/logger';
import { HOUR_MS } from '../lib/time/units';
import { ensureTopicsOn, topicNames } from '../lib/topics';
import { migrate } from '../clickhouse/migrate';
import { createForecasterRole } from '../consumers/forecaster/forecaster-role';
import { ModelRegistry } from '../clickhouse/store/model-registry';
import { loadNeuralEngine } from '../consumers/forecaster/neural-engine';
import { runTrainingJob } from '../consumers/forecaster/training-job';
import { SalesStore, type HourRow } from '../clickhouse/store/sales-store';
import { closedHourRow } from '../test/closed-hours';
import { syntheticSeries } from '../model/testing/synthetic';
import { simulatedBranches } from '../producers/simulator';
import { defaultCodec } from '../schemas/avro-codec';
import { percentile, startBenchStack, stopBenchStack } from './bench-stack';

const BRANCHES = Number(process.env.BENCH_BRANCHES ?? 1000);
const REFRESHES = Number(process.env.BENCH_REFRESHES ?? 50);
const HISTORY_DAYS = 40;
/** History ends at 09:00 UTC (= 09:00 Dublin in winter): the measured hours close mid-morning, away from midnight. */
const HISTORY_END = Date.UTC(2024, 1, 20, 9);

async function main() {
  const stack = startBenchStack('refresh', { DEMO_BRANCHES: String(BRANCHES) });
  const { config } = stack;
  const logger = createLogger(config.LOG_LEVEL);
  const log = logger.child({ module: 'bench' });
  const kafka = createKafka(config, logger);
  await ensureTopicsOn(kafka, config);
  const ch = createClickHouse(config, logger);
  await migrate(ch, logger);
  const branches = new BranchDirectory(simulatedBranches(BRANCHES));
  const sims: Branch[] = branches.list();
  const sales = new SalesStore(ch);
  let version = 1;

  const hourRow = (b: Branch, hourStart: number, salesEur: number, orders: number): HourRow =>
    closedHourRow(b, hourStart, salesEur, orders, version++);

  // History: one synthetic restaurant per branch (level varies), written in chunks.
  const t0 = Date.now();
  const start = HISTORY_END - HISTORY_DAYS * 24 * HOUR_MS;
  const series = sims.map((b, i) =>
    syntheticSeries({
      branchId: b.id,
      timezone: b.timezone,
      start,
      hours: HISTORY_DAYS * 24,
      level: 60 + (i % 17) * 10,
      seed: i + 1,
    }),
  );
  let rows: HourRow[] = [];
  for (const [i, s] of series.entries()) {
    for (let h = 0; h < s.sales.length; h++)
      rows.push(hourRow(sims[i]!, s.start + h * HOUR_MS, s.sales[h]!, s.orders[h]!));
    if (rows.length >= 200_000) {
      await sales.insertHours(rows);
      rows = [];
    }
  }
  await sales.insertHours(rows);
  log.warn(
    { branches: BRANCHES, hours: BRANCHES * HISTORY_DAYS * 24, s: (Date.now() - t0) / 1000 },
    'history written',
  );

  // A model: trained on 20 branches, registered and promoted as the forecaster would.
  const store = new ModelRegistry(ch);
  const trained = await runTrainingJob({
    kind: 'full',
    series: series.slice(0, 20),
    modelsDir: config.MODELS_DIR,
    seed: 1,
  });
  await store.registerModel(trained.record);
  await store.promote(trained.record.version, 'initial', 'bench');
  log.warn({ s: (Date.now() - t0) / 1000 }, 'model trained');

  // The forecaster: training disabled (the bench measures refreshes only).
  const written = new Map<string, number>();
  let onWritten: (() => void) | undefined;
  const forecaster = createForecasterRole({
    config,
    kafka,
    ch,
    codec: defaultCodec(),
    branches: loadBranchDirectory(config),
    logger,
    loadEngine: loadNeuralEngine,
    train: () => Promise.reject(new Error('training is off in the refresh benchmark')),
    onRunsWritten: (ids) => {
      const t = Date.now();
      for (const id of ids) written.set(id, t);
      onWritten?.();
    },
  });
  await forecaster.start(); // catches up every branch (not measured)
  log.warn({ s: (Date.now() - t0) / 1000, branches: written.size }, 'forecaster caught up');

  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const codec = defaultCodec();
  const topic = topicNames(config).hoursClosed;
  const closeHour = async (list: Branch[], hourStart: number) => {
    await sales.insertHours(list.map((b) => hourRow(b, hourStart, 50, 2)));
    await producer.send({
      topic,
      messages: list.map((b) => ({
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
  const runVisible = async (branchId: string, origin: number) => {
    const rs = await ch.client.query({
      query: `SELECT count() AS n FROM ${ch.table('forecast_runs')} WHERE branch_id = {b:String} AND origin = {o:DateTime('UTC')}`,
      query_params: { b: branchId, o: toDateTime(origin) },
      format: 'JSONEachRow',
    });
    return Number((await rs.json<{ n: string }>())[0]?.n) > 0;
  };

  // Latency: one branch at a time, each closing the hour HISTORY_END.
  const latencies: number[] = [];
  for (let i = 0; i < REFRESHES; i++) {
    const b = sims[i % sims.length]!;
    const t = Date.now();
    await closeHour([b], HISTORY_END);
    while (!(await runVisible(b.id, HISTORY_END + HOUR_MS))) await new Promise((r) => setTimeout(r, 5));
    latencies.push(Date.now() - t);
  }
  latencies.sort((a, b) => a - b);

  // Burst: every branch closes the next hour at once.
  written.clear();
  const burstHour = HISTORY_END + HOUR_MS;
  const allWritten = new Promise<void>((resolve) => {
    onWritten = () => {
      if (written.size >= sims.length) resolve();
    };
  });
  const tb = Date.now();
  // Branches of the latency part have that hour's row already; the rest get HISTORY_END first.
  await sales.insertHours(sims.slice(REFRESHES).map((b) => hourRow(b, HISTORY_END, 50, 2)));
  const tBurst = Date.now();
  await closeHour(sims, burstHour);
  await allWritten;
  const burstS = (Date.now() - tBurst) / 1000;
  log.warn({ setupS: (tBurst - tb) / 1000 }, 'burst done');

  await producer.disconnect();
  await forecaster.stop();
  await ch.close();
  stack.cleanup();
  stopBenchStack();
  console.log(
    JSON.stringify({
      refreshes: latencies.length,
      p50_ms: Math.round(percentile(latencies, 50)),
      p95_ms: Math.round(percentile(latencies, 95)),
      burst_branches: sims.length,
      burst_s: Math.round(burstS * 100) / 100,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
