/**
 * `branch_calendar`: operators' closures and events per branch and local date
 * (clickhouse/migrations/0011_branch_calendar.sql). Append-only: every change is a new row with
 * the next version of its (branch, date); the current entry is the row of greatest
 * (version, written_at), unless that row is a deletion. The API writes and reads entries
 * (PUT/DELETE/GET /v1/branches/{id}/calendar, and the per-day `calendar` of /predict); the
 * forecaster reads the current entries of the branches it forecasts or trains on.
 */
import type { ClickHouse } from '../client';
import { toDateTime64 } from '../datetime-text';
import { QueryRunner } from '../query-runner';

export type CalendarKind = 'closed' | 'event';

/** A current calendar entry (what the API shows and the model reads). */
export interface CalendarEntry {
  branchId: string;
  /** Local date `YYYY-MM-DD` in the branch's zone. */
  date: string;
  kind: CalendarKind;
  name: string;
  /** Absent: none given. */
  note?: string;
  /** Events only: expected change of the day's sales as a fraction (0.3 = +30 %). */
  expectedEffect?: number;
  /** Changes of this (branch, date) so far, the deletions included (1: never edited). */
  version: number;
  /** The API key that wrote this version (`auth-none` without keys) and its name then. */
  keyId: string;
  keyName: string;
  /** When this version was written (epoch ms). */
  writtenAt: number;
}

/** The latest version of a (branch, date), deleted or not. */
export interface LatestVersion extends CalendarEntry {
  deleted: boolean;
}

/** A new version to append: the fields a version is read back with. */
export type CalendarWrite = LatestVersion;

interface Row {
  branch_id: string;
  local_date: string;
  kind: CalendarKind;
  name: string;
  note: string | null;
  expected_effect: number | null;
  deleted: number;
  version: number | string;
  key_id: string;
  key_name: string;
  written_at: string;
}

/** The whole range of ClickHouse's Date: "every date" for the reads below. */
const FIRST_DATE = '1970-01-01';
const LAST_DATE = '2149-06-06';

/** What `latestVersions` reads: some branches (empty: all) over [from, to], deletions or not. */
interface VersionFilter {
  branches: readonly string[];
  from: string;
  to: string;
  /** Leave out the (branch, date) whose latest version is a deletion. */
  currentOnly: boolean;
}

function toLatest(r: Row): LatestVersion {
  const e: LatestVersion = {
    branchId: r.branch_id,
    date: r.local_date,
    kind: r.kind,
    name: r.name,
    version: Number(r.version),
    keyId: r.key_id,
    keyName: r.key_name,
    writtenAt: Number(r.written_at),
    deleted: Number(r.deleted) === 1,
  };
  if (r.note !== null) e.note = r.note;
  if (r.expected_effect !== null) e.expectedEffect = Number(r.expected_effect);
  return e;
}

function toEntry(v: LatestVersion): CalendarEntry {
  const { deleted: _deleted, ...entry } = v;
  return entry;
}

export class BranchCalendar {
  private readonly q: QueryRunner;

  constructor(ch: ClickHouse) {
    this.q = new QueryRunner(ch);
  }

  /** The latest version of one (branch, date), a deletion included; undefined: never written. */
  async latest(branchId: string, date: string): Promise<LatestVersion | undefined> {
    const rows = await this.latestVersions('branch_calendar.latest', {
      branches: [branchId],
      from: date,
      to: date,
      currentOnly: false,
    });
    return rows[0] ? toLatest(rows[0]) : undefined;
  }

  /** The current entries of a branch over [from, to] (local dates, inclusive), by date. */
  async current(branchId: string, from: string, to: string): Promise<CalendarEntry[]> {
    const rows = await this.latestVersions('branch_calendar.current', {
      branches: [branchId],
      from,
      to,
      currentOnly: true,
    });
    return rows.map((r) => toEntry(toLatest(r)));
  }

  /**
   * Every current entry (past and future) of these branches (all branches: undefined), per
   * branch, by date. Branches without one are absent.
   */
  async currentOf(branchIds?: readonly string[]): Promise<Map<string, CalendarEntry[]>> {
    const out = new Map<string, CalendarEntry[]>();
    if (branchIds?.length === 0) return out;
    const rows = await this.latestVersions('branch_calendar.current_of', {
      branches: branchIds ? [...new Set(branchIds)] : [],
      from: FIRST_DATE,
      to: LAST_DATE,
      currentOnly: true,
    });
    for (const r of rows) {
      const list = out.get(r.branch_id) ?? [];
      list.push(toEntry(toLatest(r)));
      out.set(r.branch_id, list);
    }
    return out;
  }

  /**
   * The latest version per (branch_id, local_date) — greatest (version, written_at) — of the
   * filter's branches and dates, ordered by branch and date. One text, every value a parameter.
   */
  private latestVersions(name: string, f: VersionFilter): Promise<Row[]> {
    return this.q.rows<Row>(
      name,
      `SELECT branch_id, toString(local_date) AS local_date,
         toString(c.1) AS kind, c.2 AS name, c.3 AS note, c.4 AS expected_effect, c.5 AS deleted,
         c.6 AS version, c.7 AS key_id, c.8 AS key_name, toUnixTimestamp64Milli(c.9) AS written_at
       FROM (
         SELECT branch_id, local_date,
           argMax(tuple(kind, name, note, expected_effect, deleted, version, key_id, key_name, written_at),
                  tuple(version, written_at)) AS c
         FROM ${this.q.table('branch_calendar')}
         WHERE (empty({branches:Array(String)}) OR branch_id IN {branches:Array(String)})
           AND local_date BETWEEN toDate({from:String}) AND toDate({to:String})
         GROUP BY branch_id, local_date
       )
       WHERE {current_only:UInt8} = 0 OR deleted = 0
       ORDER BY branch_id, local_date`,
      { branches: f.branches, from: f.from, to: f.to, current_only: f.currentOnly ? 1 : 0 },
    );
  }

  /**
   * Per branch with any version, a signature that moves with every write (the table is
   * append-only: its row count and latest write): the API's poll reads a branch again when its
   * signature moved.
   */
  async signatures(): Promise<Map<string, string>> {
    const rows = await this.q.rows<{ branch_id: string; n: number | string; w: number | string }>(
      'branch_calendar.signatures',
      `SELECT branch_id, count() AS n, toUnixTimestamp64Milli(max(written_at)) AS w
       FROM ${this.q.table('branch_calendar')} GROUP BY branch_id`,
    );
    return new Map(rows.map((r) => [r.branch_id, `${r.n}@${r.w}`]));
  }

  /** Appends a version. Not idempotent on its own (a repeated insert is a second row): callers compare with `latest` first. */
  async append(w: CalendarWrite): Promise<void> {
    await this.q.insert('branch_calendar.append', 'branch_calendar', [
      {
        branch_id: w.branchId,
        local_date: w.date,
        kind: w.kind,
        name: w.name,
        note: w.note ?? null,
        expected_effect: w.expectedEffect ?? null,
        deleted: w.deleted ? 1 : 0,
        key_id: w.keyId,
        key_name: w.keyName,
        written_at: toDateTime64(w.writtenAt),
        version: w.version,
      },
    ]);
  }
}
