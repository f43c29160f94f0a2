/**
 * A ClickHouse server for tests on a machine without a ClickHouse server binary:
 * the part of ClickHouse's HTTP interface that @clickhouse/client uses, served by
 * the REAL engine — an embedded chdb session, in the test process
 * (`new ClickHouseHttpFacade(session)`) or in a process of its own
 * (startFacadeProcess). `tillcast` in server mode (CLICKHOUSE_URL) talks HTTP to it
 * exactly as to a server; a test can stop it (the port refuses connections) and start
 * it again on the same port (ClickHouse is back, with its data).
 *
 * What a server refuses and tillcast depends on, the facade refuses the same way (code,
 * HTTP status, message), checked against ClickHouse's source and docs:
 * - authentication (with a users configuration): HTTP Basic (what @clickhouse/client
 *   sends: client-node/src/connection/node_base_connection.ts buildRequestHeaders),
 *   X-ClickHouse-User/X-ClickHouse-Key headers, or `user`/`password` URL parameters;
 *   mixing them, an unknown user or a wrong password -> 516 AUTHENTICATION_FAILED, HTTP
 *   403 (src/Server/HTTP/authenticateUserByHTTP.cpp, exceptionCodeToHTTPStatus.cpp).
 *   Passwords are read from users.xml as the server reads them: `<password>` text, or
 *   `from_env` (src/Common/Config/ConfigProcessor.cpp doIncludesRecursive; an unset
 *   variable is a configuration error here), or `<password_sha256_hex>`.
 * - `database` (URL parameter or X-ClickHouse-Database): the server switches to it before
 *   the statement runs (src/Server/HTTPHandler.cpp processQuery: setCurrentDatabase), so
 *   an unknown one -> 81 UNKNOWN_DATABASE, HTTP 404, whatever the statement is.
 * - settings: every URL parameter that is not reserved (HTTPHandler.cpp
 *   reserved_param_names, `query`, `param_*`) is a setting change checked against the
 *   user's profile (context->checkSettingsConstraints, src/Access/SettingsConstraints.cpp):
 *   readonly=1 -> 164 READONLY "Cannot modify '<name>' setting in readonly mode";
 *   readonly=2 -> any setting but `readonly` (164), within the profile's `<constraints>`
 *   (min/max/const -> 452 SETTING_CONSTRAINT_VIOLATION). The engine itself enforces all of
 *   this once its user has the profile (measured in chdb 26.7), the facade only runs the
 *   settings as `SET` — with one deliberate strictness, below.
 * - the user's profile applies to every statement, and readonly=1/2 refuses writes and DDL
 *   (164) after the grants (497 ACCESS_DENIED first: src/Access/ContextAccess.cpp) — the
 *   engine's own checks, with users.xml's grants and profiles (startFacadeProcess).
 * - one statement per request: a second one -> 62 SYNTAX_ERROR "Syntax error
 *   (Multi-statements are not allowed)" (docs "HTTP interface", setting a role with
 *   query parameters; the message is the engine's own parser's, via formatQuery).
 * - request limits at the current defaults: a URI over http_max_uri_size (1 MiB) -> HTTP 400
 *   without a code (src/Server/HTTP/HTTPServerRequest.cpp readRequest); a URL field value
 *   over http_max_field_value_size (128 KiB), a name over http_max_field_name_size (4 KiB),
 *   more than http_max_fields (1000) fields -> Poco HTMLFormException, code 1000, HTTP 500
 *   (src/Server/HTTP/HTMLForm.cpp readQuery). Query parameters travel in the URL, so these
 *   bound how many values one `{x:Array(String)}` may carry.
 * - errors: `Code: N. DB::Exception: ... (NAME)` with X-ClickHouse-Exception-Code and the
 *   server's HTTP status for the code (exceptionCodeToHTTPStatus.cpp); the client parses it
 *   into a ClickHouseError.
 *
 * What the facade does DIFFERENTLY from a real server (keep this list true):
 * 1. Stricter on readonly=1: ANY setting in the URL is refused (164), even one equal to its
 *    current value, which a server lets through unchecked ("Setting isn't checked if value
 *    has not changed", SettingsConstraints.cpp). Current values differ between server
 *    versions (date_time_input_format became best_effort in 26.5, enable_http_compression 1
 *    in 25.10), so a client that relies on "unchanged" works on one version and is refused
 *    on another: the facade refuses what SOME version refuses.
 * 2. One user per engine: chdb runs every statement as its `default` user (`--user` is
 *    ignored, and EXECUTE AS is disabled: access_control_improvements in --config-file has no
 *    effect in chdb; measured). startFacadeProcess makes `default` a copy of one users.xml
 *    user (same grants and profile); a request authenticated as any other user is refused
 *    (code 0, FACADE_ONE_USER) — start one facade process per user, on the same data dir one
 *    after the other. The engine's messages name `default`, not the user, and objects the
 *    engine creates (e.g. a view's SQL SECURITY DEFINER) have `default` as their owner.
 * 3. Without a users configuration (`new ClickHouseHttpFacade(session)` with no `users`):
 *    no authentication at all, every request runs as the session's user. Tests that do this
 *    say so.
 * 4. Statements run one at a time, in arrival order (one engine session); a server runs
 *    them concurrently. Settings and the database of a request are applied to that session
 *    with SET/USE and undone after it (a server starts every request from the profile);
 *    query parameters (`SET param_x`) stay set in the session until overwritten.
 * 5. HTTP-layer settings (enable_http_compression, send_progress_in_http_headers, ...) are
 *    checked like any setting for readonly=1, then ignored: answers are never compressed,
 *    never carry progress headers; X-ClickHouse-Summary is all zeros. No sessions
 *    (session_id is ignored), no multipart parameters, no external tables, no `role`, GET
 *    is not made readonly=2, request bodies are not decompressed.
 * 6. Inline INSERT data is handed to the engine as the rest of the query text: a `;` after
 *    the data could start a second statement there, where a server reads it all as data.
 * 7. The limit errors' texts (400 URI, Poco code 1000) follow the source and a third-party
 *    measurement, not a server run here. A request line or headers over ~1.1 MiB are cut by
 *    Node itself (431).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';

/** The slice of chdb's Session this needs. */
export interface ChdbSessionLike {
  queryAsync(query: string, opts?: { format?: string }): Promise<{ bytes(): Uint8Array }>;
}

