/** GET /branches (and /v1/branches): the known branches the request's key may read, with their served run and last closed hour. */
import type Koa from 'koa';
import type { BranchDirectory } from '../../lib/branches';
import type { ActualsCache } from '../actuals-cache';
import type { ForecastCache } from '../forecast-cache';
import { runInfoJson } from '../predict-service';
import type { BranchesResponse, MeResponse } from '../schemas';
import { isoUtc } from '../../lib/time/wall-clock';
import { principalOf } from '../key-auth';
import { canWriteBranch } from '../keys';

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

export interface MeDeps {
  branches: BranchDirectory;
  authMode: 'keys' | 'none';
}

/**
 * GET /v1/me: who the request's key is and which branches it may write (calendar, overrides), so
 * the dashboard shows editing controls only where a write would not be refused with 403.
 */
export function meRoute(deps: MeDeps): Koa.Middleware {
  return (ctx) => {
    const p = principalOf(ctx);
    const body: MeResponse = {
      auth: deps.authMode,
      key: p ? { id: p.keyId, name: p.name } : null,
      write_branches: deps.branches
        .list()
        .filter(
          (b) =>
            deps.authMode === 'none' || (p !== undefined && canWriteBranch(p.scopes, b.id, deps.branches)),
        )
        .map((b) => b.id),
    };
    ctx.set('Cache-Control', 'private, no-cache');
    ctx.body = body;
  };
}
