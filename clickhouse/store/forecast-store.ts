/**
 * The forecaster's view of storage, over four repositories: closed histories in (sales-hourly.ts)
 * with each branch's calendar of operators' closures and events (branch-calendar.ts),
 * forecast runs out (forecast-runs.ts), and the model registry (model-registry.ts). One object,
 * so the forecaster's parts take the slice they use (`Pick<ForecastStore, …>`); the SQL is the
 * repositories'. Also exports the types those parts exchange with it. The registry's operator
 * side (list, rollback, history) is ModelRegistry's own, for `tillcast models`.
 */
import type { Branch, BranchDirectory } from '../../lib/branches';
import type { BranchCalendarEntry } from '../../model/branch-calendar';
import { HOUR_MS } from '../../lib/time/units';
import type { ClickHouse } from '../client';
import { BranchCalendar, type CalendarEntry } from './branch-calendar';
import { ForecastRuns, type ForecastRun } from './forecast-runs';
import {
  ModelRegistry,
  type ModelProvenance,
  type ModelRecord,
  type PromotionAction,
} from './model-registry';
import { SalesHourly, type BranchHistory } from './sales-hourly';

export { newRunId, type ForecastPoint, type ForecastRun } from './forecast-runs';
export {
  UnknownModelError,
  type ModelProvenance,
  type ModelRecord,
  type PromotionAction,
} from './model-registry';
export type { BranchHistory } from './sales-hourly';

export class ForecastStore {
  readonly hourly: SalesHourly;
  readonly runs: ForecastRuns;
  readonly registry: ModelRegistry;
  readonly calendar: BranchCalendar;

  constructor(ch: ClickHouse) {
    this.hourly = new SalesHourly(ch);
    this.runs = new ForecastRuns(ch);
    this.registry = new ModelRegistry(ch);
    this.calendar = new BranchCalendar(ch);
  }

  /**
   * Closed-hour histories ending at each branch's origin (exclusive), at most `hours` long, each
   * with its branch's calendar entries in force (past and planned: the model honours closures and
   * events of the horizon too).
   */
  async histories(
    requests: { branch: Branch; origin: number }[],
    hours: number,
    /** Where a forecast from the origin starts reading, given the calendar (default: `hours` before). */
    historyStart?: (series: Pick<BranchHistory, 'timezone' | 'calendar'>, origin: number) => number,
  ): Promise<BranchHistory[]> {
    if (!historyStart) {
      const [histories, calendars] = await Promise.all([
        this.hourly.histories(requests, hours),
        this.calendar.currentOf(requests.map((r) => r.branch.id)),
      ]);
      return withCalendars(histories, calendars);
    }
    const calendars = await this.calendar.currentOf(requests.map((r) => r.branch.id));
    // Most branches read `hours`; one whose event learns from older days of its name reads from there.
    const longer = new Map<number, number>();
    requests.forEach((r, i) => {
      const entries = calendars.get(r.branch.id);
      if (!entries) return;
      const from = historyStart(
        { timezone: r.branch.timezone, calendar: entries.map(modelCalendarEntry) },
        r.origin,
      );
      const need = Math.ceil((r.origin - from) / HOUR_MS);
      if (need > hours) longer.set(i, need);
    });
    const base = requests.filter((_, i) => !longer.has(i));
    const loaded = await this.hourly.histories(base, hours);
    const out: BranchHistory[] = [];
    let next = 0;
    for (const [i, r] of requests.entries()) {
      const need = longer.get(i);
      out.push(need === undefined ? loaded[next++]! : (await this.hourly.histories([r], need))[0]!);
    }
    return withCalendars(out, calendars);
  }

  /**
   * All closed history (up to `maxDays`) of every branch of the directory that has some, each
   * with its calendar entries (past closures mark days the model must not learn a false low from).
   */
  async closedHistories(branches: BranchDirectory, maxDays?: number): Promise<BranchHistory[]> {
    const [histories, calendars] = await Promise.all([
      this.hourly.closedHistories(branches, maxDays),
      this.calendar.currentOf(),
    ]);
    return withCalendars(histories, calendars);
  }

  /** Latest closed hour per branch (of these branches only, if given). */
  lastClosedHours(branchIds?: readonly string[]): Promise<Map<string, number>> {
    return this.hourly.lastClosedHours(branchIds);
  }

  /** Writes the points first, then the run row: a run is never visible half-written. */
  writeRuns(runs: ForecastRun[], branches: Map<string, Branch>): Promise<void> {
    return this.runs.writeRuns(runs, branches);
  }

  /** Origin of the latest run per branch. */
  latestOrigins(): Promise<Map<string, number>> {
    return this.runs.latestOrigins();
  }

  registerModel(m: ModelRecord, provenance?: ModelProvenance): Promise<void> {
    return this.registry.registerModel(m, provenance);
  }

  promote(
    version: string,
    action: PromotionAction,
    reason: string,
    opts?: { manual?: boolean },
  ): Promise<void> {
    return this.registry.promote(version, action, reason, opts);
  }

  modelSatisfying(decision: {
    id: string;
    kind: 'full' | 'finetune';
    watermark: number;
  }): Promise<string | undefined> {
    return this.registry.modelSatisfying(decision);
  }

  currentModel(): Promise<ModelRecord | undefined> {
    return this.registry.currentModel();
  }
}

/** The model's form of a stored entry (model/branch-calendar.ts). */
export function modelCalendarEntry(e: CalendarEntry): BranchCalendarEntry {
  return e.expectedEffect === undefined
    ? { date: e.date, kind: e.kind, name: e.name }
    : { date: e.date, kind: e.kind, name: e.name, expectedEffect: e.expectedEffect };
}

/** Each history with its branch's calendar (absent when the branch has no entry). */
function withCalendars(
  histories: BranchHistory[],
  calendars: ReadonlyMap<string, CalendarEntry[]>,
): BranchHistory[] {
  return histories.map((h) => {
    const entries = calendars.get(h.branchId);
    return entries && entries.length > 0 ? { ...h, calendar: entries.map(modelCalendarEntry) } : h;
  });
}
