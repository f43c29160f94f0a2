/**
 * The capture routes (issue 18, docs/capture.md): POS systems that cannot speak Kafka post their
 * events over HTTPS and tillcast hands them to the same sales topic its Kafka producers write.
 *
 * - `POST /v1/events` (bearer key with the `capture` scope): a JSON array (or one object) or
 *   NDJSON of tillcast's capture JSON (json-events.ts).
 * - `POST /v1/webhooks/square` (Square's HMAC signature, SQUARE_WEBHOOK_SIGNATURE_KEY): Square's
 *   order/payment webhooks through adapters/square.ts.
 *
 * Each event is checked (capture-batch.ts), the accepted ones are published keyed by branch with
 * acks=all (sales-sink.ts) and only then is the answer 202 with a status per event. Kafka slow or
 * away: 503 with Retry-After and nothing is reported accepted. The Kafka principal is `pos`
 * (lib/kafka-principals.ts), which may write the sales topic and nothing else.
 */
import type Koa from 'koa';
import type { Message } from 'kafkajs';
import type { BranchDirectory } from '../../lib/branches';
import type { Config } from '../../lib/config';
import { ValidationError } from '../../lib/errors';
import { createKafka } from '../../lib/kafka-client';
import type { Logger } from '../../lib/logger';
import { topicNames } from '../../lib/topics';
import { defaultCodec } from '../../schemas/avro-codec';
import type { ValidationRules } from '../../schemas/event-rules';
import type { KeyAuth } from '../key-auth';
import { readBoundedBody } from '../request-body';
import { squareWebhookRoute } from './adapters/square-route';
import { checkBatch, type CheckedBatch } from './capture-batch';
import { captureEvents } from './capture-metrics';
import { parseCaptureEvent, type ParsedEvent } from './json-events';
import { createSalesSink, type SalesSink } from './sales-sink';

export const CAPTURE_EVENTS_PATH = '/v1/events';
export const SQUARE_WEBHOOK_PATH = '/v1/webhooks/square';
/** The POST paths of capture (the request guard lets POST through on these). */
export const CAPTURE_POST_PATHS: readonly string[] = [CAPTURE_EVENTS_PATH, SQUARE_WEBHOOK_PATH];

export interface CaptureDeps {
  config: Config;
  branches: BranchDirectory;
  logger: Logger;
  auth: KeyAuth;
  /** Where accepted events go; default: the sales topic as the `pos` principal. */
  sink?: SalesSink;
}

export interface Capture {
  /** POST /v1/events (behind auth.requireCapture). */
  events: Koa.Middleware;
  /** POST /v1/webhooks/square. */
  square: Koa.Middleware;
  close(): Promise<void>;
}

/** The body as capture JSON values: an array, one object, or NDJSON (a bad line is that event's rejection). */
function parseBody(ctx: Koa.Context, body: Buffer, ndjson: boolean, maxEvents: number): ParsedEvent[] {
  const tooMany = (n: number): never =>
    ctx.throw(413, `${n} events in one request; at most ${maxEvents} (CAPTURE_MAX_EVENTS)`);
  const text = body.toString('utf8');
  if (ndjson) {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    if (lines.length > maxEvents) tooMany(lines.length);
    return lines.map((line) => {
      try {
        return parseCaptureEvent(JSON.parse(line) as unknown);
      } catch (err) {
        if (!(err instanceof SyntaxError)) throw err;
        return {
          ok: false,
          rejection: { code: 'invalid_json', reason: `this line is not JSON: ${err.message}` },
        };
      }
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new ValidationError('invalid_json', `the body is not JSON: ${err.message.slice(0, 200)}`);
  }
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  if (list.length > maxEvents) tooMany(list.length);
  return list.map(parseCaptureEvent);
}

/** What a 413 of a capture body tells the sender. */
const TOO_LARGE_HINT = '(CAPTURE_MAX_BODY_BYTES): send fewer events per request';

const NDJSON_TYPES = [
  'application/x-ndjson',
  'application/ndjson',
  'application/jsonl',
  'application/x-jsonlines',
];

export function createCapture(deps: CaptureDeps): Capture {
  const { config, branches } = deps;
  const log = deps.logger.child({ module: 'capture' });
  const sink =
    deps.sink ??
    createSalesSink(createKafka(config, deps.logger, 'pos'), deps.logger, {
      topic: topicNames(config).sales,
      sendTimeoutMs: config.CAPTURE_SEND_TIMEOUT_MS,
      maxPendingEvents: config.CAPTURE_MAX_PENDING_EVENTS,
    });
  const codec = defaultCodec();
  const rules: ValidationRules = {
    branches,
    acceptUnknownBranches: config.INGEST_ACCEPT_UNKNOWN_BRANCHES,
    maxFutureMs: config.INGEST_MAX_FUTURE_S * 1000,
    now: Date.now,
  };

  /** Checks, publishes (acks=all) and answers 202 with each event's status. */
  const publishAndAnswer = async (
    ctx: Koa.Context,
    source: string,
    parsed: readonly ParsedEvent[],
    mayCapture: (branchId: string) => boolean,
  ): Promise<CheckedBatch> => {
    const checked = checkBatch(parsed, { rules, codec, mayCapture });
    const messages: Message[] = checked.messages;
    await sink.publish(messages);
    for (const r of checked.results)
      captureEvents.inc({ source, outcome: r.status === 'accepted' ? 'accepted' : (r.code ?? 'rejected') });
    ctx.status = 202;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { accepted: checked.accepted, rejected: checked.rejected, results: checked.results };
    return checked;
  };

  const events: Koa.Middleware = async (ctx) => {
    const ndjson = typeof ctx.is(NDJSON_TYPES) === 'string';
    if (!ndjson && ctx.is('application/json') === false)
      ctx.throw(415, 'send events as application/json (an array) or application/x-ndjson (one per line)');
    const body = await readBoundedBody(ctx, config.CAPTURE_MAX_BODY_BYTES, TOO_LARGE_HINT);
    const parsed = parseBody(ctx, body, ndjson, config.CAPTURE_MAX_EVENTS);
    if (parsed.length === 0) throw new ValidationError('invalid_body', 'the body holds no events');
    await publishAndAnswer(ctx, 'events', parsed, (b) => deps.auth.mayCapture(ctx, b));
  };

  const square = squareWebhookRoute({
    config,
    logger: log,
    readBody: (ctx) => readBoundedBody(ctx, config.CAPTURE_MAX_BODY_BYTES, TOO_LARGE_HINT),
    publish: (ctx, parsed, mayCapture) => publishAndAnswer(ctx, 'square', parsed, mayCapture),
  });

  return { events, square, close: () => sink.close() };
}