/** A user's password as users.xml gives it. */
export type PasswordCheck = { plain: string } | { sha256hex: string };

export interface FacadeOptions {
  /** Users and passwords (readUsersXml) to authenticate every request against; none: no authentication. */
  users?: ReadonlyMap<string, PasswordCheck>;
  /** The users.xml user the engine runs as (its `default` is a copy of it); requests as anyone else are refused. */
  engineUser?: string;
}

/** URL parameters that are not settings (src/Server/HTTPHandler.cpp reserved_param_names, plus the query itself). */
const RESERVED_PARAMS = new Set([
  'compress',
  'decompress',
  'user',
  'password',
  'quota_key',
  'query_id',
  'stacktrace',
  'role',
  'buffer_size',
  'wait_end_of_query',
  'session_id',
  'session_timeout',
  'session_check',
  'client_protocol_version',
  'close_session',
  'database',
  'default_format',
  'query',
]);

/** Settings of the HTTP layer: checked like any setting, then not applied (list item 5). */
const HTTP_LAYER_SETTINGS = new Set([
  'send_progress_in_http_headers',
  'http_response_buffer_size',
  'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_response_compression_method',
  'http_native_compression_disable_checksumming_on_decompress',
]);

/** Current defaults of the HTTP request limits (system.settings of the engine, 26.x). */
const HTTP_MAX_URI_SIZE = 1 << 20;
const HTTP_MAX_FIELDS = 1000;
const HTTP_MAX_FIELD_NAME_SIZE = 4096;
const HTTP_MAX_FIELD_VALUE_SIZE = 128 << 10;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** HTTP status of an exception code (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp), for the codes that reach here. */
const STATUS_OF_CODE = new Map<number, number>([
  [194, 401], // REQUIRED_PASSWORD
  [192, 403], // UNKNOWN_USER
  [193, 403], // WRONG_PASSWORD
  [516, 403], // AUTHENTICATION_FAILED
  [497, 403], // ACCESS_DENIED
  [36, 400], // BAD_ARGUMENTS
  [62, 400], // SYNTAX_ERROR
  [27, 400], // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  [6, 400], // CANNOT_PARSE_TEXT
  [38, 400], // CANNOT_PARSE_DATE
  [41, 400], // CANNOT_PARSE_DATETIME
  [72, 400], // CANNOT_PARSE_NUMBER
  [53, 400], // TYPE_MISMATCH
  [117, 400], // INCORRECT_DATA
  [16, 400], // NO_SUCH_COLUMN_IN_TABLE (THERE_IS_NO_COLUMN)
  [60, 404], // UNKNOWN_TABLE
  [46, 404], // UNKNOWN_FUNCTION
  [47, 404], // UNKNOWN_IDENTIFIER
  [50, 404], // UNKNOWN_TYPE
  [56, 404], // UNKNOWN_STORAGE
  [81, 404], // UNKNOWN_DATABASE
  [115, 404], // UNKNOWN_SETTING
  [63, 404], // UNKNOWN_AGGREGATE_FUNCTION
  [73, 404], // UNKNOWN_FORMAT
  [48, 501], // NOT_IMPLEMENTED
  [159, 408], // TIMEOUT_EXCEEDED
]);

