/** Topic names and specs from the config (no broker: ensureTopics is covered by test/kafka-roundtrip.test.ts). */
import { loadConfig } from './config';
import { replicationFactorFor, topicNames, topicSpecs } from './topics';

describe('topics', () => {
  test('names come from the config', () => {
    const config = loadConfig({
      KAFKA_TOPIC_SALES: 's',
      KAFKA_TOPIC_DLQ: 'd',
      KAFKA_TOPIC_HOURS_CLOSED: 'h',
      KAFKA_TOPIC_TRAINING: 't',
      KAFKA_TOPIC_CALENDAR: 'c',
    });
    expect(topicNames(config)).toEqual({
      sales: 's',
      dlq: 'd',
      hoursClosed: 'h',
      training: 't',
      calendar: 'c',
    });
    expect(topicNames(loadConfig({}))).toEqual({
      sales: 'pos.sales.v1',
      dlq: 'pos.sales.dlq',
      hoursClosed: 'sales.hours.closed',
      training: 'tillcast.training.decisions',
      calendar: 'branch.calendar.changed',
    });
  });

  test('sales and hours-closed get KAFKA_SALES_PARTITIONS partitions, the DLQ one kept 30 days', () => {
    const specs = topicSpecs(loadConfig({ KAFKA_SALES_PARTITIONS: '4' }));
    const byName = Object.fromEntries(specs.map((s) => [s.topic, s]));
    expect(byName['pos.sales.v1']).toMatchObject({ numPartitions: 4, replicationFactor: 1 });
    expect(byName['sales.hours.closed']).toMatchObject({ numPartitions: 4, replicationFactor: 1 });
    expect(byName['branch.calendar.changed']).toMatchObject({ numPartitions: 4, replicationFactor: 1 });
    expect(byName['pos.sales.dlq']).toMatchObject({ numPartitions: 1, replicationFactor: 1 });
    expect(byName['pos.sales.dlq']!.configEntries).toContainEqual({
      name: 'retention.ms',
      value: '2592000000',
    });
  });

  test('min.insync.replicas follows the replication factor', () => {
    const minIsr = (rf: number) =>
      topicSpecs(loadConfig({}), rf)[0]!.configEntries!.find((e) => e.name === 'min.insync.replicas')!.value;
    expect([1, 2, 3, 5].map(minIsr)).toEqual(['1', '1', '2', '2']);
  });

  test('replication follows the cluster size: 3 from three brokers on, else one per broker', () => {
    expect([1, 2, 3, 4, 9].map(replicationFactorFor)).toEqual([1, 2, 3, 3, 3]);
    expect(loadConfig({}).KAFKA_REPLICATION_FACTOR).toBeUndefined();
    expect(loadConfig({ KAFKA_REPLICATION_FACTOR: '3' }).KAFKA_REPLICATION_FACTOR).toBe(3);
    expect(() => loadConfig({ KAFKA_REPLICATION_FACTOR: '0' })).toThrow(/KAFKA_REPLICATION_FACTOR/);
  });

  test('the training topic has one partition', () => {
    const specs = topicSpecs(loadConfig({ KAFKA_SALES_PARTITIONS: '4' }));
    expect(specs.find((s) => s.topic === 'tillcast.training.decisions')).toMatchObject({
      numPartitions: 1,
      replicationFactor: 1,
    });
    expect(() => topicSpecs(loadConfig({ KAFKA_TOPIC_TRAINING: 'sales.hours.closed' }))).toThrow(
      /training topic needs a name of its own/,
    );
  });

  test('three topics need three names', () => {
    expect(() => topicSpecs(loadConfig({ KAFKA_TOPIC_DLQ: 'pos.sales.v1' }))).toThrow(
      /three different names/,
    );
  });
});
