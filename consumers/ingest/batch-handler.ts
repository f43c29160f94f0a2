/**
 * The consumer's eachBatch: runs a batch's steps (batch-processor.ts) with the commit step last,
 * then records what the committed batch did (metrics, the 'batch committed' line).
 */
import type { Batch, Consumer, EachBatchPayload } from 'kafkajs';
import type { Logger } from '../../lib/logger';
import type { BatchResult, IngestDeps } from './batch-context';
import { processBatch } from './batch-processor';
import { HOUR_MS } from '../../lib/time/units';
import * as metrics from './metrics';
import { commitStep, type BatchOffsets } from './steps/commit';

export interface BatchHandlerOptions {
  consumer: Consumer;
  deps: IngestDeps;
  log: Logger;
  now: () => number;
  /** After every committed batch, before onCommitted (the role's liveness). */
  onProgress: () => void;
  onCommitted?: (info: { partition: number; messages: number; timestamps: string[] }) => void;
  /** After a committed batch that corrected closed hours (a revision above 1), with their branches. */
  onHoursCorrected?: (branchIds: string[]) => void;
}

export function createBatchHandler(o: BatchHandlerOptions): (payload: EachBatchPayload) => Promise<void> {
  // The payload's functions are called as its methods (kafkajs binds them, but the types do not say so).
  return async (payload) => {
    const { batch } = payload;
    if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
    const offsets: BatchOffsets = {
      partition: batch.partition,
      firstOffset: batch.firstOffset(),
      lastOffset: batch.lastOffset(),
    };
    o.log.debug({ ...offsets, messages: batch.messages.length }, 'batch started');
    const timer = metrics.batchSeconds.startTimer();
    const r = await processBatch(o.deps, batch.topic, batch.partition, batch.messages, [
      commitStep(o.consumer, payload, offsets),
    ]);
    timer();
    o.onProgress();
    o.onCommitted?.({
      partition: batch.partition,
      messages: batch.messages.length,
      timestamps: batch.messages.map((m) => m.timestamp),
    });
    recordCommitted(batch, r, o.now);
    const corrected = correctedBranches(r);
    if (corrected.length > 0) o.onHoursCorrected?.(corrected);
    o.log.debug(
      {
        ...offsets,
        messages: batch.messages.length,
        ...r,
        hoursClosed: r.hoursClosed.length,
      },
      'batch committed',
    );
    await payload.heartbeat();
  };
}

/** Branches with a closed hour the batch corrected (published with a revision above 1). */
export function correctedBranches(r: Pick<BatchResult, 'hoursClosed'>): string[] {
  return [...new Set(r.hoursClosed.filter((h) => h.revision > 1).map((h) => h.branch_id))];
}

/** The metrics of a committed batch: outcomes, rejections, closes and their delay, the partition's lag. */
function recordCommitted(batch: Batch, r: BatchResult, now: () => number): void {
  metrics.eventsTotal.inc({ outcome: 'accepted' }, r.accepted);
  metrics.eventsTotal.inc({ outcome: 'duplicate' }, r.duplicates);
  metrics.eventsTotal.inc({ outcome: 'too_late' }, r.tooLate);
  metrics.eventsTotal.inc({ outcome: 'rejected' }, r.rejected);
  metrics.heartbeatsTotal.inc(r.heartbeats);
  for (const [code, n] of Object.entries(r.rejectionsByCode)) metrics.rejectionsTotal.inc({ code }, n);
  for (const h of r.hoursClosed) {
    metrics.hoursClosedTotal.inc({ kind: h.revision > 1 ? 'correction' : 'first' });
    const delay = (now() - (h.hour_start + HOUR_MS)) / 1000;
    if (h.revision === 1 && delay >= 0 && delay < 86_400) metrics.hourCloseDelaySeconds.observe(delay);
  }
  metrics.consumerLag.set({ partition: String(batch.partition) }, Number(batch.offsetLag()));
}
