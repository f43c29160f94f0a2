/**
 * GET /v1/groups/{group_id}/predict on a real API and database (issue 16): the group's hours,
 * days, weeks and total are its branches' sums to the cent, its ranges are built with the group
 * factors its branches' runs carry (k × sum or rss of the branches' half-widths), a branch
 * without a run makes the group's forecast buckets missing, and scopes decide 401/403/404 as for
 * branches. The scenario (test/api-helpers.ts): closed actuals through 2021-02-05 12:00 for every
 * branch; Sushi and Pizza are served runs written with grain and group factors.
 */
import fc from 'fast-check';
import { BranchDirectory, type Branch } from '../lib/branches';
import { HOUR_MS } from '../lib/time/units';
import { ForecastRuns } from '../clickhouse/store/forecast-runs';
import type { GrainFactors } from '../model/interval-factors';
import { createApiServer, type ApiServer } from './server';
import { groupPredictResponseSchema, type GroupPredictResponse, type PredictResponse } from './schemas';
import { toCents, toMilli } from './served-types';
import {
  bearer,
  CLOSED_THROUGH,
  createTestKey,
  destroyAgent,
  GENERATED_AT,
  HORIZON_H,
  NEW_YORK,
  PIZZA,
  request,
  setupScenario,
  SUSHI,
  TACO,
  useApiKey,
  type HttpAnswer,
  type Scenario,
} from '../test/api-helpers';

jest.setTimeout(60_000);

// Groups: 'nory' (Sushi, Pizza, Taco: Taco has no run); '36869' (Sushi's POS company, which
// Pizza shares here: the two branches with runs); '36871' (Taco and New York: mixed zones).
const sushi: Branch = { ...SUSHI, group: 'nory' };
const pizza: Branch = { ...PIZZA, group: 'nory', pos_company_id: '36869' };
const taco: Branch = { ...TACO, group: 'nory' };
const newYork: Branch = { ...NEW_YORK, pos_company_id: '36871' };
const directory = new BranchDirectory([sushi, pizza, taco, newYork]);

const FACTORS: GrainFactors = {
  spread: 'sum',
  day: { sales: 0.5, orders: 0.5 },
  week: { sales: 0.25, orders: 0.25 },
  group: {
    hour: { spread: 'sum', sales: 0.75, orders: 0.75 },
    day: { spread: 'sum', sales: 0.5, orders: 0.5 },
    week: { spread: 'rss', sales: 1.25, orders: 1.25 },
  },
};

let sc: Scenario;
let api: ApiServer;
let base: string;

beforeAll(async () => {
  sc = await setupScenario({ API_RATE_LIMIT_PER_MIN: '0' });
  // Newer runs of Sushi and Pizza, written as the forecaster writes them: with the model's factors.
  await new ForecastRuns(sc.ch).writeRuns(
    [sushi, pizza].map((b, n) => ({
      runId: `run-${b.id}-factors`,
      branchId: b.id,
      modelVersion: 'm-groups',
      origin: CLOSED_THROUGH,
      generatedAt: GENERATED_AT + 1000,
      grainFactors: FACTORS,
      points: Array.from({ length: HORIZON_H }, (_, i) => {
        const s = 10 + n * 7 + ((i * 37) % 23) + 0.37;
        const o = 1 + ((i * 11) % 5) + n * 0.25;
        return {
          hourStart: CLOSED_THROUGH + i * HOUR_MS,
          salesP10: Math.round(s * 80) / 100,
          salesP50: s,
          salesP90: Math.round(s * 135) / 100,
          ordersP10: Math.round(o * 700) / 1000,
          ordersP50: o,
          ordersP90: Math.round(o * 1600) / 1000,
        };
      }),
    })),
    new Map(directory.list().map((b) => [b.id, b])),
  );
  useApiKey((await createTestKey(sc.ch, { admin: true }, 'test admin')).key);
  api = createApiServer({ ...sc, branches: directory }, { forecastPollMs: 60_000, actualsTtlMs: 60_000 });
  await api.start();
  await api.listen(0, '127.0.0.1');
  base = api.url();
});

