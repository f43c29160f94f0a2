/**
 * `npm run soak` (not in CI): SOAK_MINUTES (30) of live POS traffic at 10× the
 * busiest real hour of the shared export (69 receipts, Nory Sushi, 2020-11-13
 * 18:00) for each of SOAK_BRANCHES (50) branches, through the whole pipeline in
 * one process (broker → ingest → ClickHouse → forecaster → API), with the API
 * under concurrent load (autocannon at SOAK_API_RATE, 100 req/s) the whole time.
 *
 * Before the clock starts, 35 days of simulated history are published so that
 * a model trains and every branch has a forecast (the API load then exercises
 * /predict answers, not 503s). Prints one JSON line:
 *   {"minutes", "events_in", "events_stored", "orders_in", "orders_aggregated", "dlq", "consumer_lag_max",
 *    "api_requests", "api_errors", "api_p99_ms", "rss_start_mb", "rss_end_mb", "rss_slope_mb_per_h"}
 * events_in = events published (history + live); events_stored = rows of sales_events after the
 * ingest caught up; orders_in/aggregated compare SALE receipts with the sum of orders in sales_hourly.
 */
import autocannon from 'autocannon';
import { createApp, type ForecasterAppRole } from '../app/app';
import type { ApiRole } from '../api/role';
import { dateToDayNumber, formatCivilDate } from '../lib/time/civil-date';
import { HOUR_MS } from '../lib/time/units';
import { topicNames } from '../lib/topics';
import { Publisher } from '../producers/publisher';
import type { SaleEvent } from '../schemas/events';
import { startSimulation } from '../cli/simulate-command';
import { mulberry32 } from '../producers/simulator';
import { startBenchStack, stopBenchStack } from './bench-stack';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const BRANCHES = Number(process.env.SOAK_BRANCHES ?? 50);
const API_RATE = Number(process.env.SOAK_API_RATE ?? 100);
const BUSIEST_REAL_HOUR = 69;
const PER_BRANCH_PER_S = (10 * BUSIEST_REAL_HOUR) / 3600;
const MB = 1024 * 1024;

