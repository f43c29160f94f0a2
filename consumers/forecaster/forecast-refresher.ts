/**
 * Writes forecast runs: each requested branch is refreshed once, from its newest origin, in one
 * batched inference and one bulk write (a batch of HourClosed events is folded into "latest closed
 * hour per branch" before it gets here). A refresh without an event (at start, with a new model)
 * covers only this member's own branches: another member's are its business.
 *
 * A correction (an HourClosed revision above 1) of an hour before a branch's latest run origin
 * changed that run's inputs: if the engine reads the hour, the branch is refreshed again from that
 * origin (a new run replaces the served one). Ingest writes the corrected row before it publishes
 * the event, so a run written after the event has read at least that revision; remembering the
 * revisions read keeps duplicates of a correction (HourClosed is at least once) from refreshing
 * again. That memory is this member's: after a restart or a rebalance a duplicate still pending
 * costs at most one more run.
 *
 * A branch calendar change (an operator's closure or event, from the API) refreshes the branch at
 * once from its newest origin, the end of its last closed hour (or the origin of this member's
 * latest run if newer): a new run at the same origin replaces the served one, now with the
 * calendar the store hands the model with the history.
 *
 * New branches (issue 16, model/cold-start.ts): a branch with less than 28 days of own history is
 * forecast with its group's other branches' histories (lib/branches.ts groupOf; loaded at its origin) and the directory's
 * `expected_weekly_sales` / `opened_on`. A branch that has sold nothing yet has no closed hour and
 * no HourClosed event: if the directory says it is new (`opened_on` or `expected_weekly_sales`),
 * this member forecasts it at start and with every batch of closed hours, from the newest closed
 * hour of any branch, until its own sales arrive.
 */
import { groupOf, type Branch, type BranchDirectory } from '../../lib/branches';
import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import { horizonEnd } from '../../lib/time/local-days';
import { isColdStart, type ColdStartInput } from '../../model/cold-start';
import { HOUR_MS } from '../../lib/time/units';
import {
  newRunId,
  type BranchHistory,
  type ForecastRun,
  type ForecastStore,
} from '../../clickhouse/store/forecast-store';
import type { ClosedHoursBatch } from './hours-closed-consumer';
import * as metrics from './metrics';
import type { ModelInUse } from './model-in-use';

export interface ForecastRefresherOptions {
  config: Config;
  store: Pick<ForecastStore, 'histories' | 'writeRuns' | 'lastClosedHours' | 'latestOrigins'>;
  branches: BranchDirectory;
  logger: Logger;
  inUse: Pick<ModelInUse, 'engine' | 'model'>;
  /** Whether a branch is this member's (its partition is assigned here). */
  owns: (branchId: string) => boolean;
  /** Called after runs are written (the in-process API swaps its cache at once). */
  onRunsWritten?: (branchIds: string[]) => void;
}

export class ForecastRefresher {
  /** Origin of the latest run this member wrote per branch. */
  private readonly refreshedOrigin = new Map<string, number>();
  /**
   * Per branch, the highest revision of each corrected hour this member has dealt with: a run of
   * its read it, or the model reads no such old hour.
   */
  private readonly readRevision = new Map<string, Map<number, number>>();
  /** This member's new branches (opened_on or expected_weekly_sales) with no closed hour yet. */
  private readonly waitingForSales = new Set<string>();
  private readonly log: Logger;

  constructor(private readonly opts: ForecastRefresherOptions) {
    this.log = opts.logger.child({ module: 'forecaster' });
  }

  /** Refreshes the given branches at the given origins (skipping those with a newer run). */
  async refresh(origins: Map<string, number>): Promise<ForecastRun[]> {
    const { inUse, store, config } = this.opts;
    if (!inUse.engine || !inUse.model) return [];
    const requests = this.due(origins);
    if (requests.length === 0) return [];
    const timer = metrics.refreshSeconds.startTimer();
    const engine = inUse.engine;
    const histories = await store.histories(
      requests,
      engine.historyHours,
      engine.historyStart &&
        ((series, origin) =>
          engine.historyStart!(
            series,
            origin,
            horizonEnd(origin, series.timezone, config.FORECAST_HORIZON_DAYS),
          )),
    );
    const coldStart = await this.coldStartInputs(requests, histories, engine.historyHours);
    const results = await inUse.engine.forecast(
      requests.map((r, i) => ({
        history: histories[i]!,
        origin: r.origin,
        end: horizonEnd(r.origin, r.branch.timezone, config.FORECAST_HORIZON_DAYS),
        coldStart: coldStart[i],
      })),
    );
    const generatedAt = Date.now();
    const runs: ForecastRun[] = requests.map((r, i) => ({
      runId: newRunId(),
      branchId: r.branch.id,
      modelVersion: inUse.model!.version,
      origin: r.origin,
      generatedAt,
      points: results[i]?.points ?? [],
      grainFactors: inUse.engine?.grainFactors,
      coldStart: results[i]?.coldStart ?? false,
    }));
    await store.writeRuns(runs, new Map(requests.map((r) => [r.branch.id, r.branch])));
    for (const r of runs) this.refreshedOrigin.set(r.branchId, r.origin);
    timer();
    metrics.refreshedBranches.inc(runs.length);
    this.logRuns(runs);
    this.opts.onRunsWritten?.(runs.map((r) => r.branchId));
    return runs;
  }