/** A SQL string literal whose value is exactly `text`. */
const literal = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** A refusal with the server's code, HTTP status and message. */
class Refusal extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly status: number = STATUS_OF_CODE.get(code) ?? 500,
  ) {
    super(message);
  }
}

const exceptionText = (code: number, message: string, name: string) =>
  `Code: ${code}. DB::Exception: ${message}. (${name})`;

/** The raw (still percent-encoded) fields of a query string, as HTMLForm::readQuery splits them. */
function rawFields(search: string): Array<[string, string]> {
  if (search.length === 0) return [];
  return search.split('&').map((f) => {
    const eq = f.indexOf('=');
    return eq < 0 ? [f, ''] : [f.slice(0, eq), f.slice(eq + 1)];
  });
}

export class ClickHouseHttpFacade {
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private queue: Promise<unknown> = Promise.resolve();
  private engineReadonly: Promise<number> | undefined;
  /** Statements answered (ok or error) since construction. */
  statements = 0;
  port = 0;

  constructor(
    private readonly session: ChdbSessionLike,
    private readonly options: FacadeOptions = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Listens on `port` (0: any free port the first time, then the same port again). */
  async start(port = this.port): Promise<string> {
    if (this.server) throw new Error('the facade is already running');
    // Room for a request line up to http_max_uri_size and a little more, so that the facade (not
    // Node's 16 KiB default) answers an over-long URI as the server does.
    const server = http.createServer(
      { maxHeaderSize: HTTP_MAX_URI_SIZE + (64 << 10) },
      (req, res) => void this.handle(req, res),
    );
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
    const rawUrl = req.url ?? '/';
    if (rawUrl.length > HTTP_MAX_URI_SIZE) {
      // Poco MessageException before any ClickHouse handler: a bare 400, no exception code.
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('HTTP request URI invalid or too long\n');
      return;
    }
    const url = new URL(rawUrl, 'http://facade');
    if (url.pathname === '/ping') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    try {
      if (url.pathname !== '/') {
        throw new Refusal(
          exceptionText(0, `the test facade serves / and /ping only, not ${url.pathname}`, 'UNKNOWN'),
          0,
          404,
        );
      }
      this.checkFieldLimits(url.search.slice(1));
      this.authenticate(req, url);
      const bytes = await this.run(req, url, body);
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
      if (err instanceof Refusal) return this.fail(res, err.status, err.code, err.message);
      const message = (err instanceof Error ? err.message : String(err)).replace(/^Query failed: /, '');
      const code = Number(/Code: (\d+)\./.exec(message)?.[1] ?? 1001);
      this.fail(res, STATUS_OF_CODE.get(code) ?? 500, code, message);
    }
  }

  /** HTMLForm::readQuery's limits on the URL's fields, checked on the raw (encoded) text. */
  private checkFieldLimits(search: string): void {
    const fields = rawFields(search);
    const poco = (what: string) =>
      new Refusal(`Poco::Exception. Code: 1000, e.code() = 0, ${what} (POCO_EXCEPTION)`, 1000, 500);
    if (fields.length > HTTP_MAX_FIELDS) throw poco('Too many form fields');
    for (const [name, value] of fields) {
      if (name.length > HTTP_MAX_FIELD_NAME_SIZE) throw poco('Field name too long');
      if (value.length > HTTP_MAX_FIELD_VALUE_SIZE) throw poco('Field value too long');
    }
  }

  /** authenticateUserByHTTP: one way of passing credentials, checked against the users configuration. */
  private authenticate(req: http.IncomingMessage, url: URL): void {
    const { users, engineUser } = this.options;
    if (!users) return;
    const headerUser = req.headers['x-clickhouse-user'];
    const headerKey = req.headers['x-clickhouse-key'];
    const authorization = req.headers.authorization;
    const inParams = url.searchParams.has('user') || url.searchParams.has('password');
    const failed = (message: string) =>
      new Refusal(exceptionText(516, message, 'AUTHENTICATION_FAILED'), 516);
    let user: string;
    let password: string;
    if (headerUser !== undefined || headerKey !== undefined) {
      if (authorization !== undefined || inParams)
        throw failed(
          'Invalid authentication: it is not allowed to use several authentication methods at once',
        );
      user = String(headerUser ?? 'default');
      password = String(headerKey ?? '');
    } else if (authorization !== undefined) {
      if (inParams)
        throw failed(
          'Invalid authentication: it is not allowed to use Authorization HTTP header and authentication via parameters simultaneously',
        );
      const [scheme, info = ''] = authorization.split(' ');
      if (scheme?.toLowerCase() !== 'basic')
        throw failed(`Invalid authentication: '${scheme}' HTTP Authorization scheme is not supported`);
      const decoded = Buffer.from(info, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      user = colon < 0 ? decoded : decoded.slice(0, colon);
      password = colon < 0 ? '' : decoded.slice(colon + 1);
    } else {
      user = url.searchParams.get('user') ?? 'default';
      password = url.searchParams.get('password') ?? '';
    }
    const expected = users.get(user);
    if (!expected || !passwordMatches(expected, password))
      throw failed(
        `${user}: Authentication failed: password is incorrect, or there is no user with such name`,
      );
    if (engineUser !== undefined && user !== engineUser)
      throw new Refusal(
        exceptionText(
          0,
          `the test facade runs every statement as \`${engineUser}\` (one chdb engine runs as one user; EXECUTE AS is disabled in chdb) and cannot run one as \`${user}\`: start a facade process for \`${user}\``,
          'FACADE_ONE_USER',
        ),
        0,
        500,
      );
  }

  /** The engine user's `readonly` (from its profile), read once. */
  private readonlyLevel(): Promise<number> {
    this.engineReadonly ??= this.session
      .queryAsync("SELECT getSetting('readonly') AS r", { format: 'TSV' })
      .then((r) => Number(Buffer.from(r.bytes()).toString('utf8').trim()));
    return this.engineReadonly;
  }

  /** Runs the request's statement in the engine, one request at a time. */
  private run(req: http.IncomingMessage, url: URL, body: string): Promise<Uint8Array> {
    const job = this.queue.then(() => this.runNow(req, url, body));
    this.queue = job.catch(() => undefined);
    return job;
  }

  private async runNow(req: http.IncomingMessage, url: URL, body: string): Promise<Uint8Array> {
    const text = async (sql: string) =>
      Buffer.from((await this.session.queryAsync(sql, { format: 'TSV' })).bytes()).toString('utf8');

    // The database comes before settings and the statement (HTTPHandler.cpp processQuery).
    const headerDb = req.headers['x-clickhouse-database'];
    const database =
      (typeof headerDb === 'string' ? headerDb : undefined) ?? url.searchParams.get('database');
    if (database) {
      const found = await text(`SELECT count() FROM system.databases WHERE name = ${literal(database)}`);
      if (found.trim() === '0')
        throw new Refusal(exceptionText(81, `Database ${database} does not exist`, 'UNKNOWN_DATABASE'), 81);
    }

    const settings: Array<[string, string]> = [];
    const params: Array<[string, string]> = [];
    for (const [name, value] of url.searchParams) {
      if (name.startsWith('param_')) {
        if (!IDENTIFIER.test(name))
          throw new Refusal(exceptionText(36, `bad parameter name ${name}`, 'BAD_ARGUMENTS'), 36);
        params.push([name, value]);
      } else if (name.length > 0 && !RESERVED_PARAMS.has(name)) {
        settings.push([name, value]);
      }
    }
    // List item 1: refused even when unchanged.
    if (settings.length > 0 && (await this.readonlyLevel()) === 1) {
      const [name] = settings[0]!;
      throw new Refusal(
        exceptionText(164, `Cannot modify '${name}' setting in readonly mode`, 'READONLY'),
        164,
      );
    }
    const applied = settings.filter(([name]) => !HTTP_LAYER_SETTINGS.has(name));
    for (const [name] of applied)
      if (!IDENTIFIER.test(name))
        throw new Refusal(exceptionText(115, `Unknown setting '${name}'`, 'UNKNOWN_SETTING'), 115);

    // The statement: the `query` parameter and the body as its data, or the body alone.
    const inUrl = url.searchParams.get('query');
    const sqlPart = inUrl ?? body;
    const statement = inUrl === null ? body : body.length > 0 ? `${inUrl}\n${body}` : inUrl;
    if (sqlPart.includes(';')) await this.refuseMultiStatements(sqlPart);

    // What the request changes in the session, to undo afterwards (list item 4).
    let restore: string[] = [];
    if (applied.length > 0) {
      const names = applied.map(([n]) => literal(n)).join(', ');
      const current = await text(`SELECT name, value FROM system.settings WHERE name IN (${names})`);
      restore = current
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => {
          const [n = '', v = ''] = l.split('\t');
          return `${n} = ${literal(v.replace(/\\\\/g, '\\'))}`;
        });
    }
    const initialDb = database ? (await text('SELECT currentDatabase()')).trim() : undefined;
    const prelude = [
      ...(database ? [`USE ${database.replace(/[^A-Za-z0-9_]/g, '')}`] : []),
      ...applied.map(([n, v]) => `SET ${n} = ${literal(v)}`),
      ...params.map(([n, v]) => `SET ${n} = ${literal(v)}`),
    ];
    try {
      // Without a FORMAT clause the server answers in default_format, else TabSeparated (HTTP interface docs).
      const format =
        req.headers['x-clickhouse-format']?.toString() ??
        url.searchParams.get('default_format') ??
        'TabSeparated';
      return (await this.session.queryAsync([...prelude, statement].join(';\n'), { format })).bytes();
    } finally {
      if (restore.length > 0) await text(`SET ${restore.join(', ')}`).catch(() => undefined);
      if (initialDb) await text(`USE ${initialDb}`).catch(() => undefined);
    }
  }

  /** The HTTP interface runs one statement: the engine's own parser says whether there are more. */
  private async refuseMultiStatements(sql: string): Promise<void> {
    try {
      await this.session.queryAsync(`SELECT formatQuerySingleLine(${literal(sql)})`, { format: 'TSV' });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const m = /Syntax error \(Multi-statements are not allowed\)[^]*?(?=\. : In scope|$)/.exec(message);
      if (m) throw new Refusal(exceptionText(62, m[0], 'SYNTAX_ERROR'), 62);
      // Any other syntax error: the statement itself will report it.
    }
  }

  private fail(res: http.ServerResponse, status: number, code: number, message: string): void {
    if (res.destroyed) return;
    res
      .writeHead(status, {
        'Content-Type': 'text/plain; charset=UTF-8',
        'X-ClickHouse-Exception-Code': String(code),
      })
      .end(`${message}\n`);
  }
}

function passwordMatches(expected: PasswordCheck, password: string): boolean {
  const given = 'plain' in expected ? password : crypto.createHash('sha256').update(password).digest('hex');
  const want = 'plain' in expected ? expected.plain : expected.sha256hex.toLowerCase();
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const xmlText = (s: string) => s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => XML_ENTITIES[e]!);

/**
 * The users and passwords of users.xml files (the `<users>` section), passwords resolved as the
 * server resolves them: element text, or the `from_env` variable's value (an unset variable is
 * an error: the server would leave the password empty, which no test should rely on).
 */
export function readUsersXml(
  files: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Map<string, PasswordCheck> {
  const users = new Map<string, PasswordCheck>();
  for (const file of files) {
    const xml = fs.readFileSync(file, 'utf8').replace(/<!--[\s\S]*?-->/g, '');
    const section = /<users>([\s\S]*?)<\/users>/.exec(xml)?.[1] ?? '';
    for (const m of section.matchAll(/<([A-Za-z_][\w.-]*)>([\s\S]*?)<\/\1>/g)) {
      const [, name = '', body = ''] = m;
      const sha = /<password_sha256_hex>([^<]*)<\/password_sha256_hex>/.exec(body)?.[1];
      if (sha !== undefined) {
        users.set(name, { sha256hex: sha.trim() });
        continue;
      }
      const fromEnv = /<password\s+from_env="([^"]+)"\s*\/>/.exec(body)?.[1];
      if (fromEnv !== undefined) {
        const value = env[fromEnv];
        if (value === undefined)
          throw new Error(`${file}: user ${name}: Env variable is not set: ${fromEnv}`);
        users.set(name, { plain: xmlText(value) });
        continue;
      }
      users.set(name, { plain: xmlText(/<password>([^<]*)<\/password>/.exec(body)?.[1] ?? '') });
    }
  }
  return users;
}

