/**
 * Hostile input at the running server (fast-check): thousands of query strings
 * built from the OpenAPI parameters plus arbitrary names and values (unicode,
 * very long, repeated, broken percent-encoding), arbitrary paths and methods,
 * and raw request bytes node:http would refuse to send. Every answer must be
 * 200, 4xx or 503 with a JSON body matching its zod schema, within a timeout.
 * They run with an admin key (test/api-helpers.ts); the last property runs with random keys
 * and scopes: none ever reads a branch outside its scope, and none gets a 500.
 */
import fc from 'fast-check';
import { ApiKeys } from '../clickhouse/store/api-keys';
import type { KeyScopes } from './keys';
import { openApiDocument, type BranchesResponse } from './schemas';
import {
  bearer,
  createTestKey,
  expectValidBody,
  NEW_YORK,
  PIZZA,
  rawRequest,
  request,
  serveScenario,
  SUSHI,
  TACO,
  type HttpAnswer,
  type ServedScenario,
} from '../test/api-helpers';

const REQUEST_TIMEOUT_MS = 5_000;

let base: string;

let served: ServedScenario | undefined;
beforeAll(async () => {
  served = await serveScenario({ API_RATE_LIMIT_PER_MIN: '0' }, { forecastPollMs: 60_000 });
  ({ base } = served);
});

afterAll(async () => {
  await served?.close();
});

/** The /predict query parameters, from the OpenAPI document (not a hand-kept list). */
const PARAM_NAMES = (openApiDocument().paths['/v1/predict']?.get?.parameters ?? []).map(
  (p) => (p as { name: string }).name,
);

const pad = (n: number, w: number) => String(n).padStart(w, '0');

const dateLike = fc.oneof(
  // near-valid dates around the data, including impossible ones (month 13, day 31 of February …)
  fc
    .tuple(
      fc.integer({ min: 2020, max: 2021 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
    )
    .map(([y, m, d]) => `${y}-${pad(m, 2)}-${pad(d, 2)}`),
  fc
    .date({ min: new Date('1960-01-01'), max: new Date('2200-12-31'), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10)),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    '2021-02-30',
    '2021-2-4',
    '20210204',
    '2021-02-04T00:00',
    ' 2021-02-04',
    '2021-02-04 ',
    '0000-00-00',
    '9999-12-31',
    '-2021-02-04',
    '2021–02–04',
    '２０２１-02-04',
  ),
);

const granularityLike = fc.oneof(
  fc.subarray(['hourly', 'daily', 'weekly', 'monthly', '', ' hourly', 'HOURLY']).map((xs) => xs.join(',')),
  fc.constantFrom(',', 'hourly,,daily', 'daily;hourly', 'hourly daily'),
);

const anyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 3000 }),
  fc.constantFrom(
    '',
    '%',
    '%zz',
    '%E0%A4%A',
    '%00',
    '\u0000',
    '__proto__',
    'constructor',
    '[]',
    '{}',
    'null',
    '-1',
    '1e308',
    'NaN',
    '😀'.repeat(50),
  ),
);

const valueFor = (name: string) =>
  name === 'branch_id'
    ? fc.oneof(
        fc.constantFrom(SUSHI.id, PIZZA.id, TACO.id, 'ny-1', 'unknown-branch', SUSHI.id.toUpperCase()),
        anyString,
      )
    : name === 'start' || name === 'end'
      ? fc.oneof(dateLike, anyString)
      : name === 'granularity'
        ? fc.oneof(granularityLike, anyString)
        : anyString;

const paramName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PARAM_NAMES) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'branch_id[]',
      'start[0]',
      'END',
      '__proto__',
      'constructor',
      'toString',
      '',
      '_',
    ),
  },
  { weight: 1, arbitrary: anyString.filter((s) => s.length < 100) },
);

/** An ordered list of (name, value) pairs; names may repeat. */
const pairs = fc.array(
  paramName.chain((n) => fc.tuple(fc.constant(n), valueFor(n))),
  { minLength: 0, maxLength: 8 },
);

