/**
 * Acceptance of the override ledger on replayed real data (issue 16): a branch of the shared POS
 * export is replayed through the real broker and ingest into the embedded engine up to a day; a
 * forecast run is written from there (seasonal naive: the same hour a week before, a stand-in for
 * the model: the ledger scores whatever run was served); two managers override the next days with
 * values chosen against the actuals computed straight from the CSV (test/reference-totals.ts: a
 * near miss, a far miss, an exact tie, an orders-only override, one set and cleared, one left
 * open); the replay then closes those days. v_override_accuracy and GET /v1/branches/{id}/accuracy
 * must give exactly the expected actual, model (as /predict served it at override time), override,
 * errors, who was closer, and the summaries per branch and per manager.
 */
import { createApiServer, type ApiServer } from '../../api/server';
import { generateKey } from '../../api/keys';
import {
  accuracyResponseSchema,
  overrideResponseSchema,
  type AccuracySummary,
} from '../../api/overrides-schema';
import { predictResponseSchema } from '../../api/schemas';
import { ApiKeys } from '../../clickhouse/store/api-keys';
import { ForecastRuns } from '../../clickhouse/store/forecast-runs';
import { loadPosExport } from '../../producers/pos-export';
import { replay } from '../../producers/replay';
import type { SaleEvent } from '../../schemas/events';
import { bearer, destroyAgent, request } from '../api-helpers';
import { createHarness, type Harness } from '../ingest-harness';
import { computeReference } from '../reference-totals';
import { requireSharedExport } from '../shared-data';

jest.setTimeout(600_000);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SUSHI = '352h67i328fh';
/** The replay first closes the hours before this (Europe/Dublin = UTC in January), then four more days. */
const D1 = Date.UTC(2021, 0, 18);
const D5 = D1 + 4 * DAY;

let h: Harness;
let api: ApiServer;
let events: SaleEvent[];
const keys: Record<'anna' | 'ben', { key: string; keyId: string }> = {} as never;

async function replayUntil(from: number, to: number): Promise<void> {
  await replay({
    events: events.filter((e) => e.branch_id === SUSHI && e.occurred_at >= from && e.occurred_at < to),
    branchIds: [SUSHI],
    publisher: h.publisher,
    codec: h.codec,
    topic: h.topics.sales,
    speed: 'max',
    closeAt: to + h.config.INGEST_ALLOWED_LATENESS_S * 1000,
  });
  await h.waitForIngestCaughtUp();
}

beforeAll(async () => {
  const file = requireSharedExport();
  h = await createHarness();
  await h.startIngest();
  const loaded = await loadPosExport(file, { branches: h.branches });
  expect(loaded.errors).toEqual([]);
  events = loaded.events;
  await replayUntil(0, D1);

  // The served run: seasonal naive from D1 over 14 days, from the closed hours just ingested.
  const hours = (await h.hourly(SUSHI)).get(SUSHI)!;
  const points = Array.from({ length: 14 * 24 }, (_, i) => {
    const at = D1 + i * HOUR;
    let src = at - 7 * DAY;
    while (src >= D1) src -= 7 * DAY;
    const a = hours.get(src) ?? { sales: 0, orders: 0 };
    const s = a.sales / 100;
    return {
      hourStart: at,
      salesP10: s * 0.8,
      salesP50: s,
      salesP90: s * 1.2,
      ordersP10: a.orders * 0.8,
      ordersP50: a.orders,
      ordersP90: a.orders * 1.2,
    };
  });
  const branch = h.branches.get(SUSHI)!;
  await new ForecastRuns(h.ch).writeRuns(
    [
      {
        runId: 'run-naive',
        branchId: SUSHI,
        modelVersion: 'seasonal-naive',
        origin: D1,
        generatedAt: Date.now(),
        points,
      },
    ],
    new Map([[SUSHI, branch]]),
  );

  for (const name of ['anna', 'ben'] as const) {
    const k = generateKey();
    await new ApiKeys(h.ch).create({
      keyId: k.keyId,
      keyHash: k.keyHash,
      name,
      branches: [SUSHI],
      groups: [],
      admin: false,
      metrics: false,
      capture: false,
      write: true,
      createdAt: Date.now(),
      createdBy: 'test',
    });
    keys[name] = { key: k.key, keyId: k.keyId };
  }
  api = createApiServer(
    { config: h.config, ch: h.ch, branches: h.branches, logger: h.logger },
    { forecastPollMs: 200 },
  );
  await api.start();
  await api.listen(0, '127.0.0.1');
});

