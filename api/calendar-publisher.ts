/**
 * Announces branch calendar changes on the calendar topic (KAFKA_TOPIC_CALENDAR), keyed by branch,
 * as the `api` Kafka principal (lib/kafka-principals.ts): one CalendarChanged (schemas/) per
 * stored version, so the forecaster member that owns the branch refreshes its forecast at once.
 * The message is a trigger: the forecaster reads the entries themselves from ClickHouse.
 *
 * One kafkajs idempotent producer (acks=all) per process, connected on first use (an API that
 * never writes a calendar never talks to Kafka), replaced after a failed send (an idempotent
 * producer whose send failed may be out of sequence with the broker). `publish` resolves once
 * the broker acknowledged, or rejects with a 503-mapped UnavailableError after `sendTimeoutMs`.
 */
import type { Kafka, Producer } from 'kafkajs';
import { UnavailableError } from '../lib/errors';
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
  let producer: Producer | undefined;
  let connecting: Promise<Producer> | undefined;
  let closed = false;

  const connected = (): Promise<Producer> => {
    if (producer) return Promise.resolve(producer);
    connecting ??= (async () => {
      const p = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
      });
      try {
        await p.connect();
      } catch (err) {
        void p.disconnect().catch(() => undefined);
        throw err;
      }
      producer = p;
      return p;
    })().finally(() => {
      connecting = undefined;
    });
    return connecting;
  };

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
            const p = await connected();
            await p.send({ topic: opts.topic, acks: -1, messages: [{ key: change.branch_id, value }] });
          })(),
          timeout,
        ]);
      } catch (err) {
        log.warn(
          { err: err instanceof Error ? err.message : String(err), branch_id: change.branch_id },
          'calendar change not announced',
        );
        const p = producer;
        producer = undefined;
        if (p) void p.disconnect().catch(() => undefined);
        throw err instanceof UnavailableError ? err : unavailable('Kafka did not acknowledge', err);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      closed = true;
      const p = producer ?? (await connecting?.catch(() => undefined));
      producer = undefined;
      await p?.disconnect().catch(() => undefined);
    },
  };
}
