/**
 * API keys end to end over real HTTP against the embedded ClickHouse (issue 14): 401 with
 * WWW-Authenticate for a missing, wrong, malformed or revoked key; 403 naming the branch for a
 * branch outside the key's scopes, the same for a branch that does not exist; /branches filtered;
 * /metrics only with the metrics scope; rate limits per key; a warm request reads no ClickHouse;
 * last use recorded in batches; the one-time login code; no key or hash in any log line.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { ApiKeys } from '../clickhouse/store/api-keys';
import { clickhouseQueryDuration } from '../clickhouse/query-runner';
import { ConfigError, loadConfig } from '../lib/config';
import { createApiServer, type ApiServer } from './server';
import { hashKey } from './keys';
import {
  bearer,
  createTestKey,
  destroyAgent,
  eventually,
  expectValidBody,
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
import type { BranchesResponse } from './schemas';

const KEY_TTL_MS = 300;
const RATE = 6;

let sc: Scenario;
let api: ApiServer;
let base: string;
const logLines: string[] = [];
const keysMade: { key: string; keyId: string }[] = [];

async function key(scopes: Parameters<typeof createTestKey>[1], name = 'k') {
  const k = await createTestKey(sc.ch, scopes, name);
  keysMade.push(k);
  return k;
}

async function get(path: string, k: string | undefined): Promise<HttpAnswer> {
  const a = await request(base, path, k === undefined ? { auth: false } : { headers: bearer(k) });
  expectValidBody(path, a);
  return a;
}

const errorOf = (a: HttpAnswer) =>
  (a.json as { error: { code: string; message: string; details: Record<string, unknown> } }).error;
const predictPath = (branch: string) => `/predict?branch_id=${branch}&start=2021-02-05&end=2021-02-06`;

/** Statements of one op sent so far (the storage layer's histogram counts every one). */
async function statements(op: string): Promise<number> {
  const m = await clickhouseQueryDuration.get();
  return m.values
    .filter((v) => v.metricName?.endsWith('_count') && v.labels.op === op)
    .reduce((n, v) => n + v.value, 0);
}

beforeAll(async () => {
  sc = await setupScenario({
    API_KEY_CACHE_TTL_MS: String(KEY_TTL_MS),
    API_RATE_LIMIT_PER_MIN: '0',
    API_KEY_USAGE_FLUSH_MS: '3600000',
  });
  useApiKey(undefined);
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  // Everything the API logs, at the most talkative level.
  const logger = pino({ level: 'trace', base: { app: 'tillcast' } }, sink);
  api = createApiServer({ ...sc, logger }, { forecastPollMs: 60_000 });
  await api.start();
  await api.listen(0, '127.0.0.1');
  base = api.url();
});

afterAll(async () => {
  await api?.stop();
  destroyAgent();
  await sc?.drop();
});

