/**
 * GET /predict (and /v1/predict): validate, find the branch and its served run,
 * then answer from the response cache or assemble (actuals from the actuals
 * cache, which reads ClickHouse only for days it does not hold).
 */
import type Koa from 'koa';
import type { BranchDirectory } from '../../lib/branches';
import type { Logger } from '../../lib/logger';
import { NotFoundError, UnavailableError } from '../../lib/errors';
import type { ActualsCache } from '../actuals-cache';
import { truncate } from '../error-middleware';
import { withTimeout } from '../http-middleware';
import type { ForecastCache } from '../forecast-cache';
import type { BranchOverrides, OverridesCache } from '../overrides-cache';
import type { BranchCalendarDays, CalendarCache } from '../calendar-cache';
import { countLookup } from '../metrics';
import { assemblePrediction } from '../predict-service';
import { PredictQueryParser, type ParsedPredictQuery } from '../query';
import type { LoadedRun } from '../served-types';
import {
  GZIP_MIN_BYTES,
  gzipped,
  makeEntry,
  revalidated,
  type CachedResponse,
  type ResponseCache,
} from '../response-cache';

export class UnknownBranchError extends NotFoundError {
  readonly details: Record<string, unknown>;
  constructor(branchId: string) {
    super(`branch_id: unknown branch ${JSON.stringify(truncate(branchId))}`);
    this.details = { parameter: 'branch_id' };
  }
}

export interface PredictDeps {
  branches: BranchDirectory;
  forecastCache: ForecastCache;
  actualsCache: ActualsCache;
  responseCache: ResponseCache;
  /** Managers' overrides in force (the plan); absent: answers without plans. */
  overrides?: OverridesCache;
  /** The branch calendar's entries in force (a day's `calendar`); absent: answers without them. */
  calendar?: CalendarCache;
  /** Retry-After of the 503 for a branch without a forecast. */
  noForecastRetryAfterS: number;
  /** Time limit of assembling a missing answer (ClickHouse read included); then 503 `timeout`. */
  buildTimeoutMs: number;
  /**
   * An answer whose recent actuals expired (TTL) less than this long ago is still served while it
   * is rebuilt in the background (stale-while-revalidate), so TTL expiries keep ClickHouse out of
   * the request path; 0 = always rebuild before answering. A new run or new closed hours (epoch)
   * are never served stale.
   */
  staleWhileRevalidateMs: number;
  logger: Logger;
  /** Throws 403 unless the request's key may read the branch id (known or not: see api/keys.ts). */
  mayRead: (ctx: Koa.Context, branchId: string) => void;
}

const NO_OVERRIDES: BranchOverrides = Object.freeze({ epoch: 0, days: new Map() });
const NO_CALENDAR: BranchCalendarDays = Object.freeze({ epoch: 0, days: new Map() });

/** Accept-Encoding negotiation, memoised per header value (clients send a handful of distinct ones). */
const gzipDecisions = new Map<string, boolean>();
function wantsGzip(ctx: Koa.Context): boolean {
  const header = ctx.get('Accept-Encoding');
  if (header === '') return false;
  let yes = gzipDecisions.get(header);
  if (yes === undefined) {
    yes = ctx.acceptsEncodings('gzip', 'identity') === 'gzip';
    if (gzipDecisions.size >= 256) gzipDecisions.clear();
    if (header.length <= 256) gzipDecisions.set(header, yes);
  }
  return yes;
}

