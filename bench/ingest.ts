/**
 * `npm run bench:ingest`: publishes simulated POS events (default 1,000,000)
 * through the real broker into the embedded engine and prints one JSON line:
 *   {"events": N, "events_per_s": X, "latency_ms_p50": X, "latency_ms_p99": X}
 * events/s runs from the first publish to the last batch committed (aggregates
 * written); latency is event publish (Kafka timestamp) to its batch's commit.
 *
 * Uses its own broker and a throwaway data dir (bench-stack.ts).
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BranchDirectory } from '../lib/branches';
import { createClickHouse } from '../clickhouse/client';
import { createKafka } from '../lib/kafka-client';
import { createLogger } from '../lib/logger';
import { ensureTopicsOn, topicNames } from '../lib/topics';
import { migrate } from '../clickhouse/migrate';
import { createIngestRole } from '../consumers/ingest/ingest-consumer';
import { simulatedBranches } from '../producers/simulator';
import { defaultCodec } from '../schemas/avro-codec';
import { percentile, startBenchStack, stopBenchStack } from './bench-stack';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const BRANCHES = Number(process.env.BENCH_BRANCHES ?? 200);
const PUBLISHERS = Number(process.env.BENCH_PUBLISHERS ?? 2);

async function main() {
  const stack = startBenchStack('ingest', { KAFKA_SALES_PARTITIONS: process.env.BENCH_PARTITIONS ?? '6' });
  const config = stack.config;
  const logger = createLogger(config.LOG_LEVEL);
  const kafka = createKafka(config, logger);
  await ensureTopicsOn(kafka, config);
  const ch = createClickHouse(config, logger);
  await migrate(ch, logger);
  const codec = defaultCodec();
  const branches = new BranchDirectory(simulatedBranches(BRANCHES));
  const from = Date.UTC(2024, 0, 1);

  // The load generators run in worker threads (PUBLISHERS of them, each a producer of its own, as
  // tills are), each publishing a shard of the branches.
  const workers = Array.from(
    { length: PUBLISHERS },
    (_, shard) =>
      new Worker(path.join(__dirname, 'publish-worker.js'), {
        workerData: {
          env: { ...process.env, LOG_LEVEL: config.LOG_LEVEL, KAFKA_BROKERS: config.KAFKA_BROKERS.join(',') },
          events: EVENTS,
          branches: BRANCHES,
          from,
          topic: topicNames(config).sales,
          shard,
          shards: PUBLISHERS,
        },
      }),
  );
  const fromWorker = (worker: Worker, type: string) =>
    new Promise<Record<string, number>>((resolve, reject) => {
      const onMessage = (m: { type: string; message?: string } & Record<string, number>) => {
        if (m.type === 'error') reject(new Error(m.message));
        else if (m.type === type) {
          worker.off('message', onMessage);
          resolve(m);
        }
      };
      worker.on('message', onMessage);
    });
  const readies = await Promise.all(workers.map((w) => fromWorker(w, 'ready')));
  const sales = readies.reduce((n, r) => n + r.sales!, 0);
  const total = readies.reduce((n, r) => n + r.messages!, 0);

  const latencies = new Float64Array(total);
  let committed = 0;
  let lastCommitAt = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const ingest = createIngestRole({
    config,
    kafka,
    ch,
    codec,
    branches,
    logger,
    onCommitted: ({ timestamps }) => {
      const t = Date.now();
      for (const ts of timestamps) latencies[committed++] = t - Number(ts);
      lastCommitAt = t;
      if (committed >= total) resolveDone();
    },
  });
  await ingest.start();

  const published = Promise.all(workers.map((w) => fromWorker(w, 'published')));
  for (const w of workers) w.postMessage('go');
  const times = await published;
  const t0 = Math.min(...times.map((t) => t.t0!));
  const t1 = Math.max(...times.map((t) => t.t1!));
  await done;
  await Promise.all(workers.map((w) => w.terminate()));
  const seconds = (lastCommitAt - t0) / 1000;
  latencies.sort();

  const rs = await ch.client.query({
    query: `SELECT count() AS n FROM ${ch.table('sales_events')}`,
    format: 'JSONEachRow',
  });
  const stored = Number((await rs.json<{ n: string }>())[0]?.n);
  await ingest.stop();
  await ch.close();
  stack.cleanup();
  stopBenchStack();
  if (stored !== sales) throw new Error(`stored ${stored} events, published ${sales}`);
  console.log(
    JSON.stringify({
      events: sales,
      messages: total,
      events_per_s: Math.round(sales / seconds),
      latency_ms_p50: Math.round(percentile(latencies, 50)),
      latency_ms_p99: Math.round(percentile(latencies, 99)),
      publish_s: (t1 - t0) / 1000,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
