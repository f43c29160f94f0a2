/**
 * The one module that knows tillcast's topics: their names (from the config) and
 * how they are created. `ensureTopics` is idempotent and safe to run from every
 * process at start-up: it creates what is missing and waits until every
 * partition has a leader, so a producer can write right after it returns.
 */
import type { Admin, ITopicConfig, Kafka } from 'kafkajs';
import type { Config } from './config';
import { DAY_MS } from './time/units';

export type TopicConfig = Pick<
  Config,
  | 'KAFKA_TOPIC_SALES'
  | 'KAFKA_TOPIC_DLQ'
  | 'KAFKA_TOPIC_HOURS_CLOSED'
  | 'KAFKA_TOPIC_TRAINING'
  | 'KAFKA_TOPIC_CALENDAR'
  | 'KAFKA_SALES_PARTITIONS'
> &
  Partial<Pick<Config, 'KAFKA_REPLICATION_FACTOR'>>;

export interface TopicNames {
  /** POS events (sales and heartbeats), keyed by branch id. */
  readonly sales: string;
  /** Rejected messages: original bytes plus reason headers. */
  readonly dlq: string;
  /** HourClosed events, keyed by branch id. */
  readonly hoursClosed: string;
  /** Training decisions of the forecasters, keyed by decision id (consumers/forecaster/training-decision.ts). */
  readonly training: string;
  /** Branch calendar changes (CalendarChanged) from the API, keyed by branch id. */
  readonly calendar: string;
}

export function topicNames(config: TopicConfig): TopicNames {
  return {
    sales: config.KAFKA_TOPIC_SALES,
    dlq: config.KAFKA_TOPIC_DLQ,
    hoursClosed: config.KAFKA_TOPIC_HOURS_CLOSED,
    training: config.KAFKA_TOPIC_TRAINING,
    calendar: config.KAFKA_TOPIC_CALENDAR,
  };
}

/**
 * Environment overrides that give a run (a test, a benchmark) topics and consumer groups of its
 * own under `prefix`, so that runs sharing a broker never see each other's messages.
 */
export function isolatedKafkaEnv(prefix: string): Record<string, string> {
  return {
    KAFKA_TOPIC_SALES: `${prefix}.sales`,
    KAFKA_TOPIC_DLQ: `${prefix}.dlq`,
    KAFKA_TOPIC_HOURS_CLOSED: `${prefix}.hours`,
    KAFKA_INGEST_GROUP: `${prefix}.ingest`,
    KAFKA_FORECASTER_GROUP: `${prefix}.forecaster`,
    KAFKA_TOPIC_TRAINING: `${prefix}.training`,
    KAFKA_TRAINER_GROUP: `${prefix}.trainer`,
    KAFKA_TOPIC_CALENDAR: `${prefix}.calendar`,
  };
}

/**
 * What `ensureTopics` creates.
 *
 * - sales: KAFKA_SALES_PARTITIONS partitions; keyed by branch, so a branch's events stay in order.
 * - hours-closed: as many partitions as sales. Its events are keyed by branch too and come
 *   from the ingest consumers, one per sales partition at most; the forecaster group can then
 *   scale out as far as ingest does, each branch's hours still in order.
 * - dlq: one partition (low volume, read by people in arrival order) kept for 30 days, long
 *   enough to notice, fix and replay.
 * - training: one partition, so one member of the trainer group owns it and is the only one
 *   that trains; when it dies the partition (and the decision it had not committed) moves on.
 * - calendar: as many partitions as hours-closed, keyed by branch the same way, so a branch's
 *   calendar changes are in the partition of the same number as its closed hours; the forecaster
 *   group assigns both partitions of a number to one member (the branch's owner,
 *   consumers/forecaster/co-partitioned-assigner.ts).
 *
 * replicationFactor: see replicationFactorFor. min.insync.replicas follows it (2 of 3), so an
 * acks=all write (every producer of tillcast) survives one broker going away and is never
 * acknowledged by one replica alone.
 */
