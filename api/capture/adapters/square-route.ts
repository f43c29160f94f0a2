/**
 * POST /v1/webhooks/square: Square's signature (x-square-hmacsha256-signature: base64 of
 * HMAC-SHA256 over the notification URL followed by the raw body, keyed with the subscription's
 * signature key) is checked in constant time before the body is parsed; then the body goes
 * through square.ts and is published like POST /v1/events. Without SQUARE_WEBHOOK_SIGNATURE_KEY
 * and SQUARE_WEBHOOK_URL the route does not exist (404): an unsigned webhook is never trusted.
 * The signature vouches for the Square account, so the key scope check is the location mapping.
 */
import crypto from 'node:crypto';
import type Koa from 'koa';
import type { Config } from '../../../lib/config';
import { NotFoundError, UnauthenticatedError, ValidationError } from '../../../lib/errors';
import type { Logger } from '../../../lib/logger';
import type { CheckedBatch } from '../capture-batch';
import { parseCaptureEvent, type ParsedEvent } from '../json-events';
import { locationMap, squareWebhookEvents } from './square';

export const SQUARE_SIGNATURE_HEADER = 'x-square-hmacsha256-signature';

/** Square's signature of a body sent to `url`. */
export function squareSignature(key: string, url: string, body: Buffer): string {
  return crypto.createHmac('sha256', key).update(url, 'utf8').update(body).digest('base64');
}

export function verifySquareSignature(key: string, url: string, body: Buffer, given: string): boolean {
  const expected = Buffer.from(squareSignature(key, url, body), 'utf8');
  const got = Buffer.from(given, 'utf8');
  return got.length === expected.length && crypto.timingSafeEqual(got, expected);
}

export interface SquareRouteDeps {
  config: Config;
  logger: Logger;
  readBody: (ctx: Koa.Context) => Promise<Buffer>;
  publish: (
    ctx: Koa.Context,
    parsed: readonly ParsedEvent[],
    mayCapture: (branchId: string) => boolean,
  ) => Promise<CheckedBatch>;
}

export function squareWebhookRoute(deps: SquareRouteDeps): Koa.Middleware {
  const key = deps.config.SQUARE_WEBHOOK_SIGNATURE_KEY;
  const url = deps.config.SQUARE_WEBHOOK_URL;
  const branchOf = locationMap(deps.config.SQUARE_LOCATION_BRANCHES);
  return async (ctx) => {
    if (key === undefined || url === undefined)
      throw new NotFoundError(
        'the Square webhook is not configured (SQUARE_WEBHOOK_SIGNATURE_KEY, SQUARE_WEBHOOK_URL)',
      );
    const body = await deps.readBody(ctx);
    if (!verifySquareSignature(key, url, body, ctx.get(SQUARE_SIGNATURE_HEADER)))
      throw new UnauthenticatedError(
        `the ${SQUARE_SIGNATURE_HEADER} signature does not match`,
        'Square-Signature',
      );
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      throw new ValidationError('invalid_json', 'the body is not JSON');
    }
    const items = squareWebhookEvents(value, { branchOf });
    const ignored = items.flatMap((i) => ('ignored' in i ? [i.ignored] : []));
    const parsed = items.flatMap((i) => ('event' in i ? [parseCaptureEvent(i.event)] : []));
    if (ignored.length > 0) deps.logger.debug({ ignored }, 'square webhook parts ignored');
    const checked = await deps.publish(ctx, parsed, () => true);
    ctx.body = { accepted: checked.accepted, rejected: checked.rejected, ignored, results: checked.results };
  };
}
