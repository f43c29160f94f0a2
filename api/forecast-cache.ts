/**
 * The latest complete forecast run of every branch, in memory.
 *
 * - A run is visible once its `forecast_runs` row exists (the forecaster writes it
 *   after all of the run's `forecasts` rows). The points are loaded, checked against
 *   the row's `points` count (a short run is not served and is retried), converted
 *   to integer cents / thousandths, and the branch's entry is replaced in one
 *   assignment: a request holds the run object it looked up, so it never sees a
 *   mix of two runs.
 * - "Latest" = greatest (generated_at, run_id).
 * - Refresh: a poll every `pollMs` reads the latest run row per branch among rows
 *   generated since (newest seen - `slackMs`) — a small, partition-pruned read —
 *   and every `fullRescanEvery`-th poll reads all branches (authoritative: it also
 *   drops branches whose runs expired by TTL and catches rows written very late).
 *   The polls are run by the shared poller (`pollTask()`).
 *   `notifyRun(branchId)` lets an in-process forecaster refresh one branch at once.
 * - The runs live in an lru-cache: `maxBranches` bounds them (far above any fleet; past it
 *   the least recently requested branch is dropped until a full rescan), and its fetchMethod
 *   is the single-branch refresh, so concurrent refreshes of a branch share one read.
 */
import type { ClickHouse } from '../clickhouse/client';
import { ForecastRuns, type StoredPoint, type StoredRun } from '../clickhouse/store/forecast-runs';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../lib/logger';
import type { PollTask } from '../lib/poller';
import {
  countLookup,
  forecastBranches,
  forecastLastPoll,
  forecastPollErrors,
  forecastRunsLoaded,
  forecastRunsRejected,
} from './metrics';
import { toCents, toMilli, type LoadedRun, type RunParts } from './served-types';
import { HOUR_MS } from '../lib/time/units';

export interface ForecastCacheOptions {
  pollMs: number;
  /** Every N-th poll reads every branch's latest run (not only recent rows). */
  fullRescanEvery: number;
  /** How far before the newest seen generated_at an incremental poll looks. */
  slackMs: number;
  /** Branches per points query when many runs load at once. */
  loadBatch: number;
  /** Branches held at most (a memory bound, not expected to be reached). */
  maxBranches: number;
}

export const DEFAULT_FORECAST_CACHE_OPTIONS: ForecastCacheOptions = {
  pollMs: 2_000,
  fullRescanEvery: 30,
  slackMs: 10 * 60_000,
  loadBatch: 200,
  maxBranches: 100_000,
};

export interface ForecastCacheStatus {
  /** The initial full load has succeeded. */
  loaded: boolean;
  lastPollOkAt: number | null;
  lastError: string | null;
  branches: number;
}

const isNewer = (a: { generatedAt: number; runId: string }, b: { generatedAt: number; runId: string }) =>
  a.generatedAt > b.generatedAt || (a.generatedAt === b.generatedAt && a.runId > b.runId);

/** A run row that may replace what is served once its points are loaded. */
type Candidate = StoredRun;

export class ForecastCache {
  private readonly runs: LRUCache<string, LoadedRun>;
  private readonly log: Logger;
  private readonly opts: ForecastCacheOptions;
  private maxGeneratedAt: number | null = null;
  private loaded = false;
  private lastPollOkAt: number | null = null;
  private lastError: string | null = null;
  private current: Promise<void> | undefined;
  /** Single-branch refreshes in progress (stop() waits for them). */
  private readonly refreshing = new Set<Promise<unknown>>();
  private readonly warnedRejected = new Set<string>();

  private readonly store: ForecastRuns;

  constructor(ch: ClickHouse, logger: Logger, opts: Partial<ForecastCacheOptions> = {}) {
    this.store = new ForecastRuns(ch);
    this.log = logger.child({ module: 'forecast-cache' });
    this.opts = { ...DEFAULT_FORECAST_CACHE_OPTIONS, ...opts };
    this.runs = new LRUCache<string, LoadedRun>({
      max: Math.max(1, this.opts.maxBranches),
      fetchMethod: (branchId, current) => this.latestOf(branchId, current),
      // A poll that installs a run while a refresh of the branch reads wins (it is the newer
      // install); the refresh then resolves without installing.
      ignoreFetchAbort: true,
      allowStaleOnFetchAbort: true,
    });
  }

  /** The run served for a branch (the caller keeps this object for the whole request). */
  get(branchId: string): LoadedRun | undefined {
    const run = this.runs.get(branchId);
    countLookup('forecast', run ? 'hit' : 'miss');
    return run;
  }

  /** Same as get() without counting a cache lookup (listings). */
  peek(branchId: string): LoadedRun | undefined {
    return this.runs.peek(branchId);
  }