describe('401 unauthenticated', () => {
  it.each(['/predict', '/v1/predict', '/branches', '/v1/branches', '/metrics'])(
    '%s without a key: 401 with WWW-Authenticate: Bearer',
    async (path) => {
      const a = await get(
        path === '/predict' || path === '/v1/predict' ? `${path}?branch_id=x` : path,
        undefined,
      );
      expect([a.status, a.headers['www-authenticate'], errorOf(a).code]).toEqual([
        401,
        'Bearer realm="tillcast"',
        'unauthenticated',
      ]);
      expect(errorOf(a).message).toBe('an API key is required: send it as "Authorization: Bearer <key>"');
    },
  );

  it.each([
    ['a well-formed key nobody made', 'tc_0123456789ab_' + 'A'.repeat(43)],
    ['a malformed key', 'not-a-key'],
    ['an empty bearer', ''],
  ])('%s: 401 invalid_token', async (_what, k) => {
    const a = await request(base, predictPath(SUSHI.id), {
      headers: { Authorization: `Bearer ${k}` },
    });
    expect([a.status, a.headers['www-authenticate'], errorOf(a).code, errorOf(a).message]).toEqual([
      401,
      'Bearer realm="tillcast", error="invalid_token"',
      'unauthenticated',
      'the API key is not valid (unknown, malformed or revoked)',
    ]);
  });

  it('a key sent another way than Bearer is refused', async () => {
    const { key: k } = await key({ branches: [SUSHI.id] });
    const a = await request(base, predictPath(SUSHI.id), { headers: { Authorization: `Basic ${k}` } });
    expect(a.status).toBe(401);
  });

  it('a revoked key is refused within the cache TTL (polled)', async () => {
    const k = await key({ branches: [SUSHI.id] });
    expect((await get(predictPath(SUSHI.id), k.key)).status).toBe(200);
    const revokedAt = Date.now();
    await new ApiKeys(sc.ch).revoke(k.keyId, revokedAt);
    await eventually(async () => (await get(predictPath(SUSHI.id), k.key)).status === 401, 5_000, 20);
    expect(Date.now() - revokedAt).toBeLessThan(KEY_TTL_MS + 1_000);
    // And stays refused.
    expect((await get('/branches', k.key)).status).toBe(401);
  });

  it('/health, /ready, /openapi.json, /docs and the dashboard stay open', async () => {
    for (const p of ['/health', '/ready', '/openapi.json', '/docs', '/']) {
      const a = await request(base, p, { auth: false });
      expect([p, a.status]).toEqual([p, 200]);
    }
  });
});

describe('403 forbidden: a branch outside the key scopes, existing or not', () => {
  it('names the branch; the answer for an unknown branch is the same', async () => {
    const { key: k } = await key({ branches: [SUSHI.id] });
    const other = await get(predictPath(PIZZA.id), k);
    const ghost = await get(predictPath('no-such-branch'), k);
    expect([other.status, errorOf(other)]).toEqual([
      403,
      {
        code: 'forbidden',
        message: `this key may not read branch "${PIZZA.id}"`,
        details: { parameter: 'branch_id', branch_id: PIZZA.id },
      },
    ]);
    expect([ghost.status, errorOf(ghost)]).toEqual([
      403,
      {
        code: 'forbidden',
        message: 'this key may not read branch "no-such-branch"',
        details: { parameter: 'branch_id', branch_id: 'no-such-branch' },
      },
    ]);
    expect((await get(predictPath(SUSHI.id), k)).status).toBe(200);
  });

  it('an admin key reads every branch and learns that an unknown one does not exist (404)', async () => {
    const { key: k } = await key({ admin: true });
    for (const b of [SUSHI, PIZZA, NEW_YORK]) expect((await get(predictPath(b.id), k)).status).toBe(200);
    expect((await get(predictPath(TACO.id), k)).status).toBe(503); // known, no forecast
    const ghost = await get(predictPath('no-such-branch'), k);
    expect([ghost.status, errorOf(ghost).code]).toEqual([404, 'not_found']);
  });

  it('a group scope reads the branches of that POS company only', async () => {
    const { key: k } = await key({ groups: [SUSHI.pos_company_id!] });
    expect((await get(predictPath(SUSHI.id), k)).status).toBe(200);
    expect((await get(predictPath(PIZZA.id), k)).status).toBe(403);
    expect((await get(predictPath(NEW_YORK.id), k)).status).toBe(403);
  });

  it('malformed queries are 400 before the scope check, for any key', async () => {
    const { key: k } = await key({ branches: [SUSHI.id] });
    const a = await get(`/predict?branch_id=${PIZZA.id}&start=2021-02-30&end=2021-03-01`, k);
    expect(a.status).toBe(400);
  });
});

describe('/branches lists only the key branches', () => {
  it.each([
    ['one branch', { branches: [PIZZA.id] }, [PIZZA.id]],
    ['two branches', { branches: [SUSHI.id, NEW_YORK.id] }, [SUSHI.id, NEW_YORK.id]],
    ['a group', { groups: [SUSHI.pos_company_id!] }, [SUSHI.id]],
    ['metrics only', { metrics: true }, []],
    ['admin', { admin: true }, [TACO.id, PIZZA.id, SUSHI.id, NEW_YORK.id]],
  ] as const)('%s', async (_what, scopes, ids) => {
    const { key: k } = await key(scopes);
    const a = await get('/v1/branches', k);
    expect(a.status).toBe(200);
    expect((a.json as BranchesResponse).branches.map((b) => b.id).sort()).toEqual([...ids].sort());
  });
});