export function predictRoute(deps: PredictDeps): Koa.Middleware {
  const queries = new PredictQueryParser();
  const log = deps.logger.child({ module: 'predict' });

  const build = async (
    q: ParsedPredictQuery,
    branch: NonNullable<ReturnType<BranchDirectory['get']>>,
    run: LoadedRun,
    previous: CachedResponse | undefined,
    overrides: BranchOverrides,
    cal: BranchCalendarDays,
  ): Promise<CachedResponse> => {
    const range = await deps.actualsCache.getRange(branch, q.startDay, q.endDay);
    // An answer's epoch and fingerprint cover the overrides and the calendar too: a changed plan
    // or calendar entry is never reused.
    const epoch = range.epoch + overrides.epoch + cal.epoch;
    const fingerprint = `${range.fingerprint}|o${overrides.epoch}|c${cal.epoch}`;
    // Expired (TTL) or a new epoch, but the same run, actuals and overrides: same body.
    if (previous && previous.runId === run.runId && previous.fingerprint === fingerprint) {
      countLookup('response', 'revalidated');
      return revalidated(previous, epoch, range.validUntil);
    }
    const body = assemblePrediction({
      branch,
      startDay: q.startDay,
      endDay: q.endDay,
      granularity: q.granularity,
      run,
      actuals: range.actuals,
      lastClosedHour: deps.actualsCache.lastClosedHour(branch.id),
      explain: q.explain,
      overrides: overrides.days,
      branchCalendar: cal.days,
    });
    return makeEntry(run.runId, epoch, range.validUntil, fingerprint, JSON.stringify(body));
  };

  /**
   * The answer for (query, run, epoch), built once for every request that needs it (the cache
   * runs one build per query at a time). A build already running may be for an older run or
   * epoch: then it is awaited and ours follows; after a few such turns, ours is built alone.
   */
  const answer = async (
    q: ParsedPredictQuery,
    branch: NonNullable<ReturnType<BranchDirectory['get']>>,
    run: LoadedRun,
    epoch: number,
    overrides: BranchOverrides,
    cal: BranchCalendarDays,
  ): Promise<CachedResponse> => {
    const ours = (previous: CachedResponse | undefined) => build(q, branch, run, previous, overrides, cal);
    for (let turn = 0; turn < 3; turn++) {
      const { flight, joined } = deps.responseCache.fetch(q.cacheKey, ours);
      const entry = await flight;
      if (!joined || (entry.runId === run.runId && entry.epoch >= epoch)) return entry;
    }
    const entry = await ours(deps.responseCache.get(q.cacheKey));
    deps.responseCache.set(q.cacheKey, entry);
    return entry;
  };

  return async (ctx) => {
    const q = queries.parse(ctx.querystring, () => ctx.query);
    // Before the lookup: a key learns nothing about branches outside its scopes, not even whether they exist.
    deps.mayRead(ctx, q.branchId);
    const branch = deps.branches.get(q.branchId);
    if (!branch) throw new UnknownBranchError(q.branchId);
    const run = deps.forecastCache.get(branch.id);
    if (!run) {
      throw new UnavailableError(
        'no_forecast',
        `branch ${branch.id} has no forecast yet; try again later`,
        deps.noForecastRetryAfterS,
      );
    }
    const key = q.cacheKey;
    // Actuals, overrides and calendar epochs only grow, so their sum moves whenever one does.
    const overrides = deps.overrides?.forBranch(branch.id) ?? NO_OVERRIDES;
    const cal = deps.calendar?.forBranch(branch.id) ?? NO_CALENDAR;
    const epoch = deps.actualsCache.epoch(branch.id) + overrides.epoch + cal.epoch;
    const cached = deps.responseCache.get(key);
    const now = Date.now();
    const sameInputs = cached !== undefined && cached.runId === run.runId && cached.epoch === epoch;
    let entry: CachedResponse;
    if (sameInputs && cached.validUntil > now) {
      countLookup('response', 'hit');
      entry = cached;
    } else if (sameInputs && cached.validUntil + deps.staleWhileRevalidateMs > now) {
      countLookup('response', 'stale');
      entry = cached;
      // The cache keeps the rebuilt entry; a rebuild already running is left to its starter.
      const { flight, joined } = deps.responseCache.fetch(key, (previous) =>
        build(q, branch, run, previous, overrides, cal),
      );
      flight.catch((err: unknown) => {
        if (!joined) log.warn({ err, branch: branch.id }, 'background rebuild of a /predict answer failed');
      });
    } else {
      countLookup('response', 'miss');
      entry = await withTimeout(answer(q, branch, run, epoch, overrides, cal), deps.buildTimeoutMs);
    }
    ctx.status = 200;
    ctx.vary('Accept-Encoding');
    ctx.set('Cache-Control', 'private, no-cache');
    let body = entry.body;
    let etag = entry.etag;
    if (body.length >= GZIP_MIN_BYTES && wantsGzip(ctx)) {
      const gz = entry.gzipDone ?? (await gzipped(entry));
      body = gz.body;
      etag = gz.etag;
      ctx.set('Content-Encoding', 'gzip');
    }
    ctx.set('ETag', etag);
    // ctx.fresh copies and compares the response headers: only worth it for a conditional request.
    if ((ctx.get('If-None-Match') !== '' || ctx.get('If-Modified-Since') !== '') && ctx.fresh) {
      ctx.remove('Content-Encoding');
      ctx.status = 304;
      return;
    }
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = body;
  };
}
