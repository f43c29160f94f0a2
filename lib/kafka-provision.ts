/**
 * What a process makes sure of on Kafka before its roles start. The admin principal (dev's
 * `tillcast start`, `tillcast init`, the tests) creates the missing topics and the ACL table of
 * lib/kafka-principals.ts; any other principal (a role's container) may not, and only checks
 * that the topics its roles use are there and visible to it, failing with what to do instead.
 */
import type { Kafka } from 'kafkajs';
import type { Config } from './config';
import type { Logger } from './logger';
import { ensureAcls, isKafkaAdmin, type KafkaPrincipal } from './kafka-principals';
import { ensureTopics, topicNames, type TopicNames } from './topics';

/** The topics each principal's work touches (the ACL table grants exactly these). */
const TOPICS_OF: Record<Exclude<KafkaPrincipal, 'admin'>, (keyof TopicNames)[]> = {
  pos: ['sales'],
  ingest: ['sales', 'dlq', 'hoursClosed'],
  forecaster: ['hoursClosed', 'training', 'calendar'],
  api: ['calendar'],
};

export async function provisionKafka(
  kafka: Kafka,
  config: Config,
  logger: Logger,
  uses: readonly Exclude<KafkaPrincipal, 'admin'>[],
): Promise<void> {
  const log = logger.child({ module: 'kafka-provision' });
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (isKafkaAdmin(config)) {
      const { created } = await ensureTopics(admin, config);
      if (created.length > 0) log.info({ created }, 'topics created');
      if (config.KAFKA_SASL_MECHANISM !== 'none') {
        const acls = await ensureAcls(admin, config);
        log.info({ acls }, 'Kafka ACLs ensured');
      }
      return;
    }
    const names = topicNames(config);
    const topics = [...new Set(uses.flatMap((u) => TOPICS_OF[u].map((t) => names[t])))];
    try {
      await admin.fetchTopicMetadata({ topics });
    } catch (err) {
      throw new Error(
        `Kafka topics ${topics.join(', ')} are missing or not visible to ${config.KAFKA_SASL_USERNAME ?? '(no user)'}: ` +
          `create them and the ACLs first with \`tillcast init\` as ${config.KAFKA_ADMIN_USER} (${(err as Error).message})`,
        { cause: err },
      );
    }
  } finally {
    await admin.disconnect();
  }
}
