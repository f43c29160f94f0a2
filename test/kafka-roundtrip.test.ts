/**
 * kafkajs against the real test broker (started by the global setup), no mocks:
 * topic creation, the idempotent producer, a consumer group that commits and a
 * second consumer of the same group that resumes exactly where the first stopped.
 */
import { Writable } from 'node:stream';
import {
  ConfigResourceTypes,
  logLevel,
  type Admin,
  type Consumer,
  type Kafka,
  type KafkaMessage,
} from 'kafkajs';
import pino from 'pino';
import type { Config } from '../lib/config';
import { createKafka, kafkaLogCreator } from '../lib/kafka-client';
import { createLogger } from '../lib/logger';
import { ensureTopics, isolatedKafkaEnv, topicNames } from '../lib/topics';
import { brokerStatus, testBrokerPort, uniqueName, waitFor } from './kafka-broker';
import { testConfig } from './test-config';

interface Payload {
  i: number;
  round: 'first' | 'second';
}

describe('kafkajs against the test broker', () => {
  let config: Config;
  let kafka: Kafka;
  let admin: Admin;
  const topicsToDelete: string[] = [];
  const groupsToDelete: string[] = [];

  beforeAll(async () => {
    const base = uniqueName('rt');
    config = testConfig({ ...isolatedKafkaEnv(base), KAFKA_SALES_PARTITIONS: '3' });
    kafka = createKafka(config, createLogger(config.LOG_LEVEL));
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    // The test broker may be kept between runs (TEST_KEEP_STACK): leave it tidy.
    if (groupsToDelete.length > 0) await admin.deleteGroups(groupsToDelete).catch(() => undefined);
    if (topicsToDelete.length > 0)
      await admin.deleteTopics({ topics: topicsToDelete }).catch(() => undefined);
    await admin.disconnect();
  });

  test('talks to the stack broker: Kafka 3.9, one node, the stack cluster id', async () => {
    expect(config.KAFKA_BROKERS).toEqual([`127.0.0.1:${testBrokerPort()}`]);
    const cluster = await admin.describeCluster();
    expect(cluster.brokers).toEqual([{ nodeId: 1, host: '127.0.0.1', port: testBrokerPort() }]);
    expect(cluster.controller).toBe(1);

    const status = await brokerStatus();
    expect(status).toMatchObject({ state: 'running', version: '3.9.2', clusterId: cluster.clusterId });

    // The broker's own view of its version: the default protocol version is the release's.
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: ConfigResourceTypes.BROKER, name: '1', configNames: ['inter.broker.protocol.version'] },
      ],
    });
    expect(resources[0]!.configEntries[0]!.configValue).toMatch(/^3\.9-IV\d+$/);
  });

  test('ensureTopics creates the five topics once, each partition with a leader', async () => {
    const names = topicNames(config);
    const all = [names.sales, names.dlq, names.hoursClosed, names.training, names.calendar];
    topicsToDelete.push(...all);

    const first = await ensureTopics(admin, config);
    expect(first.created.sort()).toEqual([...all].sort());

    const { topics } = await admin.fetchTopicMetadata({ topics: all });
    const byName = new Map(topics.map((t) => [t.name, t.partitions]));
    expect(byName.get(names.sales)).toHaveLength(3);
    expect(byName.get(names.hoursClosed)).toHaveLength(3);
    expect(byName.get(names.dlq)).toHaveLength(1);
    // One partition: one member of the trainer group owns it (consumers/forecaster/trainer.ts).
    expect(byName.get(names.training)).toHaveLength(1);
    // As many as hours-closed: a branch's calendar changes reach the owner of its closed hours.
    expect(byName.get(names.calendar)).toHaveLength(3);
    for (const partitions of byName.values()) {
      for (const p of partitions) {
        expect(p.leader).toBe(1);
        expect(p.replicas).toEqual([1]);
      }
    }

    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: names.dlq,
          configNames: ['retention.ms', 'min.insync.replicas'],
        },
      ],
    });
    const dlqConfig = Object.fromEntries(
      resources[0]!.configEntries.map((e) => [e.configName, e.configValue]),
    );
    expect(dlqConfig).toEqual({ 'retention.ms': String(30 * 24 * 3600 * 1000), 'min.insync.replicas': '1' });

    // Idempotent: a second run (another process starting) creates nothing and does not throw.
    expect(await ensureTopics(admin, config)).toEqual({ created: [] });
  });

  test('a consumer group resumes from its committed offsets', async () => {
    const topic = uniqueName('rt.events');
    const groupId = uniqueName('rt.group');
    topicsToDelete.push(topic);
    groupsToDelete.push(groupId);
    const N = 60;
    const M = 25;
    const keyOf = (i: number) => `branch-${i % 7}`;

    expect(
      await admin.createTopics({
        topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
        waitForLeaders: true,
      }),
    ).toBe(true);

    // Idempotent producer: acks=all, one request in flight, sequence numbers checked by the broker.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const produce = async (from: number, count: number, round: Payload['round']) => {
      const messages = Array.from({ length: count }, (_, k) => {
        const i = from + k;
        return { key: keyOf(i), value: JSON.stringify({ i, round } satisfies Payload) };
      });
      const acks = await producer.send({ topic, messages });
      expect(acks.every((a) => a.errorCode === 0)).toBe(true);
    };

    const endOffsets = async () =>
      new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.high]));
    const committedOffsets = async () => {
      const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return new Map((t?.partitions ?? []).map((p) => [p.partition, p.offset]));
    };
    const sameOffsets = (a: Map<number, string>, b: Map<number, string>) =>
      a.size === b.size && [...a].every(([partition, offset]) => b.get(partition) === offset);

    const consume = async (
      into: Array<{ key: string; payload: Payload; partition: number }>,
    ): Promise<Consumer> => {
      const consumer = kafka.consumer({
        groupId,
        maxWaitTimeInMs: 100,
        sessionTimeout: 10_000,
        heartbeatInterval: 1_000,
      });
      await consumer.connect();
      // fromBeginning applies only where the group has no committed offset: the second
      // consumer reading old messages again would mean the commits were lost.
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        // Default autoCommit: kafkajs commits the resolved offsets after each batch.
        eachMessage: async ({ partition, message }: { partition: number; message: KafkaMessage }) => {
          into.push({
            key: message.key!.toString(),
            payload: JSON.parse(message.value!.toString()) as Payload,
            partition,
          });
          return Promise.resolve();
        },
      });
      return consumer;
    };

    try {
      await produce(0, N, 'first');
      const firstEnds = await endOffsets();
      expect([...firstEnds.values()].reduce((s, o) => s + Number(o), 0)).toBe(N);

      const firstRound: Array<{ key: string; payload: Payload; partition: number }> = [];
      const consumer1 = await consume(firstRound);
      try {
        await waitFor(() => firstRound.length >= N, {
          timeoutMs: 60_000,
          description: `the first consumer to receive ${N} messages`,
        });
        await waitFor(async () => sameOffsets(await committedOffsets(), firstEnds), {
          timeoutMs: 30_000,
          intervalMs: 200,
          description: 'the first consumer to commit up to the end of every partition',
        });
      } finally {
        await consumer1.disconnect();
      }
      expect(firstRound.map((m) => m.payload.i).sort((a, b) => a - b)).toEqual(
        Array.from({ length: N }, (_, i) => i),
      );
      // Keyed messages of one key share a partition and arrive in the order they were sent.
      for (let k = 0; k < 7; k++) {
        const ofKey = firstRound.filter((m) => m.key === `branch-${k}`);
        expect(new Set(ofKey.map((m) => m.partition)).size).toBe(1);
        expect(ofKey.map((m) => m.payload.i)).toEqual(
          [...ofKey.map((m) => m.payload.i)].sort((a, b) => a - b),
        );
      }

      await produce(N, M, 'second');
      const secondEnds = await endOffsets();

      const secondRound: Array<{ key: string; payload: Payload; partition: number }> = [];
      const consumer2 = await consume(secondRound);
      try {
        await waitFor(() => secondRound.length >= M, {
          timeoutMs: 60_000,
          description: `the second consumer to receive ${M} messages`,
        });
        // Each partition is read in offset order, so any old message re-delivered would have come
        // before the new ones: once the M new ones are in, the list is complete.
        await waitFor(async () => sameOffsets(await committedOffsets(), secondEnds), {
          timeoutMs: 30_000,
          intervalMs: 200,
          description: 'the second consumer to commit up to the new end of every partition',
        });
      } finally {
        await consumer2.disconnect();
      }
      expect(secondRound).toHaveLength(M);
      expect(secondRound.every((m) => m.payload.round === 'second')).toBe(true);
      expect(secondRound.map((m) => m.payload.i).sort((a, b) => a - b)).toEqual(
        Array.from({ length: M }, (_, k) => N + k),
      );

      // The group's committed offsets (as admin sees them) are the ends of the partitions.
      const committed = await committedOffsets();
      expect(Object.fromEntries(committed)).toEqual(Object.fromEntries(secondEnds));
      expect([...committed.values()].reduce((s, o) => s + Number(o), 0)).toBe(N + M);
    } finally {
      await producer.disconnect();
    }
  });
});

