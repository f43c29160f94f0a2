/**
 * The branch calendar routes at the running server (real embedded ClickHouse, a recording
 * publisher in place of Kafka; test/integration/branch-calendar.test.ts runs the real pipeline):
 * every bad input is a 400 naming the field and never a 500, writes need the write scope on the
 * branch, repeated requests store and announce nothing, a failed announcement is retried by the
 * same request, and /predict shows a change at once on this process and within the poll period
 * on another.
 */
import fc from 'fast-check';
import { UnavailableError } from '../lib/errors';
import { defaultCodec } from '../schemas/avro-codec';
import type { CalendarChanged } from '../schemas/events';
import type { CalendarPublisher } from './calendar-publisher';
import { calendarListResponseSchema, calendarWriteResponseSchema } from './calendar-schema';
import { openApiDocument, predictResponseSchema, type PredictResponse } from './schemas';
import { createApiServer, type ApiServer } from './server';
import {
  bearer,
  createTestKey,
  destroyAgent,
  PIZZA,
  request,
  setupScenario,
  SUSHI,
  useApiKey,
  type HttpAnswer,
  type Scenario,
} from '../test/api-helpers';

jest.setTimeout(60_000);

class RecordingPublisher implements CalendarPublisher {
  changes: CalendarChanged[] = [];
  mode: 'ok' | 'fail' = 'ok';
  publish(change: CalendarChanged): Promise<void> {
    if (this.mode === 'fail')
      return Promise.reject(new UnavailableError('kafka_unavailable', 'Kafka did not acknowledge', 2));
    // Through the codec, as the Kafka publisher sends it.
    const d = defaultCodec().decode(defaultCodec().encode('calendarChanged', change));
    this.changes.push(d.value as CalendarChanged);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

let sc: Scenario;
let api: ApiServer;
let other: ApiServer;
let base: string;
let otherBase: string;
const publisher = new RecordingPublisher();
let admin: string;
let sushiWriter: string;
let sushiReader: string;

const DATE = '2021-02-08'; // a Monday inside the scenario's run (2021-02-05 12:00 + 14 days)

beforeAll(async () => {
  sc = await setupScenario({ API_RATE_LIMIT_PER_MIN: '0' });
  api = createApiServer({ ...sc, calendarPublisher: publisher }, { forecastPollMs: 60_000 });
  // Another API process on the same storage: it learns of changes by its poll only.
  other = createApiServer({ ...sc, calendarPublisher: publisher }, { forecastPollMs: 200 });
  for (const a of [api, other]) {
    await a.start();
    await a.listen(0, '127.0.0.1');
  }
  base = api.url();
  otherBase = other.url();
  admin = (await createTestKey(sc.ch, { admin: true }, 'admin')).key;
  sushiWriter = (await createTestKey(sc.ch, { branches: [SUSHI.id], write: true }, 'sushi manager')).key;
  sushiReader = (await createTestKey(sc.ch, { branches: [SUSHI.id] }, 'sushi reader')).key;
  useApiKey(sushiWriter);
});

afterAll(async () => {
  await api?.stop();
  await other?.stop();
  destroyAgent();
  await sc?.drop();
});

beforeEach(() => {
  publisher.changes = [];
  publisher.mode = 'ok';
});

const path = (date = DATE, branch = SUSHI.id) =>
  `/v1/branches/${encodeURIComponent(branch)}/calendar/${date}`;

function put(body: unknown, opts: { date?: string; branch?: string; key?: string; raw?: string } = {}) {
  return request(base, path(opts.date, opts.branch), {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', ...(opts.key ? bearer(opts.key) : {}) },
    body: opts.raw ?? JSON.stringify(body),
  });
}

function del(opts: { date?: string; branch?: string; key?: string } = {}) {
  return request(base, path(opts.date, opts.branch), {
    method: 'DELETE',
    headers: opts.key ? bearer(opts.key) : {},
  });
}

async function rowCount(date = DATE): Promise<number> {
  const rs = await sc.ch.client.query({
    query: `SELECT toUInt32(count()) AS n FROM ${sc.ch.database}.branch_calendar WHERE local_date = {d:Date}`,
    query_params: { d: date },
    format: 'JSONEachRow',
  });
  return (await rs.json<{ n: number }>())[0]!.n;
}

async function dayOf(b: string, date: string): Promise<PredictResponse['daily']> {
  const r = await request(b, `/v1/predict?branch_id=${SUSHI.id}&start=${date}&end=${date}&granularity=daily`);
  expect(r.status).toBe(200);
  const parsed = predictResponseSchema.parse(r.json);
  return parsed.daily;
}

const error = (r: HttpAnswer) =>
  (r.json as { error: { code: string; message: string; details: object } }).error;

describe('PUT, GET and DELETE', () => {
  test('a closure is stored with who and when, announced once, listed, and shown by /predict at once', async () => {
    expect((await dayOf(base, DATE))![0]!.calendar).toBeUndefined();
    const r = await put({ kind: 'closed', name: 'Refit', note: 'new kitchen' });
    expect(r.status).toBe(200);
    const body = calendarWriteResponseSchema.parse(r.json);
    expect(body).toEqual({
      changed: true,
      entry: {
        branch_id: SUSHI.id,
        date: DATE,
        kind: 'closed',
        name: 'Refit',
        note: 'new kitchen',
        version: 1,
        changed_by: { key_id: expect.stringMatching(/^[0-9a-f]{12}$/), key_name: 'sushi manager' },
        changed_at: expect.any(String),
      },
    });
    expect(publisher.changes).toEqual([
      {
        branch_id: SUSHI.id,
        local_date: DATE,
        version: 1,
        deleted: false,
        changed_at: Date.parse(body.entry!.changed_at),
      },
    ]);
    expect(await rowCount()).toBe(1);
    // This process: at once.
    expect((await dayOf(base, DATE))![0]!.calendar).toEqual({
      kind: 'closed',
      name: 'Refit',
      note: 'new kitchen',
    });
    const list = await request(base, `/v1/branches/${SUSHI.id}/calendar?start=2021-02-01&end=2021-02-28`, {
      headers: bearer(sushiReader),
    });
    expect(list.status).toBe(200);
    expect(calendarListResponseSchema.parse(list.json)).toEqual({
      branch_id: SUSHI.id,
      start: '2021-02-01',
      end: '2021-02-28',
      entries: [body.entry],
    });
  });

  test('the same PUT again: 200 changed false, no new row, no new message (whitespace and an empty note are the same entry)', async () => {
    const r = await put({ kind: 'closed', name: '  Refit ', note: 'new kitchen' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ changed: false, entry: { version: 1, name: 'Refit' } });
    expect(publisher.changes).toEqual([]);
    expect(await rowCount()).toBe(1);
    await put({ kind: 'event', name: 'Open day', note: '' }, { date: '2021-02-09' });
    const again = await put({ kind: 'event', name: 'Open day' }, { date: '2021-02-09' });
    expect(again.json).toMatchObject({ changed: false, entry: { version: 1 } });
    expect(publisher.changes).toHaveLength(1);
  });

  test('another API process shows the change within its poll period', async () => {
    const date = '2021-02-13';
    expect((await dayOf(otherBase, date))![0]).not.toHaveProperty('calendar');
    expect((await put({ kind: 'event', name: 'Festival' }, { date })).status).toBe(200);
    const answered = Date.now();
    let seen: unknown;
    while (Date.now() - answered < 5_000) {
      seen = (await dayOf(otherBase, date))![0]!.calendar;
      if (seen) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen).toEqual({ kind: 'event', name: 'Festival' });
    // Its poll period is 200 ms (±10 % jitter, plus the read).
    expect(Date.now() - answered).toBeLessThan(1_000);
  });

  test('a change is a new version; DELETE removes it (a new version too), a second DELETE changes nothing', async () => {
    const r = await put({ kind: 'event', name: 'Match day', expected_effect: 0.3 });
    expect(r.json).toMatchObject({
      changed: true,
      entry: { kind: 'event', name: 'Match day', expected_effect: 0.3, version: 2 },
    });
    expect((r.json as { entry: object }).entry).not.toHaveProperty('note');
    expect((await dayOf(base, DATE))![0]!.calendar).toEqual({ kind: 'event', name: 'Match day' });

    const d = await del();
    expect(d.status).toBe(200);
    expect(d.json).toEqual({ changed: true, entry: null });
    expect(publisher.changes.map((c) => [c.version, c.deleted])).toEqual([
      [2, false],
      [3, true],
    ]);
    expect((await dayOf(base, DATE))![0]!).not.toHaveProperty('calendar');
    expect(await rowCount()).toBe(3);

    const again = await del();
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ changed: false, entry: null });
    expect((await del({ date: '2021-03-01' })).json).toEqual({ changed: false, entry: null });
    expect(publisher.changes).toHaveLength(2);
    expect(await rowCount()).toBe(3);

    // Set again after a removal: version 4, listed again.
    expect((await put({ kind: 'closed', name: 'Refit' })).json).toMatchObject({
      changed: true,
      entry: { version: 4 },
    });
  });

  test('Kafka away: 503 with Retry-After, the entry stored; the same request again announces it without a second version', async () => {
    publisher.mode = 'fail';
    const r = await put({ kind: 'closed', name: 'Flood' }, { date: '2021-02-10' });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('2');
    expect(error(r).code).toBe('kafka_unavailable');
    expect(await rowCount('2021-02-10')).toBe(1);
    publisher.mode = 'ok';
    const again = await put({ kind: 'closed', name: 'Flood' }, { date: '2021-02-10' });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ changed: false, entry: { version: 1 } });
    expect(publisher.changes.map((c) => [c.local_date, c.version])).toEqual([['2021-02-10', 1]]);
    // Announced once: a third identical PUT announces nothing more.
    await put({ kind: 'closed', name: 'Flood' }, { date: '2021-02-10' });
    expect(publisher.changes).toHaveLength(1);
    expect(await rowCount('2021-02-10')).toBe(1);
  });
});

