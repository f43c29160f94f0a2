/**
 * The run row's day/week p10–p90 factors (migration 0006) on the real engine (a fresh embedded
 * database): written with a run and read back exactly; a run without them, and a row written by
 * a writer that does not know the columns (before 0006), read back as "unknown".
 */
import { NORY_BRANCHES, type Branch } from '../../lib/branches';
import { createLogger } from '../../lib/logger';
import { HOUR_MS } from '../../lib/time/units';
import { testConfig } from '../../test/test-config';
import { createClickHouse, type ClickHouse } from '../client';
import { migrate } from '../migrate';
import { ForecastRuns, type ForecastRun } from './forecast-runs';

jest.setTimeout(60_000);

const logger = createLogger('silent');
const [a, b, c] = NORY_BRANCHES.slice(0, 3) as [Branch, Branch, Branch];
const origin = Date.UTC(2021, 0, 4);
let ch: ClickHouse;

beforeAll(async () => {
  ch = createClickHouse(testConfig(), logger);
  await migrate(ch, logger);
});

afterAll(async () => {
  await ch.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
  await ch.close();
});

const runOf = (branchId: string, runId: string): ForecastRun => ({
  runId,
  branchId,
  modelVersion: 'm1',
  origin,
  // Now: the tables drop rows generated more than 90 days ago (TTL), at any merge.
  generatedAt: Date.now(),
  points: [0, 1].map((i) => ({
    hourStart: origin + i * HOUR_MS,
    salesP10: 5,
    salesP50: 10,
    salesP90: 20,
    ordersP10: 1,
    ordersP50: 2,
    ordersP90: 4,
  })),
});

test('grain factors round-trip; without them, or from a writer before 0006, they are unknown', async () => {
  const runs = new ForecastRuns(ch);
  const factors = {
    spread: 'rss' as const,
    day: { sales: 1.25, orders: 0.875 },
    week: { sales: 2.5, orders: 3.0625 },
  };
  await runs.writeRuns(
    [{ ...runOf(a.id, 'r-with'), grainFactors: factors }, runOf(b.id, 'r-without')],
    new Map(NORY_BRANCHES.map((x) => [x.id, x])),
  );
  // A run row as a writer before migration 0006 wrote it: the new columns take their defaults.
  await ch.client.command({
    query: `INSERT INTO ${ch.database}.forecast_runs (run_id, branch_id, model_version, origin, data_through, horizon_end, points, generated_at)
            VALUES ('r-old', '${c.id}', 'm0', '2021-01-04 00:00:00', '2021-01-03 23:00:00', '2021-01-04 02:00:00', 2, now64(3))`,
  });
  const byBranch = new Map((await runs.latestRuns()).map((r) => [r.branchId, r]));
  expect(byBranch.get(a.id)?.grainFactors).toEqual(factors);
  expect(byBranch.get(b.id)).toMatchObject({ runId: 'r-without' });
  expect(byBranch.get(b.id)?.grainFactors).toBeUndefined();
  expect(byBranch.get(c.id)).toMatchObject({ runId: 'r-old' });
  expect(byBranch.get(c.id)?.grainFactors).toBeUndefined();
  const [raw] = await ch.client
    .query({
      query: `SELECT grain_spread, k_day_sales, k_week_orders FROM ${ch.database}.forecast_runs WHERE run_id = 'r-old'`,
      format: 'JSONEachRow',
    })
    .then((r) => r.json<{ grain_spread: string; k_day_sales: number; k_week_orders: number }>());
  expect(raw).toEqual({ grain_spread: '', k_day_sales: 0, k_week_orders: 0 });
});

test('p50 parts (migration 0008) round-trip, signed and rounded like their quantity; a run without them is not explained', async () => {
  const runs = new ForecastRuns(ch);
  const parts = {
    salesLevel: 8.004,
    salesShape: -1.236,
    salesCalendar: 0.5,
    ordersLevel: 1.5,
    ordersShape: -0.1234,
    ordersCalendar: 0,
  };
  const withParts = runOf(a.id, 'r-parts');
  withParts.generatedAt = Date.now() + 1000; // the latest run of the branch
  withParts.points = withParts.points.map((p) => ({ ...p, parts }));
  await runs.writeRuns([withParts], new Map(NORY_BRANCHES.map((x) => [x.id, x])));
  const latest = new Map((await runs.latestRuns()).map((r) => [r.branchId, r]));
  expect(latest.get(a.id)).toMatchObject({ runId: 'r-parts', explained: true });
  expect(latest.get(b.id)).toMatchObject({ runId: 'r-without', explained: false });
  expect(latest.get(c.id)).toMatchObject({ runId: 'r-old', explained: false });
  const points = await runs.runPoints([{ branchId: a.id, runId: 'r-parts' }]);
  expect(points.map((p) => p.parts)).toEqual([
    {
      salesLevel: 8,
      salesShape: -1.24,
      salesCalendar: 0.5,
      ordersLevel: 1.5,
      ordersShape: -0.123,
      ordersCalendar: 0,
    },
    {
      salesLevel: 8,
      salesShape: -1.24,
      salesCalendar: 0.5,
      ordersLevel: 1.5,
      ordersShape: -0.123,
      ordersCalendar: 0,
    },
  ]);
  // A run written without parts reads back zeros, which its run row says mean "unknown".
  const old = await runs.runPoints([{ branchId: b.id, runId: 'r-without' }]);
  expect(old.map((p) => p.parts?.salesLevel)).toEqual([0, 0]);
});

test('group factors (migration 0013) round-trip with the grain factors; a run without them has grain factors only', async () => {
  const runs = new ForecastRuns(ch);
  const group = {
    hour: { spread: 'rss' as const, sales: 1.125, orders: 1.5 },
    day: { spread: 'sum' as const, sales: 0.75, orders: 0.8125 },
    week: { spread: 'sum' as const, sales: 0.625, orders: 0.6875 },
  };
  const factors = { spread: 'sum' as const, day: { sales: 1, orders: 1 }, week: { sales: 2, orders: 2 } };
  const withGroup = { ...runOf(a.id, 'r-group'), grainFactors: { ...factors, group } };
  const without = { ...runOf(b.id, 'r-nogroup'), grainFactors: factors };
  withGroup.generatedAt = without.generatedAt = Date.now() + 2000;
  await runs.writeRuns([withGroup, without], new Map(NORY_BRANCHES.map((x) => [x.id, x])));
  const latest = new Map((await runs.latestRuns()).map((r) => [r.branchId, r]));
  expect(latest.get(a.id)?.grainFactors).toEqual({ ...factors, group });
  expect(latest.get(b.id)?.grainFactors).toEqual(factors);
  expect(latest.get(b.id)?.grainFactors?.group).toBeUndefined();
});