afterAll(async () => {
  destroyAgent();
  await api?.stop();
  await h?.close();
});

const cents = (x: number) => Math.round(x * 100);
const milli = (x: number) => Math.round(x * 1000);

test('the ledger scores overrides against the replayed actuals exactly, per branch and per manager', async () => {
  const base = api.url();
  const reference = computeReference(requireSharedExport()).daily.get(SUSHI)!;
  const actual = (date: string) => reference.get(date)!;

  // What /predict serves for the days before any override: the model each override replaces.
  const served = predictResponseSchema.parse(
    (
      await request(
        base,
        `/v1/predict?branch_id=${SUSHI}&start=2021-01-18&end=2021-01-22&granularity=daily`,
        {
          headers: bearer(keys.anna.key),
        },
      )
    ).json,
  );
  const model = new Map(served.daily!.map((d) => [d.date, d]));
  const m = (date: string) => {
    const d = model.get(date)!;
    expect(d.source).toBe('forecast');
    return { sales: cents(d.sales!), orders: milli(d.orders!) };
  };

  // The overrides (integer cents / orders), chosen against the actuals.
  const a18 = actual('2021-01-18');
  const a19 = actual('2021-01-19');
  const a20 = actual('2021-01-20');
  const plan: {
    date: string;
    who: 'anna' | 'ben';
    sales: number | null;
    orders: number | null;
    reason: string;
  }[] = [
    // Near miss: 1.00 above the actual, 1 order short.
    { date: '2021-01-18', who: 'anna', sales: a18.salesCents + 100, orders: a18.orders - 1, reason: 'near' },
    // Far miss: twice the actual.
    { date: '2021-01-19', who: 'anna', sales: 2 * a19.salesCents, orders: 2 * a19.orders, reason: 'far' },
    // An exact tie on sales (as far from the actual as the model, on the other side); orders exact.
    {
      date: '2021-01-20',
      who: 'ben',
      sales: 2 * a20.salesCents - m('2021-01-20').sales,
      orders: a20.orders,
      reason: 'tie',
    },
    // Orders only, later cleared: not scored.
    { date: '2021-01-21', who: 'ben', sales: null, orders: 1, reason: 'cleared' },
    // Not closed by the end of the test: pending.
    { date: '2021-01-22', who: 'anna', sales: 100_000, orders: null, reason: 'open' },
  ];
  expect(plan[2]!.sales).toBeGreaterThanOrEqual(0);
  const setAt = new Map<string, string>();
  for (const p of plan) {
    const body = {
      reason: p.reason,
      ...(p.sales === null ? {} : { sales: p.sales / 100 }),
      ...(p.orders === null ? {} : { orders: p.orders }),
    };
    const a = await request(base, `/v1/branches/${SUSHI}/overrides/${p.date}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', ...bearer(keys[p.who].key) },
      body: JSON.stringify(body),
    });
    expect({ date: p.date, status: a.status }).toEqual({ date: p.date, status: 200 });
    const o = overrideResponseSchema.parse(a.json).override!;
    // The ledger keeps the forecast as /predict served it.
    const d = model.get(p.date)!;
    expect(o.model).toEqual({
      run_id: 'run-naive',
      model_version: 'seasonal-naive',
      source: 'forecast',
      sales: d.sales,
      sales_p10: d.sales_p10,
      sales_p90: d.sales_p90,
      orders: d.orders,
      orders_p10: d.orders_p10,
      orders_p90: d.orders_p90,
    });
    setAt.set(p.date, o.set_at);
  }
  const cleared = await request(base, `/v1/branches/${SUSHI}/overrides/2021-01-21`, {
    method: 'DELETE',
    headers: bearer(keys.ben.key),
  });
  expect(cleared.json).toMatchObject({ changed: true, override: null });

  // The days close: four more days of the export through Kafka and ingest.
  await replayUntil(D1, D5);
  // Ingest's actuals equal the CSV's for those days (the view reads what ingest wrote).
  const hourly = (await h.hourly(SUSHI)).get(SUSHI)!;
  for (const date of ['2021-01-18', '2021-01-19', '2021-01-20']) {
    const start = Date.parse(`${date}T00:00:00Z`);
    let s = 0;
    let o = 0;
    for (let i = 0; i < 24; i++) {
      const x = hourly.get(start + i * HOUR)!;
      expect(x.closed).toBe(1);
      s += x.sales;
      o += x.orders;
    }
    expect({ date, s, o }).toEqual({ date, s: actual(date).salesCents, o: actual(date).orders });
  }

  // The expected scores, from the reference actuals, the served model and the overrides.
  const closer = (o: number, md: number): 'override' | 'model' | 'tie' =>
    o < md ? 'override' : o > md ? 'model' : 'tie';
  const expected = plan.slice(0, 3).map((p) => {
    const a = actual(p.date);
    const md = m(p.date);
    const se = {
      model: Math.abs(md.sales - a.salesCents),
      over: p.sales === null ? null : Math.abs(p.sales - a.salesCents),
    };
    const oe = {
      model: Math.abs(md.orders - a.orders * 1000),
      over: p.orders === null ? null : Math.abs(p.orders - a.orders) * 1000,
    };
    return { p, a, md, se, oe };
  });
  // The scenario does what it says: the near miss beats the model, the far miss loses, the tie ties.
  expect(expected.map((e) => closer(e.se.over!, e.se.model))).toEqual(['override', 'model', 'tie']);

  // v_override_accuracy, as an analyst reads it.
  const rs = await h.ch.client.query({
    query: `SELECT toString(local_date) AS d, key_name, reason, revisions, run_id,
                   toString(actual_sales) AS actual_sales, toString(model_sales) AS model_sales,
                   toString(override_sales) AS override_sales, toString(model_sales_abs_error) AS mse,
                   toString(override_sales_abs_error) AS ose, sales_closer,
                   actual_orders, toString(model_orders) AS model_orders, override_orders,
                   toString(model_orders_abs_error) AS moe, toString(override_orders_abs_error) AS ooe, orders_closer
            FROM ${h.ch.table('v_override_accuracy')} WHERE branch_id = {b:String} ORDER BY local_date`,
    query_params: { b: SUSHI },
    format: 'JSONEachRow',
  });
  const dec = (units: number, scale: number) =>
    String(Number((units / scale).toFixed(scale === 100 ? 2 : 3)));
  // 64-bit counts arrive as strings from a server and as numbers from the embedded engine.
  const viewRows = (await rs.json<Record<string, unknown>>()).map((r) => ({
    ...r,
    revisions: Number(r.revisions),
    actual_orders: Number(r.actual_orders),
  }));
  expect(viewRows).toEqual(
    expected.map(({ p, a, md, se, oe }) => ({
      d: p.date,
      key_name: p.who,
      reason: p.reason,
      revisions: 1,
      run_id: 'run-naive',
      actual_sales: dec(a.salesCents, 100),
      model_sales: dec(md.sales, 100),
      override_sales: p.sales === null ? null : dec(p.sales, 100),
      mse: dec(se.model, 100),
      ose: se.over === null ? null : dec(se.over, 100),
      sales_closer: se.over === null ? null : closer(se.over, se.model),
      actual_orders: a.orders,
      model_orders: dec(md.orders, 1000),
      override_orders: p.orders,
      moe: dec(oe.model, 1000),
      ooe: oe.over === null ? null : dec(oe.over, 1000),
      orders_closer: oe.over === null ? null : closer(oe.over, oe.model),
    })),
  );

  // GET /accuracy: the same days, and the summaries.
  const answer = await request(base, `/v1/branches/${SUSHI}/accuracy?start=2021-01-01&end=2021-01-31`, {
    headers: bearer(keys.ben.key),
  });
  expect(answer.status).toBe(200);
  const body = accuracyResponseSchema.parse(answer.json);
  expect(body.pending).toEqual(['2021-01-22']);
  expect(body.days).toEqual(
    expected.map(({ p, a, md, se, oe }) => ({
      date: p.date,
      set_at: setAt.get(p.date),
      set_by: { key_id: keys[p.who].keyId, key_name: p.who },
      reason: p.reason,
      revisions: 1,
      run_id: 'run-naive',
      model_version: 'seasonal-naive',
      model_source: 'forecast',
      sales: {
        actual: a.salesCents / 100,
        model: md.sales / 100,
        model_p10: model.get(p.date)!.sales_p10,
        model_p90: model.get(p.date)!.sales_p90,
        override: p.sales === null ? null : p.sales / 100,
        model_abs_error: se.model / 100,
        override_abs_error: se.over === null ? null : se.over / 100,
        closer: se.over === null ? null : closer(se.over, se.model),
      },
      orders: {
        actual: a.orders,
        model: md.orders / 1000,
        model_p10: model.get(p.date)!.orders_p10,
        model_p90: model.get(p.date)!.orders_p90,
        override: p.orders,
        model_abs_error: oe.model / 1000,
        override_abs_error: oe.over === null ? null : oe.over / 1000,
        closer: oe.over === null ? null : closer(oe.over, oe.model),
      },
    })),
  );

  const summary = (errs: [number, number][], unit: number): AccuracySummary => {
    const n = errs.length;
    const model = errs.reduce((s, e) => s + e[0], 0);
    const over = errs.reduce((s, e) => s + e[1], 0);
    const oc = errs.filter(([md, o]) => o < md).length;
    const mc = errs.filter(([md, o]) => o > md).length;
    return {
      days: n,
      override_closer: oc,
      model_closer: mc,
      ties: n - oc - mc,
      override_beat_share: Math.round((oc / n) * 10_000) / 10_000,
      model_mae: Math.round(model / n) / unit,
      override_mae: Math.round(over / n) / unit,
      mae_improvement: (Math.round(model / n) - Math.round(over / n)) / unit,
      mae_improvement_share: Math.round(((model - over) / model) * 10_000) / 10_000,
    };
  };
  const of = (who?: 'anna' | 'ben') => {
    const mine = expected.filter((e) => who === undefined || e.p.who === who);
    return {
      sales: summary(
        mine.flatMap((e) => (e.se.over === null ? [] : [[e.se.model, e.se.over] as [number, number]])),
        100,
      ),
      orders: summary(
        mine.flatMap((e) => (e.oe.over === null ? [] : [[e.oe.model, e.oe.over] as [number, number]])),
        1000,
      ),
    };
  };
  expect(body.summary.branch).toEqual(of());
  expect(body.summary.managers).toEqual(
    (['anna', 'ben'] as const)
      .map((who) => ({ key_id: keys[who].keyId, key_name: who, ...of(who) }))
      .sort((x, y) => (x.key_id < y.key_id ? -1 : 1)),
  );
  // Three sales overrides: the tie counts as neither beating the model nor being beaten.
  expect(body.summary.branch.sales.days).toBe(3);
  expect(body.summary.branch.sales.ties).toBeGreaterThanOrEqual(1);
});
