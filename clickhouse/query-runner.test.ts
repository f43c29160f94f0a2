/**
 * The query runner against the real engine, in both modes: embedded (chdb in this process) and
 * server (HTTP to test/clickhouse-http-facade.ts, the same engine behind ClickHouse's HTTP
 * interface, no users configuration: facade item 3). Between the server-mode client and the
 * facade sits a proxy that records every request (URL and body: the query id, the parameters
 * and the SQL as they travel) and resets the connection of the next `resets` requests instead of
 * forwarding them, as a server does to a keep-alive socket it has closed. The query id is checked
 * there, on the wire: the embedded engine has no query ids (chdb's connection only hands them back).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Session } from 'chdb';
import { StorageError } from '../lib/errors';
import { createLogger } from '../lib/logger';
import { ClickHouseHttpFacade } from '../test/clickhouse-http-facade';
import { freshDatabaseName, testConfig, workerDataDir } from '../test/test-config';
import { createClickHouse, type ClickHouse } from './client';
import { clickHouseErrorType } from './error-classification';
import { clickhouseQueryDuration, QueryRunner } from './query-runner';

interface Recorded {
  url: URL;
  body: string;
}

/**
 * An HTTP proxy: each request is read whole, recorded, then either forwarded to `target` or,
 * while `resets` is above 0, answered by resetting its connection (TCP RST). Whole requests, not
 * TCP chunks: keep-alive carries several requests on one connection and an insert's body comes
 * in chunks, and a reset after the body is one the client meets waiting for its answer.
 */
class ResettingProxy {
  readonly requests: Recorded[] = [];
  resets = 0;
  private readonly server = http.createServer((req, res) => void this.handle(req, res));

  constructor(private readonly target: string) {}

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** The requests recorded while `action` ran. */
  async during(action: () => Promise<unknown>): Promise<Recorded[]> {
    const from = this.requests.length;
    await action();
    return this.requests.slice(from);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = req.url ?? '/';
    this.requests.push({ url: new URL(url, 'http://proxy'), body: body.toString('utf8') });
    if (this.resets > 0) {
      this.resets--;
      req.socket.resetAndDestroy();
      return;
    }
    const upstream = http.request(
      `${this.target}${url}`,
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => res.destroy(err));
    upstream.end(body);
  }
}

const logger = createLogger('silent');
const queryIds = (requests: Recorded[]) => requests.map((r) => r.url.searchParams.get('query_id'));
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

async function observations(op: string, outcome: string): Promise<number> {
  const metric = await clickhouseQueryDuration.get();
  const count = metric.values.find(
    (v) =>
      v.metricName === 'tillcast_clickhouse_query_duration_seconds_count' &&
      v.labels.op === op &&
      v.labels.outcome === outcome,
  );
  return count?.value ?? 0;
}

let session: Session;
let facade: ClickHouseHttpFacade;
let proxy: ResettingProxy;
let embedded: ClickHouse;
let server: ClickHouse;

beforeAll(async () => {
  session = new Session(workerDataDir());
  facade = new ClickHouseHttpFacade(session);
  proxy = new ResettingProxy(await facade.start());
  const proxyUrl = await proxy.start();
  embedded = createClickHouse(testConfig({ CLICKHOUSE_DATABASE: freshDatabaseName('qr_e') }), logger);
  server = createClickHouse(
    testConfig({
      CLICKHOUSE_URL: proxyUrl,
      CLICKHOUSE_DATABASE: freshDatabaseName('qr_s'),
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
    }),
    logger,
  );
  for (const ch of [embedded, server]) {
    const runner = new QueryRunner(ch);
    await runner.command('test_setup.database', `CREATE DATABASE ${ch.database}`);
    await runner.command(
      'test_setup.table',
      `CREATE TABLE ${ch.table('models')} (a UInt32, b String) ENGINE = MergeTree ORDER BY a`,
    );
  }
});

