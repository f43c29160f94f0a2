/**
 * Operator data per branch and local day, in memory, kept fresh by polling a signature per branch:
 * what the calendar (calendar-cache.ts) and the overrides (overrides-cache.ts) of /predict are
 * made from.
 *
 * - Loaded in full at start (one small read); kept fresh by a poll, on the shared poller with the
 *   forecast period (API_FORECAST_POLL_MS), of a signature per branch (row count and latest write
 *   of the branch's rows). A branch whose signature moved is read again, and its epoch moves when
 *   its content changed. So a write through another API process shows within one poll period.
 * - `refreshBranch` (after a PUT or DELETE of this process) reads the branch again before the
 *   route answers: the writer's next /predict shows the change at once.
 * - The epoch of a branch is part of what a cached /predict answer was built from
 *   (routes/predict.ts), so an answer built before a change is never served after it.
 * Reads are serialized (one at a time), so a poll and a refresh never install out of order.
 *
 * Both rules below hold for every source, and are harmless where they cannot happen:
 * - A branch whose signature disappeared (its rows are gone) is installed empty. The calendar's
 *   table is append-only, so there it only happens if rows were removed by hand — and then
 *   dropping the entries is right too.
 * - An install whose content equals the branch's current one keeps the epoch (a refresh after a
 *   write the poll had already seen, or a branch whose rows are all deletions or clears): the
 *   epoch only invalidates cached answers, and those answers were built from equal content.
 */
import { parseCivilDate } from '../lib/time/civil-date';
import type { Logger } from '../lib/logger';
import type { PollTask } from '../lib/poller';
import { forecastPollErrors } from './metrics';

/** One branch's value of one local day, as the source reads it. */
export interface BranchDayRow<T> {
  readonly branchId: string;
  /** YYYY-MM-DD, local to the branch (rows with another shape are skipped). */
  readonly date: string;
  readonly value: T;
}

/** Where the data comes from, and how it is named. */
export interface BranchDaysSource<T> {
  /** The poll task's name and the `what` label of forecastPollErrors. */
  readonly name: string;
  /** The logger's `module`. */
  readonly module: string;
  /** What the data is called in log lines ("branch calendar", "overrides"). */
  readonly label: string;
  /** Per branch with any row, a string that moves with every write. */
  signatures(): Promise<Map<string, string>>;
  /** The current rows of one branch, or of every branch (undefined). */
  read(branchId: string | undefined): Promise<readonly BranchDayRow<T>[]>;
  /** Equal values (default: ===); an install equal to the current one keeps the epoch. */
  readonly same?: (a: T, b: T) => boolean;
}

/** A branch's values by epoch day, and the epoch they belong to. */
export interface BranchDays<T> {
  readonly epoch: number;
  readonly days: ReadonlyMap<number, T>;
}

const NONE: BranchDays<never> = Object.freeze({ epoch: 0, days: new Map<number, never>() });

export class PolledBranchDays<T> {
  private readonly log: Logger;
  private branches = new Map<string, BranchDays<T>>();
  private signatures = new Map<string, string>();
  private current: Promise<void> = Promise.resolve();
  private lastPollOkAt: number | null = null;

  constructor(
    private readonly source: BranchDaysSource<T>,
    logger: Logger,
    private readonly pollMs: number,
  ) {
    this.log = logger.child({ module: source.module });
  }

  /** The branch's current values (a snapshot: the request keeps it). */
  forBranch(branchId: string): BranchDays<T> {
    return this.branches.get(branchId) ?? NONE;
  }

  status(): { lastPollOkAt: number | null; branches: number } {
    return { lastPollOkAt: this.lastPollOkAt, branches: this.branches.size };
  }

  /** The initial full read (a failure is logged: the poll retries, /predict answers without this data meanwhile). */
  async load(): Promise<void> {
    try {
      await this.poll();
    } catch (err) {
      this.log.warn({ err }, `initial read of the ${this.source.label} failed; polling will retry`);
    }
  }

  pollTask(): PollTask {
    return { name: this.source.name, everyMs: this.pollMs, run: () => this.poll() };
  }

  async stop(): Promise<void> {
    await this.current.catch(() => undefined);
  }

  /** Reads one branch again now (this process just wrote its data). Throws on storage errors. */
  refreshBranch(branchId: string): Promise<void> {
    return this.serial(async () => {
      const rows = await this.source.read(branchId);
      this.install(branchId, rows);
    });
  }

  /** The poll: signatures of every branch; the branches whose signature moved are read again. */
  private poll(): Promise<void> {
    return this.serial(async () => {
      let next: Map<string, string>;
      try {
        next = await this.source.signatures();
        const moved = [...next].filter(([b, s]) => this.signatures.get(b) !== s).map(([b]) => b);
        const gone = [...this.branches.keys()].filter((b) => !next.has(b));
        if (moved.length > 0) {
          // One read for all moved branches (at start: every branch with rows).
          const rows = await this.source.read(moved.length === 1 ? moved[0] : undefined);
          const byBranch = new Map<string, BranchDayRow<T>[]>(moved.map((b) => [b, []]));
          for (const r of rows) byBranch.get(r.branchId)?.push(r);
          for (const [b, list] of byBranch) this.install(b, list);
        }
        for (const b of gone) this.install(b, []);
      } catch (err) {
        forecastPollErrors.inc({ what: this.source.name });
        throw err;
      }
      this.signatures = next;
      this.lastPollOkAt = Date.now();
    });
  }

  private install(branchId: string, rows: readonly BranchDayRow<T>[]): void {
    const days = new Map<number, T>();
    for (const r of rows) {
      const day = parseCivilDate(r.date);
      if (day !== null) days.set(day, r.value);
    }
    const before = this.forBranch(branchId);
    if (this.sameDays(before.days, days)) return;
    const epoch = before.epoch + 1;
    this.branches.set(branchId, { epoch, days });
    this.log.debug({ branchId, days: days.size, epoch }, `${this.source.label} installed`);
  }

  private sameDays(a: ReadonlyMap<number, T>, b: ReadonlyMap<number, T>): boolean {
    if (a.size !== b.size) return false;
    const same = this.source.same ?? ((x: T, y: T) => x === y);
    for (const [day, x] of a) {
      const y = b.get(day);
      if (y === undefined || !same(x, y)) return false;
    }
    return true;
  }

  private serial(work: () => Promise<void>): Promise<void> {
    const next = this.current.catch(() => undefined).then(work);
    this.current = next;
    return next;
  }
}
