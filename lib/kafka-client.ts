/**
 * The kafkajs client: brokers, client id, SASL and TLS from the config, kafkajs's own logs
 * bridged into pino (`module: 'kafkajs'`), retries long enough to ride out a broker
 * restart (about a minute of backoff in all) rather than the 5 quick retries of
 * the default.
 */
import fs from 'node:fs';
import {
  Kafka,
  KafkaJSError,
  type KafkaConfig,
  type SASLOptions,
  logLevel,
  type Consumer,
  type EachBatchPayload,
  type LogEntry,
  type logCreator,
} from 'kafkajs';
import type { Config } from './config';
import type { Logger } from './logger';
import { kafkaCredentialsFor, type KafkaPrincipal, type KafkaSecurityConfig } from './kafka-principals';

type PinoLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * kafkajs logs some routine, retried events at ERROR or WARN. They are demoted
 * here; whatever finally fails still reaches the caller as an exception.
 */
const DEMOTIONS: ReadonlyArray<readonly [RegExp, PinoLevel]> = [
  // Printed once per process by every kafkajs 2.x producer.
  [/switched default partitioner/, 'debug'],
  // Normal group life: a member joined or left.
  [/The group is rebalancing, re-joining/, 'info'],
  // Printed for every idempotent producer because the client caps retries (see createKafka):
  // a send that exhausts them rejects to its caller, which decides; worth a line, not a warning.
  [/Limiting retries for the idempotent producer/, 'info'],
  // Not there yet (a topic just created, a leader moving, the offsets topic being created on a
  // fresh broker, a coordinator loading): retried.
  [
    /does not host this topic-partition|not the leader for that topic-partition|no leader for this topic-partition|coordinator is (?:loading|not available)|not the correct coordinator/i,
    'debug',
  ],
  // The broker is away (restart, fault tests): retried with backoff.
  [
    /Connection error|Failed to connect to seed broker|ECONNREFUSED|Connection timeout|Closed connection/,
    'warn',
  ],
];

const LEVELS: Record<number, PinoLevel> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};
const RANK: Record<PinoLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** kafkajs's threshold from pino's: kafkajs builds DEBUG entries (one per request) only when pino would print them. */
function kafkajsLevel(logger: Logger): logLevel {
  if (logger.isLevelEnabled('debug')) return logLevel.DEBUG;
  if (logger.isLevelEnabled('info')) return logLevel.INFO;
  if (logger.isLevelEnabled('warn')) return logLevel.WARN;
  if (logger.isLevelEnabled('error')) return logLevel.ERROR;
  return logLevel.NOTHING;
}

/** A kafkajs logCreator writing to `logger.child({ module: 'kafkajs' })`. */
export function kafkaLogCreator(logger: Logger): logCreator {
  const log = logger.child({ module: 'kafkajs' });
  return () =>
    ({ namespace, level, log: entry }: LogEntry) => {
      const {
        message,
        timestamp: _t,
        logger: _l,
        ...fields
      } = entry as LogEntry['log'] & { logger?: unknown };
      let target = LEVELS[level] ?? 'info';
      const text = `${message} ${typeof fields.error === 'string' ? fields.error : ''}`;
      const demotion = DEMOTIONS.find(([re]) => re.test(text));
      if (demotion && RANK[demotion[1]] > RANK[target]) target = demotion[1];
      log[target]({ ns: namespace, ...fields }, message);
    };
}

/** What createKafka reads; the security part may be left out (a client of an unsecured broker). */
export type KafkaClientConfig = Pick<Config, 'KAFKA_BROKERS' | 'KAFKA_CLIENT_ID'> &
  Partial<
    KafkaSecurityConfig &
      Pick<Config, 'KAFKA_SSL' | 'KAFKA_SSL_CA_FILE' | 'KAFKA_SSL_CERT_FILE' | 'KAFKA_SSL_KEY_FILE'>
  >;

