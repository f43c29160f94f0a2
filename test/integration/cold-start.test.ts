/**
 * A new branch on the real pipeline's storage and API (issue 16): the directory declares a branch
 * of group `g` that has sold nothing yet (opened_on in two days, expected weekly sales). The
 * forecaster (its refresher, with a real neural model trained here on the group's two other
 * branches, on a fresh embedded database) forecasts it at catch-up although it has no closed hour
 * and no HourClosed event: a run marked cold_start, zeros before the opening day, the group's
 * shape after. /predict serves that run with `cold_start: true`, days that are the exact sums of
 * their hours; the other branches' answers do not mention it.
 */
import '../../model/testing/node-realm';
import { BranchDirectory, type Branch } from '../../lib/branches';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import { createLogger } from '../../lib/logger';
import { migrate } from '../../clickhouse/migrate';
import { syntheticSeries } from '../../model/testing/synthetic';
import { testConfig } from '../test-config';
import { SalesStore } from '../../clickhouse/store/sales-store';
import { closedHourRow } from '../closed-hours';
import { ForecastStore } from '../../clickhouse/store/forecast-store';
import { ForecastRefresher } from '../../consumers/forecaster/forecast-refresher';
import { loadNeuralEngine } from '../../consumers/forecaster/neural-engine';
import { runTrainingJob } from '../../consumers/forecaster/training-job';
import type { ForecastEngine } from '../../consumers/forecaster/engine';
import { createApiServer, type ApiServer } from '../../api/server';
import type { PredictResponse } from '../../api/schemas';
import { destroyAgent, expectValidBody, request } from '../api-helpers';
import { localMidnightUtc } from '../../lib/time/local-days';
import { dateToDayNumber } from '../../lib/time/civil-date';

jest.setTimeout(120_000);

const HOUR = 3_600_000;
const DAYS = 42;
/** Newest closed hour end of the group (09:00 UTC = 09:00 Dublin in winter). */
const ORIGIN = Date.UTC(2024, 1, 20, 9);
const OPENS = '2024-02-22';
const logger = createLogger('silent');
const config = testConfig({ AUTH_MODE: 'none' });
const peer = (id: string): Branch => ({
  id,
  name: id,
  timezone: 'Europe/Dublin',
  currency: 'EUR',
  country: 'IE',
  group: 'g',
});
const NEW: Branch = { ...peer('g-new'), opened_on: OPENS, expected_weekly_sales: 9000 };
const branches = new BranchDirectory([peer('g-a'), peer('g-b'), NEW]);
let ch: ClickHouse;
let store: ForecastStore;
let engine: ForecastEngine;
let api: ApiServer;
let refresher: ForecastRefresher;

beforeAll(async () => {
  ch = createClickHouse(config, logger);
  await migrate(ch, logger);
  store = new ForecastStore(ch);
  const start = ORIGIN - DAYS * 24 * HOUR;
  const peers = [branches.get('g-a')!, branches.get('g-b')!];
  const series = peers.map((b, i) =>
    syntheticSeries({ branchId: b.id, start, hours: DAYS * 24, level: 80 + 40 * i, seed: i + 1 }),
  );
  let version = 1;
  await new SalesStore(ch).insertHours(
    series.flatMap((s, i) =>
      Array.from(s.sales, (v, h) => closedHourRow(peers[i]!, s.start + h * HOUR, v, s.orders[h]!, version++)),
    ),
  );
  const m = await runTrainingJob({ kind: 'full', series, modelsDir: config.MODELS_DIR, seed: 1 });
  engine = await loadNeuralEngine(m.record);
  refresher = new ForecastRefresher({
    config,
    store,
    branches,
    logger,
    inUse: { engine, model: m.record },
    owns: () => true,
  });
});

afterAll(async () => {
  await api?.stop();
  destroyAgent();
  engine?.dispose();
  await ch?.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
  await ch?.close();
});

