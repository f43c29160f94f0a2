/**
 * What a ClickHouse server allows each docker compose user (clickhouse/server/users.xml),
 * and refuses: the class of fault 1 (a read-only user refused the settings its client sent)
 * and fault 4 (`CREATE DATABASE` refused because the client named the database it creates).
 *
 * There is no ClickHouse server binary on these machines: the server is
 * test/clickhouse-http-facade.ts in a process of its own, the real engine running as one
 * users.xml user (its grants and profile) and authenticating every request against users.xml
 * as a server does; what it does differently from a server is listed at the top of that file.
 * One engine runs as one user, so the users take turns on one FRESH data directory: first
 * `admin` (no `tillcast` database exists yet), then each of the others.
 *
 * For each user, the client tillcast builds for a role (clickhouse/client.ts createClickHouse,
 * server mode) does its requests unrefused; the roles' whole jobs run in
 * least-privilege.test.ts. Each refusal is asserted with the server's code and HTTP status.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { migrate, readMigrations } from '../../clickhouse/migrate';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import { createLogger } from '../../lib/logger';
import { startFacadeProcess, type FacadeProcess } from '../clickhouse-http-facade';
import { testConfig } from '../test-config';

jest.setTimeout(240_000);

type User = 'admin' | 'ingest' | 'forecaster' | 'api' | 'analyst' | 'ro_writer';
const PASSWORDS: Record<string, string> = {
  CLICKHOUSE_ADMIN_PASSWORD: 'pw-admin',
  CLICKHOUSE_INGEST_PASSWORD: 'pw-ingest',
  CLICKHOUSE_FORECASTER_PASSWORD: 'pw-forecaster',
  CLICKHOUSE_API_PASSWORD: 'pw-api',
  CLICKHOUSE_API_USAGE_PASSWORD: 'pw-api-usage',
  CLICKHOUSE_ANALYST_PASSWORD: 'pw-analyst',
};
const password = (user: User) =>
  user === 'ro_writer' ? 'pw-ro' : PASSWORDS[`CLICKHOUSE_${user.toUpperCase()}_PASSWORD`]!;
const logger = createLogger('silent');

let dir: string;
let facade: FacadeProcess | undefined;
const opened: Array<ClickHouseClient | ClickHouse> = [];

/** ClickHouse serving `user` on the shared data directory (the previous user's process stopped first). */
async function serveAs(user: User, usersFiles?: string[]): Promise<string> {
  await facade?.stop();
  facade = await startFacadeProcess({
    dataDir: path.join(dir, 'data'),
    scratchDir: dir,
    asUser: user,
    ...(usersFiles ? { usersFiles } : {}),
    env: PASSWORDS,
  });
  return facade.url;
}

/** The client tillcast builds for a role, in server mode, as `user`. */
function tillcastClient(url: string, user: User): ClickHouse {
  const ch = createClickHouse(
    testConfig({
      CLICKHOUSE_URL: url,
      CLICKHOUSE_USER: user,
      CLICKHOUSE_PASSWORD: password(user),
      CLICKHOUSE_DATABASE: 'tillcast', // users.xml grants name the database
    }),
    logger,
  );
  opened.push(ch);
  return ch;
}

function rawClient(
  url: string,
  user: User,
  extra: Parameters<typeof createClient>[0] = {},
): ClickHouseClient {
  // Refusals are the point here: the client's own error log would only repeat them.
  const c = createClient({
    url,
    username: user,
    password: password(user),
    log: { level: ClickHouseLogLevel.OFF },
    ...extra,
  });
  opened.push(c);
  return c;
}

/** The ClickHouse error a call ends with: code and message (ClickHouseError), or OK. */
async function outcome(call: () => Promise<unknown>): Promise<{ code: string; message: string } | 'OK'> {
  try {
    await call();
    return 'OK';
  } catch (err) {
    const e = err as Error & { code?: string };
    return { code: String(e.code), message: e.message };
  }
}

/** A raw HTTP request to the server: status, X-ClickHouse-Exception-Code and body. */
async function http(
  url: string,
  opts: {
    user?: string;
    password?: string;
    params?: Record<string, string>;
    body?: string;
    headers?: Record<string, string>;
  },
): Promise<{ status: number; code: string | null; body: string }> {
  const u = new URL(url);
  for (const [k, v] of Object.entries(opts.params ?? {})) u.searchParams.set(k, v);
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.user !== undefined)
    headers.Authorization = `Basic ${Buffer.from(`${opts.user}:${opts.password ?? ''}`).toString('base64')}`;
  const res = await fetch(u, { method: 'POST', headers, body: opts.body ?? '' });
  return { status: res.status, code: res.headers.get('x-clickhouse-exception-code'), body: await res.text() };
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-chsem-'));
});