describe('/metrics needs the metrics scope', () => {
  it('403 for a key without it, 200 with it', async () => {
    const { key: reader } = await key({ admin: true });
    const { key: scraper } = await key({ metrics: true });
    const refused = await get('/metrics', reader);
    expect([refused.status, errorOf(refused).code, errorOf(refused).message]).toEqual([
      403,
      'forbidden',
      'this key may not read /metrics (it needs the metrics scope)',
    ]);
    const ok = await request(base, '/metrics', { headers: bearer(scraper) });
    expect(ok.status).toBe(200);
    expect(ok.text).toMatch(/^tillcast_api_auth_total\{outcome="forbidden"\} [1-9]/m);
    // A metrics key reads no branch.
    expect((await get(predictPath(SUSHI.id), scraper)).status).toBe(403);
  });
});

describe('rate limits are per key', () => {
  let limited: ApiServer | undefined;
  afterAll(() => limited?.stop());

  it('two keys do not share a budget; past it, 429 with Retry-After for that key only', async () => {
    // A second server on the same data, with a small budget (the other tests share one address).
    limited = createApiServer(
      { ...sc, config: { ...sc.config, API_RATE_LIMIT_PER_MIN: RATE } },
      { forecastPollMs: 60_000 },
    );
    await limited.start();
    await limited.listen(0, '127.0.0.1');
    const at = limited.url();
    const get = async (path: string, k: string) => (await request(at, path, { headers: bearer(k) })).status;
    const { key: a } = await key({ branches: [SUSHI.id] });
    const { key: b } = await key({ branches: [SUSHI.id] });
    const statusesA: number[] = [];
    for (let i = 0; i < RATE + 1; i++) statusesA.push(await get(predictPath(SUSHI.id), a));
    expect(statusesA).toEqual([...Array<number>(RATE).fill(200), 429]);
    const refused = await request(at, predictPath(SUSHI.id), { headers: bearer(a) });
    expect([refused.status, Number(refused.headers['retry-after']) > 0]).toEqual([429, true]);
    const statusesB: number[] = [];
    for (let i = 0; i < RATE; i++) statusesB.push(await get(predictPath(SUSHI.id), b));
    expect(statusesB).toEqual(Array<number>(RATE).fill(200));
  });
});

describe('costs', () => {
  it('a warm request reads no ClickHouse for its key; a cold one reads it once', async () => {
    const { key: k } = await key({ branches: [SUSHI.id] });
    const before = await statements('api_keys.find_by_hash');
    expect((await get(predictPath(SUSHI.id), k)).status).toBe(200);
    expect(await statements('api_keys.find_by_hash')).toBe(before + 1);
    for (let i = 0; i < 3; i++) expect((await get(predictPath(SUSHI.id), k)).status).toBe(200);
    expect(await statements('api_keys.find_by_hash')).toBe(before + 1);
  });

  it('last use is written in one statement per flush for every key used since', async () => {
    const a = await key({ branches: [SUSHI.id] }, 'usage a');
    const b = await key({ branches: [PIZZA.id] }, 'usage b');
    await api.auth.flushUsage();
    const writes = await statements('api_key_usage.record');
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) {
      await get(predictPath(SUSHI.id), a.key);
      await get(predictPath(PIZZA.id), b.key);
    }
    expect(await statements('api_key_usage.record')).toBe(writes);
    await api.auth.flushUsage();
    expect(await statements('api_key_usage.record')).toBe(writes + 1);
    const listed = new Map((await new ApiKeys(sc.ch).list()).map((k) => [k.keyId, k.lastUsedAt]));
    for (const id of [a.keyId, b.keyId]) {
      expect(listed.get(id)).toBeGreaterThanOrEqual(t0 - 5);
      expect(listed.get(id)).toBeLessThanOrEqual(Date.now());
    }
  });
});

