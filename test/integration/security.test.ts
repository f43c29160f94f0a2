/**
 * No SQL injection (SECURITY.md):
 *
 *   1. statically: no SQL text in the product's source (api/, consumers/, lib/,
 *      cli/, clickhouse/, and producers/, model/, schemas/) is assembled from
 *      values — test/sql-assembly.ts lists the allowed forms; the checker itself
 *      is shown to catch the unsafe ones;
 *   2. dynamically: injection strings in every /predict parameter (quotes,
 *      comments, stacked statements, ClickHouse placeholders, unicode, very long)
 *      get a 4xx JSON error with nothing internal in it, against the real API on
 *      the real engine — and afterwards every table is there with the same rows,
 *      and the API still serves the branch.
 *
 * API keys through the real CLI (issue 14): `tillcast keys create` → the key works on a
 * `tillcast api` process → `tillcast keys list` shows its last use → `tillcast keys revoke` →
 * 401 within the key cache TTL (polled); neither the key nor its hash is in anything the
 * processes wrote. One ClickHouse server (test/clickhouse-http-facade.ts) serves them all.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashKey } from '../../api/keys';
import { PROJECT_ROOT } from '../../lib/config';
import { killAllChildren, requireBuiltCli, runCli, spawnCli } from '../child-process';
import { startFacadeProcess, type FacadeProcess } from '../clickhouse-http-facade';
import { apiBase } from '../fault-helpers';
import {
  bearer,
  destroyAgent,
  eventually,
  expectValidBody,
  request,
  serveScenario,
  SUSHI,
  type Scenario,
  type ServedScenario,
} from '../api-helpers';
import { scanSource } from '../sql-assembly';
import { ClusterDdlError, clusterStatements, createDatabaseStatement } from '../../clickhouse/cluster-ddl';

const SCANNED = ['api', 'consumers', 'lib', 'cli', 'clickhouse', 'producers', 'model', 'schemas'];

/**
 * Files that rewrite DDL rather than query data, left out of the scan: clickhouse/cluster-ddl.ts
 * builds the cluster form of the migrations from the migration files' own text (in the
 * repository) and from cluster and database names it accepts only as plain identifiers (the
 * test below holds it to that). No value of a request or an event reaches it.
 */
const DDL_REWRITERS = new Set([path.join('clickhouse', 'cluster-ddl.ts')]);

function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts'))
        out.push(p);
    }
  };
  for (const d of SCANNED) walk(path.join(PROJECT_ROOT, d));
  return out;
}