/** A PEM file of the config, read now; a missing one fails naming its variable (never its content). */
function pem(variable: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** kafkajs's `ssl` option: TLS with the configured CA (else the system's) and client certificate, if any. */
export function kafkaTls(config: KafkaClientConfig): KafkaConfig['ssl'] {
  if (config.KAFKA_SSL !== true) return undefined;
  const ca = pem('KAFKA_SSL_CA_FILE', config.KAFKA_SSL_CA_FILE);
  const cert = pem('KAFKA_SSL_CERT_FILE', config.KAFKA_SSL_CERT_FILE);
  const key = pem('KAFKA_SSL_KEY_FILE', config.KAFKA_SSL_KEY_FILE);
  if (ca === undefined && cert === undefined && key === undefined) return true;
  return {
    ...(ca !== undefined ? { ca: [ca] } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
  };
}

/** kafkajs's `sasl` option for `who` (lib/kafka-principals.ts decides which credentials that is). */
export function kafkaSasl(config: KafkaClientConfig, who: KafkaPrincipal): SASLOptions | undefined {
  const mechanism = config.KAFKA_SASL_MECHANISM;
  if (mechanism === undefined || mechanism === 'none') return undefined;
  const creds = kafkaCredentialsFor(config as KafkaSecurityConfig, who);
  if (creds === undefined) return undefined;
  const { username, password } = creds;
  switch (mechanism) {
    case 'plain':
      return { mechanism, username, password };
    case 'scram-sha-256':
      return { mechanism, username, password };
    case 'scram-sha-512':
      return { mechanism, username, password };
  }
}

/**
 * A kafkajs client authenticated as `who`: the admin (default) is this process's own principal
 * (KAFKA_SASL_USERNAME), a role its own when the config gives it a password (see
 * lib/kafka-principals.ts). Credentials go to kafkajs only: nothing here logs them.
 */
export function createKafka(config: KafkaClientConfig, logger: Logger, who: KafkaPrincipal = 'admin'): Kafka {
  return new Kafka({
    clientId: config.KAFKA_CLIENT_ID,
    brokers: [...config.KAFKA_BROKERS],
    sasl: kafkaSasl(config, who),
    ssl: kafkaTls(config),
    logLevel: kafkajsLevel(logger),
    logCreator: kafkaLogCreator(logger),
    // A busy 2-core box can take longer than kafkajs's 1 s default to accept a connection.
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    // 300 ms doubling to 30 s, 8 times: ~1 min in all, longer than a broker restart. multiplier
    // and factor are spelled out: kafkajs takes its defaults for them from NODE_ENV, and under
    // NODE_ENV=test (jest) they are 1.5 and 0.02, which shrinks the ~1 min to ~15 s.
    retry: { initialRetryTime: 300, maxRetryTime: 30_000, retries: 8, multiplier: 2, factor: 0.2 },
  });
}

/**
 * Commits the batch of an eachBatch call up to `offset` (the next one to read). kafkajs 2.2.4's
 * consumer.commitOffsets returns WITHOUT committing once a stop began (runner.commitOffsets:
 * "consumer not running, exiting"), although disconnect() waits for the batch in flight: the
 * batch would be written but not committed, and redone by the next member. Once stopping, the
 * commit goes through the payload instead, which commits through the group (still joined: the
 * stop leaves it after this batch) with no such check.
 */
export async function commitBatch(
  consumer: Consumer,
  payload: EachBatchPayload,
  offset: string,
): Promise<void> {
  const { topic, partition } = payload.batch;
  if (payload.isRunning()) await consumer.commitOffsets([{ topic, partition, offset }]);
  else await payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset }] }] });
}

/**
 * The kafkajs protocol error of one of `types` behind `err`, if any. kafkajs's retrier wraps
 * non-retriable errors in KafkaJSNonRetriableError, where the `type` only survives on a `cause`.
 */
export function protocolErrorIn(
  err: unknown,
  types: ReadonlySet<string>,
): (KafkaJSError & { type: string }) | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const type = (e as { type?: unknown }).type;
    if (e instanceof KafkaJSError && typeof type === 'string' && types.has(type))
      return e as KafkaJSError & { type: string };
  }
  return undefined;
}
