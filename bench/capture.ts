/**
 * `npm run bench:capture`: POS events end to end through the HTTP capture route (issue 18):
 * BENCH_CONNECTIONS (50) keep-alive connections post batches of BENCH_BATCH (100) sale events to
 * POST /v1/events of a real API server, which publishes them to the real broker (acks=all) before
 * answering; the real ingest consumer stores and aggregates them in the embedded engine. One JSON
 * line:
 *   {"events_per_s", "p99_ms", "p50_ms", "accepted", "stored", "lost", "requests", "status_503", ...}
 * events_per_s: accepted events / (first request -> last ingest commit); p50/p99_ms: request
 * latency (HTTP in -> Kafka acknowledged -> 202 out); lost: accepted events not in sales_events
 * (must be 0). Server, ingest and load generator share this process (and the machine's cores).
 *
 * Uses its own broker and a throwaway data dir (bench-stack.ts); the rate limit is off (one key
 * posts everything).
 */
import http from 'node:http';
import { generateKey } from '../api/keys';
import { createApiServer } from '../api/server';
import { BranchDirectory } from '../lib/branches';
import { createClickHouse } from '../clickhouse/client';
import { ApiKeys } from '../clickhouse/store/api-keys';
import { createKafka } from '../lib/kafka-client';
import { createLogger } from '../lib/logger';
import { provisionKafka } from '../lib/kafka-provision';
import { migrate } from '../clickhouse/migrate';
import { createIngestRole } from '../consumers/ingest/ingest-consumer';
import { simulatedBranches } from '../producers/simulator';
import { defaultCodec } from '../schemas/avro-codec';
import { percentile, startBenchStack, stopBenchStack } from './bench-stack';
import { postEvents, type CaptureAnswer } from './capture-client';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const BRANCHES = Number(process.env.BENCH_BRANCHES ?? 50);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);

async function main() {
  const stack = startBenchStack('capture', {
    KAFKA_SALES_PARTITIONS: process.env.BENCH_PARTITIONS ?? '6',
    API_RATE_LIMIT_PER_MIN: '0',
  });
  const config = stack.config;
  const logger = createLogger(config.LOG_LEVEL);
  const kafka = createKafka(config, logger);
  // Topics and the ACL table: the API publishes as the `pos` principal, ingest reads as `ingest`.
  await provisionKafka(kafka, config, logger, ['pos', 'ingest']);
  const ch = createClickHouse(config, logger);
  await migrate(ch, logger);
  const branchList = simulatedBranches(BRANCHES);
  const branches = new BranchDirectory(branchList);

  const k = generateKey();
  await new ApiKeys(ch).create({
    keyId: k.keyId,
    keyHash: k.keyHash,
    name: 'bench capture',
    branches: [],
    groups: [],
    admin: true,
    metrics: false,
    capture: true,
    createdAt: Date.now(),
    createdBy: 'bench',
  });

  // Batches of one branch's receipts in time order (a till's), the branches round-robin.
  const from = Date.UTC(2024, 0, 1);
  const perBranch = Math.ceil(EVENTS / BRANCHES);
  const batches: Record<string, unknown>[][] = [];
  for (let start = 0; start < perBranch; start += BATCH) {
    for (const b of branchList) {
      const batch: Record<string, unknown>[] = [];
      for (let i = start; i < Math.min(start + BATCH, perBranch); i++)
        batch.push({
          event_id: `r-${i}`,
          branch_id: b.id,
          occurred_at: from + i * 60_000,
          status: 'SALE',
          channel: 'RESTAURANT',
          currency: b.currency,
          total_minor: 1000 + (i % 5000),
          net_minor: 800 + (i % 4000),
          tax_minor: 200 + (i % 5000) - (i % 4000),
          tip_minor: i % 300,
          covers: 1 + (i % 6),
        });
      if (batch.length > 0) batches.push(batch);
    }
  }

  let committed = 0;
  let lastCommitAt = 0;
  const ingest = createIngestRole({
    config,
    kafka,
    ch,
    codec: defaultCodec(),
    branches,
    logger,
    onCommitted: ({ timestamps }) => {
      committed += timestamps.length;
      lastCommitAt = Date.now();
    },
  });
  await ingest.start();
  const api = createApiServer({ config, ch, branches, logger }, { forecastPollMs: 60_000 });
  await api.start();
  await api.listen(0, '127.0.0.1');
  const base = api.url();
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });

  const latencies: number[] = [];
  let accepted = 0;
  let rejected = 0;
  let unavailable = 0;
  let other = 0;
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      for (;;) {
        const i = next++;
        const batch = batches[i];
        if (!batch) return;
        for (;;) {
          const a = await postEvents(base, k.key, batch, agent, 60_000);
          latencies.push(a.ms);
          if (a.status === 202) {
            const body = a.body as CaptureAnswer;
            accepted += body.accepted;
            rejected += body.rejected;
            break;
          }
          if (a.status === 503) {
            unavailable++;
            await new Promise((r) => setTimeout(r, 1000 * Number(a.retryAfter ?? '1')));
            continue;
          }
          other++;
          break;
        }
      }
    }),
  );
  const httpDone = Date.now();
  // Everything accepted was acknowledged by Kafka; wait for ingest to have committed all of it.
  const deadline = Date.now() + 600_000;
  while (committed < accepted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));

  const rs = await ch.client.query({
    query: `SELECT count() AS n FROM (SELECT DISTINCT branch_id, event_id FROM ${ch.table('sales_events')})`,
    format: 'JSONEachRow',
  });
  const stored = Number((await rs.json<{ n: string }>())[0]?.n);
  agent.destroy();
  await api.stop();
  await ingest.stop();
  await ch.close();
  stack.cleanup();
  stopBenchStack();
  latencies.sort((a, b) => a - b);
  const seconds = (Math.max(lastCommitAt, httpDone) - t0) / 1000;
  console.log(
    JSON.stringify({
      events_per_s: Math.round(accepted / seconds),
      p50_ms: Math.round(percentile(latencies, 50) * 10) / 10,
      p99_ms: Math.round(percentile(latencies, 99) * 10) / 10,
      accepted,
      stored,
      lost: Math.max(0, accepted - stored),
      rejected,
      requests: latencies.length,
      status_503: unavailable,
      status_other: other,
      connections: CONNECTIONS,
      batch: BATCH,
      http_s: (httpDone - t0) / 1000,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
