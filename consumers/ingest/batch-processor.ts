/**
 * Turns one Kafka batch (one partition, in offset order) into ClickHouse rows,
 * dead letters and hour-close events: a pipeline of named steps (steps/), each timed
 * (step-runner.ts), over one context (batch-context.ts). The consumer runs them with its commit
 * step last (steps/commit.ts): offsets are committed only after every write, so every step is
 * idempotent: a batch delivered again (after a crash, a rebalance, a broker restart) changes
 * no total.
 *
 *   decode, validate         (nothing written; rejections are kept for the dead letters step)
 *   load clocks              (stored clocks of branches not read since the last group join)
 *   dedupe                   (against the stored events: first write wins)
 *
 * Order of effects, chosen for crash safety:
 *   1. store events          new raw events (a re-run finds them and treats them as duplicates)
 *      advance clocks        (in memory: the hours that close with this batch)
 *   2. recompute hours       hourly aggregates (recomputed from raw events: same result every time)
 *   3. dead letters          dead letters + rejections, then
 *      hour-close events     HourClosed events (at least once: a trigger, readers
 *                            such as the forecaster take the hour itself from sales_hourly)
 *   4. save clocks           branch watermarks (only after the closes they imply were published)
 *   5. commit                (the consumer's: offsets only after the batch is written)
 *
 * Several members share the partitions, and one that lost its partitions (a zombie,
 * stalled past the session timeout) learns it only when its commit is refused, after
 * all of this. Its late writes are outranked, not prevented: every hour and clock row
 * carries a version of what it knows (clickhouse/store/row-versions.ts), each batch starts from the most
 * advanced stored clock of its branches, and an hour's stored state is read before it is
 * re-aggregated (so a new row knows at least what the stored one did).
 */
import {
  newBatchContext,
  type BatchContext,
  type BatchResult,
  type IngestDeps,
  type RawMessage,
} from './batch-context';
import { advanceClocks, loadStoredClocks, saveClocks } from './steps/clocks';
import { decodeMessages } from './steps/decode';
import { dedupeSales, storeEvents } from './steps/events';
import { recomputeHours } from './steps/hours';
import { publishDeadLetters, publishHourCloses } from './steps/publish';
import { validateMessages } from './steps/validate';
import { runSteps, type Step } from './step-runner';

export type { BatchResult, Decoded, DeadLetter, IngestDeps, RawMessage } from './batch-context';

/** The steps of a batch up to its commit, in the order above (names are the metric's `step` label). */
export const BATCH_STEPS: readonly Step<BatchContext>[] = [
  { name: 'decode', run: decodeMessages },
  { name: 'validate', run: validateMessages },
  { name: 'load clocks', run: loadStoredClocks },
  { name: 'dedupe', run: dedupeSales },
  { name: 'store events', run: storeEvents },
  { name: 'advance clocks', run: advanceClocks },
  { name: 'recompute hours', run: recomputeHours },
  { name: 'dead letters', run: publishDeadLetters },
  { name: 'hour-close events', run: publishHourCloses },
  { name: 'save clocks', run: saveClocks },
];

/** Runs the batch's steps, then `after` (the consumer's commit), and says what the batch did. */
export async function processBatch(
  deps: IngestDeps,
  topic: string,
  partition: number,
  messages: RawMessage[],
  after: readonly Step<BatchContext>[] = [],
): Promise<BatchResult> {
  const ctx = newBatchContext(deps, topic, partition, messages);
  await runSteps(ctx, [...BATCH_STEPS, ...after]);
  return ctx.result;
}
