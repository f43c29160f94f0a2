/**
 * An in-process ingest pipeline for tests: its own topics and consumer group
 * (so tests never see each other's messages), a fresh ClickHouse database, the
 * real broker and the real embedded engine.
 */
import type { Kafka } from 'kafkajs';
import { BranchDirectory } from '../lib/branches';
import { createClickHouse, type ClickHouse } from '../clickhouse/client';
import type { Config } from '../lib/config';
import { createKafka } from '../lib/kafka-client';
import { createLogger, type Logger } from '../lib/logger';
import { ensureTopicsOn, topicNames, isolatedKafkaEnv } from '../lib/topics';
import { migrate } from '../clickhouse/migrate';
import { createIngestRole, type IngestRole } from '../consumers/ingest/ingest-consumer';
import { Publisher } from '../producers/publisher';
import { defaultCodec, type AvroCodec } from '../schemas/avro-codec';
import { uniqueName, waitFor } from './kafka-broker';
import { testConfig } from './test-config';

export interface Harness {
  config: Config;
  logger: Logger;
  kafka: Kafka;
  ch: ClickHouse;
  codec: AvroCodec;
  branches: BranchDirectory;
  publisher: Publisher;
  topics: ReturnType<typeof topicNames>;
  startIngest(): Promise<IngestRole>;
  /** Polls until the ingest group has committed every message published so far. */
  waitForIngestCaughtUp(timeoutMs?: number): Promise<void>;
  hourly(
    branchId?: string,
  ): Promise<Map<string, Map<number, { sales: number; orders: number; closed: number; revision: number }>>>;
  close(): Promise<void>;
}

export async function createHarness(overrides: Record<string, string> = {}): Promise<Harness> {
  const base = uniqueName('it');
  const config = testConfig({
    ...isolatedKafkaEnv(base),
    KAFKA_SALES_PARTITIONS: '3',
    ...overrides,
  });
  const logger = createLogger(config.LOG_LEVEL);
  const kafka = createKafka(config, logger);
  await ensureTopicsOn(kafka, config);
  const ch = createClickHouse(config, logger);
  await migrate(ch, logger);
  const codec = defaultCodec();
  const branches = BranchDirectory.load(config.BRANCHES_FILE);
  const publisher = new Publisher(kafka, logger);
  await publisher.connect();
  const topics = topicNames(config);
  const roles: IngestRole[] = [];

  const h: Harness = {
    config,
    logger,
    kafka,
    ch,
    codec,
    branches,
    publisher,
    topics,
    async startIngest() {
      const role = createIngestRole({ config, kafka, ch, codec, branches, logger });
      await role.start();
      roles.push(role);
      return role;
    },
    async waitForIngestCaughtUp(timeoutMs = 120_000) {
      const a = kafka.admin();
      await a.connect();
      try {
        const ends = await a.fetchTopicOffsets(topics.sales);
        await waitFor(
          async () => {
            const [committed] = await a.fetchOffsets({
              groupId: config.KAFKA_INGEST_GROUP,
              topics: [topics.sales],
            });
            return ends.every((e) => {
              const c = committed?.partitions.find((p) => p.partition === e.partition);
              return c !== undefined && BigInt(c.offset === '-1' ? '0' : c.offset) >= BigInt(e.high);
            });
          },
          { timeoutMs, intervalMs: 250, description: 'ingest group to commit every published message' },
        );
      } finally {
        await a.disconnect();
      }
    },
    async hourly(branchId?: string) {
      const rs = await ch.client.query({
        query: `SELECT branch_id, toUnixTimestamp(hour_start) * 1000 AS h, sales_minor, orders, closed, revision
                FROM ${ch.table('sales_hourly')} FINAL
                WHERE {b:String} = '' OR branch_id = {b:String}`,
        query_params: { b: branchId ?? '' },
        format: 'JSONEachRow',
      });
      const out = new Map<
        string,
        Map<number, { sales: number; orders: number; closed: number; revision: number }>
      >();
      for (const r of await rs.json<{
        branch_id: string;
        h: number;
        sales_minor: string;
        orders: number;
        closed: number;
        revision: number;
      }>()) {
        let m = out.get(r.branch_id);
        if (!m)
          out.set(
            r.branch_id,
            (m = new Map<number, { sales: number; orders: number; closed: number; revision: number }>()),
          );
        m.set(Number(r.h), {
          sales: Number(r.sales_minor),
          orders: Number(r.orders),
          closed: Number(r.closed),
          revision: Number(r.revision),
        });
      }
      return out;
    },
    async close() {
      for (const r of roles) await r.stop();
      await publisher.close();
      await ch.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
      await ch.close();
    },
  };
  return h;
}
