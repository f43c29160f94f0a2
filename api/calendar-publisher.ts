/**
 * Announces branch calendar changes on the calendar topic (KAFKA_TOPIC_CALENDAR), keyed by branch,
 * as the `api` Kafka principal (lib/kafka-principals.ts): one CalendarChanged (schemas/) per
 * stored version, so the forecaster member that owns the branch refreshes its forecast at once.
 * The message is a trigger: the forecaster reads the entries themselves from ClickHouse.
 *
 * One lazily connected idempotent producer (lib/lazy-producer.ts, acks=all) per process: an API
 * that never writes a calendar never talks to Kafka; it is replaced after a failed send.
 * `publish` resolves once the broker acknowledged, or rejects with a 503-mapped UnavailableError
 * after `sendTimeoutMs`.
 */
import type { Kafka } from 'kafkajs';
import { UnavailableError } from '../lib/errors';
import { createLazyProducer } from '../lib/lazy-producer';
import type { Logger } from '../lib/logger';
import type { AvroCodec } from '../schemas/avro-codec';
import type { CalendarChanged } from '../schemas/events';

export interface CalendarPublisher {
  /** Resolves once Kafka acknowledged the change (acks=all). */
  publish(change: CalendarChanged): Promise<void>;
  close(): Promise<void>;
}

const RETRY_AFTER_S = 2;

export function createCalendarPublisher(
  kafka: Kafka,
  codec: AvroCodec,
  logger: Logger,
  opts: { topic: string; sendTimeoutMs: number },
): CalendarPublisher {
  const log = logger.child({ module: 'calendar-publisher' });
  const producer = createLazyProducer(kafka);
  let closed = false;

  const unavailable = (why: string, cause?: unknown): UnavailableError =>
    new UnavailableError(
      'kafka_unavailable',
      `the calendar entry is stored, but its forecast refresh could not be announced (${why}); send the same request again`,
      RETRY_AFTER_S,
      { cause },
    );

  return {
    async publish(change) {
      if (closed) throw unavailable('the process is stopping');
      const value = codec.encode('calendarChanged', change);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(unavailable(`no acknowledgement within ${opts.sendTimeoutMs} ms`)),
          opts.sendTimeoutMs,
        );
      });
      try {
        await Promise.race([
          (async () => {
            const p = await producer.connected();
            await p.send({ topic: opts.topic, acks: -1, messages: [{ key: change.branch_id, value }] });
          })(),
          timeout,
        ]);
      } catch (err) {
        log.warn(
          { err: err instanceof Error ? err.message : String(err), branch_id: change.branch_id },
          'calendar change not announced',
        );
        producer.drop();
        throw err instanceof UnavailableError ? err : unavailable('Kafka did not acknowledge', err);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      closed = true;
      await producer.close();
    },
  };
}
