/**
 * Closed-hour actuals (from `sales_hourly`, latest revision per hour, closed = 1),
 * cached per branch and local day.
 *
 * Closed hours only change by a late correction, and ingest only corrects hours
 * within INGEST_CORRECTION_WINDOW_H of the branch's closed-through point
 * (`branch_watermarks.closed_through`, polled here; tiny table). So a cached day is:
 * - immutable, when all its hours are older than closed_through - correction
 *   window: kept until evicted (LRU, `maxDays`);
 * - recent, otherwise: re-read after `ttlMs` (bounds how stale a correction can
 *   be), and not served once the branch's epoch changes;
 * - not read at all when it starts at or after closed_through (nothing is closed
 *   there yet).
 * A branch's epoch changes when its closed_through moves (new hours closed) or on
 * `notifyActuals(branchId)` (a hook for an in-process ingest that just wrote a
 * correction). Responses built from the actuals carry (epoch, validUntil) so the
 * response cache can tell when they are stale. Branches without a watermark row
 * treat every day as recent.
 *
 * The days live in an lru-cache (bound `maxDays`, a recent day's `ttl`); its fetchMethod reads a
 * missing day, one read per request for all its missing days, and requests missing the same day
 * at the same time share one read of it.
 */
import type { ClickHouse } from '../clickhouse/client';
import { BranchClocks } from '../clickhouse/store/branch-clocks';
import { SalesHourly } from '../clickhouse/store/sales-hourly';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../lib/logger';
import type { PollTask } from '../lib/poller';
import { actualsQueries, countLookup, forecastPollErrors } from './metrics';
import type { ActualHour, ActualsRange } from './served-types';
import { dayLayouts, type DayLayout } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';

export interface ActualsCacheOptions {
  /** Re-read recent days (within the correction window) after this long. */
  ttlMs: number;
  /** INGEST_CORRECTION_WINDOW_H in ms: hours older than closed_through minus this never change. */
  correctionWindowMs: number;
  /** Poll period of branch_watermarks. */
  pollMs: number;
  /** Cached days (branch x date) kept at most. */
  maxDays: number;
}

export const DEFAULT_ACTUALS_CACHE_OPTIONS: ActualsCacheOptions = {
  ttlMs: 30_000,
  correctionWindowMs: 72 * HOUR_MS,
  pollMs: 2_000,
  maxDays: 50_000,
};

interface DayBlock {
  readonly firstHour: number;
  /** Sales in cents per hour of the day; NaN: not closed. */
  readonly sales: Float64Array;
  readonly orders: Float64Array;
  readonly immutable: boolean;
  readonly expiresAt: number;
  readonly epoch: number;
  /** Content hash: a re-read day with the same numbers has the same hash. */
  readonly hash: string;
}

/** The closed hours of [from, to) of a branch, read once for the days of one request that miss. */
interface RangeRead {
  readonly branchId: string;
  readonly from: number;
  readonly to: number;
  rows: Promise<Map<number, ActualHour>> | undefined;
}

/** What the days cache's fetchMethod needs to make one day's block. */
interface DayRead {
  readonly layout: DayLayout;
  /** The branch's epoch when the request started. */
  readonly epoch: number;
  /** Days ending at or before this (UTC ms) can no longer be corrected. */
  readonly immutableBefore: number;
  readonly span: RangeRead;
}

const dayKey = (branchId: string, epochDay: number) => `${branchId}|${epochDay}`;

function contentHash(sales: Float64Array, orders: Float64Array): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < sales.length; i++) {
    const sv = sales[i] ?? NaN;
    const ov = orders[i] ?? NaN;
    const s = Number.isNaN(sv) ? -1 : sv;
    const o = Number.isNaN(ov) ? -1 : ov;
    h1 = Math.imul(h1 ^ (s | 0), 16777619) ^ Math.floor(s / 4294967296);
    h2 = Math.imul(h2 ^ (o | 0), 2246822507) + i;
  }
  return `${(h1 >>> 0).toString(36)}.${(h2 >>> 0).toString(36)}`;
}