/** A mostly-valid query with a few mutations, so that many requests reach the assembly. */
const nearValid = fc
  .record({
    branch_id: fc.constantFrom(SUSHI.id, PIZZA.id, 'ny-1', TACO.id),
    start: fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .integer({ min: 0, max: 80 })
          .map((d) => new Date(Date.UTC(2021, 0, 10) + d * 86_400_000).toISOString().slice(0, 10)),
      },
      { weight: 1, arbitrary: dateLike },
    ),
    len: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 20 }) },
      { weight: 1, arbitrary: fc.integer({ min: -3, max: 100 }) },
    ),
    granularity: fc.option(
      fc.oneof(
        {
          weight: 3,
          arbitrary: fc.subarray(['hourly', 'daily', 'weekly'], { minLength: 1 }).map((g) => g.join(',')),
        },
        { weight: 1, arbitrary: granularityLike },
      ),
    ),
    // mostly unknown extra parameters (ignored); sometimes a repeated known one (400)
    extra: fc.oneof(
      {
        weight: 4,
        arbitrary: fc.array(
          fc.tuple(
            anyString.filter((s) => s.length < 30 && !PARAM_NAMES.includes(s)),
            anyString.filter((s) => s.length < 50),
          ),
          { maxLength: 2 },
        ),
      },
      {
        weight: 1,
        arbitrary: fc.array(
          fc.tuple(
            paramName,
            anyString.filter((s) => s.length < 50),
          ),
          { maxLength: 2 },
        ),
      },
    ),
  })
  .map(({ branch_id, start, len, granularity, extra }) => {
    const t = Date.parse(`${start.slice(0, 10)}T00:00:00Z`);
    const e = new Date(t + len * 86_400_000);
    const end = Number.isNaN(e.getTime()) ? start : e.toISOString().slice(0, 10);
    const out: [string, string][] = [
      ['branch_id', branch_id],
      ['start', start],
      ['end', end],
    ];
    if (granularity !== null) out.push(['granularity', granularity]);
    return [...out, ...extra];
  });

/** How a pair is written into the URL: properly encoded, or left partly raw. */
const encodeMode = fc.constantFrom<'component' | 'raw'>('component', 'component', 'raw');

/** Encodes for node:http (which refuses characters outside \u0021-\u00ff): raw mode keeps `%`, `&`, `=`, `+`, `[`, `]` … as they are. */
function encode(s: string, mode: 'component' | 'raw'): string {
  if (mode === 'component') return encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '\uFFFD'));
  return [...s]
    .map((c) =>
      /^[\u0021-\u007e]$/.test(c) && c !== '#'
        ? c
        : encodeURIComponent(c.replace(/[\uD800-\uDFFF]/g, '\uFFFD')),
    )
    .join('');
}

function check(path: string, a: HttpAnswer, method = 'GET'): void {
  const ok =
    a.status === 200 ||
    (a.status === 204 && method === 'OPTIONS') ||
    a.status === 302 ||
    a.status === 304 ||
    (a.status >= 400 && a.status < 500) ||
    a.status === 503;
  if (!ok) throw new Error(`${method} ${path.slice(0, 300)} -> ${a.status}: ${a.text.slice(0, 300)}`);
  if (a.status >= 400 && method !== 'HEAD' && a.json === undefined)
    throw new Error(
      `${method} ${path.slice(0, 300)} -> ${a.status} without a JSON body: ${a.text.slice(0, 200)}`,
    );
  expectValidBody(path, a, method);
}

