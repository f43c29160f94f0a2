/**
 * Helpers for the API tests: a fresh migrated database with a standard synthetic
 * scenario, an HTTP client (node:http, keep-alive, per-request timeout, any
 * header incl. Origin) and a raw-socket client for bytes node:http refuses to
 * send, and the check of a response body against the zod response schemas.
 *
 * API keys: the API runs with AUTH_MODE=keys as deployed. `request()` sends the file's default
 * key (`useApiKey`; serveScenario makes an admin key and uses it) unless the request names its
 * own Authorization header or `auth: false`, so tests that are not about keys still pass through
 * the real authentication.
 */
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import type { z } from 'zod';
import { migrate } from '../clickhouse/migrate';
import { BranchDirectory, NORY_BRANCHES, type Branch } from '../lib/branches';
import { createClickHouse, type ClickHouse } from '../clickhouse/client';
import type { Config } from '../lib/config';
import { createLogger, type Logger } from '../lib/logger';
import { Fixtures } from '../bench/api-fixtures';
import { createApiServer, type ApiOptions, type ApiServer } from '../api/server';
import { generateKey, type KeyScopes } from '../api/keys';
import { ApiKeys } from '../clickhouse/store/api-keys';
import {
  branchesResponseSchema,
  errorResponseSchema,
  healthResponseSchema,
  predictResponseSchema,
  readyResponseSchema,
} from '../api/schemas';
import { testConfig } from './test-config';

export const HOUR = 3_600_000;
export const SUSHI = NORY_BRANCHES.find((b) => b.id === '352h67i328fh') as Branch;
export const PIZZA = NORY_BRANCHES.find((b) => b.id === '345hngydkgs') as Branch;
/** Known branch that never gets a forecast. */
export const TACO = NORY_BRANCHES.find((b) => b.id === '2hg8j32gw8g') as Branch;
export const NEW_YORK: Branch = {
  id: 'ny-1',
  name: 'Nory NYC',
  timezone: 'America/New_York',
  currency: 'USD',
  country: 'US',
};

/** Scenario clock: everything before this hour is closed (Dublin = UTC in February). */
export const CLOSED_THROUGH = Date.UTC(2021, 1, 5, 12);
export const HISTORY_FROM = Date.UTC(2021, 0, 20);
export const HORIZON_H = 14 * 24;
/**
 * generated_at of the scenario's runs: recent wall-clock time, because forecasts and
 * forecast_runs have `TTL generated_at + 90 DAY` (older rows vanish at insert).
 */
export const GENERATED_AT = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

export interface Scenario {
  config: Config;
  ch: ClickHouse;
  logger: Logger;
  branches: BranchDirectory;
  fx: Fixtures;
  runs: Record<string, string>;
  drop(): Promise<void>;
}

export interface ServedScenario {
  sc: Scenario;
  api: ApiServer;
  /** Base URL of the listening API (127.0.0.1, a free port). */
  base: string;
  /** Stops the API, the shared HTTP agent, and drops the scenario's database. */
  close(): Promise<void>;
}

let defaultKey: string | undefined;

/** The key `request()` sends when the request names none (undefined: none). */
export function useApiKey(key: string | undefined): void {
  defaultKey = key;
}

/** Bearer header of a key. */
export const bearer = (key: string): Record<string, string> => ({ Authorization: `Bearer ${key}` });

/** Stores a new key with these scopes (default: admin) in the database and returns it. */
export async function createTestKey(
  ch: ClickHouse,
  scopes: Partial<KeyScopes> = { admin: true },
  name = 'test',
): Promise<{ key: string; keyId: string }> {
  const k = generateKey();
  await new ApiKeys(ch).create({
    keyId: k.keyId,
    keyHash: k.keyHash,
    name,
    branches: scopes.branches ?? [],
    groups: scopes.groups ?? [],
    admin: scopes.admin ?? false,
    metrics: scopes.metrics ?? false,
    capture: scopes.capture ?? false,
    write: scopes.write ?? false,
    createdAt: Date.now(),
    createdBy: 'test',
  });
  return { key: k.key, keyId: k.keyId };
}

/** A scenario (below) served by a real API on 127.0.0.1:0; `request()` then sends an admin key with the metrics scope. */
export async function serveScenario(
  env: Record<string, string>,
  options: Partial<ApiOptions>,
): Promise<ServedScenario> {
  const sc = await setupScenario(env);
  useApiKey((await createTestKey(sc.ch, { admin: true, metrics: true }, 'test admin')).key);
  const api = createApiServer(sc, options);
  await api.start();
  await api.listen(0, '127.0.0.1');
  return {
    sc,
    api,
    base: api.url(),
    close: async () => {
      await api.stop();
      destroyAgent();
      await sc.drop();
    },
  };
}

