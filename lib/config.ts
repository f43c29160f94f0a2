/**
 * Every setting of tillcast is declared here, parsed with zod at start-up into a
 * frozen, typed object; defaults run locally. The README's configuration table
 * documents the same names. Read outside it, by design, only what must act before
 * a config exists: the logger's default level for tools (lib/logger.ts), the
 * native-TensorFlow requirement of the model backend (model/ is pure and takes no
 * config: model/backend.ts), and environments handed to child processes.
 */
import path from 'node:path';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const csv = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

/** Project root (where package.json lives), also from dist/lib. */
export const PROJECT_ROOT = path.resolve(
  __dirname,
  __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..',
);

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Roles this process runs: any of ingest, forecaster, api (all-in-one by default). */
  ROLES: csv.pipe(z.array(z.enum(['ingest', 'forecaster', 'api']))).default('ingest,forecaster,api'),

  // --- Kafka ---
  KAFKA_BROKERS: csv.pipe(z.array(z.string().min(1)).min(1)).default('127.0.0.1:9092'),
  KAFKA_CLIENT_ID: z.string().min(1).default('tillcast'),
  KAFKA_TOPIC_SALES: z.string().min(1).default('pos.sales.v1'),
  KAFKA_TOPIC_DLQ: z.string().min(1).default('pos.sales.dlq'),
  KAFKA_TOPIC_HOURS_CLOSED: z.string().min(1).default('sales.hours.closed'),
  KAFKA_SALES_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(6),
  /** Replicas of the topics tillcast creates. Unset: 3 on a cluster of 3+ brokers (min.insync.replicas 2), else one per broker. */
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(16).optional(),
  KAFKA_INGEST_GROUP: z.string().min(1).default('tillcast-ingest'),
  /** An ingest member silent this long (no heartbeat: it is down or stalled) loses its partitions to the others. The broker bounds it (group.min/max.session.timeout.ms, 6 s to 30 min by default). */
  KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(1000).default(30_000),
  KAFKA_FORECASTER_GROUP: z.string().min(1).default('tillcast-forecaster'),
  /** Training decisions (one partition): the forecaster member that owns it is the one that trains. */
  KAFKA_TOPIC_TRAINING: z.string().min(1).default('tillcast.training.decisions'),
  /** Consumer group of the trainers: every forecaster process is a member. */
  KAFKA_TRAINER_GROUP: z.string().min(1).default('tillcast-trainer'),
  /** Branch calendar changes (CalendarChanged, keyed by branch), written by the API, read by the forecaster group with the hours-closed topic. */
  KAFKA_TOPIC_CALENDAR: z.string().min(1).default('branch.calendar.changed'),

  // --- Kafka security (lib/kafka-principals.ts: principals and the ACL table) ---
  /** SASL mechanism of every Kafka client; none: no SASL (refused with NODE_ENV=production). */
  KAFKA_SASL_MECHANISM: z.enum(['scram-sha-512', 'scram-sha-256', 'plain', 'none']).default('scram-sha-512'),
  /** This process's principal: tools, topic checks, and the roles without a password of their own. Development default (no credentials given at all): the admin and each role its own principal with DEV_KAFKA_PASSWORDS. */
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  /** TLS to the brokers (SASL_SSL); the files below are PEM, read at start. */
  KAFKA_SSL: bool.default('false'),
  KAFKA_SSL_CA_FILE: z.string().optional(),
  KAFKA_SSL_CERT_FILE: z.string().optional(),
  KAFKA_SSL_KEY_FILE: z.string().optional(),
  /** The broker's super user: a process authenticated as it creates the topics and the ACLs. */
  KAFKA_ADMIN_USER: z.string().min(1).default('tillcast-admin'),
  /** Role principals: ACLs are granted to these names; a role in this process authenticates as its own when its password is set. */
  KAFKA_POS_USER: z.string().min(1).default('tillcast-pos'),
  KAFKA_POS_PASSWORD: z.string().optional(),
  KAFKA_INGEST_USER: z.string().min(1).default('tillcast-ingest'),
  KAFKA_INGEST_PASSWORD: z.string().optional(),
  KAFKA_FORECASTER_USER: z.string().min(1).default('tillcast-forecaster'),
  KAFKA_FORECASTER_PASSWORD: z.string().optional(),
  /** The API's principal: publishes branch calendar changes. */
  KAFKA_API_USER: z.string().min(1).default('tillcast-api'),
  KAFKA_API_PASSWORD: z.string().optional(),

  // --- ClickHouse ---
  /** Empty: the embedded engine (chdb) in this process. Set: a ClickHouse server over HTTP. */
  CLICKHOUSE_URL: z.string().url().optional(),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier')
    .default('tillcast'),
  /** Data directory of the embedded engine; one process owns it at a time. */
  CLICKHOUSE_DATA_DIR: z
    .string()
    .min(1)
    .default(path.join(PROJECT_ROOT, '.data', 'clickhouse')),
  /** Cluster name (remote_servers) for the migrations' cluster form (clickhouse/cluster-ddl.ts); unset: single node. */
  CLICKHOUSE_CLUSTER: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier')
    .optional(),

  // --- Ingest ---
  /** How far behind its watermark a branch's hour closes (late events still count). */
  INGEST_ALLOWED_LATENESS_S: z.coerce.number().int().min(0).default(300),
  /** Late events within this window update a closed hour and publish a new revision. */
  INGEST_CORRECTION_WINDOW_H: z.coerce.number().int().min(0).default(72),
  /** Events further in the future than this (vs. wall clock) are rejected. */
  INGEST_MAX_FUTURE_S: z.coerce.number().int().min(0).default(3600),
  /** Known branches: a JSON file; empty uses the built-in table. */
  BRANCHES_FILE: z.string().optional(),
  /** Simulated demo branches (sim-0001 ...) added to the branch directory; the simulator publishes for them. */
  DEMO_BRANCHES: z.coerce.number().int().min(0).max(5000).default(0),
  /** Accept events from branches not in the table (they get UTC and EUR). */
  INGEST_ACCEPT_UNKNOWN_BRANCHES: bool.default('false'),

  // --- Model / forecaster ---
  MODELS_DIR: z
    .string()
    .min(1)
    .default(path.join(PROJECT_ROOT, '.data', 'models')),
  FORECAST_HORIZON_DAYS: z.coerce.number().int().min(1).max(14).default(14),
  FORECAST_RUN_TTL_DAYS: z.coerce.number().int().min(1).default(90),
  TRAIN_SEED: z.coerce.number().int().default(42),
  /** First wait before a failed training is tried again (doubles per failure, at most 4 h); also enables the retrain at start of a model a week behind. 0 = trainings only follow day closes. */
  TRAIN_RETRY_MS: z.coerce.number().int().min(0).default(600_000),
  /** How often a forecaster looks for a model promoted elsewhere (another member, `tillcast models`). */
  FORECASTER_MODEL_POLL_MS: z.coerce.number().int().min(100).default(10_000),

  // --- API ---
  HOST: z.string().default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  CORS_ORIGINS: csv.default(''),
  API_RATE_LIMIT_PER_MIN: z.coerce.number().int().min(0).default(6000),
  /** How often the API looks for new forecast runs written by another process. */
  API_FORECAST_POLL_MS: z.coerce.number().int().min(100).default(2000),
  /** Recent closed-hour actuals are re-read after this long. */
  API_ACTUALS_TTL_MS: z.coerce.number().int().min(0).default(30000),
  /** Time limit of one request's ClickHouse work; slower answers 503. */
  API_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(5000),
  /** Trust X-Forwarded-For for the client IP (only behind a reverse proxy). */
  API_TRUST_PROXY: bool.default('false'),
  /** `keys`: every data route needs `Authorization: Bearer <key>` (api/README.md "Keys"); `none`: open, local development only (refused with NODE_ENV=production). */
  AUTH_MODE: z.enum(['keys', 'none']).default('keys'),
  /** How long the API trusts a looked-up key: a revocation takes effect within this. */
  API_KEY_CACHE_TTL_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),
  /** How often the API writes the keys' last-used times (one INSERT for all keys used since). */
  API_KEY_USAGE_FLUSH_MS: z.coerce.number().int().min(100).default(60_000),
  /** ClickHouse user the API records key usage as (server mode; the `api` user is read-only). Empty: the API's own client. */
  CLICKHOUSE_API_USAGE_USER: z.string().optional(),
  CLICKHOUSE_API_USAGE_PASSWORD: z.string().default(''),
  /** POST /v1/events (docs/capture.md): at most this many events per request. */
  CAPTURE_MAX_EVENTS: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** POST /v1/events and webhooks: a larger body is refused with 413 before it is read whole. */
  CAPTURE_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024),
  /** Longest wait for Kafka's acknowledgement; slower: 503 with Retry-After (nothing accepted). */
  CAPTURE_SEND_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** Events waiting for Kafka in one process; beyond: 503 at once (bounded memory). */
  CAPTURE_MAX_PENDING_EVENTS: z.coerce.number().int().min(100).default(50_000),
  /** Square webhook signature key (Developer Console); unset: POST /v1/webhooks/square answers 404. */
  SQUARE_WEBHOOK_SIGNATURE_KEY: z.string().optional(),
  /** The notification URL exactly as registered with Square (part of the signed payload). */
  SQUARE_WEBHOOK_URL: z.string().optional(),
  /** Square location id = branch id, or `LOCATION=branch,...` (unlisted locations are refused). */
  SQUARE_LOCATION_BRANCHES: csv.default(''),
  /** /metrics and /health of a process without the API role (0: off). */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(15000),
});

