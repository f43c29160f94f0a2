/**
 * GET /predict (and /v1/predict): validate, find the branch and its served run,
 * then answer from the response cache or assemble (actuals from the actuals
 * cache, which reads ClickHouse only for days it does not hold).
 */
import type Koa from 'koa';
import type { BranchDirectory } from '../../lib/branches';
import { NotFoundError, UnavailableError } from '../../lib/errors';
import type { ActualsCache } from '../actuals-cache';
import { truncate } from '../error-middleware';
import { withTimeout } from '../http-middleware';
import type { ForecastCache, LoadedRun } from '../forecast-cache';
import { countLookup } from '../metrics';
import { assemblePrediction } from '../predict-service';
import { PredictQueryParser, type ParsedPredictQuery } from '../query';
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
  /** Retry-After of the 503 for a branch without a forecast. */
  noForecastRetryAfterS: number;
  /** Time limit of assembling a missing answer (ClickHouse read included); then 503 `timeout`. */
  buildTimeoutMs: number;
}

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
  const building = new Map<string, Promise<CachedResponse>>();
  const queries = new PredictQueryParser();

  const build = async (
    q: ParsedPredictQuery,
    branch: NonNullable<ReturnType<BranchDirectory['get']>>,
    run: LoadedRun,
    previous: CachedResponse | undefined,
  ): Promise<CachedResponse> => {
    const range = await deps.actualsCache.getRange(branch, q.startDay, q.endDay);
    // Expired (TTL) or a new epoch, but the same run and the same actuals: same body.
    if (previous && previous.runId === run.runId && previous.fingerprint === range.fingerprint) {
      countLookup('response', 'revalidated');
      return revalidated(previous, range.epoch, range.validUntil);
    }
    const body = assemblePrediction({
      branch,
      startDay: q.startDay,
      endDay: q.endDay,
      granularity: q.granularity,
      run,
      actuals: range.actuals,
      lastClosedHour: deps.actualsCache.lastClosedHour(branch.id),
    });
    return makeEntry(run.runId, range.epoch, range.validUntil, range.fingerprint, JSON.stringify(body));
  };

  return async (ctx) => {
    const q = queries.parse(ctx.querystring, () => ctx.query);
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
    const epoch = deps.actualsCache.epoch(branch.id);
    let entry = deps.responseCache.get(key);
    if (entry && entry.runId === run.runId && entry.epoch === epoch && entry.validUntil > Date.now()) {
      countLookup('response', 'hit');
    } else {
      countLookup('response', 'miss');
      const flightKey = `${key}\n${run.runId}\n${epoch}`;
      let flight = building.get(flightKey);
      if (!flight) {
        flight = build(q, branch, run, entry).finally(() => building.delete(flightKey));
        building.set(flightKey, flight);
      }
      entry = await withTimeout(flight, deps.buildTimeoutMs);
      deps.responseCache.set(key, entry);
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