// ---------------------------------------------------------------- in a process of its own

export interface FacadeProcess {
  readonly url: string;
  readonly pid: number;
  /** Stops the server and the engine (the data directory is free again). */
  stop(): Promise<void>;
}

/** The docker compose server's users (the real file, as the compose file mounts it). */
export const USERS_XML = path.join(__dirname, '..', 'clickhouse', 'server', 'users.xml');

const BOOT = `
const { Session } = require(process.env.FACADE_CHDB);
const { ClickHouseHttpFacade, readUsersXml } = require(process.env.FACADE_JS);
const args = process.env.FACADE_CONFIG ? { connectionArgs: ['--config-file=' + process.env.FACADE_CONFIG] } : undefined;
const session = new Session(process.env.FACADE_DATA_DIR, args);
const usersFiles = process.env.FACADE_USERS_FILES ? JSON.parse(process.env.FACADE_USERS_FILES) : [];
const options = usersFiles.length > 0
  ? { users: readUsersXml(usersFiles), engineUser: process.env.FACADE_ENGINE_USER }
  : {};
const facade = new ClickHouseHttpFacade(session, options);
facade.start(Number(process.env.FACADE_PORT || 0)).then((url) => console.log('LISTENING ' + url));
process.once('SIGTERM', () => facade.stop().then(() => { session.close(); process.exit(0); }));
`;

