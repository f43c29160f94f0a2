/**
 * A ClickHouse server for fault tests on a machine without a ClickHouse server
 * binary: the part of ClickHouse's HTTP interface that @clickhouse/client uses,
 * served by the REAL engine — the embedded chdb session of the test process.
 * `tillcast` in server mode (CLICKHOUSE_URL) talks HTTP to it exactly as to a
 * ClickHouse server; the test stops it (the port refuses connections:
 * ClickHouse is down) and starts it again on the same port (ClickHouse is back,
 * with its data).
 *
 * What it implements (and nothing more):
 * - `GET /ping` -> `Ok.`;
 * - a statement in the POST body, or in the `query` URL parameter with the body
 *   as the statement's data (`INSERT ... FORMAT JSONEachRow` + rows), as the
 *   client sends them;
 * - query parameters `param_<name>` (text, ClickHouse's escaped format): bound
 *   with `SET param_<name> = '<text>'`, so the engine parses the text by the
 *   placeholder's type exactly as the server does;
 * - settings as URL parameters: `SET <name> = '<value>'` (HTTP-only ones are
 *   dropped, as chdb's own connection does);
 * - errors: status 500 with the engine's `Code: N. DB::Exception: ...` text and
 *   `X-ClickHouse-Exception-Code`, which the client parses into a ClickHouseError.
 *
 * Not implemented: authentication (credentials are ignored: every statement runs
 * as the engine's `default` user — startFacadeProcess() makes that user one of
 * users.xml's), compression (answers are plain; the client only decompresses what
 * says Content-Encoding), multipart parameters, sessions. Statements run one at a
 * time, in arrival order.
 *
 * In the test process (`new ClickHouseHttpFacade(session)`), or in a process of its
 * own with a users configuration (startFacadeProcess): the engine binds one data
 * directory and one configuration per process.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';

/** The slice of chdb's Session this needs. */
export interface ChdbSessionLike {
  queryAsync(query: string, opts?: { format?: string }): Promise<{ bytes(): Uint8Array }>;
}

/** URL parameters that are not settings. */
const NOT_SETTINGS = new Set(['query', 'query_id', 'database', 'session_id', 'role', 'default_format']);

