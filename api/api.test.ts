/**
 * The API over real HTTP against the embedded ClickHouse (no mocks): a fresh
 * database with synthetic actuals and forecast runs (test/api-helpers.ts).
 * Every JSON body is checked against its zod response schema.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { syntheticActual, syntheticForecast } from '../bench/api-fixtures';
import { openApiDocument, predictQueryFields } from './schemas';
import { createApiServer, type ApiServer } from './server';
import {
  CLOSED_THROUGH,
  eventually,
  expectValidBody,
  GENERATED_AT,
  HORIZON_H,
  HOUR,
  NEW_YORK,
  PIZZA,
  rawRequest,
  request,
  serveScenario,
  SUSHI,
  TACO,
  type HttpAnswer,
  type Scenario,
  type ServedScenario,
} from '../test/api-helpers';
import type { PredictResponse } from './schemas';

const ORIGIN = 'https://app.example.com';

let sc: Scenario;
let api: ApiServer;
let base: string;

async function get(path: string, opts: Parameters<typeof request>[2] = {}): Promise<HttpAnswer> {
  const a = await request(base, path, opts);
  expectValidBody(path, a, opts.method);
  return a;
}

async function predict(query: string, at = base): Promise<{ a: HttpAnswer; body: PredictResponse }> {
  const path = `/predict?${query}`;
  const a = await request(at, path);
  expectValidBody(path, a);
  return { a, body: a.json as PredictResponse };
}

const errorOf = (a: HttpAnswer) =>
  (a.json as { error: { code: string; message: string; details: Record<string, unknown> } }).error;

let served: ServedScenario | undefined;
beforeAll(async () => {
  // No polling during these tests (deterministic); refreshes are explicit or via notify.
  served = await serveScenario(
    {
      CORS_ORIGINS: `${ORIGIN}, https://other.example.com`,
      API_RATE_LIMIT_PER_MIN: '0',
    },
    { forecastPollMs: 60_000, actualsTtlMs: 60_000 },
  );
  ({ sc, api, base } = served);
});

afterAll(async () => {
  await served?.close();
});

describe('GET /predict', () => {
  it('answers the issue example with every field', async () => {
    const { a, body } = await predict(`branch_id=${SUSHI.id}&start=2021-02-04&end=2021-02-10`);
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toMatch(/^application\/json/);
    expect(body.branch).toEqual({
      id: SUSHI.id,
      name: 'Nory Sushi',
      timezone: 'Europe/Dublin',
      currency: 'EUR',
    });
    expect(body.range).toEqual({ start: '2021-02-04', end: '2021-02-10', days: 7 });
    expect(body.granularity).toEqual(['weekly', 'daily', 'hourly']);
    expect(body.forecast).toEqual({
      run_id: sc.runs[SUSHI.id],
      model_version: 'm-synthetic-1',
      generated_at: new Date(GENERATED_AT).toISOString(),
      data_through: new Date(CLOSED_THROUGH - HOUR).toISOString(),
      horizon_end: new Date(CLOSED_THROUGH + HORIZON_H * HOUR).toISOString(),
    });
    expect(body.last_closed_hour).toBe('2021-02-05T11:00:00.000Z');
    expect(body.coverage).toEqual({ complete: true, missing: [], missing_hours: 0 });

    expect(body.daily!.map((d) => [d.date, d.source, d.hours])).toEqual([
      ['2021-02-04', 'actual', 24],
      ['2021-02-05', 'mixed', 24],
      ['2021-02-06', 'forecast', 24],
      ['2021-02-07', 'forecast', 24],
      ['2021-02-08', 'forecast', 24],
      ['2021-02-09', 'forecast', 24],
      ['2021-02-10', 'forecast', 24],
    ]);
    expect(body.weekly!.map((w) => [w.week_start, w.first_date, w.last_date, w.days, w.source])).toEqual([
      ['2021-02-01', '2021-02-04', '2021-02-07', 4, 'mixed'],
      ['2021-02-08', '2021-02-08', '2021-02-10', 3, 'forecast'],
    ]);
    expect(body.hourly).toHaveLength(168);

    // Hour values are the stored numbers.
    const actualHour = Date.UTC(2021, 1, 4, 13);
    const act = syntheticActual(SUSHI, actualHour);
    expect(body.hourly![13]).toEqual({
      start: '2021-02-04T13:00:00+00:00',
      sales: act.sales_minor / 100,
      sales_p10: act.sales_minor / 100,
      sales_p90: act.sales_minor / 100,
      orders: act.orders,
      orders_p10: act.orders,
      orders_p90: act.orders,
      source: 'actual',
    });
    const fcHour = Date.UTC(2021, 1, 6, 19);
    const f = syntheticForecast(SUSHI, fcHour);
    expect(body.hourly![2 * 24 + 19]).toEqual({
      start: '2021-02-06T19:00:00+00:00',
      sales: f.sales_p50,
      sales_p10: f.sales_p10,
      sales_p90: f.sales_p90,
      orders: f.orders_p50,
      orders_p10: f.orders_p10,
      orders_p90: f.orders_p90,
      source: 'forecast',
    });
    // Day = sum of its hours, totals = sum of days, in cents.
    const c = (x: number | null) => Math.round((x ?? NaN) * 100);
    const d5 = body.daily![1]!;
    expect(c(d5.sales)).toBe(body.hourly!.slice(24, 48).reduce((s, h) => s + c(h.sales), 0));
    expect(c(body.totals.sales)).toBe(body.daily!.reduce((s, d) => s + c(d.sales), 0));
    expect(body.totals).toMatchObject({ days: 7, source: 'mixed' });
  });

  it('is the same under /v1, supports HEAD, ETag/304 and granularity', async () => {
    const q = `branch_id=${SUSHI.id}&start=2021-02-04&end=2021-02-10`;
    const a = await get(`/predict?${q}`);
    const v1 = await get(`/v1/predict?${q}`);
    expect(v1.status).toBe(200);
    expect(v1.json).toEqual(a.json);
    const etag = String(a.headers.etag);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const notModified = await get(`/v1/predict?${q}`, { headers: { 'If-None-Match': etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.text).toBe('');
    const head = await get(`/predict?${q}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    const daily = await predict(`${q}&granularity=daily,%20weekly`);
    expect(Object.keys(daily.body)).toEqual([
      'branch',
      'range',
      'granularity',
      'forecast',
      'last_closed_hour',
      'totals',
      'coverage',
      'weekly',
      'daily',
    ]);
    expect(daily.body.granularity).toEqual(['weekly', 'daily']);
    const unknownIgnored = await predict(`${q}&_=12345&foo[]=bar`);
    expect(unknownIgnored.a.status).toBe(200);
  });

  it('gzips for clients that accept it (own ETag, Vary: Accept-Encoding)', async () => {
    const q = `/v1/predict?branch_id=${SUSHI.id}&start=2021-02-04&end=2021-02-10`;
    const plain = await get(q);
    const gz = await get(q, { headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(String(gz.headers.vary)).toMatch(/Accept-Encoding/);
    expect(gz.json).toEqual(plain.json);
    expect(gz.raw!.length).toBeLessThan(plain.raw!.length / 4);
    expect(gz.headers.etag).not.toBe(plain.headers.etag);
    const refused = await get(q, { headers: { 'Accept-Encoding': 'gzip;q=0, identity' } });
    expect(refused.headers['content-encoding']).toBeUndefined();
    const notModified = await get(q, {
      headers: { 'Accept-Encoding': 'gzip', 'If-None-Match': String(gz.headers.etag) },
    });
    expect(notModified.status).toBe(304);
    const small = await get(
      `/v1/predict?branch_id=${SUSHI.id}&start=2021-02-04&end=2021-02-04&granularity=weekly`,
      { headers: { 'Accept-Encoding': 'gzip' } },
    );
    expect(small.headers['content-encoding']).toBeUndefined();
  });

  it('covers beyond the horizon and before history with nulls listed in coverage', async () => {
    const late = await predict(`branch_id=${SUSHI.id}&start=2021-02-17&end=2021-02-21&granularity=daily`);
    expect(late.a.status).toBe(200);
    // The run ends at 2021-02-19 12:00.
    expect(late.body.daily!.map((d) => [d.date, d.source, d.missing_hours, d.sales])).toEqual([
      ['2021-02-17', 'forecast', 0, expect.any(Number)],
      ['2021-02-18', 'forecast', 0, expect.any(Number)],
      ['2021-02-19', 'missing', 12, null],
      ['2021-02-20', 'missing', 24, null],
      ['2021-02-21', 'missing', 24, null],
    ]);
    expect(late.body.coverage).toEqual({
      complete: false,
      missing: ['2021-02-19', '2021-02-20', '2021-02-21'],
      missing_hours: 60,
    });
    expect(late.body.totals).toMatchObject({ sales: null, orders: null, source: 'missing' });

    const early = await predict(`branch_id=${SUSHI.id}&start=2021-01-18&end=2021-01-21&granularity=daily`);
    expect(early.body.daily!.map((d) => d.source)).toEqual(['missing', 'missing', 'actual', 'actual']);
    expect(early.body.coverage.missing).toEqual(['2021-01-18', '2021-01-19']);
  });

  it('uses the branch calendar: New York dates and UTC offsets', async () => {
    const { body } = await predict(
      `branch_id=${NEW_YORK.id}&start=2021-02-06&end=2021-02-06&granularity=hourly`,
    );
    expect(body.hourly).toHaveLength(24);
    expect(body.hourly![0]!.start).toBe('2021-02-06T00:00:00-05:00');
    expect(body.hourly![0]!.source).toBe('forecast');
    const dst = await predict(
      `branch_id=${NEW_YORK.id}&start=2021-03-14&end=2021-03-14&granularity=hourly,daily`,
    );
    expect(dst.body.hourly).toHaveLength(23);
    expect(dst.body.daily![0]).toMatchObject({ hours: 23, source: 'missing' });
  });

  it.each([
    ['', 'missing_parameter', 'branch_id'],
    [`branch_id=${SUSHI.id}&end=2021-02-10`, 'missing_parameter', 'start'],
    [`branch_id=${SUSHI.id}&start=2021-02-04`, 'missing_parameter', 'end'],
    [`branch_id=&start=2021-02-04&end=2021-02-10`, 'invalid_parameter', 'branch_id'],
    [`branch_id=${'x'.repeat(65)}&start=2021-02-04&end=2021-02-10`, 'invalid_parameter', 'branch_id'],
    [`branch_id=${SUSHI.id}&start=2021-2-4&end=2021-02-10`, 'invalid_parameter', 'start'],
    [`branch_id=${SUSHI.id}&start=2021-02-30&end=2021-03-10`, 'invalid_parameter', 'start'],
    [`branch_id=${SUSHI.id}&start=2021-02-04&end=2021-13-01`, 'invalid_parameter', 'end'],
    [`branch_id=${SUSHI.id}&start=1999-12-31&end=2000-01-02`, 'invalid_parameter', 'start'],
    [`branch_id=${SUSHI.id}&start=2021-02-10&end=2021-02-04`, 'invalid_range', 'end'],
    [`branch_id=${SUSHI.id}&start=2021-01-01&end=2021-04-03`, 'range_too_long', 'end'],
    [
      `branch_id=${SUSHI.id}&start=2021-02-04&end=2021-02-10&granularity=monthly`,
      'invalid_parameter',
      'granularity',
    ],
    [
      `branch_id=${SUSHI.id}&start=2021-02-04&end=2021-02-10&granularity=`,
      'invalid_parameter',
      'granularity',
    ],
    [
      `branch_id=${SUSHI.id}&start=2021-02-04&start=2021-02-05&end=2021-02-10`,
      'duplicate_parameter',
      'start',
    ],
    [
      `branch_id=${SUSHI.id}&branch_id=${PIZZA.id}&start=2021-02-04&end=2021-02-10`,
      'duplicate_parameter',
      'branch_id',
    ],
  ])('400 for %j (%s, naming %s)', async (query, code, parameter) => {
    const a = await get(`/predict?${query}`);
    expect(a.status).toBe(400);
    const e = errorOf(a);
    expect(e.code).toBe(code);
    expect(e.message.startsWith(`${parameter}: `)).toBe(true);
    expect(e.details.parameter).toBe(parameter);
    expect(a.headers['cache-control']).toBe('no-store');
  });

  it('accepts exactly 92 days', async () => {
    const a = await predict(`branch_id=${SUSHI.id}&start=2021-01-01&end=2021-04-02&granularity=weekly`);
    expect(a.a.status).toBe(200);
    expect(a.body.range.days).toBe(92);
  });

  it('404 for an unknown branch, 503 + Retry-After for a branch without forecast', async () => {
    const nf = await get('/predict?branch_id=nope-123&start=2021-02-04&end=2021-02-10');
    expect(nf.status).toBe(404);
    expect(errorOf(nf)).toMatchObject({ code: 'not_found', details: { parameter: 'branch_id' } });
    expect(errorOf(nf).message).toMatch(/^branch_id: unknown branch "nope-123"/);
    const nofc = await get(`/predict?branch_id=${TACO.id}&start=2021-02-04&end=2021-02-10`);
    expect(nofc.status).toBe(503);
    expect(nofc.headers['retry-after']).toBe('60');
    expect(errorOf(nofc).code).toBe('no_forecast');
  });

  it('answers odd input with 4xx JSON, never 500', async () => {
    const cases: [string, number][] = [
      [`/predict?branch_id=%F0%9F%8D%A3&start=2021-02-04&end=2021-02-10`, 400],
      [`/predict?branch_id=${SUSHI.id}&start=%E0%A4%A&end=2021-02-10`, 400],
      [`/predict?branch_id[]=${SUSHI.id}&start=2021-02-04&end=2021-02-10`, 400],
      [`/predict?branch_id=${SUSHI.id}&start=2021-02-04&end=2021-02-10&start`, 400],
      [`/predict?${'a'.repeat(3000)}`, 414],
      ['/predict/../branches', 404],
      ['/nope', 404],
      ['/static/../package.json', 404],
      ['/static/README.md', 404],
    ];
    for (const [path, status] of cases) {
      const a = await get(path);
      expect([path, a.status]).toEqual([path, status]);
      expect(a.json).toBeDefined();
    }
    const post = await get('/predict', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect(errorOf(post).code).toBe('method_not_allowed');
    const bigHeader = await get('/health', { headers: { 'X-Big': 'x'.repeat(20_000) }, keepAlive: false });
    expect(bigHeader.status).toBe(431);
    expect(errorOf(bigHeader).code).toBe('headers_too_large');
    const badBytes = await rawRequest(base, Buffer.from('GET /predict?branch_id=a b\x01 HTTP/1.1', 'latin1'));
    expect(badBytes.status).toBe(400);
    expect((badBytes.json as { error: { code: string } }).error.code).toBe('bad_request');
  });
});

describe('GET /branches, /health, /ready, /metrics', () => {
  it('lists branches with their served run and last closed hour', async () => {
    const a = await get('/v1/branches');
    expect(a.status).toBe(200);
    const list = (
      a.json as {
        branches: {
          id: string;
          latest_forecast: { run_id: string } | null;
          last_closed_hour: string | null;
        }[];
      }
    ).branches;
    const byId = Object.fromEntries(list.map((b) => [b.id, b]));
    expect(Object.keys(byId).sort()).toEqual([TACO.id, PIZZA.id, SUSHI.id, NEW_YORK.id].sort());
    expect(byId[SUSHI.id]).toEqual({
      id: SUSHI.id,
      name: 'Nory Sushi',
      timezone: 'Europe/Dublin',
      currency: 'EUR',
      latest_forecast: expect.objectContaining({ run_id: sc.runs[SUSHI.id], model_version: 'm-synthetic-1' }),
      last_closed_hour: '2021-02-05T11:00:00.000Z',
    });
    expect(byId[TACO.id]!.latest_forecast).toBeNull();
    expect((await get('/branches')).json).toEqual(a.json);
  });

  it('health, ready (503 once draining), metrics', async () => {
    expect((await get('/health')).json).toEqual({ status: 'ok' });
    const ready = await get('/ready');
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({
      status: 'ready',
      checks: { clickhouse: true, forecasts_loaded: true, forecasts_fresh: true, branches_with_forecast: 3 },
    });
    const m = await get('/metrics');
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toMatch(/^text\/plain/);
    expect(m.text).toMatch(
      /tillcast_api_request_duration_seconds_bucket\{[^}]*route="\/predict"[^}]*status="200"/,
    );
    expect(m.text).toMatch(/tillcast_api_request_duration_seconds_bucket\{[^}]*route="unmatched"/);
    expect(m.text).toMatch(/tillcast_api_cache_lookups_total\{cache="response",result="hit"\} [1-9]/);
    expect(m.text).toMatch(/tillcast_api_cache_lookups_total\{cache="actuals",result="miss"\} [1-9]/);
  });
});

describe('headers', () => {
  it('request id: honours a sane one, replaces others', async () => {
    expect(
      (await get('/health', { headers: { 'X-Request-Id': 'abc-123.x:y' } })).headers['x-request-id'],
    ).toBe('abc-123.x:y');
    const replaced = (await get('/health', { headers: { 'X-Request-Id': 'bad id<script>' } })).headers[
      'x-request-id'
    ];
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('security headers everywhere, HTML CSP on /docs', async () => {
    for (const p of ['/health', '/predict', '/nope']) {
      const a = await get(p);
      expect(a.headers['x-content-type-options']).toBe('nosniff');
      expect(a.headers['x-frame-options']).toBe('DENY');
      expect(a.headers['referrer-policy']).toBe('no-referrer');
      expect(a.headers['content-security-policy']).toMatch(/default-src 'none'/);
    }
    const docs = await get('/docs');
    expect(docs.status).toBe(200);
    expect(docs.headers['content-type']).toMatch(/^text\/html/);
    expect(docs.headers['content-security-policy']).toMatch(
      /script-src 'self'; style-src 'self' 'sha256-[A-Za-z0-9+/=]+'/,
    );
    expect(docs.text).toContain('/v1/predict');
    expect(docs.text).toContain('may be fractional');
    expect(docs.text).not.toMatch(/<script/i);
  });

  it('static assets: / serves index.html (HTML CSP) when present, else redirects to /docs', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-static-'));
    const withIndex = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-static-'));
    fs.writeFileSync(path.join(withIndex, 'index.html'), '<!doctype html><title>x</title>');
    fs.mkdirSync(path.join(withIndex, 'js'));
    fs.writeFileSync(path.join(withIndex, 'js', 'app.js'), 'console.log(1)');
    fs.writeFileSync(path.join(withIndex, '.secret.js'), 'no');
    const servers = [
      createApiServer(sc, { forecastPollMs: 60_000, staticDir: empty }),
      createApiServer(sc, { forecastPollMs: 60_000, staticDir: withIndex }),
    ];
    try {
      for (const s of servers) await s.listen(0, '127.0.0.1');
      const [a, b] = servers.map((s) => s.url()) as [string, string];
      const redirect = await request(a, '/');
      expect(redirect.status).toBe(302);
      expect(redirect.headers.location).toBe('/docs');
      const index = await request(b, '/');
      expect(index.status).toBe(200);
      expect(index.headers['content-type']).toMatch(/^text\/html/);
      expect(index.headers['content-security-policy']).toMatch(
        /default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;.*connect-src 'self'.*frame-ancestors 'none'/,
      );
      const js = await request(b, '/static/js/app.js');
      expect(js.status).toBe(200);
      expect(js.headers['content-type']).toMatch(/^text\/javascript/);
      for (const p of [
        '/static/.secret.js',
        '/static/js/../index.html',
        '/static/%2e%2e/package.json',
        '/static/index.md',
      ]) {
        const r = await request(b, p);
        expect([p, r.status]).toEqual([p, 404]);
        expectValidBody(p, r);
      }
    } finally {
      for (const s of servers) await s.stop();
    }
  });

  it('CORS: allow-listed origins only', async () => {
    const q = `/predict?branch_id=${SUSHI.id}&start=2021-02-04&end=2021-02-04`;
    const ok = await get(q, { headers: { Origin: ORIGIN } });
    expect(ok.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(ok.headers['access-control-expose-headers']).toMatch(/X-Request-Id/);
    expect(String(ok.headers.vary)).toMatch(/Origin/);
    const denied = await get(q, { headers: { Origin: 'https://evil.example.com' } });
    expect(denied.status).toBe(200);
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
    // Same-origin pages and servers send no Origin: no CORS headers, but caches are told it matters.
    const plain = await get(q);
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
    expect(String(plain.headers.vary)).toBe('Origin, Accept-Encoding');
    const preflight = await get(q, {
      method: 'OPTIONS',
      headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'GET' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(preflight.headers['access-control-allow-methods']).toBe('GET,HEAD,OPTIONS,PUT,DELETE');
    const badPreflight = await get(q, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example.com', 'Access-Control-Request-Method': 'GET' },
    });
    expect(badPreflight.headers['access-control-allow-origin']).toBeUndefined();
    // Errors carry CORS headers too, so the frontend can read them.
    const err = await get('/predict', { headers: { Origin: ORIGIN } });
    expect(err.status).toBe(400);
    expect(err.headers['access-control-allow-origin']).toBe(ORIGIN);
  });
});

describe('OpenAPI', () => {
  it('/openapi.json is a consistent OpenAPI 3.0 document generated from the schemas', async () => {
    const a = await get('/openapi.json');
    expect(a.status).toBe(200);
    type Op = {
      responses: Record<string, unknown>;
      parameters?: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[];
    };
    const doc = a.json as {
      openapi: string;
      info: { title: string };
      paths: Record<string, { get: Op }>;
      components: { schemas: Record<string, { properties?: Record<string, { nullable?: boolean }> }> };
    };
    expect(doc).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
    expect(doc.openapi).toBe('3.0.3');
    expect(doc.info.title).toBeTruthy();
    for (const p of [
      '/predict',
      '/v1/predict',
      '/branches',
      '/v1/branches',
      '/health',
      '/ready',
      '/metrics',
      '/openapi.json',
      '/docs',
    ]) {
      expect(doc.paths[p]?.get).toBeDefined();
      expect(Object.keys(doc.paths[p]!.get.responses)).toContain('200');
    }
    const params = doc.paths['/v1/predict']!.get.parameters!;
    expect(params.map((p) => [p.name, p.in, p.required])).toEqual([
      ['branch_id', 'query', true],
      ['start', 'query', true],
      ['end', 'query', true],
      ['granularity', 'query', false],
      ['explain', 'query', false],
    ]);
    expect(params.map((p) => p.name)).toEqual(Object.keys(predictQueryFields.shape));
    expect(params[1]!.schema.pattern).toBe('^\\d{4}-\\d{2}-\\d{2}$');
    // Every $ref resolves; every response schema is a component.
    const refs: string[] = [];
    const walk = (x: unknown) => {
      if (Array.isArray(x)) x.forEach(walk);
      else if (x && typeof x === 'object') {
        for (const [k, v] of Object.entries(x)) {
          if (k === '$ref' && typeof v === 'string') refs.push(v);
          else walk(v);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.split('/').pop()!]).toBeDefined();
    }
    for (const name of [
      'PredictResponse',
      'BranchesResponse',
      'Error',
      'HourRow',
      'DayRow',
      'WeekRow',
      'Ready',
      'Health',
    ]) {
      expect(doc.components.schemas[name]).toBeDefined();
    }
    expect(doc.components.schemas.HourRow!.properties!.sales!.nullable).toBe(true);
  });
});

describe('freshness', () => {
  it('a half-written run stays invisible; the complete run appears after notifyRun', async () => {
    const before = (await predict(`branch_id=${PIZZA.id}&start=2021-02-06&end=2021-02-06`)).body.forecast
      .run_id;
    const generatedAt = GENERATED_AT + 30 * 60_000;
    const runId = await sc.fx.forecastRun(PIZZA, {
      origin: CLOSED_THROUGH,
      hours: HORIZON_H,
      generatedAt,
      runId: 'run-pizza-half',
      writeRunRow: false,
      values: () => ({
        sales_p10: 1,
        sales_p50: 2,
        sales_p90: 3,
        orders_p10: 1,
        orders_p50: 1,
        orders_p90: 1,
      }),
    });
    await api.forecastCache.refresh({ full: true });
    await api.forecastCache.refreshBranch(PIZZA.id);
    expect(
      (await predict(`branch_id=${PIZZA.id}&start=2021-02-06&end=2021-02-06`)).body.forecast.run_id,
    ).toBe(before);

    // A run row announcing more points than exist is not served either.
    await sc.fx.runRow(PIZZA.id, {
      runId,
      origin: CLOSED_THROUGH,
      hours: HORIZON_H,
      generatedAt,
      points: HORIZON_H + 5,
    });
    await api.forecastCache.refreshBranch(PIZZA.id);
    expect(
      (await predict(`branch_id=${PIZZA.id}&start=2021-02-06&end=2021-02-06`)).body.forecast.run_id,
    ).toBe(before);

    // The complete run row lands: a newer run, visible after notifyRun.
    const later = generatedAt + 60_000;
    const complete = await sc.fx.forecastRun(PIZZA, {
      origin: CLOSED_THROUGH,
      hours: HORIZON_H,
      generatedAt: later,
      runId: 'run-pizza-2',
      values: () => ({
        sales_p10: 1,
        sales_p50: 2,
        sales_p90: 3,
        orders_p10: 1,
        orders_p50: 1,
        orders_p90: 1,
      }),
    });
    api.notifyRun(PIZZA.id);
    const body = await eventually(async () => {
      const r = await predict(`branch_id=${PIZZA.id}&start=2021-02-06&end=2021-02-06`);
      return r.body.forecast.run_id === complete ? r.body : undefined;
    });
    expect(body.daily![0]).toMatchObject({
      sales: 48,
      sales_p10: 24,
      sales_p90: 72,
      orders: 24,
      source: 'forecast',
    });
  });

  it('a polling server picks up new runs, closed hours and corrections by itself', async () => {
    const poller = createApiServer(sc, { forecastPollMs: 100, actualsTtlMs: 300 });
    await poller.start();
    await poller.listen(0, '127.0.0.1');
    const at = poller.url();
    try {
      const q = `branch_id=${NEW_YORK.id}&start=2021-02-05&end=2021-02-05&granularity=hourly`;
      const first = (await predict(q, at)).body;
      expect(first.forecast.run_id).toBe(sc.runs[NEW_YORK.id]);

      // 1. A new run.
      const runId = await sc.fx.forecastRun(NEW_YORK, {
        origin: CLOSED_THROUGH,
        hours: 48,
        generatedAt: Date.now(),
        runId: 'run-ny-2',
      });
      await eventually(async () => (await predict(q, at)).body.forecast.run_id === runId);

      // 2. Two more hours close (watermark moves): they become actuals.
      await sc.fx.actuals(NEW_YORK, CLOSED_THROUGH, CLOSED_THROUGH + 2 * HOUR);
      await sc.fx.watermark(NEW_YORK.id, CLOSED_THROUGH + 2 * HOUR);
      const after = await eventually(async () => {
        const b = (await predict(q, at)).body;
        return b.last_closed_hour === new Date(CLOSED_THROUGH + HOUR).toISOString() ? b : undefined;
      });
      // CLOSED_THROUGH is 07:00 in New York on 2021-02-05.
      expect(after.hourly!.slice(6, 10).map((h) => h.source)).toEqual([
        'actual',
        'actual',
        'actual',
        'forecast',
      ]);

      // 3. A late correction of a closed hour (new revision): visible after the TTL.
      const hour = CLOSED_THROUGH - 3 * HOUR;
      await sc.fx.actuals(NEW_YORK, hour, hour + HOUR, {
        values: () => ({ sales_minor: 999_999, orders: 77 }),
        revision: 2,
      });
      const corrected = await eventually(async () => {
        const b = (await predict(q, at)).body;
        return b.hourly!.find((h) => h.orders === 77);
      });
      // Once the correction shows, the old value never comes back.
      for (let i = 0; i < 5; i++) {
        expect((await predict(q, at)).body.hourly!.some((h) => h.orders === 77)).toBe(true);
      }
      expect(corrected).toMatchObject({
        start: '2021-02-05T04:00:00-05:00',
        sales: 9999.99,
        source: 'actual',
      });
      // An answer expired by the TTL alone is served as it is (same ETag) while it is rebuilt in
      // the background (the requests come every 50 ms, well inside the 300 ms stale window).
      const staleCount = async () =>
        Number(
          /tillcast_api_cache_lookups_total\{cache="response",result="stale"\} (\d+)/.exec(
            (await request(at, '/metrics')).text,
          )?.[1] ?? 0,
        );
      const staleBefore = await staleCount();
      const etagBefore = (await predict(q, at)).a.headers.etag;
      await eventually(async () => {
        const r = await predict(q, at);
        return (await staleCount()) > staleBefore && r.a.headers.etag === etagBefore;
      });
      // Once expired (TTL) with unchanged inputs, an answer is reused rather than re-assembled.
      await eventually(async () => {
        expect((await predict(q, at)).body.hourly!.find((h) => h.orders === 77)).toBeDefined();
        return /tillcast_api_cache_lookups_total\{cache="response",result="revalidated"\} [1-9]/.test(
          (await request(at, '/metrics')).text,
        );
      });
    } finally {
      await poller.stop();
    }
  });

  it('notifyActuals makes a correction visible at once', async () => {
    const q = `branch_id=${SUSHI.id}&start=2021-02-05&end=2021-02-05&granularity=hourly`;
    expect((await predict(q)).body.hourly![3]!.orders).not.toBe(55);
    await sc.fx.actuals(SUSHI, Date.UTC(2021, 1, 5, 3), Date.UTC(2021, 1, 5, 4), {
      values: () => ({ sales_minor: 4242, orders: 55 }),
      revision: 2,
    });
    api.notifyActuals(SUSHI.id);
    const h = (await predict(q)).body.hourly![3]!;
    expect(h).toMatchObject({
      start: '2021-02-05T03:00:00+00:00',
      sales: 42.42,
      orders: 55,
      source: 'actual',
    });
  });
});

describe('rate limit and shutdown', () => {
  it('429 JSON with Retry-After past the per-IP limit; probes exempt', async () => {
    const limited = createApiServer(
      { ...sc, config: { ...sc.config, API_RATE_LIMIT_PER_MIN: 5 } },
      { forecastPollMs: 60_000 },
    );
    await limited.start();
    await limited.listen(0, '127.0.0.1');
    try {
      const statuses: number[] = [];
      let last: HttpAnswer | undefined;
      for (let i = 0; i < 7; i++) {
        last = await request(limited.url(), `/predict?branch_id=${SUSHI.id}&start=2021-02-04&end=2021-02-04`);
        expectValidBody('/predict', last);
        statuses.push(last.status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
      expect(errorOf(last!).code).toBe('rate_limited');
      expect(Number(last!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((await request(limited.url(), '/health')).status).toBe(200);
    } finally {
      await limited.stop();
    }
  });

  it('stops gracefully: ready goes 503 first, open keep-alive connections do not block', async () => {
    const s = createApiServer(sc, { forecastPollMs: 60_000 });
    await s.start();
    await s.listen(0, '127.0.0.1');
    const url = s.url();
    expect((await request(url, '/ready')).status).toBe(200);
    s.setReady(false);
    const notReady = await request(url, '/ready');
    expect(notReady.status).toBe(503);
    expect(notReady.headers.connection).toBe('close');
    expectValidBody('/ready', notReady);
    await request(url, '/health'); // leaves a keep-alive socket in the shared agent
    const t = Date.now();
    await s.stop();
    expect(Date.now() - t).toBeLessThan(3_000);
    await expect(request(url, '/health', { keepAlive: false, timeoutMs: 2_000 })).rejects.toThrow();
  });
});