async function main() {
  const stack = startBenchStack('soak', {
    DEMO_BRANCHES: String(BRANCHES),
    HOST: '127.0.0.1',
    PORT: '0',
    API_RATE_LIMIT_PER_MIN: '0',
  });
  const app = createApp(stack.config);
  const log = app.ctx.logger.child({ module: 'soak' });
  await app.start();
  const api = (app.roles.get('api') as ApiRole).api;
  const forecaster = (app.roles.get('forecaster') as ForecasterAppRole).forecaster;
  const branches = app.ctx.branches.list().filter((b) => b.id.startsWith('sim-'));
  const topics = topicNames(stack.config);

  // History, then wait for a model and a forecast for every branch.
  const history = startSimulation(
    { branches, seed: 7, daysOfHistory: 35, speed: 'max', liveForMs: 0 },
    { ...app.ctx },
  );
  const hist = await history.done;
  const hasForecasts = async () => {
    const rs = await app.ctx.ch.client.query({
      query: `SELECT count(DISTINCT branch_id) AS n FROM ${app.ctx.ch.table('forecast_runs')}`,
      format: 'JSONEachRow',
    });
    return Number((await rs.json<{ n: string }>())[0]?.n) >= branches.length;
  };
  while (!(await hasForecasts())) await new Promise((r) => setTimeout(r, 1000));
  await forecaster.idle();
  log.warn({ events: hist.events }, 'history in, forecasts ready; soak starts');

  // Samples: RSS and consumer lag every 10 s.
  const admin = app.ctx.kafka.admin();
  await admin.connect();
  const lag = async () => {
    const ends = await admin.fetchTopicOffsets(topics.sales);
    const [committed] = await admin.fetchOffsets({
      groupId: stack.config.KAFKA_INGEST_GROUP,
      topics: [topics.sales],
    });
    let total = 0n;
    for (const e of ends) {
      const c = committed?.partitions.find((p) => p.partition === e.partition)?.offset ?? '0';
      total += BigInt(e.high) - BigInt(c === '-1' ? '0' : c);
    }
    return Number(total);
  };
  const rss: { t: number; mb: number }[] = [];
  let lagMax = 0;
  const t0 = Date.now();
  const end = t0 + MINUTES * 60_000;
  const sampler = setInterval(() => {
    rss.push({ t: (Date.now() - t0) / HOUR_MS, mb: process.memoryUsage().rss / MB });
    lag().then(
      (n) => (lagMax = Math.max(lagMax, n)),
      (err: unknown) => log.error({ err }, 'lag sample failed'),
    );
  }, 10_000);
  rss.push({ t: 0, mb: process.memoryUsage().rss / MB });

  // API load for the whole soak, on a mix of branches and ranges.
  const today = new Date().toISOString().slice(0, 10);
  const plus = (d: string, n: number) => formatCivilDate(dateToDayNumber(d) + n);
  const requests = branches.flatMap((b) =>
    [0, 1, 3, 6, 13].map((days) => ({
      method: 'GET' as const,
      path: `/predict?branch_id=${b.id}&start=${plus(today, -2)}&end=${plus(today, days)}`,
    })),
  );
  const load = autocannon({
    url: api.url(),
    connections: 10,
    overallRate: API_RATE,
    duration: MINUTES * 60,
    requests,
  });

  // Live traffic: every second, Poisson arrivals per branch at 10× the busiest real hour; 3% voids
  // (a Voided receipt + its negative reversal), heartbeats every 10 s.
  const publisher = new Publisher(app.ctx.kafka, log);
  await publisher.connect();
  const random = mulberry32(42);
  let live = 0;
  let liveOrders = 0;
  let seq = 0;
  for (let tick = 0; Date.now() < end; tick++) {
    const now = Date.now();
    for (const b of branches) {
      let k = 0;
      for (let p = Math.exp(-PER_BRANCH_PER_S), u = random(); u > p; u *= random()) k++;
      for (let i = 0; i < k; i++) {
        const total = 500 + Math.floor(random() * 6000);
        const base: SaleEvent = {
          event_id: `soak-${seq++}`,
          branch_id: b.id,
          occurred_at: now - Math.floor(random() * 1000),
          status: 'SALE',
          channel: random() < 0.7 ? 'RESTAURANT' : 'TAKEAWAY',
          currency: 'EUR',
          total_minor: total,
          net_minor: Math.round(total / 1.135),
          tax_minor: total - Math.round(total / 1.135),
          tip_minor: 0,
          covers: null,
          pos: { source: 'soak' },
        };
        const events: SaleEvent[] =
          random() < 0.03
            ? [
                { ...base, status: 'VOID' },
                {
                  ...base,
                  event_id: `soak-${seq++}`,
                  status: 'VOID',
                  total_minor: -total,
                  net_minor: -base.net_minor,
                  tax_minor: -base.tax_minor,
                },
              ]
            : [base];
        for (const e of events) {
          await publisher.send(topics.sales, { key: e.branch_id, value: app.ctx.codec.encode('sale', e) });
          live++;
          if (e.status === 'SALE') liveOrders++;
        }
      }
      if (tick % 10 === 0)
        await publisher.send(topics.sales, {
          key: b.id,
          value: app.ctx.codec.encode('heartbeat', { branch_id: b.id, at: now, source: 'soak' }),
        });
    }
    await publisher.flush();
    const wait = t0 + (tick + 1) * 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await publisher.close();
  const result = await load;
  clearInterval(sampler);
  rss.push({ t: (Date.now() - t0) / HOUR_MS, mb: process.memoryUsage().rss / MB });

  // Let the ingest catch up, then count.
  while ((await lag()) > 0) await new Promise((r) => setTimeout(r, 500));
  const count = async (query: string) => {
    const rs = await app.ctx.ch.client.query({ query, format: 'JSONEachRow' });
    return Number((await rs.json<{ n: string }>())[0]?.n);
  };
  const stored = await count(`SELECT count() AS n FROM ${app.ctx.ch.table('sales_events')} FINAL`);
  const ordersAggregated = await count(
    `SELECT sum(orders) AS n FROM ${app.ctx.ch.table('sales_hourly')} FINAL`,
  );
  const historyOrders = await count(
    `SELECT countIf(status = 'SALE' AND event_id NOT LIKE 'soak-%') AS n FROM ${app.ctx.ch.table('sales_events')} FINAL`,
  );
  const dlq = (await admin.fetchTopicOffsets(topics.dlq)).reduce((s, p) => s + Number(p.high), 0);
  await admin.disconnect();

  // RSS trend over the second half (after warm-up), least squares.
  const half = rss.filter((s) => s.t >= rss[rss.length - 1]!.t / 2);
  const mt = half.reduce((s, x) => s + x.t, 0) / half.length;
  const mm = half.reduce((s, x) => s + x.mb, 0) / half.length;
  const slope =
    half.reduce((s, x) => s + (x.t - mt) * (x.mb - mm), 0) /
    Math.max(
      1e-9,
      half.reduce((s, x) => s + (x.t - mt) ** 2, 0),
    );

  await app.stop();
  stack.cleanup();
  stopBenchStack();
  const latencies = result.latency;
  console.log(
    JSON.stringify({
      minutes: MINUTES,
      branches: branches.length,
      events_in: hist.events + live,
      events_stored: stored,
      orders_in: historyOrders + liveOrders,
      orders_aggregated: ordersAggregated,
      dlq,
      consumer_lag_max: lagMax,
      api_requests: result.requests.total,
      api_errors: result.errors + result.non2xx,
      api_p99_ms: latencies.p99,
      rss_start_mb: Math.round(rss[0]!.mb),
      rss_end_mb: Math.round(rss[rss.length - 1]!.mb),
      rss_slope_mb_per_h: Math.round(slope),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