describe('one-time login code', () => {
  it('swaps once for its key; a used or unknown code is 401', async () => {
    const k = await key({ branches: [SUSHI.id] }, 'dashboard');
    const code = api.issueLoginCode({ key: k.key, keyId: k.keyId, name: 'dashboard' });
    const post = (body: string) =>
      request(base, '/auth/login', {
        method: 'POST',
        auth: false,
        headers: { 'Content-Type': 'application/json' },
        body,
      });
    const first = await post(JSON.stringify({ code }));
    expect([first.status, first.headers['cache-control'], first.json]).toEqual([
      200,
      'no-store',
      { key: k.key, key_id: k.keyId, name: 'dashboard' },
    ]);
    const again = await post(JSON.stringify({ code }));
    expect([again.status, errorOf(again).code]).toEqual([401, 'unauthenticated']);
    expect((await post(JSON.stringify({ code: 'nope' }))).status).toBe(401);
    expect((await post('{')).status).toBe(400);
    // POST elsewhere stays refused.
    const elsewhere = await request(base, '/predict', { method: 'POST', auth: false });
    expect(elsewhere.status).toBe(405);
  });
});

describe('/openapi.json and /docs describe the scheme', () => {
  it('bearerAuth in securitySchemes; security, 401 and 403 on the data routes and /metrics; none on the open ones', async () => {
    const doc = (await request(base, '/openapi.json', { auth: false })).json as {
      components: { securitySchemes: Record<string, unknown> };
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
    };
    expect(doc.components.securitySchemes).toEqual({
      bearerAuth: {
        type: 'http',
        scheme: 'bearer',
        description: expect.stringContaining('tillcast keys create'),
      },
    });
    for (const p of ['/predict', '/v1/predict', '/branches', '/v1/branches', '/metrics']) {
      const op = doc.paths[p]!.get!;
      expect([p, op.security, '401' in op.responses]).toEqual([p, [{ bearerAuth: [] }], true]);
    }
    for (const p of ['/predict', '/v1/predict', '/metrics'])
      expect([p, '403' in doc.paths[p]!.get!.responses]).toEqual([p, true]);
    for (const p of ['/health', '/ready', '/openapi.json', '/docs'])
      expect([p, doc.paths[p]!.get!.security]).toEqual([p, undefined]);
    const html = (await request(base, '/docs', { auth: false })).text;
    expect(html).toContain('<h2 id="authentication">Authentication</h2>');
    // Once per operation that needs a plain key (the routes of issue 16 added some: counted, not
    // listed); the capture routes say which scope instead.
    const secured = Object.values(doc.paths)
      .flatMap((ops) => Object.values(ops) as { security?: unknown; tags?: string[] }[])
      .filter((op) => op.security && !op.tags?.includes('capture'));
    expect(secured.length).toBeGreaterThanOrEqual(5);
    expect(html.match(/Needs an API key: <code>Authorization: Bearer &lt;key&gt;<\/code>/g)).toHaveLength(
      secured.length,
    );
  });
});

describe('AUTH_MODE', () => {
  it('none is refused with NODE_ENV=production, naming the variable', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_MODE: 'none' })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_MODE: 'none' })).toThrow(/^.*AUTH_MODE: "none"/m);
    expect(loadConfig({ NODE_ENV: 'development', AUTH_MODE: 'none' }).AUTH_MODE).toBe('none');
    expect(loadConfig({}).AUTH_MODE).toBe('keys');
  });
});

describe('secrets', () => {
  it('no key and no key hash appears in any log line of this server', async () => {
    await api.auth.flushUsage();
    expect(keysMade.length).toBeGreaterThan(10);
    expect(logLines.length).toBeGreaterThan(50); // the access log of every request above
    const leaks = logLines.filter((l) =>
      keysMade.some((k) => l.includes(k.key) || l.includes(k.key.slice(16)) || l.includes(hashKey(k.key))),
    );
    expect(leaks).toEqual([]);
  });
});
