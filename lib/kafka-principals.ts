/**
 * Who may do what on Kafka (issue 14): the principals of tillcast, which one each role's clients
 * authenticate as, and the ACL table, the one place that grants them anything. The broker runs the
 * KRaft StandardAuthorizer with allow.everyone.if.no.acl.found=false (scripts/kafka.sh,
 * docker-compose*.yml): what is not in this table is denied. The admin is the broker's super user
 * and needs no ACL.
 *
 * | principal (config)                  | may                                                                                          |
 * | ----------------------------------- | -------------------------------------------------------------------------------------------- |
 * | admin (KAFKA_ADMIN_USER)            | everything (super.users): creates the topics and these ACLs (`tillcast init`/`start`)        |
 * | pos (KAFKA_POS_USER)                | WRITE + DESCRIBE the sales topic                                                             |
 * | ingest (KAFKA_INGEST_USER)          | READ the sales topic in the ingest group; WRITE the DLQ and the hours-closed topic          |
 * | forecaster (KAFKA_FORECASTER_USER)  | READ hours-closed and calendar in the forecaster group; READ + WRITE the training topic, READ the trainer group |
 * | api (KAFKA_API_USER)                | WRITE the calendar topic (branch calendar changes); its capture route (POST /v1/events) publishes as pos (docs/capture.md) |
 *
 * READ and WRITE imply DESCRIBE in Kafka's authorizer, so the topic metadata a client fetches needs
 * no entry of its own. The idempotent producers of pos and ingest need no IDEMPOTENT_WRITE on the
 * cluster: since Kafka 3.0 (KIP-679) WRITE on a topic lets a principal get a producer id (the
 * security test sends idempotently with no cluster grant). The topic and group names are the
 * configured ones, literal: a run with other names (tests' isolated topics) gets ACLs for exactly
 * those.
 *
 * Which principal a client uses: a process authenticates as KAFKA_SASL_USERNAME (its "own"
 * principal: topic checks, tools, and every role without a password of its own); a role whose
 * KAFKA_<ROLE>_PASSWORD is set gets a client of its own as KAFKA_<ROLE>_USER. So a container that
 * runs one role is given that role's credentials as KAFKA_SASL_*, and `tillcast start` (every role in
 * one process, development) runs as the admin, which provisions, with ingest, the forecaster and the
 * simulator each on a client of its own principal (the development defaults, lib/config.ts).
 */
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  ResourcePatternTypes,
  type Admin,
  type AclEntry,
} from 'kafkajs';
import type { Config } from './config';
import { topicNames } from './topics';

/** The principals. Asking for `admin` gives this process's own principal (KAFKA_SASL_USERNAME), the admin where it provisions. */
export type KafkaPrincipal = 'admin' | 'pos' | 'ingest' | 'forecaster' | 'api';

export { DEV_KAFKA_PASSWORDS } from './config';

export type KafkaSecurityConfig = Pick<
  Config,
  | 'KAFKA_SASL_MECHANISM'
  | 'KAFKA_SASL_USERNAME'
  | 'KAFKA_SASL_PASSWORD'
  | 'KAFKA_ADMIN_USER'
  | 'KAFKA_POS_USER'
  | 'KAFKA_POS_PASSWORD'
  | 'KAFKA_INGEST_USER'
  | 'KAFKA_INGEST_PASSWORD'
  | 'KAFKA_FORECASTER_USER'
  | 'KAFKA_FORECASTER_PASSWORD'
  | 'KAFKA_API_USER'
  | 'KAFKA_API_PASSWORD'
>;

export interface KafkaCredentials {
  readonly username: string;
  readonly password: string;
}

/** The user name and password variables of a role's own principal. */
function roleCredentials(
  config: KafkaSecurityConfig,
  role: Exclude<KafkaPrincipal, 'admin'>,
): { username: string; password: string | undefined } {
  switch (role) {
    case 'pos':
      return { username: config.KAFKA_POS_USER, password: config.KAFKA_POS_PASSWORD };
    case 'ingest':
      return { username: config.KAFKA_INGEST_USER, password: config.KAFKA_INGEST_PASSWORD };
    case 'forecaster':
      return { username: config.KAFKA_FORECASTER_USER, password: config.KAFKA_FORECASTER_PASSWORD };
    case 'api':
      return { username: config.KAFKA_API_USER, password: config.KAFKA_API_PASSWORD };
  }
}

/**
 * Which credentials a part of this process authenticates with: a role with a password of its own
 * (KAFKA_<ROLE>_PASSWORD) as KAFKA_<ROLE>_USER; anything else (tools, topic checks, a role without
 * one: a container that runs one role gets only KAFKA_SASL_*) as KAFKA_SASL_USERNAME. Undefined:
 * no SASL (KAFKA_SASL_MECHANISM=none).
 */