describe('validation: 400 naming the field, never 500', () => {
  const cases: [string, unknown, string, RegExp][] = [
    ['kind missing', { name: 'x' }, 'kind', /^kind: is required/],
    ['kind unknown', { kind: 'open', name: 'x' }, 'kind', /^kind: /],
    ['name missing', { kind: 'closed' }, 'name', /^name: is required/],
    ['name empty', { kind: 'closed', name: '   ' }, 'name', /^name: /],
    ['name too long', { kind: 'closed', name: 'x'.repeat(101) }, 'name', /^name: /],
    ['name not a string', { kind: 'closed', name: 42 }, 'name', /^name: /],
    [
      'name with a control character',
      { kind: 'closed', name: 'a\u0007b' },
      'name',
      /^name: must be one line/,
    ],
    ['note too long', { kind: 'closed', name: 'x', note: 'y'.repeat(501) }, 'note', /^note: /],
    [
      'expected_effect on a closure',
      { kind: 'closed', name: 'x', expected_effect: 0.2 },
      'expected_effect',
      /^expected_effect: only an event/,
    ],
    [
      'expected_effect -1',
      { kind: 'event', name: 'x', expected_effect: -1 },
      'expected_effect',
      /^expected_effect: /,
    ],
    [
      'expected_effect above 5',
      { kind: 'event', name: 'x', expected_effect: 5.01 },
      'expected_effect',
      /^expected_effect: /,
    ],
    [
      'expected_effect a string',
      { kind: 'event', name: 'x', expected_effect: '0.3' },
      'expected_effect',
      /^expected_effect: /,
    ],
    ['an unknown field', { kind: 'event', name: 'x', effect: 0.3 }, 'effect', /^effect: unknown field/],
    ['an array', [{ kind: 'closed', name: 'x' }], 'body', /^body: must be a JSON object/],
    ['null', null, 'body', /^body: must be a JSON object/],
  ];
  test.each(cases)('%s', async (_what, body, field, message) => {
    const r = await put(body, { date: '2021-02-11' });
    expect(r.status).toBe(400);
    expect(error(r).code).toBe('invalid_body');
    expect(error(r).message).toMatch(message);
    expect(error(r).details).toEqual({ field });
  });

  test('the edges of expected_effect are accepted: just above -1 and exactly 5', async () => {
    expect(
      (await put({ kind: 'event', name: 'x', expected_effect: -0.999 }, { date: '2021-02-12' })).status,
    ).toBe(200);
    expect((await put({ kind: 'event', name: 'x', expected_effect: 5 }, { date: '2021-02-12' })).status).toBe(
      200,
    );
  });

  test('not JSON, the wrong media type, a bad date', async () => {
    const notJson = await put(undefined, { raw: '{"kind": "closed",' });
    expect([notJson.status, error(notJson).code]).toEqual([400, 'invalid_json']);
    const text = await request(base, path('2021-02-11'), {
      method: 'PUT',
      headers: { 'Content-Type': 'text/plain' },
      body: 'closed',
    });
    expect(text.status).toBe(415);
    for (const date of ['2021-02-30', '2021-2-1', 'today', '1999-12-31', '2100-01-01']) {
      const r = await put({ kind: 'closed', name: 'x' }, { date });
      expect([r.status, error(r).code, error(r).details]).toEqual([
        400,
        'invalid_parameter',
        { parameter: 'date' },
      ]);
      const d = await del({ date });
      expect(d.status).toBe(400);
    }
  });

  test('GET: start and end required, ordered, at most 366 days', async () => {
    const get = (q: string) => request(base, `/v1/branches/${SUSHI.id}/calendar${q}`);
    expect(error(await get('?start=2021-02-01')).details).toEqual({ parameter: 'end' });
    expect(error(await get('?start=2021-02-31&end=2021-03-01')).details).toEqual({ parameter: 'start' });
    const order = await get('?start=2021-03-01&end=2021-02-01');
    expect([order.status, error(order).code]).toEqual([400, 'invalid_range']);
    expect((await get('?start=2021-01-01&end=2022-01-01')).status).toBe(200);
    expect((await get('?start=2021-01-01&end=2022-01-02')).status).toBe(400);
    expect(error(await get('?start=2021-01-01&start=2021-01-02&end=2021-02-01')).code).toBe(
      'duplicate_parameter',
    );
  });
});

