/**
 * key-auth.ts without HTTP: what the key cache does when ClickHouse cannot be read. A key looked
 * up before keeps working past its TTL (its data is served from memory too); a key never seen is
 * a 503 storage error, not a 401 (its fate is unknown); once ClickHouse answers again, the TTL
 * holds (a revocation is seen).
 */
import type Koa from 'koa';
import type { ApiKeys, StoredKey } from '../clickhouse/store/api-keys';
import { BranchDirectory, NORY_BRANCHES } from '../lib/branches';
import { ForbiddenError, StorageError, UnauthenticatedError } from '../lib/errors';
import { createLogger } from '../lib/logger';
import { keyAuth, principalOf } from './key-auth';
import { generateKey } from './keys';

const TTL_MS = 100;

function fakeStore(keys: Map<string, StoredKey>) {
  const state = { down: false, reads: 0 };
  const store = {
    findByHash: (hash: string) => {
      state.reads++;
      return state.down
        ? Promise.reject(new StorageError('api_keys.find_by_hash failed', true))
        : Promise.resolve(keys.get(hash));
    },
    recordUse: () => Promise.resolve(),
  } as unknown as ApiKeys;
  return { store, state };
}

const stored = (
  keyId: string,
  revokedAt: number | null = null,
  scopes: Partial<StoredKey> = {},
): StoredKey => ({
  keyId,
  name: 'k',
  branches: ['352h67i328fh'],
  groups: [],
  admin: false,
  metrics: false,
  createdAt: 0,
  createdBy: 'test',
  revokedAt,
  ...scopes,
});

/** A request context carrying `key` as its bearer credential (none when undefined). */
function ctxWith(key?: string): Koa.Context {
  const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` };
  return {
    get: (h: string) => headers[h.toLowerCase()] ?? '',
    state: {},
    ip: '127.0.0.1',
  } as unknown as Koa.Context;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('key cache while ClickHouse cannot be read', () => {
  const a = generateKey();
  const b = generateKey();
  const keys = new Map([[a.keyHash, stored(a.keyId)]]);
  const { store, state } = fakeStore(keys);
  const auth = keyAuth({
    mode: 'keys',
    keys: store,
    usage: store,
    branches: new BranchDirectory(NORY_BRANCHES),
    cacheTtlMs: TTL_MS,
    usageFlushMs: 60_000,
    logger: createLogger('silent'),
  });
  afterAll(() => auth.close());

  const who = async (key: string) => {
    const ctx = ctxWith(key);
    await auth.authenticate(ctx, () => Promise.resolve());
    return principalOf(ctx)?.keyId ?? null;
  };

  it('a known key stays valid past its TTL; an unknown one is a retriable storage error; the TTL holds again once back', async () => {
    expect(await who(a.key)).toBe(a.keyId);
    expect(state.reads).toBe(1);
    expect(await who(a.key)).toBe(a.keyId);
    expect(state.reads).toBe(1); // warm: no read

    state.down = true;
    await sleep(TTL_MS + 50);
    expect(await who(a.key)).toBe(a.keyId);
    expect(state.reads).toBe(2); // tried, failed, kept the stale principal
    await expect(who(b.key)).rejects.toThrow(StorageError);

    state.down = false;
    keys.set(a.keyHash, stored(a.keyId, Date.now())); // revoked meanwhile
    await sleep(TTL_MS + 50);
    expect(await who(a.key)).toBeNull();
  });
});

describe("the write scope (operators' calendar and overrides)", () => {
  const SUSHI = '352h67i328fh';
  const TACO = '2hg8j32gw8g';
  const reader = generateKey();
  const writer = generateKey();
  const groupWriter = generateKey();
  const admin = generateKey();
  const { store } = fakeStore(
    new Map([
      [reader.keyHash, stored(reader.keyId)],
      [writer.keyHash, stored(writer.keyId, null, { write: true })],
      [
        groupWriter.keyHash,
        stored(groupWriter.keyId, null, { branches: [], groups: ['36871'], write: true }),
      ],
      [admin.keyHash, stored(admin.keyId, null, { branches: [], admin: true })],
    ]),
  );
  const directory = new BranchDirectory(NORY_BRANCHES);
  const options = {
    keys: store,
    usage: store,
    branches: directory,
    cacheTtlMs: 60_000,
    usageFlushMs: 60_000,
    logger: createLogger('silent'),
  };
  const auth = keyAuth({ mode: 'keys', ...options });
  const open = keyAuth({ mode: 'none', ...options });
  afterAll(async () => {
    await auth.close();
    await open.close();
  });

  /** What assertMayWrite does for a request with `key` (undefined: none) on `branch`. */
  const outcome = async (key: string | undefined, branch: string): Promise<string> => {
    const ctx = ctxWith(key);
    await auth.authenticate(ctx, () => Promise.resolve());
    try {
      auth.assertMayWrite(ctx, branch);
      return 'allowed';
    } catch (e) {
      if (e instanceof UnauthenticatedError) return '401';
      if (e instanceof ForbiddenError) return `403 ${e.message}`;
      throw e;
    }
  };

  it('reading is not writing; write covers only the branches the key reads; admin writes every branch', async () => {
    expect(await outcome(undefined, SUSHI)).toBe('401');
    expect(await outcome(reader.key, SUSHI)).toBe(
      '403 this key may not write branch "352h67i328fh" (it needs the write scope on it)',
    );
    expect(await outcome(writer.key, SUSHI)).toBe('allowed');
    expect(await outcome(writer.key, TACO)).toBe(
      '403 this key may not write branch "2hg8j32gw8g" (it needs the write scope on it)',
    );
    // A group key (POS company 36871 = Nory Taco) writes the branches of its group only.
    expect(await outcome(groupWriter.key, TACO)).toBe('allowed');
    expect(await outcome(groupWriter.key, SUSHI)).toBe(
      '403 this key may not write branch "352h67i328fh" (it needs the write scope on it)',
    );
    expect(await outcome(admin.key, 'no-such-branch')).toBe('allowed');
    // AUTH_MODE=none (development): every write is allowed.
    expect(() => open.assertMayWrite(ctxWith(), SUSHI)).not.toThrow();
  });
});