afterAll(async () => {
  for (const c of opened.splice(0)) await c.close();
  await facade?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a fresh ClickHouse server, as admin (the compose init job)', () => {
  let url: string;
  beforeAll(async () => {
    url = await serveAs('admin');
  });

  it('the migrator creates the database and the schema through the server-mode client (fault 4)', async () => {
    const ch = tillcastClient(url, 'admin');
    const dbs = async () =>
      (
        await (
          await ch.client.query({
            query: "SELECT name FROM system.databases WHERE name = 'tillcast'",
            format: 'JSONEachRow',
          })
        ).json<{ name: string }>()
      ).map((r) => r.name);
    expect(await dbs()).toEqual([]); // fresh: the database the client used to name does not exist

    // The client as it was (database + a setting on every request) is refused its first DDL.
    const before = rawClient(url, 'admin', { database: 'tillcast' });
    expect(await outcome(() => before.command({ query: 'CREATE DATABASE IF NOT EXISTS tillcast' }))).toEqual({
      code: '81',
      message: expect.stringMatching(/Database tillcast does not exist/),
    });

    const result = await migrate(ch, logger);
    expect(result.applied).toEqual(readMigrations(undefined, 'tillcast').map((m) => m.name));
    expect(await dbs()).toEqual(['tillcast']);
    // Run again: nothing pending, only schema_migrations read.
    expect((await migrate(ch, logger)).applied).toEqual([]);

    // The views run with their definer's rights; the engine created them as its `default`
    // (the facade's list, item 2), a server as admin: say admin, as a server would have.
    const views = await (
      await ch.client.query({
        query: "SELECT name FROM system.tables WHERE database = 'tillcast' AND engine = 'View'",
        format: 'JSONEachRow',
      })
    ).json<{ name: string }>();
    expect(views.length).toBeGreaterThan(0);
    for (const v of views)
      await ch.client.command({
        query: `ALTER TABLE tillcast.${v.name} MODIFY SQL SECURITY DEFINER DEFINER = admin`,
      });
  });

  it('refuses a wrong password, a missing one and an unknown user: 516, HTTP 403', async () => {
    for (const [user, pw] of [
      ['admin', 'wrong'],
      ['admin', ''],
      ['nobody', 'pw-admin'],
    ] as const) {
      const r = await http(url, { user, password: pw, body: 'SELECT 1' });
      expect({ status: r.status, code: r.code, body: r.body }).toEqual({
        status: 403,
        code: '516',
        body: `Code: 516. DB::Exception: ${user}: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)\n`,
      });
    }
    // No credentials at all is the user `default`, which users.xml does not define.
    expect((await http(url, { body: 'SELECT 1' })).code).toBe('516');
    // The other ways a server takes credentials work too.
    const viaHeaders = await http(url, {
      headers: { 'X-ClickHouse-User': 'admin', 'X-ClickHouse-Key': 'pw-admin' },
      body: 'SELECT 1',
    });
    expect(viaHeaders).toEqual({ status: 200, code: null, body: '1\n' });
    const viaParams = await http(url, { params: { user: 'admin', password: 'pw-admin' }, body: 'SELECT 2' });
    expect(viaParams).toEqual({ status: 200, code: null, body: '2\n' });
    // ... but not two at once.
    const mixed = await http(url, {
      user: 'admin',
      password: 'pw-admin',
      params: { user: 'admin' },
      body: 'SELECT 1',
    });
    expect({ status: mixed.status, code: mixed.code }).toEqual({ status: 403, code: '516' });
  });

  it('refuses an unknown database whatever the statement: 81, HTTP 404', async () => {
    const r = await http(url, {
      user: 'admin',
      password: 'pw-admin',
      params: { database: 'missing' },
      body: 'SELECT 1',
    });
    expect(r).toEqual({
      status: 404,
      code: '81',
      body: 'Code: 81. DB::Exception: Database missing does not exist. (UNKNOWN_DATABASE)\n',
    });
    const known = await http(url, {
      user: 'admin',
      password: 'pw-admin',
      params: { database: 'tillcast' },
      body: 'SELECT currentDatabase()',
    });
    expect(known).toEqual({ status: 200, code: null, body: 'tillcast\n' });
    // The database was the request's only: the next one runs where the user starts.
    const next = await http(url, { user: 'admin', password: 'pw-admin', body: 'SELECT currentDatabase()' });
    expect(next.body).toBe('default\n');
  });

  it('refuses two statements in one request: 62, HTTP 400; a trailing semicolon is one statement', async () => {
    const r = await http(url, { user: 'admin', password: 'pw-admin', body: 'SELECT 1; SELECT 2' });
    expect({ status: r.status, code: r.code }).toEqual({ status: 400, code: '62' });
    expect(r.body).toMatch(
      /^Code: 62\. DB::Exception: Syntax error \(Multi-statements are not allowed\): failed at position 9/,
    );
    expect(await http(url, { user: 'admin', password: 'pw-admin', body: "SELECT ';' AS s;" })).toEqual({
      status: 200,
      code: null,
      body: ';\n',
    });
  });

  it('refuses a URI over 1 MiB (HTTP 400) and a URL field over 128 KiB (code 1000)', async () => {
    const long = await http(url, {
      user: 'admin',
      password: 'pw-admin',
      params: { param_x: 'a'.repeat(1 << 20) },
      body: 'SELECT length({x:String})',
    });
    expect({ status: long.status, code: long.code }).toEqual({ status: 400, code: null });
    const field = await http(url, {
      user: 'admin',
      password: 'pw-admin',
      params: { param_x: 'a'.repeat((128 << 10) + 1) },
      body: 'SELECT length({x:String})',
    });
    expect({ status: field.status, code: field.code, body: field.body }).toEqual({
      status: 500,
      code: '1000',
      body: expect.stringMatching(/Field value too long/),
    });
    const fits = await http(url, {
      user: 'admin',
      password: 'pw-admin',
      params: { param_x: 'a'.repeat(128 << 10) },
      body: 'SELECT length({x:String})',
    });
    expect(fits.body).toBe(`${128 << 10}\n`);
  });

  it('refuses, clearly, a request as a user other than the one its engine runs as', async () => {
    const r = await http(url, { user: 'ingest', password: 'pw-ingest', body: 'SELECT 1' });
    expect(r.status).toBe(500);
    expect(r.body).toMatch(
      /runs every statement as `admin`.*cannot run one as `ingest`.*\(FACADE_ONE_USER\)/,
    );
  });
});