test('fast-check: no body and no path date answers 500 (200, 400, or 405 for an empty date)', async () => {
  const value = fc.oneof(
    fc.constantFrom('closed', 'event', 'Refit', '', ' ', '\u0000'),
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
  );
  const body = fc.oneof(
    fc.record({ kind: value, name: value, note: value, expected_effect: value }, { requiredKeys: [] }),
    fc.dictionary(fc.string({ maxLength: 8 }), value, { maxKeys: 4 }),
    fc.jsonValue(),
  );
  const date = fc.oneof(
    fc.constantFrom('2021-02-20', '2021-02-29', '2099-12-31', '0000-00-00'),
    fc.string({ maxLength: 12 }),
  );
  await fc.assert(
    fc.asyncProperty(body, date, async (b, d) => {
      const r = await request(base, path(encodeURIComponent(d)), {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(b),
      });
      return [200, 400, 405].includes(r.status) && (r.status !== 400 || typeof error(r).message === 'string');
    }),
    { numRuns: 150 },
  );
});

describe('scopes', () => {
  test('no key: 401; a key that only reads the branch: 403; the write scope on another branch: 403', async () => {
    const none = await request(base, path('2021-02-15'), {
      method: 'PUT',
      auth: false,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ kind: 'closed', name: 'x' }),
    });
    expect(none.status).toBe(401);
    const reader = await put({ kind: 'closed', name: 'x' }, { date: '2021-02-15', key: sushiReader });
    expect([reader.status, error(reader).details]).toEqual([
      403,
      { parameter: 'branch_id', branch_id: SUSHI.id, scope: 'write' },
    ]);
    expect((await del({ date: '2021-02-15', key: sushiReader })).status).toBe(403);
    const elsewhere = await put({ kind: 'closed', name: 'x' }, { date: '2021-02-15', branch: PIZZA.id });
    expect(elsewhere.status).toBe(403);
    // Whether the branch exists or not: a key learns nothing of other tenants' branches.
    const unknown = await put(
      { kind: 'closed', name: 'x' },
      { date: '2021-02-15', branch: 'no-such-branch' },
    );
    expect(unknown.status).toBe(403);
    expect(await rowCount('2021-02-15')).toBe(0);
    // Reading the calendar needs the read scope only; another branch's is 403.
    expect(
      (
        await request(base, `/v1/branches/${PIZZA.id}/calendar?start=2021-02-01&end=2021-02-28`, {
          headers: bearer(sushiReader),
        })
      ).status,
    ).toBe(403);
  });

  test('an admin key writes every branch; an unknown branch is 404 to it', async () => {
    expect(
      (await put({ kind: 'closed', name: 'x' }, { date: '2021-02-15', branch: PIZZA.id, key: admin })).status,
    ).toBe(200);
    const unknown = await put(
      { kind: 'closed', name: 'x' },
      { date: '2021-02-15', branch: 'no-such-branch', key: admin },
    );
    expect([unknown.status, error(unknown).details]).toEqual([404, { parameter: 'branch_id' }]);
    const list = await request(base, `/v1/branches/no-such-branch/calendar?start=2021-02-01&end=2021-02-28`, {
      headers: bearer(admin),
    });
    expect(list.status).toBe(404);
  });

  test('the OpenAPI document has the three operations', () => {
    const paths = openApiDocument().paths as Record<string, Record<string, unknown>>;
    expect(Object.keys(paths['/v1/branches/{branch_id}/calendar/{date}'] ?? {}).sort()).toEqual([
      'delete',
      'put',
    ]);
    expect(Object.keys(paths['/v1/branches/{branch_id}/calendar'] ?? {})).toEqual(['get']);
  });
});
