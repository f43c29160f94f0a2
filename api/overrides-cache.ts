/**
 * The managers' overrides in force, per branch, in memory: what /predict's plan is made from.
 *
 * - Loaded in full at start (one small query: the latest ledger row per branch and day, not a
 *   clear); kept fresh by a poll, on the shared poller with the forecast period, of a signature
 *   per branch (row count and latest set_at of its ledger rows): a branch whose signature moved is
 *   read again and its epoch moves. So a PUT through another API process shows within one poll
 *   period (API_FORECAST_POLL_MS, 2 s).
 * - `refreshBranch` (after a PUT or DELETE of this process) reads the branch again before the
 *   route answers: the writer's next /predict shows the plan at once.
 * - The epoch of a branch is part of what a cached /predict answer was built from (routes/predict.ts),
 *   so an answer built before a change is never served after it.
 * Reads are serialized (one at a time), so a poll and a refresh never install out of order.
 */
import type { ClickHouse } from '../clickhouse/client';
import { Overrides, type OverrideRow } from '../clickhouse/store/overrides';
import { parseCivilDate } from '../lib/time/civil-date';
import type { Logger } from '../lib/logger';
import type { PollTask } from '../lib/poller';
import { forecastPollErrors } from './metrics';
import type { PlannedOverride } from './plan';

/** A branch's overrides in force by epoch day, and the epoch they belong to. */
export interface BranchOverrides {
  readonly epoch: number;
  readonly days: ReadonlyMap<number, PlannedOverride>;
}

const NONE: BranchOverrides = Object.freeze({ epoch: 0, days: new Map<number, PlannedOverride>() });

function planned(r: OverrideRow): PlannedOverride {
  return {
    salesCents: r.salesCents,
    orders: r.orders,
    reason: r.reason,
    setAt: r.setAt,
    keyId: r.by.keyId,
    keyName: r.by.keyName,
  };
}

export class OverridesCache {
  private readonly store: Overrides;
  private readonly log: Logger;
  private branches = new Map<string, BranchOverrides>();
  private signatures = new Map<string, string>();
  private current: Promise<void> = Promise.resolve();
  private lastPollOkAt: number | null = null;

  constructor(
    ch: ClickHouse,
    logger: Logger,
    private readonly pollMs: number,
  ) {
    this.store = new Overrides(ch);
    this.log = logger.child({ module: 'overrides-cache' });
  }

  /** The branch's overrides in force (a snapshot: the request keeps it). */
  forBranch(branchId: string): BranchOverrides {
    return this.branches.get(branchId) ?? NONE;
  }

  status(): { lastPollOkAt: number | null; branches: number } {
    return { lastPollOkAt: this.lastPollOkAt, branches: this.branches.size };
  }

  /** The initial full read (a failure is logged: the poll retries, /predict serves without plans). */
  async load(): Promise<void> {
    try {
      await this.poll();
    } catch (err) {
      this.log.warn({ err }, 'initial read of the overrides failed; polling will retry');
    }
  }

  pollTask(): PollTask {
    return { name: 'forecast_overrides', everyMs: this.pollMs, run: () => this.poll() };
  }

  async stop(): Promise<void> {
    await this.current.catch(() => undefined);
  }

  /** Reads one branch again now (this process just wrote its ledger). Throws on storage errors. */
  refreshBranch(branchId: string): Promise<void> {
    return this.serial(async () => {
      const rows = await this.store.inForce(branchId);
      this.install(branchId, rows);
    });
  }

  /** The poll: signatures of every branch; the branches whose signature moved are read again. */
  private poll(): Promise<void> {
    return this.serial(async () => {
      let next: Map<string, string>;
      try {
        next = await this.store.signatures();
        const moved = [...next].filter(([b, s]) => this.signatures.get(b) !== s).map(([b]) => b);
        const gone = [...this.branches.keys()].filter((b) => !next.has(b));
        if (moved.length > 0) {
          // One read for all moved branches (at start: every branch with a ledger).
          const rows = moved.length === 1 ? await this.store.inForce(moved[0]) : await this.store.inForce();
          const byBranch = new Map<string, OverrideRow[]>(moved.map((b) => [b, []]));
          for (const r of rows) byBranch.get(r.branchId)?.push(r);
          for (const [b, list] of byBranch) this.install(b, list);
        }
        for (const b of gone) this.install(b, []);
      } catch (err) {
        forecastPollErrors.inc({ what: 'forecast_overrides' });
        throw err;
      }
      this.signatures = next;
      this.lastPollOkAt = Date.now();
    });
  }

  private install(branchId: string, rows: readonly OverrideRow[]): void {
    const days = new Map<number, PlannedOverride>();
    for (const r of rows) {
      const day = parseCivilDate(r.date);
      if (day !== null) days.set(day, planned(r));
    }
    const epoch = this.forBranch(branchId).epoch + 1;
    this.branches.set(branchId, { epoch, days });
    this.log.debug({ branchId, days: days.size, epoch }, 'overrides installed');
  }

  private serial(work: () => Promise<void>): Promise<void> {
    const next = this.current.catch(() => undefined).then(work);
    this.current = next;
    return next;
  }
}