/**
 * The engine configuration of a server whose every statement runs as `user`: a users config
 * whose `default` is a copy of that user (grants and profile as written, password emptied:
 * the facade authenticates), with the users files alongside in users.d so their profiles and
 * other users exist, and the two profiles the server image's own users.xml defines.
 */
function engineConfigAs(user: string, usersFiles: readonly string[], dir: string): string {
  let body: string | undefined;
  for (const f of usersFiles) {
    const xml = fs.readFileSync(f, 'utf8').replace(/<!--[\s\S]*?-->/g, '');
    body ??= new RegExp(`<${user}>([\\s\\S]*?)</${user}>`).exec(xml)?.[1];
  }
  if (body === undefined) throw new Error(`no user ${user} in ${usersFiles.join(', ')}`);
  const asDefault = body.replace(
    /<password[^>]*\/>|<password[^>]*>[^<]*<\/password>/,
    '<password></password>',
  );
  fs.mkdirSync(path.join(dir, 'users.d'), { recursive: true });
  usersFiles.forEach((f, i) => fs.copyFileSync(f, path.join(dir, 'users.d', `${i}-${path.basename(f)}`)));
  fs.writeFileSync(
    path.join(dir, 'users.xml'),
    `<clickhouse>
  <profiles><default/><readonly><readonly>1</readonly></readonly></profiles>
  <quotas><default/></quotas>
  <users><default>${asDefault}</default></users>
</clickhouse>`,
  );
  // Absolute users_config: a relative one resolves against the working directory.
  fs.writeFileSync(
    path.join(dir, 'config.xml'),
    `<clickhouse><users_config>${path.join(dir, 'users.xml')}</users_config></clickhouse>`,
  );
  return path.join(dir, 'config.xml');
}

