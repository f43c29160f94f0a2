/**
 * `npm run bench:api` (after building: `node dist/bench/api.js`): throughput and
 * latency of GET /v1/predict on a random mix of branches, ranges and
 * granularities, against a bare Koa route measured the same way.
 *
 * The server runs in a child process (this file with `--serve`): a throwaway
 * embedded ClickHouse data dir, synthetic closed actuals and one 14-day forecast
 * run per branch, the full API stack (rate limiter on with a limit the bench
 * cannot reach, access log off: LOG_LEVEL=warn), plus a bare Koa app answering
 * a constant JSON body (any path) on another port. The parent drives both
 * with autocannon, 50 connections, the same random request paths (so the client
 * work is identical and only the server differs), after a warm-up that requests
 * every distinct query once; load generator and server do not share an event loop. Prints ONE JSON line on stdout:
 *   {"rps": X, "p50_ms": X, "p99_ms": X, "bare_rps": X, "ratio": X, "bare_body_bytes": N, "bare_tiny_rps": X, "ratio_tiny": X}
 * The bare route answers a constant body as large as the mean /predict answer on the wire, with
 * the same response headers (the same bytes to write, and for the client to read and parse: the
 * ratio is what tillcast's stack costs); ratio_tiny compares with a tiny `{"ok":true}` body and
 * Koa's default headers instead (the client then also parses less).
 * The durations are split into BENCH_API_ROUNDS (5) rounds of api, bare and tiny runs in turn,
 * so that the machine's drift (a shared VM) affects all three alike; p50/p99 are over every api response.
 * Details go to stderr. Env: BENCH_API_DURATION_S (10), BENCH_API_BARE_DURATION_S
 * (= duration), BENCH_API_CONNECTIONS (50), BENCH_API_BRANCHES (8), BENCH_API_QUERIES (2000),
 * BENCH_API_RATE_LIMIT (the limiter stays on with an unreachable limit; 0 measures without it),
 * BENCH_API_PROFILE_DIR (write a .cpuprofile of the server there), AUTH_MODE=none (the API without
 * keys, as development: what authentication costs per request).
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import Koa from 'koa';
import { generateKey, hashKey } from '../api/keys';
import { createApiServer } from '../api/server';
import { ApiKeys } from '../clickhouse/store/api-keys';
import { createClickHouse } from '../clickhouse/client';
import { migrate } from '../clickhouse/migrate';
import { BranchDirectory, type Branch } from '../lib/branches';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { DAY_MS } from '../lib/time/units';
import { Fixtures } from './api-fixtures';

const DURATION_S = Number(process.env.BENCH_API_DURATION_S ?? 10);
const BARE_DURATION_S = Number(process.env.BENCH_API_BARE_DURATION_S ?? DURATION_S);
const ROUNDS = Math.max(1, Number(process.env.BENCH_API_ROUNDS ?? 5));
const CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 50);
const BRANCHES = Number(process.env.BENCH_API_BRANCHES ?? 8);
const QUERIES = Number(process.env.BENCH_API_QUERIES ?? 2000);

/** Scenario clock: hours before this are closed. */
const CLOSED_THROUGH = Date.UTC(2024, 2, 20, 12);
const ZONES = ['Europe/Dublin', 'America/New_York', 'Asia/Kolkata', 'Europe/Berlin'];

// The API needs a key (issue 14): the parent makes one, the forked server (which inherits the
// environment) stores its hash, and every request of the load sends it, as a real client would.
process.env.TILLCAST_BENCH_API_KEY ??= generateKey().key;
const BENCH_KEY = process.env.TILLCAST_BENCH_API_KEY;

/** What the bare route answers at every path but /tiny: `bytes` of body and these headers. */
interface BareShape {
  kind: 'bare-shape';
  bytes: number;
  headers: [string, string][];
}

/** Headers Node writes itself (or Koa sets from the body): not copied to the bare route. */
const NODE_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'content-type']);

interface Ready {
  kind: 'ready';
  port: number;
  barePort: number;
  branches: { id: string }[];
}

function benchBranches(n: number): Branch[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `bench-${String(i + 1).padStart(3, '0')}`,
    name: `Bench ${i + 1}`,
    timezone: ZONES[i % ZONES.length] as string,
    currency: 'EUR',
    country: 'IE',
  }));
}