afterAll(async () => {
  await api?.stop();
  destroyAgent();
  await sc?.drop();
});

const RANGE = 'start=2021-02-01&end=2021-02-14';

async function group(id: string, query = RANGE, headers?: Record<string, string>): Promise<HttpAnswer> {
  return request(base, `/v1/groups/${encodeURIComponent(id)}/predict?${query}`, headers ? { headers } : {});
}

async function groupBody(id: string, query = RANGE): Promise<GroupPredictResponse> {
  const a = await group(id, query);
  expect(a.status).toBe(200);
  const parsed = groupPredictResponseSchema.safeParse(a.json);
  if (!parsed.success) throw new Error(parsed.error.message.slice(0, 1000));
  return a.json as GroupPredictResponse;
}

const errorOf = (a: HttpAnswer) =>
  (a.json as { error: { code: string; details: Record<string, unknown> } }).error;

type Row = {
  sales: number | null;
  orders: number | null;
  sales_p10: number | null;
  sales_p90: number | null;
};

/** Each group row's p50 is the sum of its branches' rows, to the cent and thousandth. */
function expectSums(g: Row[], branches: Row[][]): void {
  expect(g.length).toBeGreaterThan(0);
  g.forEach((row, i) => {
    const parts = branches.map((b) => b[i]!);
    expect(toCents(row.sales!)).toBe(parts.reduce((a, p) => a + toCents(p.sales!), 0));
    expect(toMilli(row.orders!)).toBe(parts.reduce((a, p) => a + toMilli(p.orders!), 0));
  });
}