let configDirs = 0;

/**
 * Runs the facade in a child process on `dataDir`. With `asUser`, the engine runs as that user
 * of `usersFiles` (default: the real clickhouse/server/users.xml) and requests are authenticated
 * against those files, passwords from `env` (from_env); without it, no users and no
 * authentication. The module is compiled for the child with SWC (jest's own transformer).
 */
export async function startFacadeProcess(opts: {
  dataDir: string;
  scratchDir: string;
  asUser?: string;
  usersFiles?: readonly string[];
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
  const usersFiles = opts.asUser === undefined ? [] : (opts.usersFiles ?? [USERS_XML]);
  const configFile =
    opts.asUser === undefined
      ? ''
      : engineConfigAs(
          opts.asUser,
          usersFiles,
          path.join(opts.scratchDir, `facade-config-${opts.asUser}-${process.pid}-${configDirs++}`),
        );
  const child = spawn(process.execPath, ['-e', BOOT], {
    env: {
      ...process.env,
      ...opts.env,
      FACADE_CHDB: require.resolve('chdb'),
      FACADE_JS: js,
      FACADE_DATA_DIR: opts.dataDir,
      FACADE_CONFIG: configFile,
      FACADE_USERS_FILES: JSON.stringify(usersFiles),
      FACADE_ENGINE_USER: opts.asUser ?? '',
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
