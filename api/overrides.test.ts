/**
 * PUT/DELETE /v1/branches/{id}/overrides/{date} and GET /v1/branches/{id}/accuracy on a real API
 * (real embedded ClickHouse, keys as deployed): validation naming the field, idempotency (no
 * ledger row for a repeated PUT), the write scope, the 409/503 decisions, the plan in /predict at
 * once on this process and within the poll period on another, the scorecard once a day closes,
 * and never a 500 for anything a client sends.
 */
import { createApiServer, type ApiServer } from './server';
import { generateKey, type KeyScopes } from './keys';
import { ApiKeys } from '../clickhouse/store/api-keys';
import { accuracyResponseSchema, overrideResponseSchema } from './overrides-schema';
import { predictResponseSchema, type PredictResponse } from './schemas';
import {
  bearer,
  CLOSED_THROUGH,
  HOUR,
  PIZZA,
  request,
  serveScenario,
  SUSHI,
  TACO,
  type HttpAnswer,
  type ServedScenario,
} from '../test/api-helpers';

jest.setTimeout(120_000);

let s: ServedScenario;
const POLL_MS = 200;

async function keyWith(scopes: Partial<KeyScopes>, name: string): Promise<string> {
  const k = generateKey();
  await new ApiKeys(s.sc.ch).create({
    keyId: k.keyId,
    keyHash: k.keyHash,
    name,
    branches: scopes.branches ?? [],
    groups: scopes.groups ?? [],
    admin: scopes.admin ?? false,
    metrics: false,
    capture: false,
    write: scopes.write ?? false,
    createdAt: Date.now(),
    createdBy: 'test',
  });
  return k.key;
}