/** Settings of ClickHouse's HTTP layer that the engine does not know (the list chdb's connection drops). */
const HTTP_ONLY_SETTINGS = new Set([
  'wait_end_of_query',
  'send_progress_in_http_headers',
  'http_response_buffer_size',
  'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_response_compression_method',
  'http_native_compression_disable_checksumming_on_decompress',
]);

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A SQL string literal whose value is exactly `text`. */
const literal = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export class ClickHouseHttpFacade {
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Statements answered (ok or error) since construction. */
  statements = 0;
  port = 0;

  constructor(private readonly session: ChdbSessionLike) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Listens on `port` (0: any free port the first time, then the same port again). */
  async start(port = this.port): Promise<string> {
    if (this.server) throw new Error('the facade is already running');
    // Query parameters travel in the URL: accept as long a one as ClickHouse does (http_max_uri_size,
    // 1 MiB by default), not Node's 16 KiB header limit.
    const server = http.createServer({ maxHeaderSize: 1 << 20 }, (req, res) => void this.handle(req, res));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this.url;
  }

  /** ClickHouse goes away: open connections are cut, new ones refused. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://facade');
    if (url.pathname === '/ping') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') {
      this.fail(
        res,
        404,
        `Code: 0. DB::Exception: the test facade serves / and /ping only, not ${url.pathname}. (UNKNOWN)`,
      );
      return;
    }
    const prelude: string[] = [];
    for (const [name, value] of url.searchParams) {
      if (name.startsWith('param_')) {
        if (!IDENTIFIER.test(name))
          return this.fail(res, 400, `Code: 36. DB::Exception: bad parameter name ${name}. (BAD_ARGUMENTS)`);
        prelude.push(`SET ${name} = ${literal(value)}`);
      } else if (!NOT_SETTINGS.has(name) && !HTTP_ONLY_SETTINGS.has(name)) {
        if (!IDENTIFIER.test(name))
          return this.fail(res, 400, `Code: 115. DB::Exception: unknown setting ${name}. (UNKNOWN_SETTING)`);
        prelude.push(`SET ${name} = ${literal(value)}`);
      }
    }
    const inUrl = url.searchParams.get('query');
    const statement = inUrl === null ? body : body.length > 0 ? `${inUrl}\n${body}` : inUrl;
    const sql = [...prelude, statement].join(';\n');
    // One statement at a time: the SETs of one request must not interleave with another's.
    const run = this.queue.then(() => this.session.queryAsync(sql));
    this.queue = run.catch(() => undefined);
    try {
      const bytes = (await run).bytes();
      this.statements++;
      if (!this.server) return; // stopped meanwhile: the socket is gone
      res.writeHead(200, {
        'Content-Type': 'text/plain; charset=UTF-8',
        'X-ClickHouse-Query-Id': url.searchParams.get('query_id') ?? '',
        'X-ClickHouse-Summary': JSON.stringify({
          read_rows: '0',
          read_bytes: '0',
          written_rows: '0',
          written_bytes: '0',
          total_rows_to_read: '0',
        }),
      });
      res.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (err) {
      this.statements++;
      this.fail(res, 500, err instanceof Error ? err.message : String(err));
    }
  }

  private fail(res: http.ServerResponse, status: number, message: string): void {
    if (res.destroyed) return;
    const code = /^Code: (\d+)\./.exec(message)?.[1] ?? '1001';
    res
      .writeHead(status, { 'Content-Type': 'text/plain; charset=UTF-8', 'X-ClickHouse-Exception-Code': code })
      .end(`${message}\n`);
  }
}

// ---------------------------------------------------------------- in a process of its own

export interface FacadeProcess {
  readonly url: string;
  readonly pid: number;
  /** Stops the server and the engine (the data directory is free again). */
  stop(): Promise<void>;
}

const BOOT = `
const { Session } = require(process.env.FACADE_CHDB);
const { ClickHouseHttpFacade } = require(process.env.FACADE_JS);
const args = process.env.FACADE_CONFIG ? { connectionArgs: ['--config-file=' + process.env.FACADE_CONFIG] } : undefined;
const session = new Session(process.env.FACADE_DATA_DIR, args);
const facade = new ClickHouseHttpFacade(session);
facade.start(Number(process.env.FACADE_PORT || 0)).then((url) => console.log('LISTENING ' + url));
process.once('SIGTERM', () => facade.stop().then(() => { session.close(); process.exit(0); }));
`;

/**
 * Runs the facade in a child process on `dataDir`. With `configFile` (a ClickHouse config.xml,
 * e.g. whose users_config makes `default` one of users.xml's users) the engine runs under it.
 * The module is compiled for the child with SWC (jest's own transformer).
 */
export async function startFacadeProcess(opts: {
  dataDir: string;
  scratchDir: string;
  configFile?: string;
  env?: Record<string, string>;
  port?: number;
}): Promise<FacadeProcess> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const swc = require('@swc/core') as typeof import('@swc/core');
  const js = path.join(opts.scratchDir, 'clickhouse-http-facade.js');
  if (!fs.existsSync(js)) {
    const out = swc.transformFileSync(__filename, {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'commonjs' },
    });
    fs.writeFileSync(js, out.code);
  }
  const child = spawn(process.execPath, ['-e', BOOT], {
    env: {
      ...process.env,
      ...opts.env,
      FACADE_CHDB: require.resolve('chdb'),
      FACADE_JS: js,
      FACADE_DATA_DIR: opts.dataDir,
      FACADE_CONFIG: opts.configFile ?? '',
      FACADE_PORT: String(opts.port ?? 0),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`the facade process did not start in 60 s\n${stderr}`)),
      60_000,
    );
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /LISTENING (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the facade process exited before listening\n${stderr}`));
    });
  });
  return {
    url,
    pid: child.pid ?? -1,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
