/**
 * Kafka security on the real test broker (issue 14): SASL/SCRAM-SHA-512 and the KRaft
 * StandardAuthorizer with allow.everyone.if.no.acl.found=false (scripts/kafka.sh). A client
 * without credentials, or with a wrong password, is refused; the POS principal may only write
 * the sales topic; and every role does its whole job under its own principal with nothing but
 * the ACL table of lib/kafka-principals.ts, which the admin process creates at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  KafkaJSSASLAuthenticationError,
  logLevel,
  ResourcePatternTypes,
  type Admin,
  type Consumer,
} from 'kafkajs';
import { createApp, type App } from '../../app/app';
import { startSimulation } from '../../cli/simulate-command';
import { ConfigError, DEV_KAFKA_PASSWORDS, loadConfig, PROJECT_ROOT, type Config } from '../../lib/config';
import { createKafka, kafkaSasl, protocolErrorIn } from '../../lib/kafka-client';
import { kafkaCredentialsFor, kafkaGrants } from '../../lib/kafka-principals';
import { provisionKafka } from '../../lib/kafka-provision';
import { createLogger } from '../../lib/logger';
import { isolatedKafkaEnv, topicNames } from '../../lib/topics';
import { defaultCodec } from '../../schemas/avro-codec';
import { TEST_KAFKA_USERS, testBrokerAddress, uniqueName, waitFor } from '../kafka-broker';
import { testConfig } from '../test-config';

jest.setTimeout(180_000);

const logger = createLogger('silent');
const T = TEST_KAFKA_USERS;

/** Every role with its own password: its clients authenticate as its own principal. */
function rolesConfig(name: string, extra: Record<string, string> = {}): Config {
  return testConfig({
    ...isolatedKafkaEnv(name),
    KAFKA_SALES_PARTITIONS: '2',
    KAFKA_POS_PASSWORD: T.pos.password,
    KAFKA_INGEST_PASSWORD: T.ingest.password,
    KAFKA_FORECASTER_PASSWORD: T.forecaster.password,
    ...extra,
  });
}

/**
 * A kafkajs client that gives up at once (the refusals below are not worth kafkajs's minute of
 * retries); `log` collects kafkajs's own entries, debug ones included.
 */
function quickClient(sasl: ReturnType<typeof kafkaSasl>, log?: string[]): Kafka {
  return new Kafka({
    clientId: 'kafka-security-test',
    brokers: [testBrokerAddress()],
    ...(sasl ? { sasl } : {}),
    logLevel: log ? logLevel.DEBUG : logLevel.NOTHING,
    logCreator: () => (e) => {
      log?.push(`${e.log.message} ${JSON.stringify(e.log.error ?? '')}`);
    },
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { retries: 0 },
  });
}

const asPos = (config: Config, log?: string[]) => quickClient(kafkaSasl(config, 'pos'), log);