afterAll(async () => {
  await server?.close();
  await embedded?.close();
  await proxy?.stop();
  await facade?.stop();
  try {
    for (const ch of [embedded, server])
      if (ch) await session.queryAsync(`DROP DATABASE IF EXISTS ${ch.database}`);
  } finally {
    session?.close();
  }
});

const INJECTION = "x'; DROP TABLE t";
/** Another value that would break the SQL were it spliced in, found only in the wire test's row. */
const WIRE_VALUE = "y') OR 1 = 1 --";

describe.each(['embedded', 'server'] as const)('QueryRunner, %s mode', (mode) => {
  const ch = () => (mode === 'embedded' ? embedded : server);
  const op = (statement: string) => `test_${mode}.${statement}`;

  test('inserts (objects and positional rows) and a read: values bound as parameters, one observation each', async () => {
    const runner = new QueryRunner(ch());
    await runner.insert(op('append'), 'models', [{ a: 1, b: INJECTION }]);
    await runner.insert(op('replace'), 'models', [[2, 'y']], { columns: ['a', 'b'], idempotent: true });
    const rows = await runner.rows<{ a: number; b: string }>(
      op('count'),
      `SELECT a, b FROM ${ch().table('models')} WHERE b = {b:String} OR a = {a:UInt32} ORDER BY a`,
      { b: INJECTION, a: 2 },
    );
    expect(rows).toEqual([
      { a: 1, b: INJECTION },
      { a: 2, b: 'y' },
    ]);
    expect(await observations(op('append'), 'ok')).toBe(1);
    expect(await observations(op('replace'), 'ok')).toBe(1);
    expect(await observations(op('count'), 'ok')).toBe(1);
  });

  test('no rows, no insert; a statement error is permanent, not repeated, and names its op and query id', async () => {
    const runner = new QueryRunner(ch());
    const sent = await proxy.during(async () => {
      await runner.insert(op('nothing'), 'models', []);
    });
    expect(sent).toHaveLength(0);
    for (const outcome of ['ok', 'retriable', 'permanent'])
      expect(await observations(op('nothing'), outcome)).toBe(0);

    let err: unknown;
    const bad = await proxy.during(async () => {
      err = await runner.command(op('bad'), 'SELEC 1').catch((e: unknown) => e);
    });
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).retriable).toBe(false);
    expect((err as StorageError).message).toMatch(
      new RegExp(
        `^test_${mode}\\.bad failed \\(query_id test_${mode}\\.bad:${UUID}\\): Syntax error: failed at position 7 \\(1\\)`,
      ),
    );
    expect(clickHouseErrorType((err as StorageError).cause)).toBe('SYNTAX_ERROR');
    expect(bad).toHaveLength(mode === 'server' ? 1 : 0);
    if (mode === 'server') expect((err as StorageError).message).toContain(`(query_id ${queryIds(bad)[0]!})`);
    expect(await observations(op('bad'), 'permanent')).toBe(1);
    expect(await observations(op('bad'), 'ok')).toBe(0);
  });
});