/** Child: data, API server and bare server; answers 'stop'. */
async function serve(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-bench-api-'));
  const config = loadConfig({
    ...process.env,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    // Production, as deployed; AUTH_MODE=none (to measure what the keys cost) is refused in
    // production by design, so that comparison runs as development.
    NODE_ENV: process.env.AUTH_MODE === 'none' ? 'development' : 'production',
    ROLES: 'api', // the API alone: no Kafka, so no Kafka credentials
    CLICKHOUSE_URL: '',
    CLICKHOUSE_DATA_DIR: dataDir,
    CLICKHOUSE_DATABASE: 'bench_api',
    API_RATE_LIMIT_PER_MIN: process.env.BENCH_API_RATE_LIMIT ?? '1000000000',
  });
  const logger = createLogger(config.LOG_LEVEL);
  const ch = createClickHouse(config, logger);
  await migrate(ch, logger);
  await new ApiKeys(ch).create({
    keyId: BENCH_KEY.slice(3, 15),
    keyHash: hashKey(BENCH_KEY),
    name: 'bench:api',
    branches: [],
    groups: [],
    admin: true,
    metrics: false,
    createdAt: Date.now(),
    createdBy: 'bench',
  });
  const fx = new Fixtures(ch);
  const branches = benchBranches(BRANCHES);
  const generatedAt = Date.now() - 60_000; // recent: forecasts have a TTL on generated_at
  for (const b of branches) {
    await fx.actuals(b, CLOSED_THROUGH - 60 * DAY_MS, CLOSED_THROUGH);
    await fx.watermark(b.id, CLOSED_THROUGH);
    await fx.forecastRun(b, { origin: CLOSED_THROUGH, hours: 14 * 24, generatedAt });
  }
  const api = createApiServer(
    { config, ch, branches: new BranchDirectory(branches), logger },
    { forecastPollMs: 2_000 },
  );
  await api.start();
  const server = await api.listen(0, '127.0.0.1');

  // The bare app: a tiny body with Koa's default headers at /tiny, and at every other path a
  // constant answer shaped like /predict's (set by the parent after the warm-up): a body as large as
  // the mean /predict body on the wire and the same response headers, so both sides move the same
  // bytes and the client (autocannon parses headers in JavaScript) does the same work per answer;
  // the ratio then measures what tillcast's stack costs per request.
  let bareBody = Buffer.from('{"ok":true}');
  let bareHeaders: [string, string][] = [];
  const tinyBody = Buffer.from('{"ok":true}');
  const bare = new Koa();
  bare.use((ctx) => {
    ctx.type = 'application/json';
    if (ctx.path === '/tiny') {
      ctx.body = tinyBody;
      return;
    }
    for (const [name, value] of bareHeaders) ctx.set(name, value);
    ctx.body = bareBody;
  });
  const bareServer = await new Promise<import('node:http').Server>((resolve) => {
    const s = bare.listen(0, '127.0.0.1', () => resolve(s));
  });

  const addr = (s: import('node:http').Server) => (s.address() as import('node:net').AddressInfo).port;
  process.send?.({
    kind: 'ready',
    port: addr(server),
    barePort: addr(bareServer),
    branches: branches.map((b) => ({ id: b.id })),
  } satisfies Ready);
  process.on('message', (m: unknown) => {
    const shape = m as BareShape;
    if (shape.kind === 'bare-shape') {
      bareBody = Buffer.from(`{"pad":"${'x'.repeat(Math.max(0, shape.bytes - 10))}"}`);
      bareHeaders = shape.headers;
      process.send?.({ kind: 'bare-shape-set' });
      return;
    }
    if (m === 'cpu') {
      process.send?.({ kind: 'cpu', usage: process.cpuUsage() });
      return;
    }
    if (m !== 'stop') return;
    void (async () => {
      bareServer.close();
      bareServer.closeAllConnections();
      await api.stop();
      await ch.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    })();
  });
}

/** The query mix: random branch, start 30 days back to 14 days ahead, 1–14 days, random granularity. */
function queryPool(branches: { id: string }[], n: number, seed = 7): string[] {
  let x = seed;
  const rnd = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  const grans = [
    '',
    '&granularity=daily',
    '&granularity=hourly',
    '&granularity=daily,weekly',
    '&granularity=weekly,daily,hourly',
  ];
  const lengths = [1, 1, 2, 3, 7, 7, 7, 7, 14, 14];
  const pool: string[] = [];
  for (let i = 0; i < n; i++) {
    const b = branches[Math.floor(rnd() * branches.length)] as { id: string };
    const start = CLOSED_THROUGH - 30 * DAY_MS + Math.floor(rnd() * 44) * DAY_MS;
    const len = lengths[Math.floor(rnd() * lengths.length)] as number;
    const s = new Date(start).toISOString().slice(0, 10);
    const e = new Date(start + (len - 1) * DAY_MS).toISOString().slice(0, 10);
    pool.push(
      `/v1/predict?branch_id=${b.id}&start=${s}&end=${e}${grans[Math.floor(rnd() * grans.length)] as string}`,
    );
  }
  return pool;
}

