/**
 * Writes forecast runs: each requested branch is refreshed once, from its newest origin, in one
 * batched inference and one bulk write (a batch of HourClosed events is folded into "latest closed
 * hour per branch" before it gets here). A refresh without an event (at start, with a new model)
 * covers only this member's own branches: another member's are its business.
 */
import type { Branch, BranchDirectory } from '../../lib/branches';
import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import { horizonEnd } from '../../lib/time/local-days';
import { HOUR_MS } from '../../lib/time/units';
import { newRunId, type ForecastRun, type ForecastStore } from '../../clickhouse/store/forecast-store';
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
    const histories = await store.histories(requests, inUse.engine.historyHours);
    const points = await inUse.engine.forecast(
      requests.map((r, i) => ({
        history: histories[i]!,
        origin: r.origin,
        end: horizonEnd(r.origin, r.branch.timezone, config.FORECAST_HORIZON_DAYS),
      })),
    );
    const generatedAt = Date.now();
    const runs: ForecastRun[] = requests.map((r, i) => ({
      runId: newRunId(),
      branchId: r.branch.id,
      modelVersion: inUse.model!.version,
      origin: r.origin,
      generatedAt,
      points: points[i] ?? [],
    }));
    await store.writeRuns(runs, new Map(requests.map((r) => [r.branch.id, r.branch])));
    for (const r of runs) this.refreshedOrigin.set(r.branchId, r.origin);
    timer();
    metrics.refreshedBranches.inc(runs.length);
    this.logRuns(runs);
    this.opts.onRunsWritten?.(runs.map((r) => r.branchId));
    return runs;
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
