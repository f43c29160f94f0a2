/**
 * `branch_watermarks`: each branch's event-time clock (latest event time seen, and the point
 * every hour before which is closed), so a restarted or newly assigned ingest member closes hours
 * where the last one left off, and the API knows which hours are closed. Rows are versioned by
 * the clock's own progress (row-versions.ts clockVersion): the most advanced clock wins whatever
 * the order the rows arrive in.
 */
import type { ClickHouse } from '../client';
import { toDateTime, toDateTime64 } from '../datetime-text';
import { QueryRunner } from '../query-runner';
import { clockVersion } from './row-versions';

/** A branch's clock as ingest keeps it (consumers/ingest/hour-close.ts BranchClock). */
export interface StoredClock {
  /** Latest event time seen, epoch ms (-Infinity when nothing seen yet). */
  watermark: number;
  /** Every hour starting before this is closed; null until the branch's first sale. */
  closedThrough: number | null;
}

export class BranchClocks {
  private readonly q: QueryRunner;

  constructor(ch: ClickHouse) {
    this.q = new QueryRunner(ch);
  }

  /** The stored clock of every branch, or of the given ones: the most advanced row of each (row-versions.ts). */
  async loadClocks(branchIds?: string[]): Promise<Map<string, { watermark: number; closedThrough: number }>> {
    if (branchIds?.length === 0) return new Map();
    const rows = await this.q.rows<{ branch_id: string; wm: string; ct: number }>(
      'branch_watermarks.load',
      `SELECT branch_id, toUnixTimestamp64Milli(argMax(watermark, version)) AS wm, toUnixTimestamp(argMax(closed_through, version)) AS ct
       FROM ${this.q.table('branch_watermarks')}
       ${branchIds ? 'WHERE branch_id IN {branches:Array(String)}' : ''}
       GROUP BY branch_id`,
      branchIds ? { branches: branchIds } : {},
    );
    return new Map(
      rows.map((r) => [r.branch_id, { watermark: Number(r.wm), closedThrough: Number(r.ct) * 1000 }]),
    );
  }

  /**
   * Saves clocks, each with a version of its own progress: a stale clock written late never wins.
   * Clocks that have not closed anything yet are not saved.
   */
  async saveClocks(clocks: ReadonlyMap<string, StoredClock>): Promise<void> {
    const values = [...clocks].flatMap(([branch_id, c]) =>
      c.closedThrough !== null && Number.isFinite(c.watermark)
        ? [
            {
              branch_id,
              watermark: toDateTime64(c.watermark),
              closed_through: toDateTime(c.closedThrough),
              version: clockVersion({ watermark: c.watermark, closedThrough: c.closedThrough }).toString(),
            },
          ]
        : [],
    );
    await this.q.insert('branch_watermarks.save', 'branch_watermarks', values, { idempotent: true });
  }

  /** closed_through per branch (UTC ms): the API's view of which hours are closed. */
  async closedThroughByBranch(): Promise<Map<string, number>> {
    const rows = await this.q.rows<{ branch_id: string; ct: number | string }>(
      'branch_watermarks.closed_through',
      `SELECT branch_id, toUnixTimestamp(argMax(closed_through, version)) AS ct
       FROM ${this.q.table('branch_watermarks')} GROUP BY branch_id`,
    );
    return new Map(rows.map((r) => [r.branch_id, Number(r.ct) * 1000]));
  }
}
