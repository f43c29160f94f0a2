/**
 * The last step of a consumed batch: commit its offsets, only after every write of the batch. A
 * member that lost the partition while the batch was in flight (a zombie) learns it here, when the
 * group refuses the commit; its writes are outranked by the owner's (clickhouse/store/row-versions.ts).
 */
import type { Consumer, EachBatchPayload, KafkaJSError } from 'kafkajs';
import { commitBatch, protocolErrorIn } from '../../../lib/kafka-client';
import type { BatchContext } from '../batch-context';
import * as metrics from '../metrics';
import type { Step } from '../step-runner';

/** Group-membership errors of an offset commit: the group has moved on without this member. */
const FENCED = new Set(['ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS']);

/** The protocol error behind a refused commit, if it says this member is out of the generation. */
export function refusedByGroup(err: unknown): (KafkaJSError & { type: string }) | undefined {
  return protocolErrorIn(err, FENCED);
}

/** A batch's partition and offsets, as its log lines carry them. */
export interface BatchOffsets {
  partition: number;
  firstOffset: string | null;
  lastOffset: string;
}

/**
 * Step commit of the batch of one eachBatch call. commitBatch (lib/kafka-client.ts) still commits
 * once a stop has begun (a batch in flight at SIGTERM); resolveOffset then moves the fetch position
 * past the batch.
 */
export function commitStep(
  consumer: Consumer,
  payload: EachBatchPayload,
  offsets: BatchOffsets,
): Step<BatchContext> {
  return {
    name: 'commit',
    run: async (ctx) => {
      const last = payload.batch.lastOffset();
      try {
        await commitBatch(consumer, payload, (BigInt(last) + 1n).toString());
      } catch (err) {
        throw commitRefused(ctx, offsets, err);
      }
      payload.resolveOffset(last);
    },
  };
}

/** What to throw when the commit failed: the group's refusal itself (kafkajs rejoins on it), else the error. */
function commitRefused(ctx: BatchContext, offsets: BatchOffsets, err: unknown): unknown {
  const fenced = refusedByGroup(err);
  if (!fenced) return err;
  ctx.deps.clocksRead?.clear();
  // This member lost the partition while the batch was in flight (it stalled past the
  // session timeout, or the group rebalanced without it): its owner redoes the batch. The
  // protocol error itself goes to kafkajs, which rejoins the group on it; wrapped in the
  // retrier's non-retriable error it would stop this consumer for good.
  metrics.commitsRefusedTotal.inc();
  const r = ctx.result;
  ctx.deps.logger.warn(
    {
      ...offsets,
      code: fenced.type,
      hoursWritten: r.hoursWritten,
      accepted: r.accepted,
      duplicates: r.duplicates,
    },
    "batch written but its commit was refused: the group moved on without this member; rejoining (the partition's owner redoes the batch)",
  );
  return fenced;
}
