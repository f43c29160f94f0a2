/**
 * POST /auth/login `{"code": "..."}`: swaps a one-time login code (api/login-codes.ts) for its key,
 * `{"key", "key_id", "name"}`, answered `Cache-Control: no-store`. An unknown, used or expired code
 * is 401 `unauthenticated`. The body is at most 1 KiB of JSON (api/request-body.ts).
 */
import type Koa from 'koa';
import { z } from 'zod';
import { UnauthenticatedError, ValidationError } from '../../lib/errors';
import type { LoginCodes } from '../login-codes';
import { readBoundedBody } from '../request-body';

const MAX_BODY = 1024;
const bodySchema = z.object({ code: z.string().min(1).max(64) });

async function readBody(ctx: Koa.Context): Promise<string> {
  if (!ctx.is('application/json')) ctx.throw(415, 'send the code as application/json');
  return (await readBoundedBody(ctx, MAX_BODY)).toString('utf8');
}

export function loginRoute(codes: LoginCodes): Koa.Middleware {
  return async (ctx) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readBody(ctx));
    } catch (err) {
      if (err instanceof SyntaxError) throw new ValidationError('invalid_body', 'the body is not JSON');
      throw err;
    }
    const body = bodySchema.safeParse(parsed);
    if (!body.success) throw new ValidationError('invalid_body', 'the body must be {"code": "<login code>"}');
    const grant = codes.redeem(body.data.code);
    if (!grant) throw new UnauthenticatedError('the login code is unknown, used or expired');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { key: grant.key, key_id: grant.keyId, name: grant.name };
  };
}