/** Browsers always offer compression; BENCH_API_GZIP=0 measures identity bodies. */
const HEADERS: Record<string, string> = {
  authorization: `Bearer ${BENCH_KEY}`,
  ...(process.env.BENCH_API_GZIP === '0' ? {} : { 'accept-encoding': 'gzip, deflate, br' }),
};

/** One autocannon run; every response time (ms) is appended to `latencies`. */
async function drive(
  url: string,
  duration: number,
  paths: string[],
  latencies: number[] = [],
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: CONNECTIONS,
        duration,
        timeout: 10,
        headers: HEADERS,
        requests: [
          {
            setupRequest: (req) => ({
              ...req,
              path: paths[Math.floor(Math.random() * paths.length)] ?? '/',
            }),
          },
        ],
      },
      (err: unknown, result) =>
        err
          ? reject(err instanceof Error ? err : new Error('autocannon failed', { cause: err }))
          : resolve(result),
    );
    // Every run records its latencies (the same client work for api and bare runs).
    instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  });
}

/** The q-quantile (0..1) of `values` (sorted in place), nearest rank. */
function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  values.sort((a, b) => a - b);
  return values[Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))] as number;
}

const log = (msg: string) => process.stderr.write(`${msg}\n`);

/** The server child's CPU time so far (µs, user + system). */
function childCpu(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      const msg = m as { kind?: string; usage?: NodeJS.CpuUsage };
      if (msg.kind !== 'cpu' || !msg.usage) return;
      child.off('message', onMessage);
      resolve(msg.usage.user + msg.usage.system);
    };
    child.on('message', onMessage);
    child.send('cpu');
  });
}