  status(): ForecastCacheStatus {
    return {
      loaded: this.loaded,
      lastPollOkAt: this.lastPollOkAt,
      lastError: this.lastError,
      branches: this.runs.size,
    };
  }

  get pollMs(): number {
    return this.opts.pollMs;
  }

  /** The initial full load (a failure is logged, not thrown: the poll retries). */
  async load(): Promise<void> {
    try {
      await this.refresh({ full: true });
    } catch (err) {
      this.log.warn({ err }, 'initial forecast load failed; polling will retry');
    }
  }

  /** The poll of forecast_runs, for the shared poller: every `fullRescanEvery`-th is a full rescan. */
  pollTask(): PollTask {
    return {
      name: 'forecast_runs',
      everyMs: this.opts.pollMs,
      run: (tick) => this.refresh({ full: tick % this.opts.fullRescanEvery === 0 }),
    };
  }

  /** Waits for the reads in progress (polling is the poller's to stop). */
  async stop(): Promise<void> {
    await Promise.allSettled([this.current ?? Promise.resolve(), ...this.refreshing]);
  }

  /** Asks for a refresh of one branch (e.g. the in-process forecaster just wrote a run). Never throws. */
  notifyRun(branchId: string): void {
    void this.refreshBranch(branchId).catch((err: unknown) =>
      this.log.warn({ err, branchId }, 'forecast refresh after notify failed'),
    );
  }

  /** Reloads one branch's latest run; resolves once it is installed (coalesces concurrent calls). */
  async refreshBranch(branchId: string): Promise<void> {
    const refresh = async () => {
      const status: LRUCache.Status<string, LoadedRun> = {};
      const done = this.runs.fetch(branchId, { forceRefresh: true, allowStale: false, status });
      this.refreshing.add(done);
      try {
        await done;
      } finally {
        this.refreshing.delete(done);
      }
      return status.fetch === 'inflight';
    };
    // A refresh already running may have read before the caller's news: one more after it.
    if (await refresh()) await refresh();
  }

  /** One poll (incremental unless `full` or nothing was loaded yet). Throws on storage errors. */
  refresh(opts: { full?: boolean } = {}): Promise<void> {
    // Polls never overlap: a second caller waits for the running one, then runs its own.
    const run = async () => {
      const full = opts.full === true || !this.loaded;
      const scanStartedAt = Date.now();
      const since =
        full || this.maxGeneratedAt === null ? undefined : this.maxGeneratedAt - this.opts.slackMs;
      try {
        const rows = await this.latestRows({ since });
        for (const r of rows)
          if (this.maxGeneratedAt === null || r.generatedAt > this.maxGeneratedAt)
            this.maxGeneratedAt = r.generatedAt;
        await this.install(rows, { authoritative: full, scanStartedAt });
        if (full) {
          const present = new Set(rows.map((r) => r.branchId));
          for (const [b, run] of [...this.runs.entries()]) {
            if (!present.has(b) && run.loadedAt < scanStartedAt) {
              this.runs.delete(b);
              this.log.info(
                { branchId: b, runId: run.runId },
                'forecast run no longer in forecast_runs; branch dropped',
              );
            }
          }
        }
        this.loaded = this.loaded || full;
        this.lastPollOkAt = Date.now();
        this.lastError = null;
        forecastLastPoll.set(this.lastPollOkAt / 1000);
        forecastBranches.set(this.runs.size);
      } catch (err) {
        this.lastError = err instanceof Error ? err.message : String(err);
        forecastPollErrors.inc({ what: 'forecast_runs' });
        throw err;
      }
    };
    const next = (this.current ?? Promise.resolve()).catch(() => undefined).then(run);
    this.current = next;
    return next;
  }

  /**
   * The runs cache's fetchMethod: the branch's latest run, loaded if it differs from the one
   * served (any different run: the latest row is authoritative), else the one served.
   */
  private async latestOf(branchId: string, current: LoadedRun | undefined): Promise<LoadedRun | undefined> {
    const [row] = await this.latestRows({ branchId });
    if (!row || row.runId === current?.runId) return current;
    const [built] = await this.loadRuns([row]);
    if (!built) return current;
    forecastRunsLoaded.inc();
    this.log.debug({ branchId, runId: built.runId, points: built.points }, 'forecast run installed');
    return built;
  }

  private latestRows(filter: { since?: number; branchId?: string }): Promise<Candidate[]> {
    return this.store.latestRuns(filter);
  }

