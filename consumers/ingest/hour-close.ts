/**
 * Event-time bookkeeping per branch: the watermark (latest event time a branch
 * has shown us, sale or heartbeat) decides which hours are closed. Pure
 * functions, so the rules are unit-tested without Kafka or ClickHouse.
 *
 * Rules (README "Hour close"):
 * - An hour [h, h+1h) closes once watermark - allowedLateness >= h + 1h.
 * - A branch's first closable hour is the hour of its first sale (no zero hours before history).
 * - An event for an hour that is already closed but within the correction window
 *   (measured back from the closed-through point) updates the hour and yields a new revision.
 * - An event older than that is "too late": stored raw, counted, logged, not aggregated.
 *
 * Hours are UTC hours; for branch time zones with whole-hour offsets they are also
 * exactly the branch's local hours.
 */
import type { StoredClock } from '../../clickhouse/store/branch-clocks';
import { floorToHour, HOUR_MS } from '../../lib/time/units';

/** A branch's clock is what branch_watermarks stores of it (one shape, defined by the store). */
export type BranchClock = StoredClock;

export type Lateness = 'on_time' | 'correction' | 'too_late';

export interface HourCloseSettings {
  allowedLatenessMs: number;
  correctionWindowMs: number;
}

export function classify(clock: BranchClock | undefined, occurredAt: number, s: HourCloseSettings): Lateness {
  if (!clock || clock.closedThrough === null) return 'on_time';
  const hour = floorToHour(occurredAt);
  if (hour >= clock.closedThrough) return 'on_time';
  if (hour >= clock.closedThrough - s.correctionWindowMs) return 'correction';
  return 'too_late';
}

export interface ClockAdvance {
  next: BranchClock;
  /** Hour starts that close with this advance, ascending. */
  closing: number[];
}

/**
 * Advances a branch clock by what one batch showed: the latest event time and
 * the earliest sale time (which seeds closedThrough for a new branch).
 */
export function advance(
  clock: BranchClock | undefined,
  batch: { maxEventTime: number; minSaleTime: number | null },
  s: HourCloseSettings,
): ClockAdvance {
  const watermark = Math.max(clock?.watermark ?? -Infinity, batch.maxEventTime);
  let closedThrough = clock?.closedThrough ?? null;
  if (closedThrough === null && batch.minSaleTime !== null) closedThrough = floorToHour(batch.minSaleTime);
  if (closedThrough === null || !Number.isFinite(watermark)) {
    return { next: { watermark, closedThrough }, closing: [] };
  }
  const target = floorToHour(watermark - s.allowedLatenessMs);
  const closing: number[] = [];
  for (let h = closedThrough; h < target; h += HOUR_MS) closing.push(h);
  return { next: { watermark, closedThrough: Math.max(closedThrough, target) }, closing };
}

/**
 * The more advanced of two clocks of one branch (each component's maximum). Both components only
 * grow along a partition, so this is the clock of the longer prefix: the one a member must start
 * from when another member (the partition's previous owner, or a zombie) may have saved a later one.
 */
export function laterClock(a: BranchClock | undefined, b: BranchClock): BranchClock {
  if (!a) return b;
  const closedThrough =
    a.closedThrough === null
      ? b.closedThrough
      : b.closedThrough === null
        ? a.closedThrough
        : Math.max(a.closedThrough, b.closedThrough);
  return { watermark: Math.max(a.watermark, b.watermark), closedThrough };
}
