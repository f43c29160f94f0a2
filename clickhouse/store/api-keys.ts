/**
 * `api_keys` and `api_key_usage`: the API's bearer keys (clickhouse/migrations/0007_api_keys.sql).
 * Keys are stored as their SHA-256 only; `tillcast keys` creates, lists and revokes them, the API
 * looks presented keys up by hash (through its cache, api/key-auth.ts) and records when each was
 * last used.
 */
import type { ClickHouse } from '../client';
import { toDateTime64 } from '../datetime-text';
import { QueryRunner } from '../query-runner';

/** What a key may do. A key with no branch, group nor admin reads nothing. */
export interface KeyScopes {
  /** Branch ids it may read. */
  branches: readonly string[];
  /** Restaurant groups / POS companies: every branch of the directory with that `group` or `pos_company_id`. */
  groups: readonly string[];
  /** Every branch (known or not: unknown ones answer 404 instead of 403), and managing keys. */
  admin: boolean;
  /** May scrape /metrics. */
  metrics: boolean;
  /** May publish events of its branches through POST /v1/events (migration 0009; absent: no). */
  capture?: boolean;
  /** May write operators' data (calendar entries, overrides) of its branches (migration 0010; absent: no). */
  write?: boolean;
}

/** A key as stored, without its hash. */
export interface StoredKey extends KeyScopes {
  keyId: string;
  name: string;
  createdAt: number;
  createdBy: string;
  revokedAt: number | null;
}

/** A key as listed: with the last time the API saw it (null: never, or not yet flushed). */
export interface ListedKey extends StoredKey {
  lastUsedAt: number | null;
}

interface KeyRow {
  key_id: string;
  name: string;
  branches: string[];
  groups: string[];
  admin: number;
  metrics: number;
  capture: number;
  write: number;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
}

const KEY_COLUMNS = `key_id, name, branches, groups, admin, metrics, capture, write,
  toUnixTimestamp64Milli(created_at) AS created_at, created_by,
  if(revoked_at IS NULL, NULL, toUnixTimestamp64Milli(assumeNotNull(revoked_at))) AS revoked_at`;

function toStored(r: KeyRow): StoredKey {
  return {
    keyId: r.key_id,
    name: r.name,
    branches: r.branches,
    groups: r.groups,
    admin: Number(r.admin) === 1,
    metrics: Number(r.metrics) === 1,
    capture: Number(r.capture) === 1,
    write: Number(r.write) === 1,
    createdAt: Number(r.created_at),
    createdBy: r.created_by,
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

/** The `api_keys` row of a key at a version (0: created, 1: revoked; ReplacingMergeTree keeps the greatest). */
function keyRow(key: StoredKey & { keyHash: string }, version: number): Record<string, unknown> {
  return {
    key_id: key.keyId,
    key_hash: key.keyHash,
    name: key.name,
    branches: key.branches,
    groups: key.groups,
    admin: key.admin ? 1 : 0,
    metrics: key.metrics ? 1 : 0,
    capture: key.capture === true ? 1 : 0,
    write: key.write === true ? 1 : 0,
    created_at: toDateTime64(key.createdAt),
    created_by: key.createdBy,
    revoked_at: key.revokedAt === null ? null : toDateTime64(key.revokedAt),
    version,
  };
}

export class ApiKeys {
  private readonly q: QueryRunner;

  constructor(ch: ClickHouse) {
    this.q = new QueryRunner(ch);
  }

  /** Stores a new key (its hash only). */
  async create(key: Omit<StoredKey, 'revokedAt'> & { keyHash: string }): Promise<void> {
    await this.q.insert('api_keys.create', 'api_keys', [keyRow({ ...key, revokedAt: null }, 0)], {
      idempotent: true,
    });
  }

  /** The key with this hash, revoked or not; undefined when no key has it. */
  async findByHash(keyHash: string): Promise<StoredKey | undefined> {
    const rows = await this.q.rows<KeyRow>(
      'api_keys.find_by_hash',
      `SELECT ${KEY_COLUMNS} FROM ${this.q.table('api_keys')} FINAL WHERE key_hash = {hash:String} LIMIT 1`,
      { hash: keyHash },
    );
    return rows[0] ? toStored(rows[0]) : undefined;
  }

  async get(keyId: string): Promise<StoredKey | undefined> {
    const rows = await this.q.rows<KeyRow>(
      'api_keys.get',
      `SELECT ${KEY_COLUMNS} FROM ${this.q.table('api_keys')} FINAL WHERE key_id = {id:String} LIMIT 1`,
      { id: keyId },
    );
    return rows[0] ? toStored(rows[0]) : undefined;
  }

  /** Every key, oldest first, with its last use. */
  async list(): Promise<ListedKey[]> {
    const keys = await this.q.rows<KeyRow>(
      'api_keys.list',
      `SELECT ${KEY_COLUMNS} FROM ${this.q.table('api_keys')} FINAL ORDER BY created_at, key_id`,
    );
    const usage = await this.lastUsed();
    return keys.map((r) => ({ ...toStored(r), lastUsedAt: usage.get(r.key_id) ?? null }));
  }

  /** Marks the key revoked (again: the first revocation time is kept). False when no such key. */
  async revoke(keyId: string, at: number): Promise<boolean> {
    const rows = await this.q.rows<KeyRow & { key_hash: string }>(
      'api_keys.get_with_hash',
      `SELECT ${KEY_COLUMNS}, key_hash FROM ${this.q.table('api_keys')} FINAL WHERE key_id = {id:String} LIMIT 1`,
      { id: keyId },
    );
    const row = rows[0];
    if (!row) return false;
    const key = toStored(row);
    if (key.revokedAt !== null) return true;
    await this.q.insert(
      'api_keys.revoke',
      'api_keys',
      [keyRow({ ...key, keyHash: row.key_hash, revokedAt: at }, 1)],
      { idempotent: true },
    );
    return true;
  }

  /** Records when keys were last used (one statement for all of them). */
  async recordUse(lastUsed: ReadonlyMap<string, number>): Promise<void> {
    await this.q.insert(
      'api_key_usage.record',
      'api_key_usage',
      [...lastUsed].map(([key_id, at]) => ({ key_id, last_used_at: toDateTime64(at) })),
      { idempotent: true },
    );
  }

  /** Last use per key id. */
  async lastUsed(): Promise<Map<string, number>> {
    const rows = await this.q.rows<{ key_id: string; at: string }>(
      'api_key_usage.last_used',
      `SELECT key_id, toUnixTimestamp64Milli(max(last_used_at)) AS at FROM ${this.q.table('api_key_usage')} GROUP BY key_id`,
    );
    return new Map(rows.map((r) => [r.key_id, Number(r.at)]));
  }
}