  /**
   * Loads and installs the candidates that should replace what is served: newer
   * runs always; with `authoritative` (full scan, single-branch refresh) any
   * different run, unless the entry was installed after the scan started.
   */
  private async install(
    rows: Candidate[],
    opts: { authoritative: boolean; scanStartedAt: number },
  ): Promise<void> {
    const wanted = rows.filter((r) => {
      const cur = this.runs.peek(r.branchId);
      if (!cur) return true;
      if (cur.runId === r.runId) return false;
      return isNewer(r, cur) || (opts.authoritative && cur.loadedAt < opts.scanStartedAt);
    });
    for (let i = 0; i < wanted.length; i += this.opts.loadBatch) {
      for (const built of await this.loadRuns(wanted.slice(i, i + this.opts.loadBatch))) {
        // Re-check against what may have been installed while loading.
        const cur = this.runs.peek(built.branchId);
        if (
          cur &&
          cur.runId !== built.runId &&
          !isNewer(built, cur) &&
          !(opts.authoritative && cur.loadedAt < opts.scanStartedAt)
        )
          continue;
        this.runs.set(built.branchId, built);
        forecastRunsLoaded.inc();
        this.log.debug(
          { branchId: built.branchId, runId: built.runId, points: built.points },
          'forecast run installed',
        );
      }
    }
  }

  /** The candidates' points, read in one query, as servable runs (a run short of points is left out). */
  private async loadRuns(batch: Candidate[]): Promise<LoadedRun[]> {
    const points = await this.store.runPoints(batch);
    const byRun = new Map<string, StoredPoint[]>();
    for (const p of points) {
      const key = `${p.branchId}\u0000${p.runId}`;
      let list = byRun.get(key);
      if (!list) byRun.set(key, (list = []));
      list.push(p);
    }
    const out: LoadedRun[] = [];
    for (const c of batch) {
      const built = this.build(c, byRun.get(`${c.branchId}\u0000${c.runId}`) ?? []);
      if (built) out.push(built);
    }
    return out;
  }

  private build(c: Candidate, points: StoredPoint[]): LoadedRun | undefined {
    const hours = new Map<number, StoredPoint>();
    for (const p of points) hours.set(p.hourStart, p);
    if (hours.size < c.points) {
      forecastRunsRejected.inc();
      if (!this.warnedRejected.has(c.runId)) {
        this.warnedRejected.add(c.runId);
        this.log.warn(
          { branchId: c.branchId, runId: c.runId, expected: c.points, found: hours.size },
          'forecast run has fewer points than announced; not served',
        );
      }
      return undefined;
    }
    let first = c.origin;
    let end = Math.max(c.horizonEnd, c.origin);
    for (const h of hours.keys()) {
      if (h < first) first = h;
      if (h + HOUR_MS > end) end = h + HOUR_MS;
    }
    const n = Math.round((end - first) / HOUR_MS);
    const arrays = Array.from({ length: 6 }, () => new Float64Array(n).fill(NaN));
    const [s10, s50, s90, o10, o50, o90] = arrays as [
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
    ];
    const parts: RunParts | undefined = c.explained
      ? {
          salesLevel: new Float64Array(n),
          salesShape: new Float64Array(n),
          salesCalendar: new Float64Array(n),
          ordersLevel: new Float64Array(n),
          ordersShape: new Float64Array(n),
          ordersCalendar: new Float64Array(n),
        }
      : undefined;
    for (const [h, p] of hours) {
      const i = Math.round((h - first) / HOUR_MS);
      s10[i] = toCents(p.salesP10);
      s50[i] = toCents(p.salesP50);
      s90[i] = toCents(p.salesP90);
      o10[i] = toMilli(p.ordersP10);
      o50[i] = toMilli(p.ordersP50);
      o90[i] = toMilli(p.ordersP90);
      if (parts && p.parts) {
        parts.salesLevel[i] = toCents(p.parts.salesLevel);
        parts.salesShape[i] = toCents(p.parts.salesShape);
        parts.salesCalendar[i] = toCents(p.parts.salesCalendar);
        parts.ordersLevel[i] = toMilli(p.parts.ordersLevel);
        parts.ordersShape[i] = toMilli(p.parts.ordersShape);
        parts.ordersCalendar[i] = toMilli(p.parts.ordersCalendar);
      }
    }
    return {
      branchId: c.branchId,
      runId: c.runId,
      modelVersion: c.modelVersion,
      origin: c.origin,
      dataThrough: c.dataThrough,
      horizonEnd: c.horizonEnd,
      generatedAt: c.generatedAt,
      coldStart: c.coldStart,
      points: hours.size,
      loadedAt: Date.now(),
      firstHour: first,
      hours: n,
      salesP10: s10,
      salesP50: s50,
      salesP90: s90,
      ordersP10: o10,
      ordersP50: o50,
      ordersP90: o90,
      grainFactors: c.grainFactors,
      parts,
    };
  }
}