  /**
   * Refreshes after a batch of HourClosed events: every branch from the newest origin of its
   * events, and a branch whose unread corrections the model reads from its latest run's origin.
   */
  async refreshClosedHours(batch: ClosedHoursBatch): Promise<ForecastRun[]> {
    const engine = this.opts.inUse.engine;
    if (!engine || !this.opts.inUse.model) return [];
    const origins = new Map(batch.newest);
    this.addWaitingForSales(origins);
    const unread = this.unreadCorrections(batch.corrections);
    if (batch.corrections.size > 0)
      await this.planCorrections([...batch.corrections.keys()], unread, origins, engine.historyHours);
    const runs = await this.refresh(origins);
    // Only once the runs are written: a failed batch is delivered again and must refresh then.
    this.markRead(unread, engine.historyHours);
    return runs;
  }

  /** The corrections of a batch whose revision no run of this member has read yet. */
  private unreadCorrections(corrections: ClosedHoursBatch['corrections']): Map<string, Map<number, number>> {
    const unread = new Map<string, Map<number, number>>();
    for (const [branchId, hours] of corrections) {
      const read = this.readRevision.get(branchId);
      for (const [hour, revision] of hours) {
        if ((read?.get(hour) ?? 1) >= revision) {
          metrics.corrections.inc({ outcome: 'already_read' });
          continue;
        }
        const list = unread.get(branchId) ?? new Map<number, number>();
        list.set(hour, revision);
        unread.set(branchId, list);
      }
    }
    return unread;
  }

  /**
   * Sets in `origins` where each corrected branch is refreshed from, or removes it when nothing
   * its latest run read has changed. The origin a correction brings (the end of its hour) is older
   * than the latest run's: a run from it would replace the served forecast with an older one.
   */
  private async planCorrections(
    corrected: string[],
    unread: Map<string, Map<number, number>>,
    origins: Map<string, number>,
    historyHours: number,
  ): Promise<void> {
    const stored = await this.opts.store.latestOrigins();
    for (const branchId of corrected) {
      const hours = unread.get(branchId) ?? new Map<number, number>();
      const latest = Math.max(
        stored.get(branchId) ?? -Infinity,
        this.refreshedOrigin.get(branchId) ?? -Infinity,
      );
      const origin = origins.get(branchId) ?? -Infinity;
      if (origin > latest) {
        // The batch's own newer run reads the corrected rows (or the branch has no run yet).
        metrics.corrections.inc({ outcome: 'newer_run' }, hours.size);
        continue;
      }
      // The run at `latest` read the `historyHours` before it (2,736 h for the neural engine:
      // HISTORY_DAYS 112 + 2 days of slack; the store loads no more). A correction older than
      // that changes nothing the model reads: a new run would equal the served one.
      const from = latest - historyHours * HOUR_MS;
      const read = [...hours.keys()].filter((h) => h >= from && h < latest);
      metrics.corrections.inc({ outcome: 'not_read' }, hours.size - read.length);
      if (read.length === 0) {
        origins.delete(branchId); // a run at `latest` (or later) exists and its inputs are unchanged
        continue;
      }
      metrics.corrections.inc({ outcome: 'refreshed' }, read.length);
      origins.set(branchId, latest);
      this.log.info(
        {
          branch_id: branchId,
          origin: new Date(latest).toISOString(),
          hours: read.map((h) => new Date(h).toISOString()),
        },
        'corrected hours before the latest origin: refreshing',
      );
    }
  }

  /**
   * Refreshes the branches whose calendar changed (this member's: the co-partitioned assigner
   * brings it their changes) from their newest origin. A branch without a closed hour has nothing
   * to forecast from yet: its first run will read the calendar.
   */
  async refreshCalendarChanges(branchIds: ReadonlySet<string>): Promise<ForecastRun[]> {
    if (!this.opts.inUse.engine || !this.opts.inUse.model || branchIds.size === 0) return [];
    const ids = [...branchIds].filter((id) => this.opts.branches.get(id) !== undefined);
    const closed = await this.opts.store.lastClosedHours(ids);
    const origins = new Map<string, number>();
    for (const id of ids) {
      // No run of any member has an origin past the last closed hour: this one is the newest.
      const origin = Math.max(
        (closed.get(id) ?? -Infinity) + HOUR_MS,
        this.refreshedOrigin.get(id) ?? -Infinity,
      );
      if (Number.isFinite(origin)) origins.set(id, origin);
    }
    const runs = await this.refresh(origins);
    if (runs.length > 0)
      this.log.info({ branches: runs.map((r) => r.branchId) }, 'branch calendar changed: refreshed');
    return runs;
  }