describe('no SQL assembled from values (static check of the source)', () => {
  it('the checker reports values spliced into SQL and accepts the allowed forms', () => {
    const bad = `
      async function f(ch: any, id: string, branchId: string, x: { y: string }, name: string, suffix: string) {
        await ch.client.query({ query: \`SELECT * FROM \${ch.table('t')} WHERE id = '\${id}'\` });
        await ch.client.query({ query: 'SELECT * FROM t WHERE b = ' + branchId });
        let cols = 'a, b';
        await ch.client.query({ query: \`SELECT \${cols} FROM \${ch.table('t')}\` });
        const where: string[] = [];
        where.push(\`b = '\${branchId}'\`);
        await ch.client.query({ query: \`SELECT 1 FROM \${ch.table('t')} WHERE \${where.join(' AND ')}\` });
        await ch.client.query({ query: \`SELECT \${x.y} FROM \${ch.table(name)}\` });
        await ch.client.query({ query: \`ALTER TABLE \${ch.table(\`t_\${suffix}\`)} DELETE WHERE 1\` });
        await ch.client.insert({ table: name, values: [] });
      }
      type Loose = string | 'sales_events';
      async function g(ch: any, t: Loose) {
        await ch.client.insert({ table: ch.table(t), values: [] });
      }`;
    const found = scanSource('bad.ts', bad).findings.map((f) => f.expression);
    expect(found).toEqual([
      'id',
      'branchId',
      'cols',
      "where.join(' AND ')",
      'x.y',
      'ch.table(name)',
      'ch.table(`t_${suffix}`)',
      'name',
      'ch.table(t)',
    ]);

    const good = `
      type Table = 'sales_events' | 'forecasts';
      class Store {
        constructor(private readonly ch: any) {}
        async q(branchId: string, since?: number) {
          const k = '(generated_at, run_id)';
          const db = this.ch.database;
          const where: string[] = [];
          if (since !== undefined) where.push("generated_at >= {since:DateTime64(3, 'UTC')}");
          where.push('branch_id = {branch:String}');
          await this.ch.client.command({ query: \`CREATE DATABASE IF NOT EXISTS \${db}\` });
          return this.ch.client.query({
            query: \`SELECT argMax(x, \${k}) FROM \${this.ch.table('forecast_runs')} \${where.length > 0 ? \`WHERE \${where.join(' AND ')}\` : ''}\`,
            query_params: { branch: branchId, since },
          });
        }
        async append(table: Table, values: object[]) {
          await Promise.resolve().then(() => this.ch.client.insert({ table: this.ch.table(table), values }));
        }
        private async insert(table: string, values: object[]) {
          await this.ch.client.insert({ table: this.ch.table(table), values, format: 'JSONEachRow' });
        }
        async write() {
          await this.insert('sales_events', []);
          console.log(\`rollback from \${'a'} to \${this.ch}\`); // prose, not SQL
        }
      }`;
    expect(scanSource('good.ts', good)).toEqual({ findings: [], checked: 3 });
  });

  it('finds no SQL text in the product source assembled from anything but table names, the database name and constants', () => {
    const files = sourceFiles().filter((f) => !DDL_REWRITERS.has(path.relative(PROJECT_ROOT, f)));
    let checked = 0;
    const findings = files.flatMap((f) => {
      const r = scanSource(path.relative(PROJECT_ROOT, f), fs.readFileSync(f, 'utf8'));
      checked += r.checked;
      return r.findings;
    });
    expect(findings).toEqual([]);
    // The product's queries were looked at (the keyword test did not silently stop matching).
    expect(files.length).toBeGreaterThan(60);
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it('the DDL rewriter left out of the scan takes cluster and database names only as plain identifiers', () => {
    const create =
      'CREATE TABLE IF NOT EXISTS tillcast.t (branch_id String) ENGINE = MergeTree ORDER BY branch_id';
    expect(clusterStatements([create], 'tillcast_cluster').join('\n')).toContain(
      'ON CLUSTER tillcast_cluster',
    );
    for (const hostile of ["c' ; DROP DATABASE tillcast --", 'c d', 'c`', '']) {
      expect(() => clusterStatements([create], hostile)).toThrow(ClusterDdlError);
      expect(() => createDatabaseStatement('tillcast', hostile)).toThrow(ClusterDdlError);
      expect(() => createDatabaseStatement(hostile)).toThrow(ClusterDdlError);
    }
  });
});

describe('injection strings through the API (real API, real engine)', () => {
  let sc: Scenario;
  let base: string;
  const TABLES = [
    'branch_watermarks',
    'forecast_runs',
    'forecasts',
    'ingest_rejections',
    'model_promotions',
    'models',
    'sales_events',
    'sales_hourly',
    'schema_migrations',
  ];

  async function state(): Promise<Record<string, number>> {
    const rs = await sc.ch.client.query({
      query: 'SELECT name, total_rows FROM system.tables WHERE database = {db:String} ORDER BY name',
      query_params: { db: sc.ch.database },
      format: 'JSONEachRow',
    });
    const rows = await rs.json<{ name: string; total_rows: string | null }>();
    return Object.fromEntries(
      rows.filter((r) => TABLES.includes(r.name)).map((r) => [r.name, Number(r.total_rows ?? 0)]),
    );
  }

  let served: ServedScenario | undefined;
  beforeAll(async () => {
    served = await serveScenario(
      { API_RATE_LIMIT_PER_MIN: '0' },
      { forecastPollMs: 60_000, actualsTtlMs: 0 },
    );
    ({ sc, base } = served);
  });

  afterAll(async () => {
    await served?.close();
  });

  const VALID = { branch_id: SUSHI.id, start: '2021-02-04', end: '2021-02-10', granularity: 'daily' };
  const LONG = `${SUSHI.id}${"' OR '1'='1".repeat(200)}`;
  const PAYLOADS: [keyof typeof VALID, string, number][] = [
    ['branch_id', "' OR 1=1 --", 400],
    ['branch_id', "352h67i328fh'; DROP TABLE x", 400],
    ['branch_id', `352h67i328fh' OR '1'='1`, 400],
    ['branch_id', "352h67i328fh'--", 404],
    ['branch_id', "352h67i328fh';DROP/**/TABLE/**/x;--", 404],
    ['branch_id', '352h67i328fh\\', 404],
    ['branch_id', '{branch:String}', 404],
    ['branch_id', '352h67i328fh) UNION ALL SELECT name FROM system.tables --', 400],
    ['branch_id', '352h67i328fh\u0000', 400],
    ['branch_id', '352h67i328fh\n; DROP DATABASE tillcast', 400],
    ['branch_id', 'ブランチ😀', 400],
    ['branch_id', '３５２h67i328fh', 400],
    ['branch_id', 'x'.repeat(65), 400],
    ['branch_id', LONG, 414],
    ['start', "2021-02-04' OR '1'='1", 400],
    ['start', '2021-02-04; DROP TABLE tillcast.forecasts', 400],
    ['start', 'toDate(now())', 400],
    ['start', '{start:Date}', 400],
    ['start', '２０２１-０２-０４', 400],
    ['end', "2021-02-10' --", 400],
    ['end', '2021-02-10\u202e', 400],
    ['end', `2021-02-10${' '.repeat(1000)}`, 400],
    ['granularity', "daily' OR 1=1 --", 400],
    ['granularity', 'daily,hourly;DROP TABLE x', 400],
    ['granularity', 'dailý', 400],
  ];

  it.each(
    PAYLOADS.map(
      ([param, value, status]) => [param, JSON.stringify(value).slice(0, 60), status, value] as const,
    ),
  )('%s = %s: %d with a JSON error and nothing internal', async (param, _shown, status, value) => {
    const q = new URLSearchParams({ ...VALID, [param]: value }).toString();
    const a = await request(base, `/predict?${q}`);
    expect(a.status).toBe(status);
    expectValidBody('/predict', a);
    expect(a.headers['content-type']).toMatch(/^application\/json/);
    expect(a.headers['x-content-type-options']).toBe('nosniff');
    const err = (a.json as { error: { code: string; message: string } }).error;
    expect(err.code).toMatch(
      status === 404 ? /^not_found$/ : status === 414 ? /^uri_too_long$/ : /^invalid_parameter$/,
    );
    // Nothing from inside (engine errors, SQL, stack frames); the echo of the input itself aside.
    const echoes = [value, `${value.slice(0, 64)}…`].flatMap((v) => [v, JSON.stringify(v).slice(1, -1)]);
    const strings: string[] = [];
    const collect = (x: unknown): void => {
      if (typeof x === 'string') strings.push(echoes.reduce((t, e) => t.split(e).join(''), x));
      else if (x && typeof x === 'object') Object.values(x).forEach(collect);
    };
    collect(a.json);
    expect(strings.join('\n')).not.toMatch(
      /DB::Exception|Code: \d+|SELECT|system\.|at .+\.(?:ts|js):\d+|ClickHouse|query_params/,
    );
  });

  it('leaves every table in place with the same rows, and the branch still served', async () => {
    const before = await state();
    expect(Object.keys(before).sort()).toEqual(TABLES);
    for (const [param, value] of PAYLOADS)
      await request(base, `/predict?${new URLSearchParams({ ...VALID, [param]: value }).toString()}`);
    expect(await state()).toEqual(before);
    const ok = await request(base, `/predict?${new URLSearchParams(VALID).toString()}`);
    expect(ok.status).toBe(200);
    expect((ok.json as { forecast: { run_id: string } }).forecast.run_id).toBe(sc.runs[SUSHI.id]);
  });
});

describe('API keys through the CLI: create, use, list, revoke (real processes)', () => {
  const KEY_TTL_MS = 1_000;
  let dir = '';
  let facade: FacadeProcess | undefined;

  afterAll(async () => {
    await killAllChildren();
    destroyAgent();
    await facade?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a created key reads its branch, shows its last use, and is refused within the TTL once revoked; it is in no output', async () => {
    requireBuiltCli();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-keys-'));
    facade = await startFacadeProcess({ dataDir: path.join(dir, 'server-data'), scratchDir: dir });
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'debug',
      ROLES: 'api',
      CLICKHOUSE_URL: facade.url,
      CLICKHOUSE_DATABASE: 'tillcast',
      HOST: '127.0.0.1',
      PORT: '0',
      API_KEY_CACHE_TTL_MS: String(KEY_TTL_MS),
      API_KEY_USAGE_FLUSH_MS: '200',
    };
    const outputs: string[] = [];
    const cli = async (args: string[]) => {
      const r = await runCli(args, env);
      outputs.push(...r.stdout, r.stderr);
      return r.stdout;
    };
    await cli(['migrate']);
    const beforeCreate = outputs.length;
    const created = await cli(['keys', 'create', '--name', 'round trip', '--branches', SUSHI.id]);
    const printedOnce = outputs.splice(beforeCreate); // the one place the key may appear
    expect(printedOnce.filter((l) => l.includes('tc_'))).toHaveLength(1);
    expect(created[0]).toMatch(new RegExp(`^key ([0-9a-f]{12}) \\(round trip\\): branches ${SUSHI.id}$`));
    const key = created[1]!;
    const keyId = /^key ([0-9a-f]{12}) /.exec(created[0]!)![1]!;
    expect(key).toMatch(new RegExp(`^tc_${keyId}_[A-Za-z0-9_-]{43}$`));
    expect(created[2]).toBe('Shown once: only its hash is stored. Send it as "Authorization: Bearer <key>".');

    const api = spawnCli('api', ['api'], env);
    const base = await apiBase(api);
    const branches = await request(base, '/v1/branches', { headers: bearer(key) });
    expect([
      branches.status,
      (branches.json as { branches: { id: string }[] }).branches.map((b) => b.id),
    ]).toEqual([200, [SUSHI.id]]);
    expect((await request(base, '/v1/branches', { auth: false })).status).toBe(401);

    // Last use: written by the API within its flush period, read by `keys list`.
    const listed = await eventually(
      async () => {
        const lines = await cli(['keys', 'list', '--json']);
        const k = lines.map((l) => JSON.parse(l) as { key_id: string; last_used_at: string | null })[0];
        return k?.last_used_at ? { lines, k } : undefined;
      },
      20_000,
      200,
    );
    expect(listed.k.key_id).toBe(keyId);
    expect(Object.keys(listed.k).sort()).toEqual(
      [
        'admin',
        'branches',
        'capture',
        'created_at',
        'created_by',
        'groups',
        'key_id',
        'last_used_at',
        'metrics',
        'name',
        'prefix',
        'revoked_at',
        'write',
      ].sort(),
    );
    const human = await cli(['keys', 'list']);
    expect(human[0]).toMatch(
      new RegExp(
        `^tc_${keyId}_  round trip  \\[branches ${SUSHI.id}\\]  created \\S+Z by \\S+  last used \\S+Z$`,
      ),
    );

    const revoked = await cli(['keys', 'revoke', `tc_${keyId}_`]);
    const revokedAt = Date.now();
    expect(revoked).toEqual([`revoked ${keyId}`]);
    await eventually(
      async () => (await request(base, '/v1/branches', { headers: bearer(key) })).status === 401,
      10_000,
      50,
    );
    expect(Date.now() - revokedAt).toBeLessThan(KEY_TTL_MS + 1_000);
    expect((await cli(['keys', 'list']))[0]).toMatch(/ {2}REVOKED \S+Z$/);

    expect((await api.kill('SIGTERM')).code).toBe(0);
    // Everything the processes wrote: the key was printed once (by create) and is nowhere else.
    const written = [...outputs, ...api.output, ...api.lines.map((l) => JSON.stringify(l)), api.stderr];
    const leaks = written.filter(
      (l) => l.includes(key) || l.includes(key.slice(16)) || l.includes(hashKey(key)),
    );
    expect(leaks).toEqual([]);
    expect(api.lines.length).toBeGreaterThan(5);
  }, 180_000);
});