export type Config = Readonly<z.infer<typeof envSchema>>;

export class ConfigError extends Error {
  constructor(public readonly issues: string[]) {
    super(`Invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment (or overrides, for tests). Empty strings count as unset. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') cleaned[key] = v;
  }
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map(
        (i) =>
          `${i.path.join('.') || '(env)'}: ${i.message} (got ${/PASSWORD/.test(String(i.path[0])) ? '(hidden)' : JSON.stringify(cleaned[String(i.path[0])])})`,
      ),
    );
  }
  // An open API is for local development only: a production process must not serve every
  // branch to whoever can reach it because a variable was forgotten or copied.
  if (parsed.data.NODE_ENV === 'production' && parsed.data.AUTH_MODE === 'none') {
    throw new ConfigError([
      'AUTH_MODE: "none" (no API keys) is for local development only; NODE_ENV=production needs AUTH_MODE=keys',
    ]);
  }
  const kafkaIssues = resolveKafkaCredentials(parsed.data);
  if (kafkaIssues.length > 0) throw new ConfigError(kafkaIssues);
  return Object.freeze(parsed.data);
}

/**
 * The development Kafka passwords (scripts/kafka.sh's defaults): filled in only when a process
 * outside production is given no Kafka credentials at all, refused in production.
 */
export const DEV_KAFKA_PASSWORDS = Object.freeze({
  admin: 'tillcast-admin-dev-password',
  pos: 'tillcast-pos-dev-password',
  ingest: 'tillcast-ingest-dev-password',
  forecaster: 'tillcast-forecaster-dev-password',
  api: 'tillcast-api-dev-password',
});

/**
 * Kafka credentials (issue 14): outside production, no credentials at all means the development
 * ones (this process the admin, each role its own principal); given ones must come in pairs. In
 * production SASL is required, with a password that is not a development one. Issues name the
 * variable, never a value.
 */
function resolveKafkaCredentials(c: z.infer<typeof envSchema>): string[] {
  if (c.KAFKA_SASL_MECHANISM === 'none') {
    return c.NODE_ENV === 'production'
      ? ['KAFKA_SASL_MECHANISM: "none" (no Kafka authentication) is for local development only']
      : [];
  }
  if (
    c.NODE_ENV !== 'production' &&
    c.KAFKA_SASL_USERNAME === undefined &&
    c.KAFKA_SASL_PASSWORD === undefined
  ) {
    c.KAFKA_SASL_USERNAME = c.KAFKA_ADMIN_USER;
    c.KAFKA_SASL_PASSWORD = DEV_KAFKA_PASSWORDS.admin;
    c.KAFKA_POS_PASSWORD ??= DEV_KAFKA_PASSWORDS.pos;
    c.KAFKA_INGEST_PASSWORD ??= DEV_KAFKA_PASSWORDS.ingest;
    c.KAFKA_FORECASTER_PASSWORD ??= DEV_KAFKA_PASSWORDS.forecaster;
    c.KAFKA_API_PASSWORD ??= DEV_KAFKA_PASSWORDS.api;
  }
  const issues: string[] = [];
  const why = `KAFKA_SASL_MECHANISM is ${c.KAFKA_SASL_MECHANISM}`;
  // An API-only process needs no credentials of its own: it talks to Kafka only as its capture
  // (pos) and calendar (api) principals, with their own passwords.
  const apiOnly = c.ROLES.every((r) => r === 'api');
  if (c.KAFKA_SASL_USERNAME === undefined && (!apiOnly || c.KAFKA_SASL_PASSWORD !== undefined))
    issues.push(`KAFKA_SASL_USERNAME: required (${why})`);
  if (c.KAFKA_SASL_PASSWORD === undefined && (!apiOnly || c.KAFKA_SASL_USERNAME !== undefined))
    issues.push(`KAFKA_SASL_PASSWORD: required (${why})`);
  if (c.NODE_ENV === 'production') {
    const dev = new Set<string>(Object.values(DEV_KAFKA_PASSWORDS));
    for (const key of [
      'KAFKA_SASL_PASSWORD',
      'KAFKA_POS_PASSWORD',
      'KAFKA_INGEST_PASSWORD',
      'KAFKA_FORECASTER_PASSWORD',
      'KAFKA_API_PASSWORD',
    ] as const) {
      const v = c[key];
      if (v !== undefined && dev.has(v))
        issues.push(
          `${key}: a development password (DEV_KAFKA_PASSWORDS) is refused with NODE_ENV=production`,
        );
    }
  }
  return issues;
}