describe('fuzzing the running server', () => {
  it('random and hostile /predict query strings: 200/4xx/503 with schema-valid JSON, never 500 or a hang', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(pairs, nearValid),
        encodeMode,
        fc.constantFrom('/predict', '/v1/predict'),
        async (ps, mode, route) => {
          const qs = ps.map(([k, v]) => `${encode(k, mode)}=${encode(v, mode)}`).join('&');
          const path = `${route}?${qs}`;
          const a = await request(base, path, { timeoutMs: REQUEST_TIMEOUT_MS });
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          check(path, a);
        },
      ),
      { numRuns: 2500 },
    );
    process.stdout.write(`fuzz statuses: ${JSON.stringify(Object.fromEntries(statuses))}\n`);
    // The generators reach every outcome (answers, not just validation errors).
    expect(statuses.get(200) ?? 0).toBeGreaterThan(100);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(100);
    expect([...statuses.keys()].every((s) => s < 500 || s === 503)).toBe(true);
  }, 300_000);

  it('random paths and methods', async () => {
    const path = fc.oneof(
      fc.constantFrom(
        '/',
        '/predict',
        '/v1/predict',
        '/branches',
        '/v1/branches',
        '/health',
        '/ready',
        '/openapi.json',
        '/docs',
        '/static/x.js',
        '/v2/predict',
      ),
      fc
        .array(
          anyString.filter((s) => s.length < 60),
          { maxLength: 4 },
        )
        .map((segs) => `/${segs.map((s) => encode(s, 'raw')).join('/')}`),
    );
    await fc.assert(
      fc.asyncProperty(
        path,
        fc.constantFrom('GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'PATCH', 'TRACE', 'PROPFIND'),
        async (p, method) => {
          const a = await request(base, p, { method, timeoutMs: REQUEST_TIMEOUT_MS });
          check(p, a, method);
          if (!['GET', 'HEAD', 'OPTIONS'].includes(method)) expect(a.status).toBe(405);
        },
      ),
      { numRuns: 500 },
    );
  }, 120_000);

  it('raw request bytes (spaces, control characters, non-ASCII in the target) still get JSON', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }).map((s) => s.replace(/[\r\n]/g, ' ')),
        async (junk) => {
          const line = Buffer.concat([
            Buffer.from('GET /predict?branch_id='),
            Buffer.from(junk, 'utf8'),
            Buffer.from(' HTTP/1.1'),
          ]);
          const a = await rawRequest(base, line, REQUEST_TIMEOUT_MS);
          check(`/predict?branch_id=${junk}`, a);
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);

  it('random keys and scopes never read a branch outside their scope and never get a 500', async () => {
    const sc = served!.sc;
    const known = [SUSHI, PIZZA, TACO, NEW_YORK];
    const ids = [...known.map((b) => b.id), 'unknown-branch', 'ghost-2'];
    const groups = [SUSHI.pos_company_id!, PIZZA.pos_company_id!, TACO.pos_company_id!, '99999'];
    const scopesArb: fc.Arbitrary<KeyScopes & { revoked: boolean }> = fc.record({
      branches: fc.subarray(ids, { maxLength: 3 }),
      groups: fc.subarray(groups, { maxLength: 2 }),
      admin: fc.nat({ max: 5 }).map((n) => n === 0),
      metrics: fc.boolean(),
      revoked: fc.nat({ max: 4 }).map((n) => n === 0),
    });
    // What a key may read, written out here independently of api/keys.ts.
    const inScope = (s: KeyScopes, id: string) =>
      s.admin ||
      s.branches.includes(id) ||
      known.some((b) => b.id === id && b.pos_company_id !== undefined && s.groups.includes(b.pos_company_id));
    const store = new ApiKeys(sc.ch);
    const keys: { key: string; scopes: KeyScopes & { revoked: boolean } }[] = [];
    for (const scopes of fc.sample(scopesArb, { numRuns: 40, seed: 14 })) {
      const k = await createTestKey(sc.ch, scopes, 'fuzz');
      if (scopes.revoked) await store.revoke(k.keyId, Date.now());
      keys.push({ key: k.key, scopes });
    }
    const credential = fc.oneof(
      { weight: 8, arbitrary: fc.nat({ max: keys.length - 1 }).map((i) => ({ i })) },
      {
        weight: 1,
        arbitrary: fc.oneof(
          fc.constant(undefined),
          fc.constantFrom('tc_0123456789ab_' + 'x'.repeat(43), 'Bearer', ''),
          anyString.filter((s) => s.length < 80),
        ),
      },
    );
    const route = fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...ids).map((b) => ({ branch: b })) },
      {
        weight: 2,
        arbitrary: fc.constantFrom('/branches', '/v1/branches', '/metrics').map((p) => ({ path: p })),
      },
    );
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(credential, route, async (cred, r) => {
        const path =
          'branch' in r ? `/v1/predict?branch_id=${r.branch}&start=2021-02-04&end=2021-02-07` : r.path;
        const held = cred !== undefined && typeof cred === 'object' ? keys[cred.i]! : undefined;
        const headers =
          held !== undefined
            ? bearer(held.key)
            : typeof cred === 'string'
              ? { Authorization: `Bearer ${cred.replace(/[^\u0021-\u007e]/g, '')}` }
              : undefined;
        const a = await request(base, path, {
          timeoutMs: REQUEST_TIMEOUT_MS,
          ...(headers ? { headers } : { auth: false }),
        });
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        check(path, a);
        if (held === undefined || held.scopes.revoked) {
          expect([path, a.status]).toEqual([path, 401]);
          return;
        }
        const s = held.scopes;
        if ('branch' in r) {
          const isKnown = known.some((b) => b.id === r.branch);
          const expected = !inScope(s, r.branch)
            ? [403]
            : !isKnown
              ? [404]
              : r.branch === TACO.id
                ? [503]
                : [200];
          expect([path, s, a.status]).toEqual([path, s, expected[0]]);
        } else if (r.path === '/metrics') {
          expect([s, a.status]).toEqual([s, s.metrics ? 200 : 403]);
        } else {
          const listed = (a.json as BranchesResponse).branches.map((b) => b.id).sort();
          expect([s, listed]).toEqual([
            s,
            known
              .map((b) => b.id)
              .filter((id) => inScope(s, id))
              .sort(),
          ]);
        }
      }),
      { numRuns: 600 },
    );
    process.stdout.write(`keyed fuzz statuses: ${JSON.stringify(Object.fromEntries(statuses))}\n`);
    for (const s of [200, 401, 403, 404]) expect([s, (statuses.get(s) ?? 0) > 10]).toEqual([s, true]);
  }, 120_000);
});