export class ActualsCache {
  private readonly log: Logger;
  private readonly opts: ActualsCacheOptions;
  /** closed_through per branch (UTC ms). */
  private clocks = new Map<string, number>();
  private readonly epochs = new Map<string, number>();
  private readonly days: LRUCache<string, DayBlock, DayRead>;
  /** Reads in progress (stop() waits for them). */
  private readonly reading = new Set<Promise<unknown>>();
  private current: Promise<void> | undefined;
  private lastPollOkAt: number | null = null;
  private readonly hourly: SalesHourly;
  private readonly branchClocks: BranchClocks;

  constructor(ch: ClickHouse, logger: Logger, opts: Partial<ActualsCacheOptions> = {}) {
    this.hourly = new SalesHourly(ch);
    this.branchClocks = new BranchClocks(ch);
    this.log = logger.child({ module: 'actuals-cache' });
    this.opts = { ...DEFAULT_ACTUALS_CACHE_OPTIONS, ...opts };
    this.days = new LRUCache<string, DayBlock, DayRead>({
      max: Math.max(1, this.opts.maxDays),
      fetchMethod: (_key, _previous, { options, context }) => this.readDay(context, options),
      // A day evicted while it is read still answers the requests waiting for it.
      ignoreFetchAbort: true,
    });
  }

  /** The initial read of branch_watermarks (a failure is logged: the poll retries). */
  async load(): Promise<void> {
    try {
      await this.refreshClocks();
    } catch (err) {
      this.log.warn({ err }, 'initial branch_watermarks read failed; polling will retry');
    }
  }

  /** The poll of branch_watermarks, for the shared poller. */
  pollTask(): PollTask {
    return { name: 'branch_watermarks', everyMs: this.opts.pollMs, run: () => this.refreshClocks() };
  }

  /** Waits for the reads in progress (polling is the poller's to stop). */
  async stop(): Promise<void> {
    await Promise.allSettled([this.current ?? Promise.resolve(), ...this.reading]);
  }

  /** Start of the branch's latest closed hour (closed_through - 1 h), null if unknown. */
  lastClosedHour(branchId: string): number | null {
    const ct = this.clocks.get(branchId);
    return ct === undefined ? null : ct - HOUR_MS;
  }

  epoch(branchId: string): number {
    return this.epochs.get(branchId) ?? 0;
  }

  status(): { lastPollOkAt: number | null; branches: number; cachedDays: number } {
    return { lastPollOkAt: this.lastPollOkAt, branches: this.clocks.size, cachedDays: this.days.size };
  }

  /** A closed hour of the branch changed (e.g. a late correction): forget its recent days now. */
  notifyActuals(branchId: string): void {
    this.bump(branchId);
  }

  private bump(branchId: string): void {
    this.epochs.set(branchId, this.epoch(branchId) + 1);
  }

  /** Reads closed_through per branch; bumps the epoch of every branch whose value moved. */
  refreshClocks(): Promise<void> {
    const run = async () => {
      let next: Map<string, number>;
      try {
        next = await this.branchClocks.closedThroughByBranch();
      } catch (err) {
        forecastPollErrors.inc({ what: 'branch_watermarks' });
        throw err;
      }
      for (const [branchId, ct] of next) if (this.clocks.get(branchId) !== ct) this.bump(branchId);
      for (const b of this.clocks.keys()) if (!next.has(b)) this.bump(b);
      this.clocks = next;
      this.lastPollOkAt = Date.now();
    };
    const next = (this.current ?? Promise.resolve()).catch(() => undefined).then(run);
    this.current = next;
    return next;
  }