describe('QueryRunner, server mode: on the wire', () => {
  const count = async () =>
    (
      await new QueryRunner(server).rows<{ n: string }>(
        'test_wire.total',
        `SELECT count() AS n FROM ${server.table('models')}`,
      )
    )[0]!.n;

  test('a query id that starts with its op; values travel as param_* in the URL, never in the SQL', async () => {
    const runner = new QueryRunner(server);
    const sql = `SELECT a FROM ${server.table('models')} WHERE b = {b:String}`;
    let rows: unknown[] = [];
    const sent = await proxy.during(async () => {
      await runner.command('test_wire.touch', `OPTIMIZE TABLE ${server.table('models')}`);
      await runner.insert('test_wire.append', 'models', [{ a: 7, b: WIRE_VALUE }]);
      rows = await runner.rows('test_wire.read', sql, { b: WIRE_VALUE });
    });
    expect(rows).toEqual([{ a: 7 }]);
    expect(sent).toHaveLength(3);
    const [command, insert, read] = sent as [Recorded, Recorded, Recorded];
    expect(command.url.searchParams.get('query_id')).toMatch(new RegExp(`^test_wire\\.touch:${UUID}$`));
    expect(insert.url.searchParams.get('query_id')).toMatch(new RegExp(`^test_wire\\.append:${UUID}$`));
    expect(insert.url.searchParams.get('query')).toBe(
      `INSERT INTO ${server.table('models')} FORMAT JSONEachRow`,
    );
    expect(insert.body).toBe(`${JSON.stringify({ a: 7, b: WIRE_VALUE })}\n`);
    expect(read.url.searchParams.get('query_id')).toMatch(new RegExp(`^test_wire\\.read:${UUID}$`));
    // In the escaped text form the server parses parameter values from (the client escapes the quote).
    expect(read.url.searchParams.get('param_b')).toBe("y\\') OR 1 = 1 --");
    expect(read.body).toBe(`${sql} \nFORMAT JSONEachRow`);
  });

  test('a read whose connection was reset is sent again, with a fresh query id', async () => {
    const statements = facade.statements;
    proxy.resets = 2;
    let rows: unknown[] = [];
    const sent = await proxy.during(async () => {
      rows = await new QueryRunner(server).rows('test_reset.read', 'SELECT 2 AS n');
    });
    expect(rows).toEqual([{ n: 2 }]);
    expect(sent).toHaveLength(3);
    const ids = queryIds(sent);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(new RegExp(`^test_reset\\.read:${UUID}$`));
    expect(facade.statements - statements).toBe(1); // only the last one reached the engine
    expect(await observations('test_reset.read', 'ok')).toBe(1);
  });

  test('three resets in a row fail as a retriable StorageError naming the op and query id', async () => {
    const statements = facade.statements;
    proxy.resets = 3;
    let err: unknown;
    const sent = await proxy.during(async () => {
      err = await new QueryRunner(server).rows('test_reset.down', 'SELECT 3').catch((e: unknown) => e);
    });
    expect(sent).toHaveLength(3);
    expect(proxy.resets).toBe(0);
    expect(facade.statements).toBe(statements);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).retriable).toBe(true);
    expect((err as StorageError).message).toBe(
      `test_reset.down failed (query_id ${queryIds(sent)[2]!}): Error: read ECONNRESET`,
    );
    expect(await observations('test_reset.down', 'retriable')).toBe(1);
  });

  test('a write is sent again after a reset only when it is idempotent', async () => {
    const runner = new QueryRunner(server);
    const before = Number(await count());

    proxy.resets = 1;
    let err: unknown;
    const once = await proxy.during(async () => {
      err = await runner
        .insert('test_reset.append', 'models', [{ a: 10, b: 'once' }])
        .catch((e: unknown) => e);
    });
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).retriable).toBe(true);
    expect(once).toHaveLength(1);
    expect(Number(await count())).toBe(before);

    proxy.resets = 1;
    const again = await proxy.during(() =>
      runner.insert('test_reset.replace', 'models', [[11, 'again']], {
        columns: ['a', 'b'],
        idempotent: true,
      }),
    );
    expect(again).toHaveLength(2);
    for (const r of again) {
      expect(r.url.searchParams.get('query')).toBe(
        `INSERT INTO ${server.table('models')} (a, b) FORMAT JSONCompactEachRow`,
      );
      expect(r.body).toBe('[11,"again"]\n');
    }
    expect(Number(await count())).toBe(before + 1);
    expect(await observations('test_reset.append', 'retriable')).toBe(1);
    expect(await observations('test_reset.replace', 'ok')).toBe(1);
  });
});

test('the URL bound of array parameters is a server’s: none in embedded mode', () => {
  expect(new QueryRunner(server).maxParamChars).toBe(64 * 1024);
  expect(new QueryRunner(embedded).maxParamChars).toBe(Number.POSITIVE_INFINITY);
});
