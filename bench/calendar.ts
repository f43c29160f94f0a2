/**
 * `npm run bench:calendar`: how fast a branch calendar change reaches /predict, on the real broker,
 * the embedded engine and the native backend, with the app's forecaster and API roles in one
 * process (`tillcast run forecaster api`). Prints one JSON line:
 *   {"changes": N, "p50_ms": X, "p95_ms": X, "max_ms": X, "branches": B, "target_p95_ms": 1000}
 *
 * Setup (not measured): BENCH_BRANCHES (20) simulated branches with 40 days of closed hourly
 * history, a neural model trained on them, registered and promoted; the forecaster catches up; an
 * API key with the write scope on every branch.
 * Measured, BENCH_CHANGES (40) times, one after another: a PUT of a closure (or, every other time
 * for the same branch and date, its DELETE) through the API, as the `api` Kafka principal; from
 * the PUT's (DELETE's) answer until /predict of that branch serves a new run (polled every 5 ms).
 * That is: the publish's acknowledgement is in the answer already, then the forecaster group's
 * fetch, the branch's refresh (history + calendar read, inference, run written) and the API's
 * swap of the run (in one process it is told at once; a separate API process would add up to
 * API_FORECAST_POLL_MS).
 */
import type { ApiRole } from '../api/role';
import { createApp } from '../app/app';
import { generateKey } from '../api/keys';
import { ApiKeys } from '../clickhouse/store/api-keys';
import { migrate } from '../clickhouse/migrate';
import { ForecastStore } from '../clickhouse/store/forecast-store';
import { SalesStore, type HourRow } from '../clickhouse/store/sales-store';
import { runTrainingJob } from '../consumers/forecaster/training-job';
import { createLogger } from '../lib/logger';
import { formatCivilDate } from '../lib/time/civil-date';
import { localSlotOf } from '../lib/time/wall-clock';
import { HOUR_MS } from '../lib/time/units';
import { syntheticSeries } from '../model/testing/synthetic';
import { closedHourRow } from '../test/closed-hours';
import { percentile, startBenchStack, stopBenchStack } from './bench-stack';

const BRANCHES = Number(process.env.BENCH_BRANCHES ?? 20);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 40);
const HISTORY_DAYS = 40;
/** History ends at 09:00 UTC (= 09:00 Dublin in winter): the runs' origin. */
const HISTORY_END = Date.UTC(2024, 1, 20, 9);
const TARGET_P95_MS = 1000;

async function main() {
  const stack = startBenchStack('calendar', {
    DEMO_BRANCHES: String(BRANCHES),
    ROLES: 'forecaster,api',
    HOST: '127.0.0.1',
    PORT: '0',
    TRAIN_RETRY_MS: '0',
    API_RATE_LIMIT_PER_MIN: '0',
  });
  const { config } = stack;
  const logger = createLogger(config.LOG_LEVEL);
  const log = logger.child({ module: 'bench' });
  const app = createApp(config, { logger });
  const { ch } = app.ctx;
  await migrate(ch, logger);
  const sims = app.ctx.branches.list().filter((b) => b.id.startsWith('sim-'));

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
  let version = 1;
  const rows: HourRow[] = series.flatMap((s, i) =>
    Array.from(s.sales, (v, h) => closedHourRow(sims[i]!, s.start + h * HOUR_MS, v, s.orders[h]!, version++)),
  );
  await new SalesStore(ch).insertHours(rows);
  const trained = await runTrainingJob({ kind: 'full', series, modelsDir: config.MODELS_DIR, seed: 1 });
  const store = new ForecastStore(ch);
  await store.registerModel(trained.record);
  await store.promote(trained.record.version, 'initial', 'bench');
  log.warn({ s: (Date.now() - t0) / 1000 }, 'history written, model trained');

  await app.start(); // provisions the topics and ACLs (the api principal's WRITE), catches up
  const base = (app.roles.get('api') as ApiRole).api.url();
  const k = generateKey();
  await new ApiKeys(ch).create({
    keyId: k.keyId,
    keyHash: k.keyHash,
    name: 'bench manager',
    branches: sims.map((b) => b.id),
    groups: [],
    admin: false,
    metrics: false,
    write: true,
    createdAt: Date.now(),
    createdBy: 'bench',
  });
  const key = k.key;
  const auth = { Authorization: `Bearer ${key}` };

  const served = async (branchId: string, date: string): Promise<string | undefined> => {
    const r = await fetch(
      `${base}/v1/predict?branch_id=${branchId}&start=${date}&end=${date}&granularity=daily`,
      {
        headers: auth,
      },
    );
    if (r.status !== 200) return undefined;
    return ((await r.json()) as { forecast: { run_id: string } }).forecast.run_id;
  };
  // A day of the horizon: three days after the origin's local day.
  const date = formatCivilDate(localSlotOf(sims[0]!.timezone, HISTORY_END).day + 3);
  for (const b of sims)
    while ((await served(b.id, date)) === undefined) await new Promise((r) => setTimeout(r, 50));
  log.warn({ s: (Date.now() - t0) / 1000 }, 'forecaster caught up');

  const latencies: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const b = sims[Math.floor(i / 2) % sims.length]!;
    const before = await served(b.id, date);
    const remove = i % 2 === 1;
    const r = await fetch(`${base}/v1/branches/${b.id}/calendar/${date}`, {
      method: remove ? 'DELETE' : 'PUT',
      headers: { ...auth, 'Content-Type': 'application/json' },
      ...(remove ? {} : { body: JSON.stringify({ kind: 'closed', name: `Refit ${i}` }) }),
    });
    const answered = Date.now();
    const answer = (await r.json()) as { changed?: boolean };
    if (r.status !== 200 || answer.changed !== true)
      throw new Error(`calendar ${remove ? 'DELETE' : 'PUT'} answered ${r.status} ${JSON.stringify(answer)}`);
    for (;;) {
      const now = await served(b.id, date);
      if (now !== undefined && now !== before) break;
      if (Date.now() - answered > 30_000) throw new Error(`no new run for ${b.id} within 30 s`);
      await new Promise((res) => setTimeout(res, 5));
    }
    latencies.push(Date.now() - answered);
  }
  latencies.sort((a, b) => a - b);

  await app.stop();
  stack.cleanup();
  stopBenchStack();
  console.log(
    JSON.stringify({
      changes: latencies.length,
      p50_ms: Math.round(percentile(latencies, 50)),
      p95_ms: Math.round(percentile(latencies, 95)),
      max_ms: latencies[latencies.length - 1],
      branches: sims.length,
      target_p95_ms: TARGET_P95_MS,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