describe('GET /v1/groups/{group_id}/predict', () => {
  test('per-branch answers are /predict’s, and every group hour, day, week and the total sums them exactly', async () => {
    const g = await groupBody('36869');
    expect(g.group).toEqual({
      id: '36869',
      branches: [sushi.id, pizza.id],
      timezone: 'Europe/Dublin',
      currency: 'EUR',
    });
    expect(g.ranges).toMatchObject({ method: 'calibrated', model_version: 'm-groups' });
    expect(g.granularity).toEqual(['weekly', 'daily', 'hourly']);
    for (const b of g.branches) {
      const p = await request(base, `/v1/predict?branch_id=${b.branch.id}&${RANGE}`);
      expect(b).toEqual(p.json as PredictResponse);
    }
    const [s, p] = g.branches as [PredictResponse, PredictResponse];
    expect(g.hourly).toHaveLength(14 * 24);
    expectSums(g.hourly!, [s.hourly!, p.hourly!]);
    expectSums(g.daily!, [s.daily!, p.daily!]);
    expectSums(g.weekly!, [s.weekly!, p.weekly!]);
    expectSums([g.totals], [[s.totals], [p.totals]]);
    // Days and weeks of the group are also the sums of the group's hours and days.
    expect(toCents(g.totals.sales!)).toBe(g.daily!.reduce((a, d) => a + toCents(d.sales!), 0));
    expect(g.daily!.map((d) => d.source)).toEqual([
      ...Array<string>(4).fill('actual'),
      'mixed',
      ...Array<string>(9).fill('forecast'),
    ]);
    expect(g.coverage).toEqual({ complete: true, missing: [], missing_hours: 0 });
  });

  test('group ranges: k × sum (hour, day) or rss (week, total) of the branches’ half-widths; none on a closed day', async () => {
    const g = await groupBody('36869');
    const [s, p] = g.branches as [PredictResponse, PredictResponse];
    const lo = (r: Row) => toCents(r.sales!) - toCents(r.sales_p10!);
    const hi = (r: Row) => toCents(r.sales_p90!) - toCents(r.sales!);
    // An hour after the origin (forecast in both): k_hour 0.75, sum.
    const h = 24 * 5 + 1;
    const [hs, hp] = [s.hourly![h]!, p.hourly![h]!];
    expect(g.hourly![h]!.source).toBe('forecast');
    expect(toCents(g.hourly![h]!.sales_p10!)).toBe(
      Math.round(toCents(g.hourly![h]!.sales!) - 0.75 * (lo(hs) + lo(hp))),
    );
    expect(toCents(g.hourly![h]!.sales_p90!)).toBe(
      Math.round(toCents(g.hourly![h]!.sales!) + 0.75 * (hi(hs) + hi(hp))),
    );
    // 2021-02-08, a forecast day: k_day 0.5, sum.
    const d = 7;
    const [ds, dp] = [s.daily![d]!, p.daily![d]!];
    expect(g.daily![d]!.date).toBe('2021-02-08');
    expect(toCents(g.daily![d]!.sales_p10!)).toBe(
      Math.round(toCents(g.daily![d]!.sales!) - 0.5 * (lo(ds) + lo(dp))),
    );
    expect(toCents(g.daily![d]!.sales_p90!)).toBe(
      Math.round(toCents(g.daily![d]!.sales!) + 0.5 * (hi(ds) + hi(dp))),
    );
    // The second week (forecast) and the total (actual Feb 1–5 noon, then 9.5 forecast days): k_week 1.25, rss.
    for (const [gr, a, b] of [
      [g.weekly![1]!, s.weekly![1]!, p.weekly![1]!],
      [g.totals, s.totals, p.totals],
    ] as const) {
      const p50 = toCents(gr.sales!);
      expect(toCents(gr.sales_p10!)).toBe(Math.round(p50 - 1.25 * Math.hypot(lo(a), lo(b))));
      expect(toCents(gr.sales_p90!)).toBe(Math.round(p50 + 1.25 * Math.hypot(hi(a), hi(b))));
    }
    // A closed day: no width.
    expect(g.daily![0]).toMatchObject({
      source: 'actual',
      sales_p10: g.daily![0]!.sales,
      sales_p90: g.daily![0]!.sales,
    });
    // Narrower than the sums of the branches' quantiles at week grain.
    expect(g.weekly![1]!.sales_p90! - g.weekly![1]!.sales_p10!).toBeLessThan(
      s.weekly![1]!.sales_p90! +
        p.weekly![1]!.sales_p90! -
        s.weekly![1]!.sales_p10! -
        p.weekly![1]!.sales_p10!,
    );
  });

  test('a branch without a run: its forecast hours are missing, so the group’s are; closed days still add up', async () => {
    const g = await groupBody('nory', `${RANGE}&granularity=daily`);
    expect(g.group.branches).toEqual([sushi.id, pizza.id, taco.id]);
    expect(g.granularity).toEqual(['daily']);
    expect(g.hourly).toBeUndefined();
    expect(g.branches.map((b) => b.forecast?.run_id ?? null)).toEqual([
      `run-${sushi.id}-factors`,
      `run-${pizza.id}-factors`,
      null,
    ]);
    expect(g.branches.every((b) => b.daily !== undefined && b.hourly === undefined)).toBe(true);
    // Feb 5: Taco closed through noon, then nothing: 12 missing hours; Feb 6–14 all missing.
    expect(g.daily![4]).toMatchObject({
      date: '2021-02-05',
      missing_hours: 12,
      source: 'missing',
      sales: null,
    });
    expect(g.coverage.missing).toEqual(g.daily!.slice(4).map((d) => d.date));
    expect(g.coverage.missing_hours).toBe(12 + 9 * 24);
    expect(g.totals).toMatchObject({ source: 'missing', sales: null, sales_p10: null });
    expectSums(
      g.daily!.slice(0, 4),
      g.branches.map((b) => b.daily!.slice(0, 4)),
    );
    expect(g.daily![0]!.source).toBe('actual');
  });

  test('scopes: 401 without a key; 403 unless the key reads every branch (group named or not); 404 only to keys naming it', async () => {
    const keyOf = async (scopes: Parameters<typeof createTestKey>[1]) =>
      bearer((await createTestKey(sc.ch, scopes)).key);
    expect((await request(base, `/v1/groups/nory/predict?${RANGE}`, { auth: false })).status).toBe(401);
    const onlySushi = await keyOf({ branches: [sushi.id] });
    for (const id of ['36869', 'nory', 'no-such-group']) {
      const a = await group(id, RANGE, onlySushi);
      expect([id, a.status, errorOf(a).code, errorOf(a).details.parameter]).toEqual([
        id,
        403,
        'forbidden',
        'group_id',
      ]);
    }
    const both = await keyOf({ branches: [sushi.id, pizza.id] });
    expect((await group('36869', RANGE, both)).status).toBe(200);
    expect((await group('nory', RANGE, both)).status).toBe(403);
    // The group scope 'nory' reads Sushi and Pizza, so also their company's group.
    const nory = await keyOf({ groups: ['nory'] });
    expect((await group('nory', RANGE, nory)).status).toBe(200);
    expect((await group('36869', RANGE, nory)).status).toBe(200);
    expect((await group('ghost', RANGE, nory)).status).toBe(403);
    const ghost = await group('ghost', RANGE, await keyOf({ groups: ['ghost'] }));
    expect([ghost.status, errorOf(ghost).code, errorOf(ghost).details.parameter]).toEqual([
      404,
      'not_found',
      'group_id',
    ]);
    expect((await group('ghost')).status).toBe(404); // admin
  });

  test('query rules of /predict (400 naming the field), a bad group id, a group mixing zones', async () => {
    const bad = await group('nory', 'start=2021-02-30&end=2021-02-14');
    expect([bad.status, errorOf(bad).code, errorOf(bad).details.parameter]).toEqual([
      400,
      'invalid_parameter',
      'start',
    ]);
    const long = await group('x'.repeat(65));
    expect([long.status, errorOf(long).details.parameter]).toEqual([400, 'group_id']);
    const tooLong = await group('nory', 'start=2021-01-01&end=2021-12-31');
    expect([tooLong.status, errorOf(tooLong).code]).toEqual([400, 'range_too_long']);
    const mixed = await group('36871');
    expect([mixed.status, errorOf(mixed).code, errorOf(mixed).details.parameter]).toEqual([
      400,
      'mixed_group',
      'group_id',
    ]);
  });

  test('never a 500: arbitrary group ids and query strings answer 200, 400, 403 or 404 with a JSON error', async () => {
    // Sent as they are (broken percent-encoding); every other id is encoded.
    const RAW = new Set(['%', '%E0%A4%A']);
    const part = fc.oneof(
      fc.constantFrom('nory', '36869', '36871', 'ghost', '%', '%E0%A4%A', '..', 'a/b', ' ', ''),
      fc.string({ maxLength: 70 }),
    );
    const query = fc.array(
      fc.tuple(
        fc.constantFrom('start', 'end', 'granularity', 'explain', 'branch_id', 'x'),
        fc.string({ maxLength: 12 }),
      ),
      { maxLength: 5 },
    );
    await fc.assert(
      fc.asyncProperty(part, query, async (id, q) => {
        const qs = [...q.map(([k, v]) => `${k}=${encodeURIComponent(v)}`), RANGE].join('&');
        const a = await request(
          base,
          `/v1/groups/${RAW.has(id) ? id : encodeURIComponent(id)}/predict?${qs}`,
        );
        expect([200, 400, 403, 404]).toContain(a.status);
        if (a.status !== 200) expect(errorOf(a).code).toEqual(expect.any(String));
      }),
      { numRuns: 150 },
    );
  });

  test('OpenAPI documents the route', async () => {
    const doc = (await request(base, '/openapi.json')).json as {
      paths: Record<string, { get?: { parameters?: { name: string; in: string }[] } }>;
    };
    const op = doc.paths['/v1/groups/{group_id}/predict']?.get;
    expect(op?.parameters?.map((x) => `${x.in}:${x.name}`).sort()).toEqual(
      ['path:group_id', 'query:start', 'query:end', 'query:granularity', 'query:explain'].sort(),
    );
  });
});
