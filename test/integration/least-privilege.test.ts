/**
 * The docker compose ClickHouse users (clickhouse/server/users.xml) with the real
 * roles: `tillcast migrate` as admin, then `tillcast ingest`, `tillcast forecaster`
 * and `tillcast api` — the real CLI in server mode (CLICKHOUSE_URL) — each against
 * a ClickHouse whose user has exactly that role's grants and profile. Each does its
 * whole job (ingest a replay; train, register and promote a first model and write
 * runs; serve /predict to an API key made by `tillcast keys create` as admin) and is not
 * refused anything on the way, and each is refused what it has no business doing. The
 * API's writer (api_usage) may insert into api_key_usage, branch_calendar and forecast_overrides
 * and nothing else.
 * Last, nothing any of these processes wrote (every stdout and stderr line, /ready, /metrics,
 * and the errors of a wrong ClickHouse and a wrong Kafka password) holds a secret it used: the
 * ClickHouse passwords, the Kafka passwords, the API key or its hash.
 *
 * The "server" is test/clickhouse-http-facade.ts in a process of its own, running the
 * real engine as the role's user from users.xml (grants, profile and its settings) and
 * authenticating every request against users.xml with the role's password (from_env),
 * refusing what a server refuses (settings a read-only profile may not change, unknown
 * databases, several statements in one request; the facade's header lists what it does
 * differently). One engine runs as one user and owns the data directory, so the roles
 * run one after the other on the same data. The refusals themselves, the analyst and a
 * fresh server are clickhouse-server-semantics.test.ts's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import crypto from 'node:crypto';
import { killAllChildren, requireBuiltCli, spawnCli, type CliProcess } from '../child-process';
import { startFacadeProcess, type FacadeProcess } from '../clickhouse-http-facade';
import { apiBase, createTopics, faultScenario, waitForCommitted, type FaultScenario } from '../fault-helpers';
import { destroyAgent, request, useApiKey } from '../api-helpers';
import { TEST_KAFKA_USERS } from '../kafka-broker';
import { requireSharedExport } from '../shared-data';

jest.setTimeout(180_000);

const PASSWORDS = Object.fromEntries(
  ['ADMIN', 'INGEST', 'FORECASTER', 'API', 'API_USAGE', 'ANALYST'].map((u) => [
    `CLICKHOUSE_${u}_PASSWORD`,
    `pw-${u.toLowerCase()}`,
  ]),
);
const SUSHI = '352h67i328fh';
const file = requireSharedExport();

let s: FaultScenario;
let facade: FacadeProcess | undefined;
let client: ClickHouseClient | undefined;
let m0 = '';
let apiKey = '';
/** Everything the tillcast processes of this file wrote (the secrets test reads it). */
const written: string[] = [];
const started: CliProcess[] = [];

/** spawnCli, remembering the process for the secrets test. */
function spawnRole(name: string, args: string[], env: Record<string, string>): CliProcess {
  const c = spawnCli(name, args, env);
  started.push(c);
  return c;
}

/** runCli (throws unless it exits 0), remembering the process for the secrets test. */
async function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ stdout: string[]; stderr: string }> {
  const c = spawnRole(`tillcast ${args[0] ?? ''}`, args, env);
  const exit = await c.waitForExit(timeoutMs);
  if (exit.code !== 0)
    throw new Error(`tillcast ${args.join(' ')} exited with ${JSON.stringify(exit)}\n${c.diagnostics()}`);
  return { stdout: c.output, stderr: c.stderr };
}

/** ClickHouse as `role` on the scenario's data, and a client of it for the refusals. */
async function serveAs(
  role: 'admin' | 'ingest' | 'forecaster' | 'api' | 'api_usage',
): Promise<Record<string, string>> {
  await facade?.stop();
  await client?.close();
  facade = await startFacadeProcess({
    dataDir: path.join(s.dir, 'server-data'),
    scratchDir: s.dir,
    asUser: role,
    env: PASSWORDS,
  });
  client = createClient({
    url: facade.url,
    username: role,
    password: PASSWORDS[`CLICKHOUSE_${role.toUpperCase()}_PASSWORD`],
  });
  return {
    ...s.env,
    CLICKHOUSE_URL: facade.url,
    CLICKHOUSE_USER: role,
    CLICKHOUSE_PASSWORD: PASSWORDS[`CLICKHOUSE_${role.toUpperCase()}_PASSWORD`]!,
  };
}

/** The refusal of a statement the current user may not run (the engine's error text). */
async function refused(query: string): Promise<string> {
  try {
    await client!.command({ query });
  } catch (err) {
    return (err as Error).message;
  }
  return 'ALLOWED';
}

const DENIED = /ACCESS_DENIED|Not enough privileges|readonly mode|READONLY/;

beforeAll(async () => {
  requireBuiltCli();
  s = faultScenario('leastpriv', { CLICKHOUSE_DATABASE: 'tillcast' }); // users.xml grants name the database
  await createTopics(s);
});

afterAll(async () => {
  await killAllChildren();
  destroyAgent();
  await client?.close();
  await facade?.stop();
  fs.rmSync(s.dir, { recursive: true, force: true });
});

