/** The step of a batch that recomputes its touched hours from raw events (sales_hourly). */
import { addHour, type BatchContext } from '../batch-context';
import { hourVersion } from '../../../clickhouse/store/row-versions';
import {
  emptyAggregate,
  hourKey,
  type HourAggregate,
  type HourRow,
  type StoredHour,
} from '../../../clickhouse/store/sales-store';

/** One touched hour of a branch: what the raw events say now, and what is stored of it. */
interface TouchedHour {
  branch_id: string;
  hour_start: number;
  timezone: string;
  agg: HourAggregate;
  stored: StoredHour | undefined;
  /** The branch's closedThrough before this batch. */
  closedBefore: number | null;
}

/** The stored row already says what this aggregation says (a row of older code: its totals do). */
const sameTotals = (stored: StoredHour, agg: HourAggregate) =>
  stored.sales_minor === agg.sales_minor &&
  stored.orders === agg.orders &&
  stored.refunds === agg.refunds &&
  stored.voids === agg.voids &&
  (stored.events === null || stored.events === agg.events);

const hourRow = (hour: TouchedHour, closed: boolean, revision: number): HourRow => ({
  branch_id: hour.branch_id,
  hour_start: hour.hour_start,
  timezone: hour.timezone,
  closed,
  revision,
  version: hourVersion({ closed, events: hour.agg.events, revision }),
  ...hour.agg,
});

/**
 * Step recompute hours: every touched hour from raw events (the same result every time), writing
 * the ones that say something new, and noting the HourClosed events of the hours that close.
 */
export async function recomputeHours(ctx: BatchContext): Promise<void> {
  const { deps, touched } = ctx;
  if (touched.size === 0) return;
  // Stored state first, aggregation second: whatever a stored row counted, this one counts too.
  const storedHours = await deps.store.storedHours(closedAfterBatch(ctx));
  const aggregates = await deps.store.aggregateHours(touched);
  const rows: HourRow[] = [];
  for (const [branch, set] of touched) {
    const timezone = deps.branches.get(branch)?.timezone ?? 'UTC';
    const closedBefore = deps.clocks.get(branch)?.closedThrough ?? null;
    const closedThrough = ctx.nextClocks.get(branch)?.closedThrough ?? closedBefore;
    for (const h of [...set].sort((a, b) => a - b)) {
      const key = hourKey(branch, h);
      const agg = aggregates.get(key) ?? emptyAggregate();
      const hour = {
        branch_id: branch,
        hour_start: h,
        timezone,
        agg,
        stored: storedHours.get(key),
        closedBefore,
      };
      // If a member with a later clock closed an open one already, its closed row outranks this one.
      if (closedThrough !== null && h < closedThrough) closeHour(ctx, hour, rows);
      else rows.push(hourRow(hour, false, 0));
    }
  }
  await deps.store.insertHours(rows);
  ctx.result.hoursWritten = rows.length;
}

/**
 * The touched hours closed after this batch, whose stored state is read: their revision and
 * HourClosed depend on it. An hour still open here is written as an open row, which a closed row
 * of a member with a later clock outranks anyway (clickhouse/store/row-versions.ts), so reading
 * it would buy nothing (measured: the read of every touched hour cost bench:ingest about 15%).
 */
function closedAfterBatch(ctx: BatchContext): Map<string, Set<number>> {
  const closedHours = new Map<string, Set<number>>();
  for (const [branch, set] of ctx.touched) {
    const through =
      ctx.nextClocks.get(branch)?.closedThrough ?? ctx.deps.clocks.get(branch)?.closedThrough ?? null;
    for (const h of set) if (through !== null && h < through) addHour(closedHours, branch, h);
  }
  return closedHours;
}

/** A closed hour: a new revision if the events say something new, else the stored one's HourClosed again if it may be lost. */
function closeHour(ctx: BatchContext, hour: TouchedHour, rows: HourRow[]): void {
  const { agg, stored, hour_start } = hour;
  if (stored?.closed && sameTotals(stored, agg) && stored.revision === stored.topRevision) {
    // Nothing new to write. But the HourClosed of the stored row may have been lost: a crash
    // between writing it and publishing (the batch is redelivered: its hours close again, or
    // its events are duplicates now). Publish the stored revision again (at least once; the
    // event is a trigger, readers take the hour itself from sales_hourly).
    const closesNow = hour.closedBefore === null || hour_start >= hour.closedBefore;
    if (closesNow || stored.revision > 1) {
      announceClose(ctx, hour, stored, stored.revision);
    }
    return;
  }
  // The first close (1), or a correction: above every revision stored, a stale one of a zombie included.
  const revision = (stored?.topRevision ?? 0) + 1;
  rows.push(hourRow(hour, true, revision));
  announceClose(ctx, hour, agg, revision);
}

/** The HourClosed of `hour` at `revision`, with the totals of the row that says it. */
function announceClose(
  ctx: BatchContext,
  hour: TouchedHour,
  totals: { sales_minor: number; orders: number },
  revision: number,
): void {
  const { branch_id, hour_start } = hour;
  const { sales_minor, orders } = totals;
  ctx.result.hoursClosed.push({
    branch_id,
    hour_start,
    sales_minor,
    orders,
    revision,
    closed_at: ctx.deps.now(),
  });
}
