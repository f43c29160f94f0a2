/**
 * One capture request's events, in order, to what is published and what each event is told:
 * shape (json-events.ts or a vendor adapter) -> the key's branches -> the business rules
 * (schemas/event-rules.ts, the ingest consumer's own) -> the same identity twice in the batch ->
 * Avro encoding (schemas/avro-codec.ts). The reason codes are the dead-letter topic's where the
 * check is the same one.
 */
import type { Message } from 'kafkajs';
import { AvroCodecError, type AvroCodec } from '../../schemas/avro-codec';
import {
  validateHeartbeat,
  validateSale,
  type Rejection,
  type ValidationRules,
} from '../../schemas/event-rules';
import type { PosMessage } from '../../schemas/events';
import type { ParsedEvent } from './json-events';

export interface EventResult {
  index: number;
  status: 'accepted' | 'rejected';
  type?: 'sale' | 'heartbeat';
  branch_id?: string;
  event_id?: string;
  code?: string;
  reason?: string;
}

export interface CheckedBatch {
  results: EventResult[];
  /** What to publish, keyed by branch. */
  messages: Message[];
  accepted: number;
  rejected: number;
}

export interface BatchChecks {
  rules: ValidationRules;
  codec: AvroCodec;
  /** May the request publish events of this branch (its key's branches and the capture scope)? */
  mayCapture: (branchId: string) => boolean;
}

const identity = (m: PosMessage): string | undefined =>
  m.kind === 'sale' ? `${m.value.branch_id}\u0000${m.value.event_id}` : undefined;

/** What the ingest consumer compares to tell a harmless re-send from a conflicting one. */
const sameSale = (a: PosMessage, b: PosMessage): boolean =>
  a.kind === 'sale' &&
  b.kind === 'sale' &&
  a.value.occurred_at === b.value.occurred_at &&
  a.value.status === b.value.status &&
  a.value.total_minor === b.value.total_minor;

function check(m: PosMessage, checks: BatchChecks): Rejection | undefined {
  if (!checks.mayCapture(m.value.branch_id))
    return {
      code: 'forbidden_branch',
      reason: `this key may not publish events of branch ${JSON.stringify(m.value.branch_id.slice(0, 80))}`,
    };
  return m.kind === 'sale' ? validateSale(m.value, checks.rules) : validateHeartbeat(m.value, checks.rules);
}

export function checkBatch(parsed: readonly ParsedEvent[], checks: BatchChecks): CheckedBatch {
  const results: EventResult[] = [];
  const messages: Message[] = [];
  const seen = new Map<string, PosMessage>();
  let accepted = 0;
  parsed.forEach((p, index) => {
    if (!p.ok) {
      results.push({
        index,
        status: 'rejected',
        ...(p.branchId !== undefined ? { branch_id: p.branchId } : {}),
        ...(p.eventId !== undefined ? { event_id: p.eventId } : {}),
        code: p.rejection.code,
        reason: p.rejection.reason,
      });
      return;
    }
    const m = p.message;
    const base: EventResult = {
      index,
      status: 'accepted',
      type: m.kind,
      branch_id: m.value.branch_id.slice(0, 128),
      ...(m.kind === 'sale' ? { event_id: m.value.event_id.slice(0, 128) } : {}),
    };
    let bad = check(m, checks);
    const id = identity(m);
    const earlier = id === undefined ? undefined : seen.get(id);
    if (!bad && earlier) {
      // The same receipt twice in one batch: published once; different content is the conflict
      // ingest would dead-letter (first write wins).
      if (sameSale(earlier, m)) {
        results.push(base);
        accepted++;
        return;
      }
      bad = {
        code: 'conflicting_duplicate',
        reason: `event ${base.event_id ?? ''} appears earlier in this batch with different content (first write wins)`,
      };
    }
    if (!bad) {
      try {
        const value =
          m.kind === 'sale' ? checks.codec.encodeSale(m.value) : checks.codec.encodeHeartbeat(m.value);
        messages.push({ key: m.value.branch_id, value });
      } catch (err) {
        if (!(err instanceof AvroCodecError)) throw err;
        bad = { code: err.code, reason: err.message };
      }
    }
    if (bad) {
      results.push({ ...base, status: 'rejected', code: bad.code, reason: bad.reason });
      return;
    }
    if (id !== undefined) seen.set(id, m);
    results.push(base);
    accepted++;
  });
  return { results, messages, accepted, rejected: results.length - accepted };
}
