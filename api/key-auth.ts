/**
 * Bearer-key authentication of the API (AUTH_MODE=keys; api/keys.ts says what a key is).
 *
 * `authenticate` reads `Authorization: Bearer <key>` on every request and, for a valid key, puts
 * its principal in ctx.state; the routes that serve data then demand one (`requireKey`,
 * `requireMetrics`, `assertMayRead`). Keys are looked up by hash through an lru-cache with a TTL
 * of API_KEY_CACHE_TTL_MS: a warm request costs no ClickHouse query, and a revocation takes effect
 * within that TTL (unknown keys are cached for the same time, so guessing costs a read per TTL and
 * per guess, and each miss also counts against the client address's rate limit). While ClickHouse
 * cannot be read, a key looked up before stays valid (allowStaleOnFetchRejection): the data it
 * reads is served from memory then too, and a revocation could not be read anyway.
 *
 * Last use is recorded in memory and written once per API_KEY_USAGE_FLUSH_MS for every key used
 * since (one INSERT), never per request. The key itself is never logged, put in an error message
 * or a metric label: logs name a key by its public id only.
 */
import type Koa from 'koa';
import { LRUCache } from 'lru-cache';
import type { ApiKeys } from '../clickhouse/store/api-keys';
import type { BranchDirectory } from '../lib/branches';
import { ForbiddenError, StorageError, UnauthenticatedError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { truncate } from './error-middleware';
import {
  canCaptureBranch,
  canReadBranch,
  canWriteBranch,
  hashKey,
  looksLikeKey,
  type KeyScopes,
} from './keys';
import { authOutcomes } from './metrics';

export interface Principal {
  keyId: string;
  name: string;
  scopes: KeyScopes;
}

interface AuthState {
  principal?: Principal;
  /** A credential was sent but is not a valid key. */
  badKey?: boolean;
}

const authState = (ctx: Koa.Context): AuthState => ctx.state;

/** The principal of the request's key, if it sent a valid one. */
export const principalOf = (ctx: Koa.Context): Principal | undefined => authState(ctx).principal;

/** Who a write is recorded as when the API runs without keys (AUTH_MODE=none). */
export const AUTH_NONE = 'auth-none';

/** Who wrote an operator's row: the request's key (id and name), or `auth-none` without keys. */
export function authorOf(ctx: Koa.Context): { keyId: string; keyName: string } {
  const p = principalOf(ctx);
  return p ? { keyId: p.keyId, keyName: p.name } : { keyId: AUTH_NONE, keyName: AUTH_NONE };
}

export interface KeyAuthOptions {
  mode: 'keys' | 'none';
  /** Reads keys (the API's own client). */
  keys: ApiKeys;
  /** Writes last use (a client whose user may insert into api_key_usage). */
  usage: ApiKeys;
  branches: BranchDirectory;
  cacheTtlMs: number;
  usageFlushMs: number;
  logger: Logger;
  /** Counts a key lookup that reaches ClickHouse against the client (its address); throws 429 past the limit. */
  chargeLookup?: (ctx: Koa.Context) => void;
}

export interface KeyAuth {
  readonly mode: 'keys' | 'none';
  /** Global: resolves the request's key, if any (never refuses by itself). */
  authenticate: Koa.Middleware;
  /** Route guard of data routes: 401 without a valid key. */
  requireKey: Koa.Middleware;
  /** Route guard of /metrics: 401 without a valid key, 403 without the `metrics` scope. */
  requireMetrics: Koa.Middleware;
  /** Route guard of POST /v1/events: 401 without a valid key, 403 without the `capture` scope. */
  requireCapture: Koa.Middleware;
  /** May the request publish events of this branch (AUTH_MODE=none: yes)? */
  mayCapture: (ctx: Koa.Context, branchId: string) => boolean;
  /** May the request read this branch (AUTH_MODE=none: yes)? */
  mayRead: (ctx: Koa.Context, branchId: string) => boolean;
  /** Throws 403 `forbidden` naming the branch unless the request may read it. */
  assertMayRead: (ctx: Koa.Context, branchId: string) => void;
  /**
   * Guard of the operators' write routes (calendar, overrides): 401 without a valid key, 403 naming
   * the branch unless the key may write it (`write` scope on its branches, or `admin`).
   */
  assertMayWrite: (ctx: Koa.Context, branchId: string) => void;
  /** Forgets cached lookups (tests; a revocation elsewhere is picked up within the TTL anyway). */
  forget: () => void;
  /** Writes the pending last-use times. */
  flushUsage: () => Promise<void>;
  /** Stops the flush timer after a last flush. */
  close: () => Promise<void>;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
const REALM = 'Bearer realm="tillcast"';

function unauthenticated(ctx: Koa.Context): never {
  const bad = authState(ctx).badKey === true;
  authOutcomes.inc({ outcome: bad ? 'invalid' : 'missing' });
  throw new UnauthenticatedError(
    bad
      ? 'the API key is not valid (unknown, malformed or revoked)'
      : 'an API key is required: send it as "Authorization: Bearer <key>"',
    bad ? `${REALM}, error="invalid_token"` : REALM,
  );
}

export function keyAuth(opts: KeyAuthOptions): KeyAuth {
  const log = opts.logger.child({ module: 'key-auth' });
  // Cached per key hash: the principal, or null for an unknown or revoked key.
  const cache = new LRUCache<string, { principal: Principal | null }>({
    max: 10_000,
    ttl: opts.cacheTtlMs,
    ttlResolution: 100,
    // While ClickHouse cannot be read, an expired entry answers (kept by get, returned by fetch).
    allowStaleOnFetchRejection: true,
    noDeleteOnFetchRejection: true,
    noDeleteOnStaleGet: true,
    fetchMethod: async (hash) => {
      const k = await opts.keys.findByHash(hash);
      if (!k || k.revokedAt !== null) return { principal: null };
      return {
        principal: {
          keyId: k.keyId,
          name: k.name,
          scopes: {
            branches: k.branches,
            groups: k.groups,
            admin: k.admin,
            metrics: k.metrics,
            capture: k.capture === true,
            write: k.write === true,
          },
        },
      };
    },
  });

  let pendingUse = new Map<string, number>();
  let flushing: Promise<void> = Promise.resolve();
  let usageFailures = 0;
  const flushUsage = (): Promise<void> => {
    flushing = flushing.then(async () => {
      if (pendingUse.size === 0) return;
      const batch = pendingUse;
      pendingUse = new Map();
      try {
        await opts.usage.recordUse(batch);
        usageFailures = 0;
      } catch (err) {
        // Kept for the next flush (a later use of the same key supersedes it).
        for (const [id, at] of batch) if (!pendingUse.has(id)) pendingUse.set(id, at);
        if (usageFailures++ === 0)
          log.warn(
            { err: err instanceof Error ? err.message : String(err), keys: batch.size },
            'recording API key last use failed; kept for the next flush (in server mode set CLICKHOUSE_API_USAGE_USER: the api user is read-only)',
          );
      }
    });
    return flushing;
  };
  const timer = setInterval(() => void flushUsage(), opts.usageFlushMs);
  timer.unref();

  const authenticate: Koa.Middleware = async (ctx, next) => {
    if (opts.mode === 'keys') await identify(ctx);
    await next();
  };

  const identify = async (ctx: Koa.Context): Promise<void> => {
    const header = ctx.get('Authorization');
    if (header === '') return;
    const token = BEARER.exec(header)?.[1];
    const state = authState(ctx);
    if (token === undefined || !looksLikeKey(token)) {
      state.badKey = true;
      return;
    }
    const hash = hashKey(token);
    let found = cache.get(hash);
    if (found === undefined) {
      opts.chargeLookup?.(ctx);
      found = await cache.fetch(hash);
      // The lookup failed with nothing known before: the key's fate is unknown, not "refused".
      if (found === undefined) throw new StorageError('the API key could not be looked up', true);
    }
    if (found?.principal) {
      state.principal = found.principal;
      pendingUse.set(found.principal.keyId, Date.now());
    } else state.badKey = true;
  };

  const requireKey: Koa.Middleware = (ctx, next) => {
    if (opts.mode === 'keys' && !principalOf(ctx)) unauthenticated(ctx);
    authOutcomes.inc({ outcome: 'ok' });
    return next();
  };

  const requireMetrics: Koa.Middleware = (ctx, next) => {
    if (opts.mode === 'none') return next();
    const p = principalOf(ctx);
    if (!p) unauthenticated(ctx);
    if (!p.scopes.metrics) {
      authOutcomes.inc({ outcome: 'forbidden' });
      throw new ForbiddenError('this key may not read /metrics (it needs the metrics scope)', {
        scope: 'metrics',
      });
    }
    authOutcomes.inc({ outcome: 'ok' });
    return next();
  };

  const requireCapture: Koa.Middleware = (ctx, next) => {
    if (opts.mode === 'none') return next();
    const p = principalOf(ctx);
    if (!p) unauthenticated(ctx);
    if (p.scopes.capture !== true) {
      authOutcomes.inc({ outcome: 'forbidden' });
      throw new ForbiddenError('this key may not publish events (it needs the capture scope)', {
        scope: 'capture',
      });
    }
    authOutcomes.inc({ outcome: 'ok' });
    return next();
  };

  const mayRead = (ctx: Koa.Context, branchId: string): boolean => {
    if (opts.mode === 'none') return true;
    const p = principalOf(ctx);
    return p !== undefined && canReadBranch(p.scopes, branchId, opts.branches);
  };

  return {
    mode: opts.mode,
    authenticate,
    requireKey,
    requireMetrics,
    requireCapture,
    mayCapture: (ctx, branchId) => {
      if (opts.mode === 'none') return true;
      const p = principalOf(ctx);
      return p !== undefined && canCaptureBranch(p.scopes, branchId, opts.branches);
    },
    mayRead,
    assertMayRead: (ctx, branchId) => {
      if (mayRead(ctx, branchId)) return;
      authOutcomes.inc({ outcome: 'forbidden' });
      throw new ForbiddenError(`this key may not read branch ${JSON.stringify(truncate(branchId))}`, {
        parameter: 'branch_id',
        branch_id: truncate(branchId),
      });
    },
    assertMayWrite: (ctx, branchId) => {
      if (opts.mode === 'none') return;
      const p = principalOf(ctx);
      if (!p) unauthenticated(ctx);
      if (canWriteBranch(p.scopes, branchId, opts.branches)) return;
      authOutcomes.inc({ outcome: 'forbidden' });
      throw new ForbiddenError(
        `this key may not write branch ${JSON.stringify(truncate(branchId))} (it needs the write scope on it)`,
        { parameter: 'branch_id', branch_id: truncate(branchId), scope: 'write' },
      );
    },
    forget: () => cache.clear(),
    flushUsage,
    close: async () => {
      clearInterval(timer);
      await flushUsage();
    },
  };
}
