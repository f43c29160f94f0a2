/**
 * The branch calendar on the real pipeline (issue 16): the app's forecaster and API roles in one
 * process (as `tillcast run forecaster api`), the real test broker, the embedded engine and a real
 * neural model trained here on 140 days of synthetic history of two branches.
 *
 * - A closure PUT is stored, announced on the calendar topic, consumed by the forecaster group
 *   (the branch's owner) and refreshed at once: the new run is queryable in /predict within
 *   seconds of the PUT's answer, and that day is 0 with a 0–0 range (sales and orders, the day
 *   and each of its hours), with `calendar: {kind: 'closed', name}`. The zero is the model's
 *   (calendar-model's work), not the API's: the API only adds `calendar`.
 * - A DELETE refreshes again: the day is forecast as before the closure.
 * - An event whose name the branch has had before (two past "Match day" Saturdays, more than the
 *   model's 36-day lookback ago, with double sales) moves the forecast of a coming Saturday the
 *   way those days moved: the forecaster loads the history back to them.
 */
import '../../model/testing/node-realm';
import type { ApiRole } from '../../api/role';
import { createApp, type App } from '../../app/app';
import { ForecastStore } from '../../clickhouse/store/forecast-store';
import { migrate } from '../../clickhouse/migrate';
import { SalesStore } from '../../clickhouse/store/sales-store';
import { runTrainingJob } from '../../consumers/forecaster/training-job';
import { predictResponseSchema, type PredictResponse } from '../../api/schemas';
import type { Branch } from '../../lib/branches';
import { localMidnightUtc } from '../../lib/time/local-days';
import { parseCivilDate } from '../../lib/time/civil-date';
import { isolatedKafkaEnv } from '../../lib/topics';
import { syntheticSeries } from '../../model/testing/synthetic';
import { simulatedBranches } from '../../producers/simulator';
import { bearer, createTestKey, destroyAgent, request } from '../api-helpers';
import { closedHourRow } from '../closed-hours';
import { uniqueName, waitFor } from '../kafka-broker';
import { testConfig } from '../test-config';

jest.setTimeout(300_000);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DAYS = 140;
/** History ends Tuesday 2024-06-18 09:00 UTC (10:00 Dublin): the first run's origin. */
const ORIGIN = Date.UTC(2024, 5, 18, 9);
const CLOSED = '2024-06-22'; // a Saturday of the horizon
const MATCH = '2024-06-29'; // another Saturday of the horizon
/**
 * Past "Match day" Saturdays, 98 and 56 days before the coming one: beyond the model's lookback, and
 * 42 days apart, so neither is in the history the other's base is measured on.
 */
const PAST_MATCHES = ['2024-03-23', '2024-05-04'];
const [SIM, OTHER] = simulatedBranches(2) as [Branch, Branch];

let app: App;
let base: string;
let manager: string;

async function predictDay(
  date: string,
): Promise<{ body: PredictResponse; day: NonNullable<PredictResponse['daily']>[number] }> {
  const r = await request(
    base,
    `/v1/predict?branch_id=${SIM.id}&start=${date}&end=${date}&granularity=daily,hourly`,
    {
      headers: bearer(manager),
    },
  );
  expect(r.status).toBe(200);
  const body = predictResponseSchema.parse(r.json);
  return { body, day: body.daily![0]! };
}

/** Waits until /predict serves a run other than `runId`; returns it and how long that took. */
async function nextRun(runId: string, date: string, since: number) {
  const seen = await waitFor(
    async () => {
      const p = await predictDay(date);
      return p.body.forecast.run_id !== runId ? p : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 10, description: `a run after ${runId} in /predict` },
  );
  return { ...seen, ms: Date.now() - since };
}

