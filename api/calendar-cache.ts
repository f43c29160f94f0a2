/**
 * The branch calendar's current entries, per branch, in memory: what /predict's per-day
 * `calendar` is made from.
 *
 * - Loaded in full at start (the current entry per branch and date, one small read); kept fresh
 *   by a poll, on the shared poller with the forecast period (API_FORECAST_POLL_MS), of a
 *   signature per branch (row count and latest write: the table is append-only). A branch whose
 *   signature moved is read again and its epoch moves. So a change made through another API
 *   process shows within one poll period.
 * - `refreshBranch` (after a PUT or DELETE of this process) reads the branch again before the
 *   route answers: the writer's next /predict shows the change at once.
 * - The epoch of a branch is part of what a cached /predict answer was built from
 *   (routes/predict.ts), so an answer built before a change is never served after it.
 * Reads are serialized (one at a time), so a poll and a refresh never install out of order.
 */
import type { ClickHouse } from '../clickhouse/client';
import { BranchCalendar, type CalendarEntry } from '../clickhouse/store/branch-calendar';
import { parseCivilDate } from '../lib/time/civil-date';
import type { Logger } from '../lib/logger';
import type { PollTask } from '../lib/poller';
import { forecastPollErrors } from './metrics';

/** What /predict says of a day with a calendar entry. */
export interface DayCalendar {
  kind: 'closed' | 'event';
  name: string;
  note?: string;
}

/** A branch's current entries by epoch day, and the epoch they belong to. */
export interface BranchCalendarDays {
  readonly epoch: number;
  readonly days: ReadonlyMap<number, DayCalendar>;
}

const NONE: BranchCalendarDays = Object.freeze({ epoch: 0, days: new Map<number, DayCalendar>() });

function dayCalendar(e: CalendarEntry): DayCalendar {
  return e.note === undefined ? { kind: e.kind, name: e.name } : { kind: e.kind, name: e.name, note: e.note };
}

export class CalendarCache {
  private readonly store: BranchCalendar;
  private readonly log: Logger;
  private branches = new Map<string, BranchCalendarDays>();
  private signatures = new Map<string, string>();
  private current: Promise<void> = Promise.resolve();
  private lastPollOkAt: number | null = null;

  constructor(
    ch: ClickHouse,
    logger: Logger,
    private readonly pollMs: number,
  ) {
    this.store = new BranchCalendar(ch);
    this.log = logger.child({ module: 'calendar-cache' });
  }

  /** The branch's current entries (a snapshot: the request keeps it). */
  forBranch(branchId: string): BranchCalendarDays {
    return this.branches.get(branchId) ?? NONE;
  }

  status(): { lastPollOkAt: number | null; branches: number } {
    return { lastPollOkAt: this.lastPollOkAt, branches: this.branches.size };
  }

  /** The initial full read (a failure is logged: the poll retries, /predict answers without calendars meanwhile). */
  async load(): Promise<void> {
    try {
      await this.poll();
    } catch (err) {
      this.log.warn({ err }, 'initial read of the branch calendar failed; polling will retry');
    }
  }

  pollTask(): PollTask {
    return { name: 'branch_calendar', everyMs: this.pollMs, run: () => this.poll() };
  }

  async stop(): Promise<void> {
    await this.current.catch(() => undefined);
  }

  /** Reads one branch again now (this process just wrote its calendar). Throws on storage errors. */
  refreshBranch(branchId: string): Promise<void> {
    return this.serial(async () => {
      const entries = await this.store.currentOf([branchId]);
      this.install(branchId, entries.get(branchId) ?? []);
    });
  }

  /** The poll: signatures of every branch; the branches whose signature moved are read again. */
  private poll(): Promise<void> {
    return this.serial(async () => {
      let next: Map<string, string>;
      try {
        next = await this.store.signatures();
        const moved = [...next].filter(([b, s]) => this.signatures.get(b) !== s).map(([b]) => b);
        if (moved.length > 0) {
          // One read for all moved branches (at start: every branch with a calendar).
          const entries = await this.store.currentOf(moved.length === 1 ? moved : undefined);
          for (const b of moved) this.install(b, entries.get(b) ?? []);
        }
      } catch (err) {
        forecastPollErrors.inc({ what: 'branch_calendar' });
        throw err;
      }
      this.signatures = next;
      this.lastPollOkAt = Date.now();
    });
  }

  private install(branchId: string, entries: readonly CalendarEntry[]): void {
    const days = new Map<number, DayCalendar>();
    for (const e of entries) {
      const day = parseCivilDate(e.date);
      if (day !== null) days.set(day, dayCalendar(e));
    }
    const before = this.forBranch(branchId);
    // Unchanged content (a refresh after a write the poll had already seen): the same epoch, so
    // cached answers stay valid.
    if (sameDays(before.days, days)) return;
    const epoch = before.epoch + 1;
    this.branches.set(branchId, { epoch, days });
    this.log.debug({ branchId, days: days.size, epoch }, 'branch calendar installed');
  }

  private serial(work: () => Promise<void>): Promise<void> {
    const next = this.current.catch(() => undefined).then(work);
    this.current = next;
    return next;
  }
}

function sameDays(a: ReadonlyMap<number, DayCalendar>, b: ReadonlyMap<number, DayCalendar>): boolean {
  if (a.size !== b.size) return false;
  for (const [day, x] of a) {
    const y = b.get(day);
    if (!y || y.kind !== x.kind || y.name !== x.name || y.note !== x.note) return false;
  }
  return true;
}
