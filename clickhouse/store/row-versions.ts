/**
 * The `version` of `sales_hourly` and `branch_watermarks` rows (both
 * ReplacingMergeTree(version); readers take FINAL or argMax(…, version)), derived from
 * what a row KNOWS, never from when it was written.
 *
 * Why: several ingest members share the sales partitions, and Kafka fences a member
 * that lost its partitions only at its offset commit, after its ClickHouse writes. A
 * member stalled past the session timeout (a zombie: kafkajs heartbeats from the
 * consumer loop, so a slow batch is enough) may compute an hour or a clock before the
 * partition's new owner moves on and write it after. With a wall-clock version that late
 * write would win: an hour's sales regress, a closed hour reopens, a watermark goes
 * back. With versions monotone in knowledge the most-informed row wins whatever the
 * arrival order, so a late stale row is simply outranked.
 *
 * Hour rows rank by (closed, events, revision):
 * - closed first: once any member saw the watermark pass the hour, no open row
 *   (from a member with an older clock) can reopen it;
 * - then the count of raw events aggregated (too_late = 0, all statuses). Raw events
 *   are only ever added (first write wins), so a larger count is a later aggregation
 *   over a superset, and equal counts mean the same events, i.e. the same totals;
 * - revision last: it only breaks ties between rows of the same data.
 * Branch clocks rank by (watermark, closed_through): both only grow along a
 * partition, so the clock of the longer prefix wins.
 *
 * Rows written by older code carry wall-clock versions (epoch ms × 1000, about
 * 1.8e15, below 2^51 until the year 2041). Every version made here has bit 63 set, so it
 * ranks above all of them: after an upgrade the first new write of an hour or a clock
 * (a recomputation from raw events, or the clock as it stands) supersedes the old rows.
 * (During a rolling upgrade an old member's writes lose to any new member's; finish it.)
 *
 * Versions are UInt64 beyond 2^53, so they are bigints here and travel as decimal text
 * (ClickHouse parses a quoted number into a UInt64 column of JSONEachRow).
 */
import { HOUR_MS } from '../../lib/time/units';

const DERIVED = 1n << 63n;

const EVENT_BITS = 32n;
const REVISION_BITS = 30n;
const WATERMARK_BITS = 42n; // epoch ms: through the year 2109
const CLOSED_THROUGH_BITS = 21n; // epoch hours: through the year 2209

export class VersionRangeError extends Error {
  constructor(what: string, value: number) {
    super(`${what} ${value} does not fit the row version encoding`);
    this.name = 'VersionRangeError';
  }
}

function field(what: string, value: number, bits: bigint): bigint {
  if (!Number.isSafeInteger(value) || value < 0 || BigInt(value) >= 1n << bits)
    throw new VersionRangeError(what, value);
  return BigInt(value);
}

/** Version of an hour row: closed, then events aggregated, then revision. */
export function hourVersion(row: { closed: boolean; events: number; revision: number }): bigint {
  return (
    DERIVED |
    ((row.closed ? 1n : 0n) << (EVENT_BITS + REVISION_BITS)) |
    (field('events', row.events, EVENT_BITS) << REVISION_BITS) |
    field('revision', row.revision, REVISION_BITS)
  );
}

/** Version of a branch clock row: watermark, then closed-through. */
export function clockVersion(clock: { watermark: number; closedThrough: number }): bigint {
  return (
    DERIVED |
    (field('watermark', clock.watermark, WATERMARK_BITS) << CLOSED_THROUGH_BITS) |
    field('closed_through hour', clock.closedThrough / HOUR_MS, CLOSED_THROUGH_BITS)
  );
}

/** The events count an hour row's version carries; null for a version of older code (wall clock). */
export function eventsOfHourVersion(version: bigint): number | null {
  if ((version & DERIVED) === 0n) return null;
  return Number((version >> REVISION_BITS) & ((1n << EVENT_BITS) - 1n));
}
