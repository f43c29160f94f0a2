/**
 * One root pino logger; modules take a child (`logger.child({ module })`).
 * JSON lines, always (for reading on a terminal: `tillcast start | npx pino-pretty`).
 */
import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Defence in depth: no code logs credentials on purpose (a secrets test greps whole runs), but an
 * object logged whole (a config, a client option, a request's headers) must not carry them out.
 */
const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  'sasl',
  '*.sasl',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  '*.*.headers.authorization',
  'KAFKA_SASL_PASSWORD',
  'KAFKA_ADMIN_PASSWORD',
  'KAFKA_POS_PASSWORD',
  'KAFKA_INGEST_PASSWORD',
  'KAFKA_FORECASTER_PASSWORD',
  'KAFKA_API_PASSWORD',
  'CLICKHOUSE_PASSWORD',
  'CLICKHOUSE_API_USAGE_PASSWORD',
  '*.KAFKA_SASL_PASSWORD',
  '*.CLICKHOUSE_PASSWORD',
];

/** The process's logger (stdout), or one writing to `destination` (tests). */
export function createLogger(
  level: string = process.env.LOG_LEVEL ?? 'info',
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { app: 'tillcast' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Root logger for code paths that have no composition root (scripts, tests). */
export const rootLogger: Logger = createLogger();
