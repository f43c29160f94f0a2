/**
 * `npm run bench:api` (after building: `node dist/api/bench.js`): throughput and
 * latency of GET /v1/predict on a random mix of branches, ranges and
 * granularities, against a bare Koa route measured the same way.
 *
 * The server runs in a child process (this file with `--serve`): a throwaway
 * embedded ClickHouse data dir, synthetic closed actuals and one 14-day forecast
 * run per branch, the full API stack (rate limiter on with a limit the bench
 * cannot reach, access log off: LOG_LEVEL=warn), plus a bare Koa app answering
 * a small constant JSON body (any path) on another port. The parent drives both
 * with autocannon, 50 connections, the same random request paths (so the client
 * work is identical and only the server differs), after a warm-up that requests
 * every distinct query once; load generator and server do not share an event loop. Prints ONE JSON line on stdout:
 *   {"rps": X, "p50_ms": X, "p99_ms": X, "bare_rps": X, "ratio": X, "bare_body_bytes": N, "bare_tiny_rps": X, "ratio_tiny": X}
 * The bare route answers a constant body as large as the mean /predict answer on the wire (the
 * same bytes to write and for the client to read: the ratio is what tillcast's stack costs);
 * ratio_tiny compares with a tiny `{"ok":true}` body instead.
 * Details go to stderr. Env: BENCH_API_DURATION_S (10), BENCH_API_BARE_DURATION_S
 * (= duration), BENCH_API_CONNECTIONS (50), BENCH_API_BRANCHES (8), BENCH_API_QUERIES (2000),
 * BENCH_API_RATE_LIMIT (the limiter stays on with an unreachable limit; 0 measures without it).
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import Koa from 'koa';
import { migrate } from '../clickhouse/migrate';
import { BranchDirectory, type Branch } from '../lib/branches';
import { createClickHouse } from '../lib/clickhouse';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { Fixtures } from './fixtures';
import { createApiServer } from './server';

const DURATION_S = Number(process.env.BENCH_API_DURATION_S ?? 10);
const BARE_DURATION_S = Number(process.env.BENCH_API_BARE_DURATION_S ?? DURATION_S);
const CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 50);
const BRANCHES = Number(process.env.BENCH_API_BRANCHES ?? 8);
const QUERIES = Number(process.env.BENCH_API_QUERIES ?? 2000);

const DAY_MS = 86_400_000;
/** Scenario clock: hours before this are closed. */
const CLOSED_THROUGH = Date.UTC(2024, 2, 20, 12);
const ZONES = ['Europe/Dublin', 'America/New_York', 'Asia/Kolkata', 'Europe/Berlin'];

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
    NODE_ENV: 'production',
    CLICKHOUSE_URL: '',
    CLICKHOUSE_DATA_DIR: dataDir,
    CLICKHOUSE_DATABASE: 'bench_api',
    API_RATE_LIMIT_PER_MIN: process.env.BENCH_API_RATE_LIMIT ?? '1000000000',
  });
  const logger = createLogger(config.LOG_LEVEL);
  const ch = createClickHouse(config, logger);
  await migrate(ch, logger);
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

  // The bare app: a tiny body at /tiny, and at every other path a constant body as large as the
  // mean /predict answer on the wire (set by the parent after the warm-up), so both sides move the
  // same bytes and the ratio measures what tillcast's stack costs per request.
  let bareBody = Buffer.from('{"ok":true}');
  const tinyBody = Buffer.from('{"ok":true}');
  const bare = new Koa();
  bare.use((ctx) => {
    ctx.type = 'application/json';
    ctx.body = ctx.path === '/tiny' ? tinyBody : bareBody;
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
    const sized = m as { kind?: string; bytes?: number };
    if (sized.kind === 'bare-bytes' && typeof sized.bytes === 'number') {
      bareBody = Buffer.from(`{"pad":"${'x'.repeat(Math.max(0, sized.bytes - 10))}"}`);
      process.send?.({ kind: 'bare-bytes-set' });
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
const HEADERS: Record<string, string> =
  process.env.BENCH_API_GZIP === '0' ? {} : { 'accept-encoding': 'gzip, deflate, br' };

async function drive(url: string, duration: number, paths: string[]): Promise<autocannon.Result> {
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration,
    timeout: 10,
    headers: HEADERS,
    requests: [
      { setupRequest: (req) => ({ ...req, path: paths[Math.floor(Math.random() * paths.length)] ?? '/' }) },
    ],
  });
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
  const child: ChildProcess = fork(__filename, ['--serve'], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const killChild = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killChild);
  try {
    const ready = await new Promise<Ready>((resolve, reject) => {
      child.once('message', (m) => resolve(m as Ready));
      child.once('exit', (code) => reject(new Error(`bench server exited early (${code})`)));
    });
    const api = `http://127.0.0.1:${ready.port}`;
    const bareUrl = `http://127.0.0.1:${ready.barePort}`;
    const pool = queryPool(ready.branches, QUERIES);
    const sample = pool[0] as string;
    const first = await fetch(`${api}${sample}`);
    log(`sample ${sample} -> ${first.status}, ${(await first.arrayBuffer()).byteLength} bytes`);

    log(
      `warm-up: each of ${pool.length} distinct queries over ${ready.branches.length} branches once, then 2 s of load`,
    );
    let next = 0;
    let wireBytes = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < pool.length) {
          const res = await fetch(`${api}${pool[next++] as string}`, { headers: HEADERS });
          const body = await res.arrayBuffer();
          // content-length is the (maybe gzipped) size on the wire; fetch hands back the decoded body.
          wireBytes += Number(res.headers.get('content-length') ?? body.byteLength);
        }
      }),
    );
    const meanBytes = Math.round(wireBytes / pool.length);
    await new Promise<void>((resolve) => {
      const onMessage = (m: unknown) => {
        if ((m as { kind?: string }).kind !== 'bare-bytes-set') return;
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.send({ kind: 'bare-bytes', bytes: meanBytes });
    });
    log(`mean /predict body on the wire: ${meanBytes} bytes (the bare route answers as many)`);
    await drive(api, 2, pool);
    await drive(bareUrl, 1, pool);

    log(`api: ${DURATION_S} s at ${CONNECTIONS} connections`);
    const c0 = await childCpu(child);
    const r = await drive(api, DURATION_S, pool);
    const c1 = await childCpu(child);
    log(`bare koa: ${BARE_DURATION_S} s at ${CONNECTIONS} connections`);
    // Same client work (random paths from the same pool): only the server side differs.
    const b = await drive(bareUrl, BARE_DURATION_S, pool);
    const c2 = await childCpu(child);
    log(`bare koa, tiny body: ${BARE_DURATION_S} s at ${CONNECTIONS} connections`);
    const tiny = await drive(bareUrl, BARE_DURATION_S, ['/tiny']);
    log(
      `server CPU per request: api ${((c1 - c0) / r.requests.total).toFixed(1)} µs, bare ${((c2 - c1) / b.requests.total).toFixed(1)} µs; load average ${os.loadavg()[0]?.toFixed(1)}`,
    );
    log(
      `api: ${r.requests.total} requests, non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}, ` +
        `${(r.throughput.average / 1e6).toFixed(1)} MB/s, latency p50 ${r.latency.p50} ms p90 ${r.latency.p90} ms p99 ${r.latency.p99} ms max ${r.latency.max} ms`,
    );
    log(`bare: ${b.requests.total} requests, p50 ${b.latency.p50} ms p99 ${b.latency.p99} ms`);
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
    const rps = Math.round(r.requests.average);
    const bareRps = Math.round(b.requests.average);
    const tinyRps = Math.round(tiny.requests.average);
    const round3 = (x: number) => Math.round(x * 1000) / 1000;
    process.stdout.write(
      `${JSON.stringify({
        rps,
        p50_ms: r.latency.p50,
        p99_ms: r.latency.p99,
        bare_rps: bareRps,
        ratio: round3(rps / bareRps),
        bare_body_bytes: meanBytes,
        bare_tiny_rps: tinyRps,
        ratio_tiny: round3(rps / tinyRps),
      })}\n`,
    );
    if (r.non2xx > 0 || r.errors > 0) process.exitCode = 1;
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
