import type { Heartbeat, SaleEvent } from '../../../schemas/events';
import { reject, sawHeartbeat, type BatchContext, type RawMessage } from '../batch-context';
import { validateHeartbeat, validateSale, type Rejection } from '../../../schemas/event-rules';

/**
 * The message key must be the event's branch id: the topic is keyed by branch so that one
 * partition (one consumer, one batch at a time) owns each branch's clock. An event keyed
 * otherwise (or not at all) may sit on another partition than its branch and race its clock.
 */
function checkKey(m: RawMessage, branchId: string): Rejection | undefined {
  if (m.key?.equals(Buffer.from(branchId, 'utf8'))) return undefined;
  const key = m.key ? `key ${JSON.stringify(m.key.toString('utf8').slice(0, 80))}` : 'no key';
  return {
    code: 'key_mismatch',
    reason: `message has ${key}, but its branch_id is ${JSON.stringify(branchId)}: the topic is keyed by branch id`,
  };
}

/**
 * Step validate, in message order: rejects what decode could not read, invalid or mis-keyed events
 * and other record types; keeps valid sales (with their message, for dead-lettering a conflict
 * later) and counts valid heartbeats into their branch's event time.
 */
export function validateMessages(ctx: BatchContext): void {
  const { deps, topic } = ctx;
  for (const d of ctx.decoded) {
    const { m } = d;
    if ('undecodable' in d) {
      reject(ctx, m, d.undecodable);
    } else if (d.decoded.kind === 'sale') {
      const e = d.decoded.value as SaleEvent;
      const bad = validateSale(e, deps.rules) ?? checkKey(m, e.branch_id);
      if (bad) reject(ctx, m, bad, e.branch_id, e.event_id);
      else ctx.sales.push({ m, e });
    } else if (d.decoded.kind === 'heartbeat') {
      const h = d.decoded.value as Heartbeat;
      const bad = validateHeartbeat(h, deps.rules) ?? checkKey(m, h.branch_id);
      if (bad) reject(ctx, m, bad, h.branch_id);
      else {
        ctx.result.heartbeats++;
        sawHeartbeat(ctx, h.branch_id, h.at);
      }
    } else {
      reject(ctx, m, {
        code: 'wrong_topic_type',
        reason: `a ${d.decoded.kind} message does not belong on ${topic}`,
      });
    }
  }
}