describe('kafkajs log bridge', () => {
  function capture(level: string) {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    return { lines, logger: pino({ level }, sink) };
  }

  const entry = (level: logLevel, message: string, extra: Record<string, unknown> = {}) => ({
    namespace: 'Connection',
    level,
    label: logLevel[level],
    log: { timestamp: '2025-01-01T00:00:00.000Z', logger: 'kafkajs', message, ...extra },
  });

  test('writes kafkajs entries to a pino child with module kafkajs and mapped levels', () => {
    const { lines, logger } = capture('debug');
    const log = kafkaLogCreator(logger)(logLevel.DEBUG);
    log(entry(logLevel.ERROR, 'Crash: KafkaJSNonRetriableError', { groupId: 'g', error: 'boom' }));
    log(entry(logLevel.WARN, 'Something odd'));
    log(entry(logLevel.INFO, 'Consumer has joined the group'));
    log(entry(logLevel.DEBUG, 'Request Metadata(key: 3, version: 6)'));
    expect(lines.map((l) => l.level)).toEqual([50, 40, 30, 20]);
    expect(lines[0]).toMatchObject({
      module: 'kafkajs',
      ns: 'Connection',
      groupId: 'g',
      error: 'boom',
      msg: 'Crash: KafkaJSNonRetriableError',
    });
    // kafkajs's own timestamp and logger name are not repeated: pino has its own time.
    expect(lines[0]).not.toHaveProperty('timestamp');
    expect(lines[0]).not.toHaveProperty('logger');
  });

  test('demotes routine, retried noise', () => {
    const { lines, logger } = capture('debug');
    const log = kafkaLogCreator(logger)(logLevel.DEBUG);
    log(entry(logLevel.WARN, 'KafkaJS v2.0.0 switched default partitioner. To retain ...'));
    log(
      entry(logLevel.ERROR, 'Response Metadata(key: 3, version: 6)', {
        error: 'This server does not host this topic-partition',
      }),
    );
    log(
      entry(logLevel.ERROR, 'Response GroupCoordinator(key: 10, version: 2)', {
        error: 'The group coordinator is not available',
      }),
    );
    log(entry(logLevel.ERROR, '[Runner] The group is rebalancing, re-joining'));
    log(entry(logLevel.WARN, 'Limiting retries for the idempotent producer may invalidate EoS guarantees'));
    log(entry(logLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:19092'));
    expect(lines.map((l) => l.level)).toEqual([20, 20, 20, 30, 30, 40]);
  });

  test('kafkajs builds only the entries pino would print', () => {
    const { lines, logger } = capture('warn');
    const client = createKafka({ KAFKA_BROKERS: ['127.0.0.1:1'], KAFKA_CLIENT_ID: 'bridge-test' }, logger);
    client.logger().info('not printed at warn');
    client.logger().warn('printed');
    expect(lines.map((l) => l.msg)).toEqual(['printed']);
  });
});
