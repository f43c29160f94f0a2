/**
 * GET /v1/groups/{group_id}/predict: a restaurant group's forecast (api/group-predict-service.ts),
 * with /predict's query rules (api/query.ts).
 *
 * A group is every branch of the directory whose `group` or POS company id is `group_id`
 * (lib/branches.ts groupMembers), as a key's group scope reads them. Scope: the key must read
 * every branch of the group (its group scope, admin, or each branch) — else 403, whether the group
 * exists or not, so a key never learns which other groups exist; an unknown group is 404 only to
 * keys whose scopes name it (admin, or that group). Answers are built on each request from the
 * served runs and the actuals cache (no response cache: groups are read far less than branches).
 */
import type Koa from 'koa';
import type { BranchDirectory } from '../../lib/branches';
import { ForbiddenError, NotFoundError, UnavailableError, ValidationError } from '../../lib/errors';
import type { ActualsCache } from '../actuals-cache';
import { truncate } from '../error-middleware';
import type { ForecastCache } from '../forecast-cache';
import { assembleGroupPrediction, type GroupMember } from '../group-predict-service';
import { withTimeout } from '../http-middleware';
import { principalOf } from '../key-auth';
import { parsePredictQuery } from '../query';

export interface GroupPredictDeps {
  branches: BranchDirectory;
  forecastCache: ForecastCache;
  actualsCache: ActualsCache;
  /** Time limit of one answer's ClickHouse work; then 503 `timeout`. */
  buildTimeoutMs: number;
  /** AUTH_MODE: with `none`, every group may be read. */
  authMode: 'keys' | 'none';
  /** May the request read this branch (api/key-auth.ts)? */
  mayRead: (ctx: Koa.Context, branchId: string) => boolean;
}

export class UnknownGroupError extends NotFoundError {
  readonly details: Record<string, unknown>;
  constructor(groupId: string) {
    super(`group_id: unknown group ${JSON.stringify(truncate(groupId))}`);
    this.details = { parameter: 'group_id' };
  }
}

const GROUP_ID = /^[!-~]{1,64}$/;

export function groupPredictRoute(deps: GroupPredictDeps): Koa.Middleware {
  return async (ctx) => {
    const groupId = String((ctx.params as { group_id?: string }).group_id ?? '');
    if (!GROUP_ID.test(groupId))
      throw new ValidationError('invalid_parameter', 'group_id: must be 1 to 64 printable ASCII characters', {
        parameter: 'group_id',
      });
    // The query of /predict with the group in place of the branch (its rules, its errors).
    const { branch_id: _, ...query } = ctx.query;
    const q = parsePredictQuery({ ...query, branch_id: groupId });
    const members = deps.branches.groupMembers(groupId);
    const scopes = principalOf(ctx)?.scopes;
    const namesGroup =
      deps.authMode === 'none' || scopes?.admin === true || scopes?.groups.includes(groupId) === true;
    if (!namesGroup && (members.length === 0 || !members.every((b) => deps.mayRead(ctx, b.id))))
      throw new ForbiddenError(`this key may not read group ${JSON.stringify(truncate(groupId))}`, {
        parameter: 'group_id',
        group_id: truncate(groupId),
      });
    if (members.length === 0) throw new UnknownGroupError(groupId);
    const zones = new Set(members.map((b) => b.timezone));
    const currencies = new Set(members.map((b) => b.currency));
    if (zones.size > 1 || currencies.size > 1)
      throw new ValidationError(
        'mixed_group',
        `group_id: the branches of group ${JSON.stringify(truncate(groupId))} do not share one time zone and currency (${[...zones].join(', ')}; ${[...currencies].join(', ')}), so their hours and sums would not line up`,
        { parameter: 'group_id' },
      );
    const runs = members.map((b) => deps.forecastCache.get(b.id));
    if (runs.every((r) => r === undefined))
      throw new UnavailableError(
        'no_forecast',
        `no branch of group ${groupId} has a forecast yet; try again later`,
      );
    const read = async (): Promise<GroupMember[]> =>
      Promise.all(
        members.map(async (b, i) => ({
          branch: b,
          run: runs[i],
          actuals: (await deps.actualsCache.getRange(b, q.startDay, q.endDay)).actuals,
          lastClosedHour: deps.actualsCache.lastClosedHour(b.id),
        })),
      );
    const body = assembleGroupPrediction({
      groupId,
      startDay: q.startDay,
      endDay: q.endDay,
      granularity: q.granularity,
      members: await withTimeout(read(), deps.buildTimeoutMs),
      explain: q.explain,
    });
    ctx.status = 200;
    ctx.set('Cache-Control', 'private, no-cache');
    ctx.body = body;
  };
}