describe('each role user: the server-mode client tillcast builds is not refused', () => {
  for (const role of ['ingest', 'forecaster', 'api'] as const) {
    it(`${role}: checks the schema (what every role does at start) and reads its tables`, async () => {
      const url = await serveAs(role);
      const ch = tillcastClient(url, role);
      expect((await migrate(ch, logger)).applied).toEqual([]);
      const rs = await ch.client.query({
        query: `SELECT count() AS n FROM ${ch.table('sales_hourly')} WHERE branch_id IN {branches:Array(String)}`,
        query_params: { branches: ['a', 'b'] },
        format: 'JSONEachRow',
      });
      expect(await rs.json()).toEqual([{ n: expect.anything() }]);
      const profile = await (
        await ch.client.query({
          query: "SELECT getSetting('date_time_input_format') AS f, toUInt8(getSetting('readonly')) AS r",
          format: 'JSONEachRow',
        })
      ).json();
      // The profile's settings apply to every statement (clickhouse/server/users.xml).
      expect(profile).toEqual([{ f: 'basic', r: role === 'api' ? 1 : 0 }]);
    });
  }

  it('api (readonly=1): any setting sent with a query is refused, 164 — the fault-1 client', async () => {
    const url = await serveAs('api');
    // The client as it was: a setting on every request, equal or not to the current value.
    const before = rawClient(url, 'api', { clickhouse_settings: { date_time_input_format: 'best_effort' } });
    expect(await outcome(() => before.query({ query: 'SELECT 1' }))).toEqual({
      code: '164',
      message: expect.stringMatching(/^Cannot modify 'date_time_input_format' setting in readonly mode/),
    });
    const unchanged = rawClient(url, 'api', { clickhouse_settings: { date_time_input_format: 'basic' } });
    expect(await outcome(() => unchanged.query({ query: 'SELECT 1' }))).toMatchObject({ code: '164' });
    // Response compression is a setting too.
    const compressed = rawClient(url, 'api', { compression: { response: true } });
    expect(await outcome(() => compressed.query({ query: 'SELECT 1' }))).toMatchObject({
      code: '164',
      message: expect.stringMatching(/enable_http_compression/),
    });
    // Writes: the grant is checked first (497, HTTP 403), as a server does.
    const w = await http(url, {
      user: 'api',
      password: 'pw-api',
      body: "INSERT INTO tillcast.forecast_runs (run_id) VALUES ('x')",
    });
    expect({ status: w.status, code: w.code }).toEqual({ status: 403, code: '497' });
  });

  it('analyst (readonly=2): reads the views with the settings BI tools send, within the constraints (452 outside)', async () => {
    const url = await serveAs('analyst');
    const bi = rawClient(url, 'analyst', {
      clickhouse_settings: {
        max_execution_time: 120,
        max_result_rows: '100000',
        result_overflow_mode: 'throw',
      },
    });
    const rs = await bi.query({
      query: 'SELECT count() AS n FROM tillcast.v_sales_hourly',
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([{ n: expect.anything() }]);
    const limits = await (
      await bi.query({
        query: "SELECT toUInt32(getSetting('max_execution_time')) AS t, toUInt8(getSetting('readonly')) AS r",
        format: 'JSONEachRow',
      })
    ).json();
    expect(limits).toEqual([{ t: 120, r: 2 }]);
    // The settings were that request's: the next one starts from the profile again.
    const plain = rawClient(url, 'analyst');
    const after = await (
      await plain.query({
        query: "SELECT toUInt32(getSetting('max_execution_time')) AS t",
        format: 'JSONEachRow',
      })
    ).json();
    expect(after).toEqual([{ t: 60 }]);

    const over = rawClient(url, 'analyst', { clickhouse_settings: { max_execution_time: 1000 } });
    expect(await outcome(() => over.query({ query: 'SELECT 1' }))).toEqual({
      code: '452',
      message: expect.stringMatching(/Setting max_execution_time shouldn't be greater than 300/),
    });
    const unlimited = rawClient(url, 'analyst', { clickhouse_settings: { max_execution_time: 0 } });
    expect(await outcome(() => unlimited.query({ query: 'SELECT 1' }))).toMatchObject({ code: '452' });
    const writable = rawClient(url, 'analyst', { clickhouse_settings: { readonly: '0' } });
    expect(await outcome(() => writable.query({ query: 'SELECT 1' }))).toEqual({
      code: '164',
      message: expect.stringMatching(/Cannot modify 'readonly' setting in readonly mode/),
    });
    // No base table, no write.
    expect(
      await outcome(() => plain.query({ query: 'SELECT count() FROM tillcast.sales_hourly' })),
    ).toMatchObject({
      code: '497',
    });
    expect(
      await outcome(() =>
        plain.command({ query: "INSERT INTO tillcast.sales_hourly (branch_id) VALUES ('x')" }),
      ),
    ).toMatchObject({ code: '497' });
  });

  it('a read-only user even with INSERT and CREATE grants may not write or change the schema: 164', async () => {
    // Not a users.xml user: a readonly=1 profile with a grant, to reach the readonly check
    // behind the grants (src/Access/ContextAccess.cpp).
    const extra = path.join(dir, 'ro-writer.xml');
    fs.writeFileSync(
      extra,
      `<clickhouse><users><ro_writer>
  <password>pw-ro</password><networks><ip>::/0</ip></networks>
  <profile>tillcast_api</profile><quota>default</quota>
  <grants><query>GRANT SELECT, INSERT, CREATE TABLE ON tillcast.*</query></grants>
</ro_writer></users></clickhouse>`,
    );
    const url = await serveAs('ro_writer', [
      path.join(__dirname, '..', '..', 'clickhouse', 'server', 'users.xml'),
      extra,
    ]);
    const c = rawClient(url, 'ro_writer');
    expect(
      await outcome(() => c.command({ query: "INSERT INTO tillcast.forecast_runs (run_id) VALUES ('x')" })),
    ).toEqual({ code: '164', message: expect.stringMatching(/Cannot execute query in readonly mode/) });
    expect(
      await outcome(() => c.command({ query: 'CREATE TABLE tillcast.z (a UInt8) ENGINE = Memory' })),
    ).toEqual({
      code: '164',
      message: expect.stringMatching(/Cannot execute query in readonly mode/),
    });
  });
});
