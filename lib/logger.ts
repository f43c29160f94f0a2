/**
 * One root pino logger; modules take a child (`logger.child({ module })`).
 * JSON lines, always (for reading on a terminal: `tillcast start | npx pino-pretty`).
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { app: 'tillcast' }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** Root logger for code paths that have no composition root (scripts, tests). */
export const rootLogger: Logger = createLogger();