export function topicSpecs(config: TopicConfig, replicationFactor = 1): ITopicConfig[] {
  const names = topicNames(config);
  if ([names.sales, names.dlq, names.hoursClosed].includes(names.training)) {
    throw new Error(`the training topic needs a name of its own (got ${JSON.stringify(names)})`);
  }
  if ([names.sales, names.dlq, names.hoursClosed, names.training].includes(names.calendar)) {
    throw new Error(`the calendar topic needs a name of its own (got ${JSON.stringify(names)})`);
  }
  if (new Set([names.sales, names.dlq, names.hoursClosed]).size !== 3) {
    throw new Error(
      `the sales, DLQ and hours-closed topics need three different names (got ${JSON.stringify(names)})`,
    );
  }
  const minIsr = String(Math.max(1, Math.min(2, replicationFactor - 1)));
  const common = [{ name: 'min.insync.replicas', value: minIsr }];
  return [
    {
      topic: names.sales,
      numPartitions: config.KAFKA_SALES_PARTITIONS,
      replicationFactor,
      configEntries: common,
    },
    {
      topic: names.hoursClosed,
      numPartitions: config.KAFKA_SALES_PARTITIONS,
      replicationFactor,
      configEntries: common,
    },
    {
      topic: names.dlq,
      numPartitions: 1,
      replicationFactor,
      configEntries: [...common, { name: 'retention.ms', value: String(30 * DAY_MS) }],
    },
    {
      topic: names.training,
      numPartitions: 1,
      replicationFactor,
      configEntries: common,
    },
    {
      topic: names.calendar,
      numPartitions: config.KAFKA_SALES_PARTITIONS,
      replicationFactor,
      configEntries: common,
    },
  ];
}

/**
 * The replication factor for a cluster of `brokers` brokers: 3 from three brokers on (one broker
 * may die with no acknowledged write lost, and the topics stay writable with 2 in sync), one
 * replica per broker below that (1 on the local single broker).
 */
export function replicationFactorFor(brokers: number): number {
  return Math.max(1, Math.min(3, brokers));
}

/**
 * KAFKA_REPLICATION_FACTOR, or replicationFactorFor the brokers describeCluster sees. (Topics
 * created while a broker of a 3-node cluster is down would get 2 replicas: set the variable
 * where that matters.) An override larger than the cluster fails here, naming the variable,
 * rather than as kafkajs's bare INVALID_REPLICATION_FACTOR.
 */
export async function resolveReplicationFactor(
  admin: Admin,
  config: Pick<TopicConfig, 'KAFKA_REPLICATION_FACTOR'>,
): Promise<number> {
  const { brokers } = await admin.describeCluster();
  const explicit = config.KAFKA_REPLICATION_FACTOR;
  if (explicit === undefined) return replicationFactorFor(brokers.length);
  if (explicit > brokers.length) {
    throw new Error(
      `KAFKA_REPLICATION_FACTOR is ${explicit} but the Kafka cluster has ${brokers.length} broker(s)`,
    );
  }
  return explicit;
}

export interface EnsureTopicsResult {
  /** Topics this call created (the others existed already and were left as they are). */
  created: string[];
}

/**
 * Creates the missing topics (with `waitForLeaders`) and waits until every partition of every
 * one has a leader. Existing topics are not altered: adding partitions to the sales topic
 * would move branches to other partitions and break their ordering, so that stays a deliberate,
 * manual step; so is raising an existing topic's replication.
 *
 * replicationFactor: default resolveReplicationFactor (the override, else from the cluster size).
 */
export async function ensureTopics(
  admin: Admin,
  config: TopicConfig,
  replicationFactor?: number,
): Promise<EnsureTopicsResult> {
  const existing = new Set(await admin.listTopics());
  const wanted = topicSpecs(config); // names only: the replication is resolved if something is missing
  const missingNames = new Set(wanted.filter((s) => !existing.has(s.topic)).map((s) => s.topic));
  const specs =
    missingNames.size === 0
      ? wanted
      : topicSpecs(config, replicationFactor ?? (await resolveReplicationFactor(admin, config)));
  const missing = specs.filter((s) => missingNames.has(s.topic));
  if (missing.length > 0) {
    // Leaders are awaited below, not by kafkajs: its own wait gives up with "This server does not
    // host this topic-partition" when a just-started broker's metadata lags the creation. (A
    // topic another process created in the meantime makes kafkajs return false: fine.)
    await admin.createTopics({ topics: missing, waitForLeaders: false });
  }
  await waitForLeaders(
    admin,
    specs.map((s) => s.topic),
  );
  return { created: missing.map((s) => s.topic) };
}

/** `ensureTopics` through a short-lived admin client of `kafka` (what start-up code wants). */
export async function ensureTopicsOn(kafka: Kafka, config: TopicConfig): Promise<EnsureTopicsResult> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await ensureTopics(admin, config);
  } finally {
    await admin.disconnect();
  }
}

async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = '';
  for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics });
      const leaderless = meta.flatMap((t) =>
        t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}[${p.partitionId}]`),
      );
      if (leaderless.length === 0 && meta.length === topics.length) return;
      lastProblem = `no leader yet for ${leaderless.join(', ') || 'some topics'}`;
    } catch (err) {
      lastProblem = (err as Error).message;
    }
    if (Date.now() >= deadline)
      throw new Error(`topics ${topics.join(', ')} not ready after ${timeoutMs} ms: ${lastProblem}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
