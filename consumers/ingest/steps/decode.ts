import type { BatchContext } from '../batch-context';
import type { Rejection } from '../../../schemas/event-rules';

function decodeError(err: unknown): Rejection {
  const e = err as { code?: unknown; message?: unknown };
  return {
    code: typeof e.code === 'string' ? e.code : 'undecodable',
    reason: typeof e.message === 'string' ? e.message : String(err),
  };
}

/** Step decode: each message's Avro payload, or why it has none (empty, or not decodable). */
export function decodeMessages(ctx: BatchContext): void {
  for (const m of ctx.messages) {
    if (!m.value || m.value.length === 0) {
      ctx.decoded.push({
        m,
        undecodable: { code: 'empty_message', reason: 'message has no value (tombstone or empty payload)' },
      });
      continue;
    }
    try {
      ctx.decoded.push({ m, decoded: ctx.deps.decode(m.value) });
    } catch (err) {
      ctx.decoded.push({ m, undecodable: decodeError(err) });
    }
  }
}