export function kafkaCredentialsFor(
  config: KafkaSecurityConfig,
  who: KafkaPrincipal = 'admin',
): KafkaCredentials | undefined {
  if (config.KAFKA_SASL_MECHANISM === 'none') return undefined;
  if (who !== 'admin') {
    const own = roleCredentials(config, who);
    if (own.password !== undefined) return { username: own.username, password: own.password };
  }
  // loadConfig requires both when SASL is on, but for an API-only process (it never uses Kafka).
  const { KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = config;
  return username !== undefined && password !== undefined ? { username, password } : undefined;
}

/** Whether this process authenticates as the admin principal (it then creates topics and ACLs). */
export function isKafkaAdmin(config: KafkaSecurityConfig): boolean {
  return config.KAFKA_SASL_MECHANISM === 'none' || config.KAFKA_SASL_USERNAME === config.KAFKA_ADMIN_USER;
}

/** One grant of the table: readable form (tests, docs) of a kafkajs AclEntry. */
export interface KafkaGrant {
  principal: string;
  resource: 'topic' | 'group';
  name: string;
  operation: 'READ' | 'WRITE' | 'DESCRIBE';
}

/** The ACL table (see the module comment), for the configured names and principals. */
export function kafkaGrants(config: Config): KafkaGrant[] {
  const t = topicNames(config);
  const pos = `User:${config.KAFKA_POS_USER}`;
  const ingest = `User:${config.KAFKA_INGEST_USER}`;
  const forecaster = `User:${config.KAFKA_FORECASTER_USER}`;
  const api = `User:${config.KAFKA_API_USER}`;
  const topic = (principal: string, name: string, operation: KafkaGrant['operation']): KafkaGrant => ({
    principal,
    resource: 'topic',
    name,
    operation,
  });
  const group = (principal: string, name: string): KafkaGrant => ({
    principal,
    resource: 'group',
    name,
    operation: 'READ',
  });
  return [
    topic(pos, t.sales, 'WRITE'),
    topic(pos, t.sales, 'DESCRIBE'),

    topic(ingest, t.sales, 'READ'),
    group(ingest, config.KAFKA_INGEST_GROUP),
    topic(ingest, t.dlq, 'WRITE'),
    topic(ingest, t.hoursClosed, 'WRITE'),

    topic(forecaster, t.hoursClosed, 'READ'),
    group(forecaster, config.KAFKA_FORECASTER_GROUP),
    topic(forecaster, t.training, 'READ'),
    topic(forecaster, t.training, 'WRITE'),
    group(forecaster, config.KAFKA_TRAINER_GROUP),
    topic(forecaster, t.calendar, 'READ'),

    topic(api, t.calendar, 'WRITE'),
  ];
}

const RESOURCE = {
  topic: AclResourceTypes.TOPIC,
  group: AclResourceTypes.GROUP,
} as const;
const OPERATION = {
  READ: AclOperationTypes.READ,
  WRITE: AclOperationTypes.WRITE,
  DESCRIBE: AclOperationTypes.DESCRIBE,
} as const;

export function aclEntry(g: KafkaGrant): AclEntry {
  return {
    resourceType: RESOURCE[g.resource],
    resourceName: g.name,
    resourcePatternType: ResourcePatternTypes.LITERAL,
    principal: g.principal,
    host: '*',
    operation: OPERATION[g.operation],
    permissionType: AclPermissionTypes.ALLOW,
  };
}

/**
 * Creates the table's ACLs (idempotent: the broker keeps one binding per entry). Only adds:
 * bindings of names no longer configured stay until an operator deletes them.
 */
export async function ensureAcls(admin: Admin, config: Config, timeoutMs = 15_000): Promise<number> {
  const grants = kafkaGrants(config);
  await admin.createAcls({ acl: grants.map(aclEntry) });
  // The controller commits them; a broker's authorizer applies them from the metadata log a moment
  // later. Roles started before that would be refused (not retried), so wait until they show.
  const key = (r: { resourceType: number; resourceName: string; operation: number }, principal: string) =>
    `${principal} ${r.resourceType} ${r.resourceName} ${r.operation}`;
  const wanted = grants.map(aclEntry).map((e) => key(e, e.principal));
  const principals = [...new Set(grants.map((g) => g.principal))];
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    const seen = new Set<string>();
    for (const principal of principals) {
      const { resources } = await admin.describeAcls({
        resourceType: AclResourceTypes.ANY,
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal,
        host: '*',
        operation: AclOperationTypes.ANY,
        permissionType: AclPermissionTypes.ALLOW,
      });
      for (const r of resources)
        for (const a of r.acls) seen.add(key({ ...r, operation: a.operation }, principal));
    }
    const missing = wanted.filter((w) => !seen.has(w));
    if (missing.length === 0) return grants.length;
    if (Date.now() >= deadline)
      throw new Error(`Kafka ACLs not in effect after ${timeoutMs} ms: ${missing.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
