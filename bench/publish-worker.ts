/**
 * Load generator for bench/ingest.ts, in a worker thread so that publishing
 * (kafkajs record encoding is CPU work) does not share the consumer's thread —
 * as real tills would not. Generates simulated events, publishes them, reports.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from '../lib/config';
import { createKafka } from '../lib/kafka-client';
import { createLogger } from '../lib/logger';
import { DAY_MS, HOUR_MS } from '../lib/time/units';
import { Publisher } from '../producers/publisher';
import { simulate, simulatedBranches } from '../producers/simulator';
import { defaultCodec } from '../schemas/avro-codec';

interface Job {
  env: Record<string, string>;
  events: number;
  branches: number;
  from: number;
  topic: string;
  /** This worker publishes the branches whose index % shards === shard (each branch stays in order). */
  shard: number;
  shards: number;
}

async function run(job: Job) {
  const config = loadConfig(job.env);
  const logger = createLogger(config.LOG_LEVEL);
  const codec = defaultCodec();
  const messages: { key: string; value: Buffer }[] = [];
  let sales = 0;
  let all = 0;
  const mine = new Set(
    simulatedBranches(job.branches)
      .filter((_, i) => i % job.shards === job.shard)
      .map((b) => b.id),
  );
  // Hourly heartbeats: enough to close every hour without dwarfing the sales themselves.
  for (const m of simulate({
    branches: simulatedBranches(job.branches),
    from: job.from,
    to: job.from + 400 * DAY_MS,
    seed: 7,
    heartbeatEveryMs: HOUR_MS,
  })) {
    // Every worker walks the same event sequence and stops at the same point: the shards add up to it.
    if (m.kind === 'sale' && ++all > job.events) break;
    if (!mine.has(m.value.branch_id)) continue;
    messages.push({
      key: m.value.branch_id,
      value: m.kind === 'sale' ? codec.encode('sale', m.value) : codec.encode('heartbeat', m.value),
    });
    if (m.kind === 'sale') sales++;
  }
  const publisher = new Publisher(createKafka(config, logger), logger, {
    maxBatchMessages: Number(process.env.BENCH_PUBLISH_BATCH ?? 50_000),
  });
  await publisher.connect();
  parentPort?.postMessage({ type: 'ready', sales, messages: messages.length });
  await new Promise<void>((resolve) => parentPort?.once('message', () => resolve()));
  const t0 = Date.now();
  for (const m of messages) await publisher.send(job.topic, m);
  await publisher.close();
  parentPort?.postMessage({ type: 'published', t0, t1: Date.now() });
}

run(workerData as Job).catch((err: unknown) => {
  parentPort?.postMessage({ type: 'error', message: String((err as Error).stack ?? err) });
});