const path = (branch: string, date: string) => `/v1/branches/${branch}/overrides/${date}`;
const put = (branch: string, date: string, body: unknown, key?: string) =>
  request(s.base, path(branch, date), {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', ...(key ? bearer(key) : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const del = (branch: string, date: string, key?: string) =>
  request(s.base, path(branch, date), { method: 'DELETE', headers: key ? bearer(key) : {} });
const predict = async (branch: string, start: string, end: string, base = s.base) => {
  const a = await request(base, `/v1/predict?branch_id=${branch}&start=${start}&end=${end}`);
  expect(a.status).toBe(200);
  return predictResponseSchema.parse(a.json);
};
async function ledgerRows(branch: string): Promise<number> {
  const rs = await s.sc.ch.client.query({
    query: `SELECT count() AS n FROM ${s.sc.ch.table('forecast_overrides')} FINAL WHERE branch_id = {b:String}`,
    query_params: { b: branch },
    format: 'JSONEachRow',
  });
  return Number((await rs.json<{ n: string }>())[0]!.n);
}
const errorOf = (a: HttpAnswer) =>
  (a.json as { error: { code: string; message: string; details: object } }).error;

beforeAll(async () => {
  s = await serveScenario({}, { forecastPollMs: POLL_MS });
});
afterAll(async () => {
  await s?.close();
});

describe('PUT /v1/branches/{id}/overrides/{date}', () => {
  it('stores the override with the forecast it replaces; the same PUT again changes nothing', async () => {
    const before = await predict(SUSHI.id, '2021-02-08', '2021-02-08');
    const day = before.daily![0]!;
    const a = await put(SUSHI.id, '2021-02-08', { sales: 1850.5, orders: 210, reason: ' school holidays ' });
    expect(a.status).toBe(200);
    const body = overrideResponseSchema.parse(a.json);
    expect(body).toMatchObject({
      branch_id: SUSHI.id,
      date: '2021-02-08',
      changed: true,
      override: {
        sales: 1850.5,
        orders: 210,
        reason: 'school holidays',
        set_by: { key_name: 'test admin' },
        model: {
          run_id: before.forecast.run_id,
          model_version: before.forecast.model_version,
          source: 'forecast',
          sales: day.sales,
          sales_p10: day.sales_p10,
          sales_p90: day.sales_p90,
          orders: day.orders,
          orders_p10: day.orders_p10,
          orders_p90: day.orders_p90,
        },
      },
    });
    expect(await ledgerRows(SUSHI.id)).toBe(1);

    const again = await put(SUSHI.id, '2021-02-08', {
      sales: '1850.50',
      orders: 210,
      reason: 'school holidays',
    });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({
      changed: false,
      override: { sales: 1850.5, set_at: body.override!.set_at },
    });
    expect(await ledgerRows(SUSHI.id)).toBe(1);

    // Concurrent identical PUTs of a new value: one row.
    const many = await Promise.all(
      Array.from({ length: 5 }, () =>
        put(SUSHI.id, '2021-02-08', { sales: 1900, reason: 'school holidays' }),
      ),
    );
    expect(many.map((x) => x.status)).toEqual([200, 200, 200, 200, 200]);
    expect(many.filter((x) => (x.json as { changed: boolean }).changed)).toHaveLength(1);
    expect(await ledgerRows(SUSHI.id)).toBe(2);
  });

  it('today is allowed (its model value counts the closed hours); a closed day is 409 naming it', async () => {
    const today = await put(SUSHI.id, '2021-02-05', { orders: 100 });
    expect(today.status).toBe(200);
    expect(today.json).toMatchObject({
      changed: true,
      override: { orders: 100, sales: null, model: { source: 'mixed' } },
    });
    const closed = await put(SUSHI.id, '2021-02-04', { orders: 100 });
    expect(closed.status).toBe(409);
    expect(errorOf(closed)).toMatchObject({
      code: 'day_closed',
      details: { parameter: 'date', date: '2021-02-04' },
    });
    expect(errorOf(closed).message).toContain('2021-02-04');
    expect((await del(SUSHI.id, '2021-02-04')).status).toBe(409);
  });

  it('beyond the served run: 409 no_model_forecast; a branch without a run: 503 no_forecast', async () => {
    const far = await put(SUSHI.id, '2021-03-01', { sales: 1 });
    expect(far.status).toBe(409);
    expect(errorOf(far)).toMatchObject({ code: 'no_model_forecast', details: { parameter: 'date' } });
    const noRun = await put(TACO.id, '2021-02-08', { sales: 1 });
    expect(noRun.status).toBe(503);
    expect(errorOf(noRun).code).toBe('no_forecast');
    expect(noRun.headers['retry-after']).toBe('60');
    const unknown = await put('no-such-branch', '2021-02-08', { sales: 1 });
    expect(unknown.status).toBe(404);
  });

  it.each([
    [{ sales: -1 }, 'invalid_field', 'sales'],
    [{ sales: 10.005 }, 'invalid_field', 'sales'],
    [{ sales: '12.345' }, 'invalid_field', 'sales'],
    [{ sales: '1e3' }, 'invalid_field', 'sales'],
    [{ sales: true }, 'invalid_field', 'sales'],
    [{ sales: 1e15 }, 'invalid_field', 'sales'],
    [{ orders: 1.5 }, 'invalid_field', 'orders'],
    [{ orders: -2 }, 'invalid_field', 'orders'],
    [{ orders: '3' }, 'invalid_field', 'orders'],
    [{ sales: 1, reason: 7 }, 'invalid_field', 'reason'],
    [{ sales: 1, reason: 'x'.repeat(501) }, 'invalid_field', 'reason'],
    [{ reason: 'only a reason' }, 'missing_field', 'sales'],
    [{ sales: null, orders: null }, 'missing_field', 'sales'],
    [{ sales: 1, extra: 2 }, 'unknown_field', 'extra'],
    [[1, 2], 'invalid_body', 'body'],
    ['{"sales": 1', 'invalid_json', 'body'],
    ['', 'invalid_json', 'body'],
  ])('400 naming the field: %j', async (body, code, field) => {
    const a = await put(SUSHI.id, '2021-02-09', body);
    expect(a.status).toBe(400);
    expect(errorOf(a)).toMatchObject({ code, details: { field } });
    expect(errorOf(a).message.startsWith(`${field}:`) || field === 'body').toBe(true);
  });

  it.each([
    ['2021-02-30', 'invalid_parameter'],
    ['2021-2-3', 'invalid_parameter'],
    ['1999-12-31', 'invalid_parameter'],
    ['tomorrow', 'invalid_parameter'],
  ])('400 naming the date: %s', async (date, code) => {
    const a = await put(SUSHI.id, date, { sales: 1 });
    expect(a.status).toBe(400);
    expect(errorOf(a)).toMatchObject({ code, details: { parameter: 'date' } });
  });

  it('needs a key with the write scope on the branch: 401 without a key, 403 naming the branch', async () => {
    const reader = await keyWith({ branches: [SUSHI.id] }, 'reader');
    const pizzaWriter = await keyWith({ branches: [PIZZA.id], write: true }, 'pizza manager');
    const sushiWriter = await keyWith({ branches: [SUSHI.id], write: true }, 'sushi manager');
    const none = await request(s.base, path(SUSHI.id, '2021-02-10'), {
      method: 'PUT',
      auth: false,
      headers: { 'Content-Type': 'application/json' },
      body: '{"sales":1}',
    });
    expect(none.status).toBe(401);
    for (const key of [reader, pizzaWriter]) {
      for (const a of [
        await put(SUSHI.id, '2021-02-10', { sales: 1 }, key),
        await del(SUSHI.id, '2021-02-10', key),
      ]) {
        expect(a.status).toBe(403);
        expect(errorOf(a)).toMatchObject({ code: 'forbidden', details: { branch_id: SUSHI.id } });
      }
    }
    expect(await ledgerRows(PIZZA.id)).toBe(0);
    const ok = await put(SUSHI.id, '2021-02-10', { sales: 1 }, sushiWriter);
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ override: { set_by: { key_name: 'sushi manager' } } });
    // The reader may read the scorecard, not another branch's.
    expect(
      (
        await request(s.base, `/v1/branches/${SUSHI.id}/accuracy?start=2021-02-01&end=2021-02-28`, {
          headers: bearer(reader),
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await request(s.base, `/v1/branches/${PIZZA.id}/accuracy?start=2021-02-01&end=2021-02-28`, {
          headers: bearer(reader),
        })
      ).status,
    ).toBe(403);
    expect((await del(SUSHI.id, '2021-02-10', sushiWriter)).status).toBe(200);
  });

  it('never answers 500 for what a client sends', async () => {
    const bodies = [
      'null',
      '0',
      '"x"',
      '{}',
      '{"sales":{}}',
      '{"sales":[1]}',
      '{"orders":1e400}',
      '{"sales":"NaN"}',
      '{"__proto__":{"sales":1}}',
      '\u0000',
      '{"sales":1,"sales":2}',
    ];
    const paths = [
      path(SUSHI.id, '2021-02-11'),
      path(SUSHI.id, '%'),
      path('%ff', '2021-02-11'),
      path('a'.repeat(65), '2021-02-11'),
      path(SUSHI.id, '2021-02-11') + '?x=1',
    ];
    for (const p of paths)
      for (const body of bodies)
        for (const method of ['PUT', 'DELETE']) {
          const a = await request(s.base, p, {
            method,
            headers: { 'Content-Type': 'application/json' },
            body,
          });
          expect({ p, body, method, status: a.status < 500 }).toEqual({ p, body, method, status: true });
        }
    for (const q of [
      '',
      '?start=2021-02-01',
      '?start=2021-02-01&end=2021-01-01',
      '?start=2021-02-01&end=2023-01-01',
      '?start=x&end=y',
      '?start=2021-02-01&start=2021-02-02&end=2021-02-03',
    ]) {
      const a = await request(s.base, `/v1/branches/${SUSHI.id}/accuracy${q}`);
      expect({ q, status: a.status }).toEqual({ q, status: 400 });
    }
  });
});

describe('the plan in /predict and its caching', () => {
  it('a PUT shows in /predict at once on this process, and a DELETE removes it at once', async () => {
    const before = await predict(SUSHI.id, '2021-02-12', '2021-02-14');
    expect(before.daily![0]!.plan).toBeUndefined();
    const etag = (await request(s.base, `/v1/predict?branch_id=${SUSHI.id}&start=2021-02-12&end=2021-02-14`))
      .headers.etag;
    expect((await put(SUSHI.id, '2021-02-13', { sales: 3000, orders: 250 })).status).toBe(200);
    const after = await predict(SUSHI.id, '2021-02-12', '2021-02-14');
    const d = after.daily!.find((x) => x.date === '2021-02-13')!;
    expect(d.plan).toEqual({ sales: 3000, orders: 250 });
    expect(d.sales).toBe(before.daily![1]!.sales); // the model's value is unchanged
    const hours = after.hourly!.filter((h) => h.start.startsWith('2021-02-13'));
    expect(hours.reduce((a, h) => a + Math.round(h.plan!.sales! * 100), 0)).toBe(300_000);
    expect(after.totals.plan).toMatchObject({ overridden_days: 1 });
    expect(
      (await request(s.base, `/v1/predict?branch_id=${SUSHI.id}&start=2021-02-12&end=2021-02-14`)).headers
        .etag,
    ).not.toBe(etag);

    expect((await del(SUSHI.id, '2021-02-13')).json).toMatchObject({ changed: true, override: null });
    expect((await del(SUSHI.id, '2021-02-13')).json).toMatchObject({ changed: false, override: null });
    const cleared = await predict(SUSHI.id, '2021-02-12', '2021-02-14');
    expect(cleared).toEqual(before);
  });

  it('another API process shows the change within its poll period', async () => {
    const other: ApiServer = createApiServer(s.sc, { forecastPollMs: POLL_MS });
    await other.start();
    await other.listen(0, '127.0.0.1');
    try {
      const base = other.url();
      expect((await predict(SUSHI.id, '2021-02-15', '2021-02-15', base)).daily![0]!.plan).toBeUndefined();
      const t0 = Date.now();
      expect((await put(SUSHI.id, '2021-02-15', { sales: 1234.56 })).status).toBe(200);
      let seen: PredictResponse | undefined;
      while (Date.now() - t0 < 10 * POLL_MS + 2_000) {
        const p = await predict(SUSHI.id, '2021-02-15', '2021-02-15', base);
        if (p.daily![0]!.plan) {
          seen = p;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      const waited = Date.now() - t0;
      expect(seen?.daily![0]!.plan?.sales).toBe(1234.56);
      // Within a poll period and its jitter (+10 %), plus the read and the request.
      expect(waited).toBeLessThan(3 * POLL_MS + 1_000);
    } finally {
      await other.stop();
    }
  });
});

describe('GET /v1/branches/{id}/accuracy', () => {
  it('pending until the day closes, then scored against the model it replaced', async () => {
    expect((await put(PIZZA.id, '2021-02-06', { sales: 500, orders: 40, reason: 'rain' })).status).toBe(200);
    const snapshot = overrideResponseSchema.parse(
      (await put(PIZZA.id, '2021-02-06', { sales: 500, orders: 40, reason: 'rain' })).json,
    );
    const pending = accuracyResponseSchema.parse(
      (await request(s.base, `/v1/branches/${PIZZA.id}/accuracy?start=2021-02-01&end=2021-02-28`)).json,
    );
    expect(pending.days).toEqual([]);
    expect(pending.pending).toEqual(['2021-02-06']);

    // The day closes (Dublin = UTC in February): its hours and the branch clock.
    const dayStart = Date.UTC(2021, 1, 6);
    await s.sc.fx.actuals(PIZZA, CLOSED_THROUGH, dayStart + 24 * HOUR, {
      values: (h) => ({
        sales_minor: h === dayStart + 12 * HOUR ? 45_000 : 0,
        orders: h === dayStart + 12 * HOUR ? 44 : 0,
      }),
    });
    await s.sc.fx.watermark(PIZZA.id, dayStart + 24 * HOUR);
    const a = await request(s.base, `/v1/branches/${PIZZA.id}/accuracy?start=2021-02-01&end=2021-02-28`);
    expect(a.status).toBe(200);
    const body = accuracyResponseSchema.parse(a.json);
    const model = snapshot.override!.model;
    const modelSalesErr = Math.round(Math.abs(model.sales - 450) * 100) / 100;
    const modelOrdersErr = Math.round(Math.abs(model.orders - 44) * 1000) / 1000;
    expect(body.pending).toEqual([]);
    expect(body.days).toEqual([
      {
        date: '2021-02-06',
        set_at: snapshot.override!.set_at,
        set_by: snapshot.override!.set_by,
        reason: 'rain',
        revisions: 1,
        run_id: model.run_id,
        model_version: model.model_version,
        model_source: 'forecast',
        sales: {
          actual: 450,
          model: model.sales,
          model_p10: model.sales_p10,
          model_p90: model.sales_p90,
          override: 500,
          model_abs_error: modelSalesErr,
          override_abs_error: 50,
          closer: 50 < modelSalesErr ? 'override' : 50 > modelSalesErr ? 'model' : 'tie',
        },
        orders: {
          actual: 44,
          model: model.orders,
          model_p10: model.orders_p10,
          model_p90: model.orders_p90,
          override: 40,
          model_abs_error: modelOrdersErr,
          override_abs_error: 4,
          closer: 4 < modelOrdersErr ? 'override' : 4 > modelOrdersErr ? 'model' : 'tie',
        },
      },
    ]);
    expect(body.summary.branch.sales).toEqual({
      days: 1,
      override_closer: body.days[0]!.sales.closer === 'override' ? 1 : 0,
      model_closer: body.days[0]!.sales.closer === 'model' ? 1 : 0,
      ties: body.days[0]!.sales.closer === 'tie' ? 1 : 0,
      override_beat_share: body.days[0]!.sales.closer === 'override' ? 1 : 0,
      model_mae: modelSalesErr,
      override_mae: 50,
      mae_improvement: Math.round((modelSalesErr - 50) * 100) / 100,
      mae_improvement_share: Math.round(((modelSalesErr - 50) / modelSalesErr) * 10_000) / 10_000,
    });
    expect(body.summary.managers).toEqual([
      { key_id: snapshot.override!.set_by.key_id, key_name: 'test admin', ...body.summary.branch },
    ]);
    // A closed day keeps its override: it cannot be cleared or changed now (once the API's clock poll saw it close).
    const closedAt = Date.now();
    while (
      s.api.actualsCache.lastClosedHour(PIZZA.id) !== dayStart + 23 * HOUR &&
      Date.now() - closedAt < 5_000
    )
      await new Promise((r) => setTimeout(r, 20));
    expect((await del(PIZZA.id, '2021-02-06')).status).toBe(409);
  });
});

describe('AUTH_MODE=none', () => {
  let open: ServedScenario;
  beforeAll(async () => {
    open = await serveScenario({ AUTH_MODE: 'none' }, { forecastPollMs: POLL_MS });
  });
  afterAll(async () => {
    await open?.close();
  });

  it('anyone may write; the ledger names the writer auth-none', async () => {
    const a = await request(open.base, path(SUSHI.id, '2021-02-08'), {
      method: 'PUT',
      auth: false,
      headers: { 'Content-Type': 'application/json' },
      body: '{"sales": 10}',
    });
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({
      changed: true,
      override: { sales: 10, set_by: { key_id: 'auth-none', key_name: 'auth-none' } },
    });
  });
});