  /** Records the revisions now read, forgetting hours too old for any run to read. */
  private markRead(unread: Map<string, Map<number, number>>, historyHours: number): void {
    for (const [branchId, hours] of unread) {
      const read = this.readRevision.get(branchId) ?? new Map<number, number>();
      for (const [hour, revision] of hours) read.set(hour, revision);
      const from = Math.max(...read.keys()) - historyHours * HOUR_MS;
      for (const hour of read.keys()) if (hour < from) read.delete(hour);
      this.readRevision.set(branchId, read);
    }
  }

  /**
   * Adds this member's new branches without sales to `origins`, at `origin` (default: the newest
   * origin already there); a branch of `origins` has sold, and waits no more.
   */
  private addWaitingForSales(origins: Map<string, number>, origin?: number): void {
    for (const id of origins.keys()) this.waitingForSales.delete(id);
    const at = origin ?? Math.max(-Infinity, ...origins.values());
    if (!Number.isFinite(at)) return;
    for (const id of this.waitingForSales) if (this.opts.owns(id)) origins.set(id, at);
  }

  /**
   * Per request, what a young branch's forecast needs (model/cold-start.ts): its group's other
   * branches' histories at its origin and the directory's fields; undefined for a warm branch.
   */
  private async coldStartInputs(
    requests: { branch: Branch; origin: number }[],
    histories: BranchHistory[],
    historyHours: number,
  ): Promise<(ColdStartInput | undefined)[]> {
    const all = this.opts.branches.list();
    return Promise.all(
      requests.map(async ({ branch, origin }, i) => {
        const history = histories[i]!;
        const own = { ...history, start: history.sales.length === 0 ? origin : history.start };
        if (!isColdStart(own, origin, branch.opened_on)) return undefined;
        const group = groupOf(branch);
        const others =
          group === undefined ? [] : all.filter((b) => groupOf(b) === group && b.id !== branch.id);
        const peers =
          others.length === 0
            ? []
            : await this.opts.store.histories(
                others.map((b) => ({ branch: b, origin })),
                historyHours,
              );
        return {
          peers,
          ...(branch.expected_weekly_sales !== undefined
            ? { expectedWeeklySales: branch.expected_weekly_sales }
            : {}),
          ...(branch.opened_on !== undefined ? { openedOn: branch.opened_on } : {}),
        };
      }),
    );
  }

  /** The known branches of `origins` that have no run at a newer origin. */
  private due(origins: Map<string, number>): { branch: Branch; origin: number }[] {
    const requests: { branch: Branch; origin: number }[] = [];
    for (const [branchId, origin] of origins) {
      const branch = this.opts.branches.get(branchId);
      if (!branch) continue;
      if ((this.refreshedOrigin.get(branchId) ?? -Infinity) > origin) continue; // a newer run exists
      requests.push({ branch, origin });
    }
    return requests;
  }

  private logRuns(runs: ForecastRun[]): void {
    if (!this.log.isLevelEnabled('debug')) return;
    for (const r of runs)
      this.log.debug(
        {
          run_id: r.runId,
          branch_id: r.branchId,
          origin: new Date(r.origin).toISOString(),
          model: r.modelVersion,
        },
        'run written',
      );
  }

  /**
   * Refreshes every branch of this member's partitions whose latest closed hour is newer than its
   * latest run (all of them with a new model).
   */
  async catchUp(newModel = false): Promise<void> {
    const { store } = this.opts;
    const [closed, latest] = await Promise.all([store.lastClosedHours(), store.latestOrigins()]);
    const due = new Map<string, number>();
    for (const [branchId, hour] of closed) {
      if (!this.opts.owns(branchId)) continue;
      const origin = hour + HOUR_MS;
      const have = Math.max(
        latest.get(branchId) ?? -Infinity,
        this.refreshedOrigin.get(branchId) ?? -Infinity,
      );
      if (newModel || origin > have) due.set(branchId, origin);
    }
    for (const b of this.opts.branches.list())
      if (!closed.has(b.id) && this.opts.owns(b.id) && isDeclaredNew(b)) this.waitingForSales.add(b.id);
    this.addWaitingForSales(due, Math.max(-Infinity, ...closed.values()) + HOUR_MS);
    if (due.size > 0) {
      const runs = await this.refresh(due);
      this.log.info({ branches: runs.length }, 'caught up with closed hours');
    }
  }

  /** A new model should serve every branch at once: refreshes all of this member's branches. */
  async refreshAllWithNewModel(): Promise<void> {
    this.refreshedOrigin.clear();
    await this.catchUp(true);
  }
}

/** A branch the directory declares new: forecast before its first sale. */
function isDeclaredNew(b: Branch): boolean {
  return b.opened_on !== undefined || b.expected_weekly_sales !== undefined;
}
