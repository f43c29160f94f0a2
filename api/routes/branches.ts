/** GET /branches (and /v1/branches): the known branches the request's key may read, with their served run and last closed hour. */
import type Koa from 'koa';
import type { BranchDirectory } from '../../lib/branches';
import type { ActualsCache } from '../actuals-cache';
import type { ForecastCache } from '../forecast-cache';
import { runInfoJson } from '../predict-service';
import type { BranchesResponse } from '../schemas';
import { isoUtc } from '../../lib/time/wall-clock';

export interface BranchesDeps {
  branches: BranchDirectory;
  forecastCache: ForecastCache;
  actualsCache: ActualsCache;
  /** May the request read the branch (its key's scopes)? */
  mayRead: (ctx: Koa.Context, branchId: string) => boolean;
}

export function listBranches(
  deps: Omit<BranchesDeps, 'mayRead'>,
  visible: (branchId: string) => boolean = () => true,
): BranchesResponse {
  return {
    branches: deps.branches
      .list()
      .filter((b) => visible(b.id))
      .map((b) => {
        const run = deps.forecastCache.peek(b.id);
        const lastClosed = deps.actualsCache.lastClosedHour(b.id);
        return {
          id: b.id,
          name: b.name,
          timezone: b.timezone,
          currency: b.currency,
          latest_forecast: run ? runInfoJson(run) : null,
          last_closed_hour: lastClosed === null ? null : isoUtc(lastClosed),
        };
      }),
  };
}

export function branchesRoute(deps: BranchesDeps): Koa.Middleware {
  return (ctx) => {
    ctx.set('Cache-Control', 'private, no-cache');
    ctx.body = listBranches(deps, (id) => deps.mayRead(ctx, id));
  };
}