/** The kafkajs protocol error type behind an error (kafkajs wraps non-retriable ones). */
function protocolErrorType(err: unknown): string {
  const types = new Set([
    'TOPIC_AUTHORIZATION_FAILED',
    'GROUP_AUTHORIZATION_FAILED',
    'CLUSTER_AUTHORIZATION_FAILED',
    'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  ]);
  // createTopics reports per-topic errors in an aggregate.
  for (const e of [err, ...((err as { errors?: unknown[] }).errors ?? [])]) {
    const found = protocolErrorIn(e, types);
    if (found) return found.type;
  }
  throw err instanceof Error ? err : new Error(String(err));
}

/** The protocol error type `p` rejects with. */
async function protocolError(p: Promise<unknown>): Promise<string> {
  const outcome = await p.then(
    () => ({ ok: true as const }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error('expected a refusal, but it succeeded');
  return protocolErrorType(outcome.err);
}

/** How a consumer's run fails: at once (run rejects) or in its loop (a CRASH event). */
async function runError(consumer: Consumer): Promise<unknown> {
  const crashed = new Promise<unknown>((resolve) =>
    consumer.on(consumer.events.CRASH, (e) => resolve(e.payload.error)),
  );
  return consumer.run({ eachMessage: () => Promise.resolve() }).then(
    () => crashed,
    (e: unknown) => e,
  );
}

describe('authentication', () => {
  it('refuses a client without credentials', async () => {
    const admin = quickClient(undefined).admin();
    // The broker closes a connection that skips the SASL handshake.
    await expect(admin.connect().then(() => admin.listTopics())).rejects.toMatchObject({
      name: 'KafkaJSConnectionClosedError',
    });
    await admin.disconnect();
  });

  it('refuses a wrong password, naming SCRAM-SHA-512', async () => {
    const admin = quickClient({
      mechanism: 'scram-sha-512',
      username: T.admin.user,
      password: 'not-the-password',
    }).admin();
    const err = await admin.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KafkaJSSASLAuthenticationError);
    expect((err as Error).message).toMatch(/^SASL SCRAM SHA512 authentication failed/);
    await admin.disconnect();
  });

  it('refuses a known user with another principal password (credentials are per principal)', async () => {
    const admin = quickClient({
      mechanism: 'scram-sha-512',
      username: T.pos.user,
      password: T.ingest.password,
    }).admin();
    await expect(admin.connect()).rejects.toBeInstanceOf(KafkaJSSASLAuthenticationError);
    await admin.disconnect();
  });
});

describe('the POS principal may write the sales topic and nothing else', () => {
  let config: Config;
  let admin: Admin;

  beforeAll(async () => {
    config = rolesConfig(uniqueName('sec-pos'));
    // The admin (this process's principal) creates the topics and the ACL table.
    await provisionKafka(createKafka(config, logger), config, logger, ['pos', 'ingest', 'forecaster']);
    admin = createKafka(config, logger).admin();
    await admin.connect();
    // The table grants nothing on the cluster: no IDEMPOTENT_WRITE left by an older table either.
    await admin.deleteAcls({
      filters: [T.pos.user, T.ingest.user].map((user) => ({
        resourceType: AclResourceTypes.CLUSTER,
        resourceName: 'kafka-cluster',
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: `User:${user}`,
        host: '*',
        operation: AclOperationTypes.IDEMPOTENT_WRITE,
        permissionType: AclPermissionTypes.ALLOW,
      })),
    });
  });

  afterAll(async () => {
    await admin?.disconnect();
  });

  it('writes pos.sales.v1 with its idempotent producer (WRITE on the topic is enough for a producer id)', async () => {
    const producer = asPos(config).producer({
      idempotent: true,
      allowAutoTopicCreation: false,
      retry: { retries: 2 }, // kafkajs's idempotent producer refuses 0
    });
    await producer.connect();
    try {
      const [r] = await producer.send({
        topic: topicNames(config).sales,
        acks: -1,
        messages: [{ key: 'b1', value: 'x' }],
      });
      expect(r?.errorCode).toBe(0);
    } finally {
      await producer.disconnect();
    }
  });

  it('cannot read pos.sales.v1, even in a group it is allowed to join', async () => {
    const group = `${config.KAFKA_INGEST_GROUP}.pos-probe`;
    // The group alone is granted here, so that what refuses is the topic READ.
    const groupRead = {
      resourceType: AclResourceTypes.GROUP,
      resourceName: group,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      principal: `User:${T.pos.user}`,
      host: '*',
      operation: AclOperationTypes.READ,
      permissionType: AclPermissionTypes.ALLOW,
    };
    await admin.createAcls({ acl: [groupRead] });
    // An ACL applies a moment after createAcls returns: wait until the broker lists it, or the
    // join is refused for the group (kafkajs: "group coordinator not found") instead of the topic.
    await waitFor(
      async () => ((await admin.describeAcls(groupRead)).resources.length > 0 ? true : undefined),
      { timeoutMs: 10_000, intervalMs: 50, description: 'the probe group ACL in effect' },
    );
    // A fresh broker has no group coordinator until it has created __consumer_offsets, which the
    // first FindCoordinator starts; kafkajs gives up on it sooner ("group coordinator not found").
    await waitFor(
      async () => {
        try {
          await admin.describeGroups([group]);
          return true;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 60_000, intervalMs: 500, description: 'the group coordinator of a fresh broker' },
    );
    const consumer = asPos(config).consumer({ groupId: group, allowAutoTopicCreation: false });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topicNames(config).sales], fromBeginning: true });
      expect(protocolErrorType(await runError(consumer))).toBe('TOPIC_AUTHORIZATION_FAILED');
    } finally {
      await consumer.disconnect();
    }
  });

  it("cannot join the ingest group (a POS cannot steal ingest's partitions)", async () => {
    const log: string[] = [];
    const consumer = asPos(config, log).consumer({
      groupId: config.KAFKA_INGEST_GROUP,
      allowAutoTopicCreation: false,
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topicNames(config).sales], fromBeginning: true });
      // The broker answers FindCoordinator with GROUP_AUTHORIZATION_FAILED; kafkajs 2.2.4 logs that
      // (debug) and reports "coordinator not found".
      expect(await runError(consumer)).toMatchObject({ name: 'KafkaJSGroupCoordinatorNotFound' });
      expect(log.filter((l) => l.startsWith('Tried to find group coordinator'))).toEqual([
        'Tried to find group coordinator {"name":"KafkaJSProtocolError","retriable":false,"type":"GROUP_AUTHORIZATION_FAILED","code":30}',
      ]);
    } finally {
      await consumer.disconnect();
    }
  });

  it('cannot write sales.hours.closed (it cannot make the forecaster act)', async () => {
    const producer = asPos(config).producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      const send = producer.send({
        topic: topicNames(config).hoursClosed,
        acks: -1,
        messages: [{ key: 'b1', value: 'forged' }],
      });
      expect(await protocolError(send)).toBe('TOPIC_AUTHORIZATION_FAILED');
    } finally {
      await producer.disconnect();
    }
  });

  it('cannot create topics', async () => {
    const posAdmin = asPos(config).admin();
    await posAdmin.connect();
    try {
      const create = posAdmin.createTopics({
        topics: [{ topic: `${topicNames(config).sales}.rogue`, numPartitions: 1 }],
        waitForLeaders: false,
      });
      expect(await protocolError(create)).toBe('TOPIC_AUTHORIZATION_FAILED');
    } finally {
      await posAdmin.disconnect();
    }
    expect(await admin.listTopics()).not.toContain(`${topicNames(config).sales}.rogue`);
  });

  it('cannot create ACLs (it cannot grant itself more)', async () => {
    const posAdmin = asPos(config).admin();
    await posAdmin.connect();
    try {
      const grant = posAdmin.createAcls({
        acl: [
          {
            resourceType: AclResourceTypes.TOPIC,
            resourceName: topicNames(config).hoursClosed,
            resourcePatternType: ResourcePatternTypes.LITERAL,
            principal: `User:${T.pos.user}`,
            host: '*',
            operation: AclOperationTypes.WRITE,
            permissionType: AclPermissionTypes.ALLOW,
          },
        ],
      });
      expect(await protocolError(grant)).toBe('CLUSTER_AUTHORIZATION_FAILED');
    } finally {
      await posAdmin.disconnect();
    }
  });
});