/** Fresh database: closed actuals HISTORY_FROM..CLOSED_THROUGH and a 14-day run for Sushi, Pizza and NYC; Taco has actuals only. */
export async function setupScenario(overrides: Record<string, string> = {}): Promise<Scenario> {
  // TILLCAST_API_TEST_DATA_DIR: a private embedded data dir, for running these tests
  // while another jest process holds the shared worker directory.
  const dir = process.env.TILLCAST_API_TEST_DATA_DIR;
  const config = testConfig({
    ...(dir ? { CLICKHOUSE_DATA_DIR: `${dir}-${process.env.JEST_WORKER_ID ?? '0'}` } : {}),
    ...overrides,
  });
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'warn');
  const ch = createClickHouse(config, logger);
  await migrate(ch, logger);
  const fx = new Fixtures(ch);
  const runs: Record<string, string> = {};
  const generatedAt = GENERATED_AT;
  for (const b of [SUSHI, PIZZA, TACO, NEW_YORK]) {
    await fx.actuals(b, HISTORY_FROM, CLOSED_THROUGH);
    await fx.watermark(b.id, CLOSED_THROUGH);
    if (b !== TACO)
      runs[b.id] = await fx.forecastRun(b, {
        origin: CLOSED_THROUGH,
        hours: HORIZON_H,
        generatedAt,
        runId: `run-${b.id}-1`,
      });
  }
  return {
    config,
    ch,
    logger,
    branches: new BranchDirectory([...NORY_BRANCHES, NEW_YORK]),
    fx,
    runs,
    async drop() {
      await ch.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
      await ch.close();
    },
  };
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: unknown;
  /** The body bytes as received (still compressed if Content-Encoding says so). */
  raw?: Buffer;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

export function destroyAgent(): void {
  agent.destroy();
}

/** One HTTP request; rejects after `timeoutMs` (a hang is a failure, not a wait). */
export function request(
  base: string,
  path: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
    keepAlive?: boolean;
    /** false: send no key (default: the file's key, see useApiKey, unless headers has Authorization). */
    auth?: boolean;
    body?: string;
  } = {},
): Promise<HttpAnswer> {
  const url = new URL(base);
  const named = Object.keys(opts.headers ?? {}).some((h) => h.toLowerCase() === 'authorization');
  const headers =
    opts.auth === false || named || defaultKey === undefined
      ? opts.headers
      : { ...bearer(defaultKey), ...opts.headers };
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: opts.method ?? 'GET',
        path,
        headers,
        agent: opts.keepAlive === false ? false : agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          const raw = Buffer.concat(chunks);
          const text =
            res.headers['content-encoding'] === 'gzip'
              ? zlib.gunzipSync(raw).toString('utf8')
              : raw.toString('utf8');
          let json: unknown;
          if (/json/.test(res.headers['content-type'] ?? '') && text.length > 0) {
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, raw });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 10_000} ms: ${path.slice(0, 200)}`)),
      opts.timeoutMs ?? 10_000,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(opts.body);
  });
}

/** Sends raw bytes as the request (Connection: close) and parses the answer. */
export function rawRequest(base: string, requestLine: Buffer, timeoutMs = 10_000): Promise<HttpAnswer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('raw request timeout')), timeoutMs);
    socket.on('connect', () => {
      socket.write(
        Buffer.concat([requestLine, Buffer.from(`\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`)]),
      );
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks).toString('latin1');
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(all.slice(0, 200))}`));
      const head = all.slice(0, split).split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
      const headers: http.IncomingHttpHeaders = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      let body: Buffer = Buffer.from(all.slice(split + 4), 'latin1');
      if (/chunked/i.test(String(headers['transfer-encoding'] ?? ''))) body = dechunk(body);
      const text = body.toString('utf8');
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ status, headers, text, json });
    });
  });
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const nl = b.indexOf('\r\n', i);
    if (nl < 0) break;
    const size = parseInt(b.subarray(i, nl).toString('latin1'), 16);
    if (!size) break;
    out.push(b.subarray(nl + 2, nl + 2 + size));
    i = nl + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** The zod schema a JSON answer must match, by path and status. */
export function schemaFor(path: string, status: number): z.ZodTypeAny | undefined {
  const p = path.split('?')[0] ?? '';
  if (status >= 400 && !(p === '/ready' && status === 503)) return errorResponseSchema;
  if (status !== 200 && status !== 503) return undefined;
  if (/^(\/v1)?\/predict\/?$/.test(p)) return predictResponseSchema;
  if (/^(\/v1)?\/branches\/?$/.test(p)) return branchesResponseSchema;
  if (p === '/health') return healthResponseSchema;
  if (p === '/ready') return readyResponseSchema;
  return undefined;
}

/** Fails (throws) unless the answer's body matches its schema. */
export function expectValidBody(path: string, a: HttpAnswer, method = 'GET'): void {
  const schema = schemaFor(path, a.status);
  if (!schema || method === 'HEAD' || method === 'OPTIONS') return;
  if (a.json === undefined)
    throw new Error(`${a.status} ${path.slice(0, 120)}: body is not JSON: ${a.text.slice(0, 200)}`);
  const r = schema.safeParse(a.json);
  if (!r.success)
    throw new Error(
      `${a.status} ${path.slice(0, 120)}: body does not match its schema: ${r.error.message.slice(0, 1000)}`,
    );
}

/** Polls `fn` until it returns a truthy value; fails after `timeoutMs`. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `condition not met within ${timeoutMs} ms${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