async function main(): Promise<void> {
  const profileDir = process.env.BENCH_API_PROFILE_DIR;
  const child: ChildProcess = fork(__filename, ['--serve'], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    // A V8 CPU profile of the server (written when it exits) to find where a request's time goes.
    execArgv: profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
  });
  const killChild = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killChild);
  // A server that died is reported by the ready promise or a failed request, not by an unhandled
  // 'error' event of a send on the closed channel.
  child.on('error', (err) => log(`bench server channel: ${err.message}`));
  try {
    const ready = await new Promise<Ready>((resolve, reject) => {
      child.once('message', (m) => resolve(m as Ready));
      child.once('exit', (code) => reject(new Error(`bench server exited early (${code})`)));
    });
    const api = `http://127.0.0.1:${ready.port}`;
    const bareUrl = `http://127.0.0.1:${ready.barePort}`;
    const pool = queryPool(ready.branches, QUERIES);
    const sample = pool[0] as string;
    const first = await fetch(`${api}${sample}`, { headers: HEADERS });
    log(`sample ${sample} -> ${first.status}, ${(await first.arrayBuffer()).byteLength} bytes`);

    log(
      `warm-up: each of ${pool.length} distinct queries over ${ready.branches.length} branches once, then 2 s of load`,
    );
    let next = 0;
    let wireBytes = 0;
    let apiHeaders: [string, string][] = [];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < pool.length) {
          const res = await fetch(`${api}${pool[next++] as string}`, { headers: HEADERS });
          const body = await res.arrayBuffer();
          // content-length is the (maybe gzipped) size on the wire; fetch hands back the decoded body.
          wireBytes += Number(res.headers.get('content-length') ?? body.byteLength);
          apiHeaders = [...res.headers].filter(([name]) => !NODE_HEADERS.has(name));
        }
      }),
    );
    const meanBytes = Math.round(wireBytes / pool.length);
    await new Promise<void>((resolve) => {
      const onMessage = (m: unknown) => {
        if ((m as { kind?: string }).kind !== 'bare-shape-set') return;
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.send({ kind: 'bare-shape', bytes: meanBytes, headers: apiHeaders } satisfies BareShape);
    });
    log(
      `mean /predict body on the wire: ${meanBytes} bytes; the bare route answers as many, with the same headers: ${apiHeaders.map(([n]) => n).join(', ')}`,
    );
    await drive(api, 2, pool);
    await drive(bareUrl, 1, pool);

    // Rounds alternate api, bare and tiny runs so that drift in the machine's speed (a shared VM)
    // hits all three alike; rps is requests over the summed duration, p50/p99 over every response.
    const per = DURATION_S / ROUNDS;
    const barePer = BARE_DURATION_S / ROUNDS;
    log(
      `${ROUNDS} rounds of: api ${per} s, bare koa ${barePer} s, bare koa tiny body ${barePer} s; ${CONNECTIONS} connections`,
    );
    const runs: Record<'api' | 'bare' | 'tiny', autocannon.Result[]> = { api: [], bare: [], tiny: [] };
    const apiLatencies: number[] = [];
    let apiCpu = 0;
    let apiClientCpu = 0;
    let bareClientCpu = 0;
    let bareCpu = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const c0 = await childCpu(child);
      const p0 = process.cpuUsage();
      runs.api.push(await drive(api, per, pool, apiLatencies));
      const c1 = await childCpu(child);
      const p1 = process.cpuUsage();
      // Same client work (random paths from the same pool): only the server side differs.
      runs.bare.push(await drive(bareUrl, barePer, pool));
      const c2 = await childCpu(child);
      const p2 = process.cpuUsage();
      runs.tiny.push(await drive(bareUrl, barePer, ['/tiny']));
      apiCpu += c1 - c0;
      apiClientCpu += p1.user + p1.system - p0.user - p0.system;
      bareClientCpu += p2.user + p2.system - p1.user - p1.system;
      bareCpu += c2 - c1;
      const last = (k: keyof typeof runs) => Math.round(runs[k][round]?.requests.average ?? 0);
      log(
        `round ${round + 1}: api ${last('api')} req/s (p99 ${runs.api[round]?.latency.p99} ms), bare ${last('bare')}, tiny ${last('tiny')}`,
      );
    }
    const total = (k: keyof typeof runs) => runs[k].reduce((n, x) => n + x.requests.total, 0);
    const sum = (k: keyof typeof runs, f: (x: autocannon.Result) => number) =>
      runs[k].reduce((n, x) => n + f(x), 0);
    log(
      `server CPU per request: api ${(apiCpu / total('api')).toFixed(1)} µs, bare ${(bareCpu / total('bare')).toFixed(1)} µs; client (autocannon) CPU per request: api ${(apiClientCpu / total('api')).toFixed(1)} µs, bare ${(bareClientCpu / total('bare')).toFixed(1)} µs; load average ${os.loadavg()[0]?.toFixed(1)}`,
    );
    const round1 = (x: number) => Math.round(x * 10) / 10;
    const latencyP50 = round1(quantile(apiLatencies, 0.5));
    const latencyP99 = round1(quantile(apiLatencies, 0.99));
    log(
      `api: ${total('api')} requests, non-2xx ${sum('api', (x) => x.non2xx)}, errors ${sum('api', (x) => x.errors)}, ` +
        `timeouts ${sum('api', (x) => x.timeouts)}, latency p50 ${latencyP50} ms p99 ${latencyP99} ms (over all rounds), ` +
        `max ${Math.max(...runs.api.map((x) => x.latency.max))} ms`,
    );
    const metrics = await (await fetch(`${api}/metrics`)).text();
    log(
      metrics
        .split('\n')
        .filter(
          (l) =>
            l.startsWith('tillcast_api_cache_lookups_total') ||
            l.startsWith('tillcast_api_actuals_query_seconds_count'),
        )
        .join('\n'),
    );
    const rps = Math.round(total('api') / DURATION_S);
    const bareRps = Math.round(total('bare') / BARE_DURATION_S);
    const tinyRps = Math.round(total('tiny') / BARE_DURATION_S);
    const round3 = (x: number) => Math.round(x * 1000) / 1000;
    process.stdout.write(
      `${JSON.stringify({
        rps,
        p50_ms: latencyP50,
        p99_ms: latencyP99,
        bare_rps: bareRps,
        ratio: round3(rps / bareRps),
        bare_body_bytes: meanBytes,
        bare_tiny_rps: tinyRps,
        ratio_tiny: round3(rps / tinyRps),
      })}\n`,
    );
    if (sum('api', (x) => x.non2xx + x.errors) > 0) process.exitCode = 1;
  } finally {
    child.send('stop');
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        killChild();
        resolve();
      }, 10_000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

if (process.argv[2] === '--serve') {
  serve().catch((err: unknown) => {
    process.stderr.write(
      `bench server failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
}