describe('every role does its whole job under its own principal', () => {
  let app: App | undefined;

  afterAll(async () => {
    await app?.stop({ timeoutMs: 30_000 });
  });

  it('POS -> ingest -> forecaster and trainer, each authenticated as itself, with only the ACL table', async () => {
    const config = rolesConfig(uniqueName('sec-roles'), {
      ROLES: 'ingest,forecaster',
      DEMO_BRANCHES: '2',
      // One try: two days of history are too little to train, and the decision is given up (committed).
      TRAIN_RETRY_MS: '0',
    });
    app = createApp(config, { logger });
    // Each role has a client of its own principal; the process's own (the admin) provisions.
    expect(app.ctx.kafkaFor('ingest')).not.toBe(app.ctx.kafka);
    expect(app.ctx.kafkaFor('forecaster')).not.toBe(app.ctx.kafka);
    expect(app.ctx.kafkaFor('pos')).not.toBe(app.ctx.kafkaFor('ingest'));
    await app.start();
    let failure: unknown;
    void app.failed.then((e) => (failure = e));

    const branches = app.ctx.branches.list().filter((b) => b.id.startsWith('sim-'));
    const sim = startSimulation(
      { branches, seed: 3, daysOfHistory: 2, speed: 'max', liveForMs: 0 },
      { config, kafka: app.ctx.kafkaFor('pos'), codec: defaultCodec(), logger },
    );
    const published = await sim.done;
    expect(published.events).toBeGreaterThan(100);

    const topics = topicNames(config);
    const admin = app.ctx.kafka.admin();
    await admin.connect();
    try {
      /** The group has committed every message of the topic (and there is at least one). */
      const caughtUp = async (groupId: string, topic: string) => {
        const ends = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
        const total = ends.reduce((s, e) => s + Number(e.high), 0);
        return (
          total > 0 &&
          ends.every((e) => {
            const c = committed?.partitions.find((p) => p.partition === e.partition);
            return c !== undefined && Number(c.offset === '-1' ? 0 : c.offset) >= Number(e.high);
          })
        );
      };
      // Ingest read the sales topic in its group and stored the receipts ...
      await waitFor(() => caughtUp(config.KAFKA_INGEST_GROUP, topics.sales), {
        description: 'ingest (as tillcast-ingest) to commit every POS message',
        timeoutMs: 120_000,
        intervalMs: 500,
      });
      const rs = await app.ctx.ch.client.query({
        query: `SELECT count() AS n FROM ${app.ctx.ch.table('sales_events')}`,
        format: 'JSONEachRow',
      });
      const [{ n }] = (await rs.json<{ n: string }>()) as [{ n: string }];
      expect(Number(n)).toBeGreaterThan(0);
      // ... and announced closed hours, which the forecaster read in its group ...
      await waitFor(() => caughtUp(config.KAFKA_FORECASTER_GROUP, topics.hoursClosed), {
        description: 'the forecaster (as tillcast-forecaster) to commit every closed hour',
        timeoutMs: 120_000,
        intervalMs: 500,
      });
      // ... and, with no model yet, published a training decision its trainer read and settled.
      await waitFor(() => caughtUp(config.KAFKA_TRAINER_GROUP, topics.training), {
        description: 'the trainer (as tillcast-forecaster) to commit the training decision',
        timeoutMs: 120_000,
        intervalMs: 500,
      });
    } finally {
      await admin.disconnect();
    }
    expect(failure).toBeUndefined();
  });

  it('a role process that is not the admin only checks its topics, and says what to do when they are missing', async () => {
    const name = uniqueName('sec-missing');
    const config = testConfig({
      ...isolatedKafkaEnv(name),
      KAFKA_SASL_USERNAME: T.ingest.user,
      KAFKA_SASL_PASSWORD: T.ingest.password,
    });
    await expect(
      provisionKafka(quickClient(kafkaSasl(config, 'ingest')), config, logger, ['ingest']),
    ).rejects.toThrow(
      `Kafka topics ${name}.sales, ${name}.dlq, ${name}.hours are missing or not visible to ${T.ingest.user}: create them and the ACLs first with \`tillcast init\` as ${T.admin.user}`,
    );
  });
});

