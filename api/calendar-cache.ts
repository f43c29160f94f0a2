/**
 * The branch calendar's current entries, per branch, in memory: what /predict's per-day
 * `calendar` is made from. Polled and refreshed as polled-branch-days.ts says; the signature of a
 * branch is its row count and latest write (the table is append-only).
 */
import type { ClickHouse } from '../clickhouse/client';
import { BranchCalendar, type CalendarEntry } from '../clickhouse/store/branch-calendar';
import type { Logger } from '../lib/logger';
import { PolledBranchDays, type BranchDays, type BranchDayRow } from './polled-branch-days';

/** What /predict says of a day with a calendar entry. */
export interface DayCalendar {
  kind: 'closed' | 'event';
  name: string;
  note?: string;
}

/** A branch's current entries by epoch day, and the epoch they belong to. */
export type BranchCalendarDays = BranchDays<DayCalendar>;

function dayCalendar(e: CalendarEntry): DayCalendar {
  return e.note === undefined ? { kind: e.kind, name: e.name } : { kind: e.kind, name: e.name, note: e.note };
}

export class CalendarCache extends PolledBranchDays<DayCalendar> {
  constructor(ch: ClickHouse, logger: Logger, pollMs: number) {
    const store = new BranchCalendar(ch);
    super(
      {
        name: 'branch_calendar',
        module: 'calendar-cache',
        label: 'branch calendar',
        signatures: () => store.signatures(),
        read: async (branchId) => {
          const entries = await store.currentOf(branchId === undefined ? undefined : [branchId]);
          const rows: BranchDayRow<DayCalendar>[] = [];
          for (const [b, list] of entries) {
            for (const e of list) rows.push({ branchId: b, date: e.date, value: dayCalendar(e) });
          }
          return rows;
        },
        same: (x, y) => x.kind === y.kind && x.name === y.name && x.note === y.note,
      },
      logger,
      pollMs,
    );
  }
}