describe('each role with its least-privilege ClickHouse user from users.xml', () => {
  it('admin (the init job) creates the schema', async () => {
    const env = await serveAs('admin');
    const r = await runCli(['migrate'], env);
    expect(r.stdout.join('\n')).toMatch(/^migrations: [1-9]\d* applied/m);
    // ...and makes an API key (an operator's job, as admin).
    const made = await runCli(
      ['keys', 'create', '--name', 'least privilege', '--branches', SUSHI, '--metrics', '--json'],
      env,
    );
    apiKey = (JSON.parse(made.stdout.join('\n')) as { key: string }).key;
    expect(apiKey).toMatch(/^tc_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
  });

  it('ingest: checks the schema, stores a replay; may not read forecasts, write the registry or change the schema', async () => {
    const env = await serveAs('ingest');
    const ingest = spawnRole('ingest', ['ingest'], env);
    await ingest.waitForLog('ingest consuming', {
      description: 'the ingest to start as `ingest`',
      timeoutMs: 90_000,
    });
    // Five weeks: enough closed history for the forecaster's first model.
    await runCli(
      ['replay', file, '--from', '2020-12-21', '--through', '2021-01-24'],
      { ...env, LOG_LEVEL: 'warn' },
      120_000,
    );
    await waitForCommitted(s, s.config.KAFKA_INGEST_GROUP, s.config.KAFKA_TOPIC_SALES, 120_000);
    expect(ingest.lines.filter((l) => l.level >= 50)).toEqual([]);
    expect((await ingest.kill('SIGTERM')).code).toBe(0);

    expect(await refused('SELECT count() FROM tillcast.forecasts')).toMatch(DENIED);
    expect(await refused("INSERT INTO tillcast.model_promotions (version) VALUES ('x')")).toMatch(DENIED);
    expect(await refused('DROP TABLE tillcast.sales_events')).toMatch(DENIED);
    expect(await refused('CREATE TABLE tillcast.x (a UInt8) ENGINE = Memory')).toMatch(DENIED);
  });

  it('forecaster: trains, registers and promotes its first model and writes runs; may not write sales data or change the schema', async () => {
    const env = await serveAs('forecaster');
    const forecaster = spawnRole('forecaster', ['forecaster'], env);
    await forecaster.waitForLog('model in use', {
      description: 'the first model, promoted as `forecaster`',
      timeoutMs: 150_000,
    });
    await forecaster.waitForLog('caught up with closed hours', {
      description: 'runs written',
      timeoutMs: 60_000,
      orSeen: true,
    });
    m0 = String(forecaster.logs('model in use')[0]!.version);
    expect(forecaster.logs('training failed; the current model keeps serving')).toEqual([]);
    expect((await forecaster.kill('SIGTERM', 60_000)).code).toBe(0);

    expect(await refused("INSERT INTO tillcast.sales_events (event_id) VALUES ('x')")).toMatch(DENIED);
    expect(await refused("INSERT INTO tillcast.sales_hourly (branch_id) VALUES ('x')")).toMatch(DENIED);
    expect(await refused('TRUNCATE TABLE tillcast.forecasts')).toMatch(DENIED);
    expect(await refused('DROP DATABASE tillcast')).toMatch(DENIED);
  });

  it('api: serves /predict with the promoted model to a key it reads; may not write anything, keys included', async () => {
    const env = await serveAs('api');
    const api = spawnRole('api', ['api'], env);
    const base = await apiBase(api);
    useApiKey(apiKey);
    expect((await request(base, '/branches', { auth: false })).status).toBe(401);
    expect(
      (await request(base, '/predict?branch_id=345hngydkgs&start=2021-01-25&end=2021-01-25')).status,
    ).toBe(403);
    const ready = await request(base, '/ready');
    written.push(ready.text);
    const metrics = await request(base, '/metrics');
    expect(metrics.status).toBe(200);
    written.push(metrics.text);
    expect({
      status: ready.status,
      clickhouse: (ready.json as { checks: { clickhouse: boolean } }).checks.clickhouse,
    }).toEqual({
      status: 200,
      clickhouse: true,
    });
    const a = await request(
      base,
      `/predict?branch_id=${SUSHI}&start=2021-01-25&end=2021-01-31&granularity=daily`,
    );
    expect(a.status).toBe(200);
    expect((a.json as { forecast: { model_version: string } }).forecast.model_version).toBe(m0);
    expect((await api.kill('SIGTERM')).code).toBe(0);

    expect(await refused("INSERT INTO tillcast.forecast_runs (run_id) VALUES ('x')")).toMatch(DENIED);
    expect(await refused("INSERT INTO tillcast.model_promotions (version) VALUES ('x')")).toMatch(DENIED);
    expect(await refused('DROP TABLE tillcast.forecasts')).toMatch(DENIED);
    expect(await refused("INSERT INTO tillcast.api_keys (key_id) VALUES ('x')")).toMatch(DENIED);
    expect(await refused("INSERT INTO tillcast.api_key_usage (key_id) VALUES ('x')")).toMatch(DENIED);
    expect(await refused("INSERT INTO tillcast.branch_calendar (branch_id) VALUES ('x')")).toMatch(DENIED);
    expect(await refused("INSERT INTO tillcast.forecast_overrides (branch_id) VALUES ('x')")).toMatch(DENIED);
  });

  it("api_usage (the API's writer of key last use): records use; may not read, make keys or undo a revocation", async () => {
    await serveAs('api_usage');
    const keyId = /^tc_([0-9a-f]{12})_/.exec(apiKey)![1]!;
    expect(
      await refused(
        `INSERT INTO tillcast.api_key_usage (key_id, last_used_at) VALUES ('${keyId}', now64(3))`,
      ),
    ).toBe('ALLOWED');
    expect(await refused('SELECT count() FROM tillcast.api_keys')).toMatch(DENIED);
    expect(await refused('SELECT count() FROM tillcast.forecasts')).toMatch(DENIED);
    expect(await refused("INSERT INTO tillcast.api_keys (key_id) VALUES ('x')")).toMatch(DENIED);
    expect(await refused('TRUNCATE TABLE tillcast.api_keys')).toMatch(DENIED);
    // The operators' calendar (issue 16): appends versions, may not read or rewrite the history.
    expect(
      await refused(
        "INSERT INTO tillcast.branch_calendar (branch_id, local_date, kind, name, version) VALUES ('x', '2021-01-25', 'closed', 'Refit', 1)",
      ),
    ).toBe('ALLOWED');
    expect(await refused('SELECT count() FROM tillcast.branch_calendar')).toMatch(DENIED);
    expect(await refused("ALTER TABLE tillcast.branch_calendar DELETE WHERE branch_id = 'x'")).toMatch(
      DENIED,
    );
    expect(await refused('TRUNCATE TABLE tillcast.branch_calendar')).toMatch(DENIED);
    // The override ledger (issue 16): append-only, a score cannot be read back or erased.
    expect(
      await refused(
        "INSERT INTO tillcast.forecast_overrides (branch_id, local_date, set_at, override_id, sales_minor) VALUES ('x', '2021-01-25', now64(3), 'o1', 100)",
      ),
    ).toBe('ALLOWED');
    expect(await refused('SELECT count() FROM tillcast.forecast_overrides')).toMatch(DENIED);
    expect(await refused("ALTER TABLE tillcast.forecast_overrides DELETE WHERE branch_id = 'x'")).toMatch(
      DENIED,
    );
    expect(await refused('TRUNCATE TABLE tillcast.forecast_overrides')).toMatch(DENIED);
  });
});

describe('secrets', () => {
  it('no password, API key or key hash in anything the processes wrote, their errors included', async () => {
    // The errors of a wrong password, where a careless message would echo it.
    const env = await serveAs('admin');
    const wrongClickHouse = `wrong-clickhouse-${crypto.randomBytes(6).toString('hex')}`;
    const migrate = spawnRole('migrate', ['migrate'], { ...env, CLICKHOUSE_PASSWORD: wrongClickHouse });
    expect((await migrate.waitForExit(60_000)).code).not.toBe(0);
    expect(migrate.transcript.join('\n') + migrate.stderr).toMatch(
      /AUTHENTICATION_FAILED|password is incorrect|Authentication failed/i,
    );
    const wrongKafka = `wrong-kafka-${crypto.randomBytes(6).toString('hex')}`;
    const replay = spawnRole('replay', ['replay', file, '--from', '2021-01-24', '--through', '2021-01-24'], {
      ...env,
      KAFKA_SASL_PASSWORD: wrongKafka,
    });
    expect((await replay.waitForExit(90_000)).code).not.toBe(0);
    expect(replay.transcript.join('\n') + replay.stderr).toMatch(/SASL|authentication/i);

    const secrets: Record<string, string> = {
      ...PASSWORDS,
      ...Object.fromEntries(
        Object.entries(TEST_KAFKA_USERS).map(([role, u]) => [`kafka ${role}`, u.password]),
      ),
      'wrong ClickHouse password': wrongClickHouse,
      'wrong Kafka password': wrongKafka,
      'API key': apiKey,
      'API key secret part': apiKey.split('_').slice(2).join('_'),
      'API key hash': crypto.createHash('sha256').update(apiKey).digest('hex'),
    };
    const lines = [...written, ...started.flatMap((c) => [...c.transcript, c.stderr])].join('\n').split('\n');
    expect(started.length).toBeGreaterThanOrEqual(8);
    // `tillcast keys create` prints the key once, on purpose (its stdout, never a log line): that
    // one line aside, nothing may hold any secret.
    const keyLines = lines.filter((l) => l.includes(apiKey));
    expect(keyLines).toHaveLength(1);
    expect(JSON.parse(keyLines[0]!)).toMatchObject({ key: apiKey });
    const rest = lines.filter((l) => !l.includes(apiKey)).join('\n');
    expect(rest.length).toBeGreaterThan(10_000); // the processes did write (logs, /metrics, the errors)
    expect(Object.keys(secrets).filter((name) => rest.includes(secrets[name]!))).toEqual([]);
  });
});