describe('the ACL table', () => {
  it('grants each principal exactly its work (lib/kafka-principals.ts)', () => {
    const config = testConfig({ ...isolatedKafkaEnv('acl') });
    const rows = kafkaGrants(config).map((g) => `${g.principal} ${g.operation} ${g.resource}:${g.name}`);
    expect(rows).toEqual([
      'User:tillcast-pos WRITE topic:acl.sales',
      'User:tillcast-pos DESCRIBE topic:acl.sales',
      'User:tillcast-ingest READ topic:acl.sales',
      'User:tillcast-ingest READ group:acl.ingest',
      'User:tillcast-ingest WRITE topic:acl.dlq',
      'User:tillcast-ingest WRITE topic:acl.hours',
      'User:tillcast-forecaster READ topic:acl.hours',
      'User:tillcast-forecaster READ group:acl.forecaster',
      'User:tillcast-forecaster READ topic:acl.training',
      'User:tillcast-forecaster WRITE topic:acl.training',
      'User:tillcast-forecaster READ group:acl.trainer',
      'User:tillcast-forecaster READ topic:acl.calendar',
      'User:tillcast-api WRITE topic:acl.calendar',
    ]);
  });

  it("scripts/kafka.sh's default passwords are the development ones of lib/config.ts", () => {
    const script = fs.readFileSync(path.join(PROJECT_ROOT, 'scripts', 'kafka.sh'), 'utf8');
    for (const [who, password] of Object.entries(DEV_KAFKA_PASSWORDS)) {
      const v = who.toUpperCase();
      expect(script).toContain(`${v}_PASSWORD=\${KAFKA_${v}_PASSWORD:-${password}}`);
    }
  });
});