describe('a new branch with no sales yet', () => {
  test('the forecaster forecasts it at catch-up from the group prior, marked cold_start', async () => {
    await refresher.catchUp();
    const runs = await store.runs.latestRuns();
    const byId = new Map(runs.map((r) => [r.branchId, r]));
    expect([...byId.keys()].sort()).toEqual(['g-a', 'g-b', 'g-new']);
    expect(byId.get('g-new')!.origin).toBe(ORIGIN);
    expect(byId.get('g-new')!.coldStart).toBe(true);
    expect(byId.get('g-a')!.coldStart).toBe(false);
    expect(byId.get('g-b')!.coldStart).toBe(false);

    const run = await store.runs.latestRunOf('g-new');
    const opens = localMidnightUtc('Europe/Dublin', dateToDayNumber(OPENS));
    const before = run!.points.filter((p) => p.hourStart < opens);
    const after = run!.points.filter((p) => p.hourStart >= opens);
    expect(before.length).toBe((opens - ORIGIN) / HOUR);
    expect(before.every((p) => p.salesP90 === 0 && p.ordersP90 === 0)).toBe(true);
    // The group's shape: it sells at lunch and dinner, never before noon.
    const salesAt = (h: number) => after.filter((p) => new Date(p.hourStart).getUTCHours() === h);
    expect(salesAt(13).every((p) => p.salesP50 > 0)).toBe(true);
    expect(salesAt(8).every((p) => p.salesP50 === 0)).toBe(true);
  });

  test('each batch of closed hours of the group moves its forecast on too, until it sells', async () => {
    const next = ORIGIN + HOUR;
    const runs = await refresher.refreshClosedHours({
      newest: new Map([['g-a', next]]),
      corrections: new Map(),
    });
    expect(runs.map((r) => [r.branchId, r.origin, r.coldStart]).sort()).toEqual([
      ['g-a', next, false],
      ['g-new', next, true],
    ]);
    // An hour of its own closes (its first event): it waits no more, and is still young (cold start).
    const first = await refresher.refreshClosedHours({
      newest: new Map([['g-new', next + HOUR]]),
      corrections: new Map(),
    });
    expect(first.map((r) => [r.branchId, r.coldStart])).toEqual([['g-new', true]]);
    const later = await refresher.refreshClosedHours({
      newest: new Map([['g-b', next + 2 * HOUR]]),
      corrections: new Map(),
    });
    expect(later.map((r) => r.branchId)).toEqual(['g-b']);
  });

  test('/predict answers cold_start: true for its run, with days that sum their hours exactly', async () => {
    api = createApiServer({ config, ch, branches, logger });
    await api.start();
    await api.listen(0, '127.0.0.1');
    const path = `/predict?branch_id=g-new&start=2024-02-20&end=2024-03-04&granularity=daily,hourly`;
    const a = await request(api.url(), path, { auth: false });
    expect(a.status).toBe(200);
    expectValidBody(path, a);
    const body = a.json as PredictResponse;
    expect(body.forecast.cold_start).toBe(true);
    // Before its latest run's origin (11:00 UTC, the test above) it has neither actuals nor a
    // forecast (missing); then zeros until it opens.
    expect(body.daily!.slice(0, 2).map((d) => [d.date, d.missing_hours, d.sales, d.sales_p90])).toEqual([
      ['2024-02-20', 11, null, null],
      ['2024-02-21', 0, 0, 0],
    ]);
    expect(body.daily![2]!.sales).toBeGreaterThan(0);
    for (const d of body.daily!.slice(1)) {
      const hours = body.hourly!.filter((h) => h.start.startsWith(d.date));
      const cents = hours.reduce((s, h) => s + Math.round((h.sales ?? 0) * 100), 0);
      expect(Math.round((d.sales ?? 0) * 100)).toBe(cents);
    }

    const other = await request(api.url(), `/predict?branch_id=g-a&start=2024-02-20&end=2024-02-21`, {
      auth: false,
    });
    expect(other.status).toBe(200);
    expect((other.json as PredictResponse).forecast).not.toHaveProperty('cold_start');
  });
});