async function put(date: string, body: unknown) {
  const r = await request(base, `/v1/branches/${SIM.id}/calendar/${date}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', ...bearer(manager) },
    body: JSON.stringify(body),
  });
  expect(r.status).toBe(200);
  return { answer: r.json as { changed: boolean }, at: Date.now() };
}

beforeAll(async () => {
  const config = testConfig({
    ROLES: 'forecaster,api',
    ...isolatedKafkaEnv(uniqueName('calendar')),
    KAFKA_SALES_PARTITIONS: '2',
    DEMO_BRANCHES: '2',
    HOST: '127.0.0.1',
    PORT: '0',
    TRAIN_RETRY_MS: '0',
  });
  app = createApp(config);
  const { ch } = app.ctx;
  await migrate(ch, app.ctx.logger);
  // History: a synthetic restaurant per branch; the past match days sell double.
  const start = ORIGIN - DAYS * DAY;
  const matchDays = new Set(PAST_MATCHES.map((d) => parseCivilDate(d)!));
  const series = [SIM, OTHER].map((b, i) => {
    const s = syntheticSeries({
      branchId: b.id,
      timezone: b.timezone,
      start,
      hours: DAYS * 24,
      level: 90 + 30 * i,
      seed: i + 7,
    });
    if (b === SIM)
      for (const d of matchDays) {
        const from = (localMidnightUtc(b.timezone, d) - start) / HOUR;
        for (let h = from; h < from + 24; h++) {
          s.sales[h]! *= 2;
          s.orders[h]! *= 2;
        }
      }
    return s;
  });
  let version = 1;
  await new SalesStore(ch).insertHours(
    series.flatMap((s, i) =>
      Array.from(s.sales, (v, h) =>
        closedHourRow([SIM, OTHER][i]!, s.start + h * HOUR, v, s.orders[h]!, version++),
      ),
    ),
  );
  const trained = await runTrainingJob({ kind: 'full', series, modelsDir: config.MODELS_DIR, seed: 1 });
  const store = new ForecastStore(ch);
  await store.registerModel(trained.record);
  await store.promote(trained.record.version, 'initial', 'branch calendar test');
  // The forecaster catches up at start: a run from ORIGIN for both branches.
  await app.start();
  base = (app.roles.get('api') as ApiRole).api.url();
  manager = (await createTestKey(ch, { branches: [SIM.id], write: true }, 'sim manager')).key;
  await waitFor(
    async () =>
      (
        await request(base, `/v1/predict?branch_id=${SIM.id}&start=${CLOSED}&end=${CLOSED}`, {
          headers: bearer(manager),
        })
      ).status === 200 || undefined,
    {
      timeoutMs: 60_000,
      description: 'a first run in /predict',
    },
  );
});

afterAll(async () => {
  destroyAgent();
  await app?.stop();
});

test('a closure PUT: a new run in /predict within seconds, that day 0 with a 0–0 range, and why', async () => {
  const before = await predictDay(CLOSED);
  expect(before.day.sales).toBeGreaterThan(0);
  expect(before.day).not.toHaveProperty('calendar');

  const { answer, at } = await put(CLOSED, { kind: 'closed', name: 'Refit', note: 'new kitchen' });
  expect(answer.changed).toBe(true);
  const after = await nextRun(before.body.forecast.run_id, CLOSED, at);
  console.log(`closure PUT -> new run in /predict: ${after.ms} ms`);
  expect(after.ms).toBeLessThan(5_000);
  expect(after.body.forecast.data_through).toBe(before.body.forecast.data_through); // same origin, newer run
  expect(after.day).toEqual({
    date: CLOSED,
    hours: 24,
    missing_hours: 0,
    sales: 0,
    sales_p10: 0,
    sales_p90: 0,
    orders: 0,
    orders_p10: 0,
    orders_p90: 0,
    source: 'forecast',
    calendar: { kind: 'closed', name: 'Refit', note: 'new kitchen' },
  });
  for (const h of after.body.hourly!)
    expect([h.start, h.sales, h.sales_p10, h.sales_p90, h.orders, h.orders_p10, h.orders_p90]).toEqual([
      h.start,
      0,
      0,
      0,
      0,
      0,
      0,
    ]);
  // The other days of the run are forecast as before (the closure moves only its own day to 0).
  const friday = await request(
    base,
    `/v1/predict?branch_id=${SIM.id}&start=2024-06-21&end=2024-06-21&granularity=daily`,
    {
      headers: bearer(manager),
    },
  );
  expect((friday.json as PredictResponse).daily![0]!.sales).toBeGreaterThan(0);
});

test('DELETE: another run, the day forecast again, no calendar', async () => {
  const before = await predictDay(CLOSED);
  const r = await request(base, `/v1/branches/${SIM.id}/calendar/${CLOSED}`, {
    method: 'DELETE',
    headers: bearer(manager),
  });
  expect(r.json).toEqual({ changed: true, entry: null });
  const after = await nextRun(before.body.forecast.run_id, CLOSED, Date.now());
  expect(after.day.sales).toBeGreaterThan(0);
  expect(after.day.sales_p90).toBeGreaterThan(after.day.sales_p10!);
  expect(after.day).not.toHaveProperty('calendar');
});

test('an event name seen before moves the coming day the way its past days moved (history loaded back to them)', async () => {
  const plain = await predictDay(MATCH);
  // The past match days, entered after the fact, then the coming one.
  let last = plain.body.forecast.run_id;
  for (const d of PAST_MATCHES) {
    await put(d, { kind: 'event', name: 'Match day' });
    last = (await nextRun(last, MATCH, Date.now())).body.forecast.run_id;
  }
  const { at } = await put(MATCH, { kind: 'event', name: 'match  day' });
  const matched = await nextRun(last, MATCH, at);
  expect(matched.day.calendar).toEqual({ kind: 'event', name: 'match  day' });
  const ratio = matched.day.sales! / plain.day.sales!;
  console.log(`match day forecast / plain Saturday forecast: ${ratio.toFixed(3)} (past match days sold x2)`);
  // Measured 1.998; 1.00 when the forecaster loads only the model's lookback (the past days left out).
  expect(ratio).toBeGreaterThan(1.6);
  expect(ratio).toBeLessThan(2.4);
});