describe('Kafka credentials in the config', () => {
  /** The issues loadConfig reports for `env` (no process environment mixed in). */
  const issues = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.issues;
      throw err;
    }
  };
  const prod = { NODE_ENV: 'production', AUTH_MODE: 'keys' };

  it('development without credentials: the process is the admin, each role its own principal', () => {
    const c = loadConfig({});
    expect(kafkaCredentialsFor(c)).toEqual({
      username: 'tillcast-admin',
      password: DEV_KAFKA_PASSWORDS.admin,
    });
    expect(kafkaCredentialsFor(c, 'pos')).toEqual({
      username: 'tillcast-pos',
      password: DEV_KAFKA_PASSWORDS.pos,
    });
    expect(kafkaCredentialsFor(c, 'ingest')).toEqual({
      username: 'tillcast-ingest',
      password: DEV_KAFKA_PASSWORDS.ingest,
    });
    expect(kafkaCredentialsFor(c, 'forecaster')).toEqual({
      username: 'tillcast-forecaster',
      password: DEV_KAFKA_PASSWORDS.forecaster,
    });
  });

  it('given credentials are used for every role without a password of its own', () => {
    const c = loadConfig({ KAFKA_SASL_USERNAME: 'tillcast-ingest', KAFKA_SASL_PASSWORD: 's3cret-ingest' });
    expect(kafkaCredentialsFor(c, 'ingest')).toEqual({
      username: 'tillcast-ingest',
      password: 's3cret-ingest',
    });
    expect(kafkaCredentialsFor(c, 'pos')).toEqual({ username: 'tillcast-ingest', password: 's3cret-ingest' });
  });

  it('production refuses missing credentials and development passwords, naming the variable and never the value', () => {
    expect(issues(prod)).toEqual([
      'KAFKA_SASL_USERNAME: required (KAFKA_SASL_MECHANISM is scram-sha-512)',
      'KAFKA_SASL_PASSWORD: required (KAFKA_SASL_MECHANISM is scram-sha-512)',
    ]);
    const refused = issues({
      ...prod,
      KAFKA_SASL_USERNAME: 'tillcast-admin',
      KAFKA_SASL_PASSWORD: DEV_KAFKA_PASSWORDS.admin,
      KAFKA_INGEST_PASSWORD: DEV_KAFKA_PASSWORDS.ingest,
    });
    expect(refused).toEqual([
      'KAFKA_SASL_PASSWORD: a development password (DEV_KAFKA_PASSWORDS) is refused with NODE_ENV=production',
      'KAFKA_INGEST_PASSWORD: a development password (DEV_KAFKA_PASSWORDS) is refused with NODE_ENV=production',
    ]);
    expect(issues({ ...prod, KAFKA_SASL_MECHANISM: 'none' })).toEqual([
      'KAFKA_SASL_MECHANISM: "none" (no Kafka authentication) is for local development only',
    ]);
    expect(
      issues({ ...prod, KAFKA_SASL_USERNAME: 'tillcast-pos', KAFKA_SASL_PASSWORD: 'a-real-secret' }),
    ).toEqual([]);
  });

  it('an API-only production process needs no Kafka credentials (it never talks to Kafka)', () => {
    expect(issues({ ...prod, ROLES: 'api' })).toEqual([]);
  });

  it('a config error never echoes a Kafka password', () => {
    const text = issues({ KAFKA_SASL_MECHANISM: 'scram-sha-1', KAFKA_SASL_PASSWORD: 'p4ss-w0rd-x' }).join(
      '\n',
    );
    expect(text).toContain('KAFKA_SASL_MECHANISM');
    expect(text).not.toContain('p4ss-w0rd-x');
  });
});