  /** Closed-hour actuals of local days startDay..endDay (epoch days) of a branch. */
  async getRange(
    branch: { id: string; timezone: string },
    startDay: number,
    endDay: number,
  ): Promise<ActualsRange> {
    const now = Date.now();
    const ep = this.epoch(branch.id);
    const ct = this.clocks.get(branch.id);
    const layouts = dayLayouts(branch.timezone, startDay, endDay);
    const blocks: DayBlock[] = [];
    const needed: DayLayout[] = [];
    const hashes = new Map<number, string>();
    for (const layout of layouts) {
      if (ct !== undefined && layout.firstHour >= ct) continue; // nothing closed there yet
      const blk = this.days.get(dayKey(branch.id, layout.epochDay));
      if (blk && (blk.immutable || (blk.epoch === ep && blk.expiresAt > now))) {
        blocks.push(blk);
        hashes.set(layout.epochDay, blk.hash);
        countLookup('actuals', 'hit');
      } else {
        needed.push(layout);
        countLookup('actuals', 'miss');
      }
    }
    if (needed.length > 0) {
      const first = needed[0] as DayLayout;
      const last = needed[needed.length - 1] as DayLayout;
      const span: RangeRead = {
        branchId: branch.id,
        from: first.firstHour,
        to: last.firstHour + last.hours * HOUR_MS,
        rows: undefined,
      };
      const immutableBefore = ct === undefined ? -Infinity : ct - this.opts.correctionWindowMs;
      // A block read across an epoch change keeps the epoch it was read at, so it is served to
      // this request and refused by later ones (unless immutable).
      const fetched = await Promise.all(
        needed.map((layout) =>
          this.days.fetch(dayKey(branch.id, layout.epochDay), {
            forceRefresh: true,
            context: { layout, epoch: ep, immutableBefore, span },
          }),
        ),
      );
      needed.forEach((layout, i) => {
        const blk = fetched[i];
        if (!blk) throw new Error(`closed-hour actuals of ${branch.id} day ${layout.date} were not read`);
        blocks.push(blk);
        hashes.set(layout.epochDay, blk.hash);
      });
    }
    const actuals = new Map<number, ActualHour>();
    let validUntil = Infinity;
    for (const blk of blocks) {
      if (!blk.immutable && blk.expiresAt < validUntil) validUntil = blk.expiresAt;
      for (let i = 0; i < blk.sales.length; i++) {
        const s = blk.sales[i] as number;
        if (!Number.isNaN(s))
          actuals.set(blk.firstHour + i * HOUR_MS, { salesCents: s, orders: blk.orders[i] as number });
      }
    }
    const fingerprint = `${ct ?? 'unknown'}|${layouts.map((l) => hashes.get(l.epochDay) ?? '-').join(',')}`;
    return { actuals, epoch: ep, validUntil, fingerprint };
  }

  /**
   * The days cache's fetchMethod: one day's block, from the read of its request's missing span
   * (made by the first of those days to need it). A recent day expires after the TTL.
   */
  private async readDay(
    r: DayRead,
    options: LRUCache.FetcherFetchOptions<string, DayBlock, DayRead>,
  ): Promise<DayBlock> {
    const { layout, span } = r;
    if (!span.rows) {
      const read = this.read(span.branchId, span.from, span.to);
      const settled = () => this.reading.delete(read);
      this.reading.add(read);
      read.then(settled, settled);
      span.rows = read;
    }
    const rows = await span.rows;
    const sales = new Float64Array(layout.hours).fill(NaN);
    const orders = new Float64Array(layout.hours).fill(NaN);
    for (let i = 0; i < layout.hours; i++) {
      const a = rows.get(layout.firstHour + i * HOUR_MS);
      if (a) {
        sales[i] = a.salesCents;
        orders[i] = a.orders;
      }
    }
    const immutable = layout.firstHour + layout.hours * HOUR_MS <= r.immutableBefore;
    // ttl 0 is "never expires" to lru-cache: a TTL of 0 keeps a recent day 1 ms, and expiresAt refuses it.
    options.ttl = immutable ? 0 : Math.max(1, this.opts.ttlMs);
    return {
      firstHour: layout.firstHour,
      sales,
      orders,
      immutable,
      expiresAt: Date.now() + this.opts.ttlMs,
      epoch: r.epoch,
      hash: contentHash(sales, orders),
    };
  }

  private async read(branchId: string, from: number, to: number): Promise<Map<number, ActualHour>> {
    const end = actualsQueries.startTimer();
    try {
      return await this.hourly.closedHourActuals(branchId, from, to);
    } finally {
      end();
    }
  }
}
