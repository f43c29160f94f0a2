/**
 * API keys: how they are made, hashed and what their scopes allow.
 *
 * A key is `tc_<key_id>_<secret>`: `key_id` (12 hex characters, public: listings, logs and
 * revocation name a key by it) and 32 random bytes in base64url. It is shown once, when made;
 * only its SHA-256 is stored. A plain fast hash is right here, unlike for passwords: a key
 * carries 256 random bits, so nobody can find a key from its hash by guessing, which is all a
 * slow KDF (bcrypt, scrypt, argon2) protects against; and a deterministic hash lets the API find
 * the key by its hash with one indexed read instead of trying every stored salt.
 *
 * Scopes: branch ids, restaurant groups (every branch of the directory whose `group` or
 * `pos_company_id` is the group), `admin` (every branch, and managing keys), `metrics`
 * (/metrics), `capture` (publish events of the branches it may read: POST /v1/events), `write`
 * (write operators' data — calendar entries, overrides — of the branches it may read; `admin`
 * writes every branch). The answer for a branch depends only on the key's scopes, never on whether a
 * branch outside them exists: 403 for any branch outside them, known or not.
 */
import crypto from 'node:crypto';
import type { BranchDirectory } from '../lib/branches';
import type { KeyScopes } from '../clickhouse/store/api-keys';

export type { KeyScopes };

const KEY_RE = /^tc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface NewKey {
  keyId: string;
  /** The whole key: shown once, never stored nor logged. */
  key: string;
  keyHash: string;
}

export function hashKey(key: string): string {
  return crypto.createHash('sha256').update(key, 'utf8').digest('hex');
}

export function generateKey(): NewKey {
  const keyId = crypto.randomBytes(6).toString('hex');
  const key = `tc_${keyId}_${crypto.randomBytes(32).toString('base64url')}`;
  return { keyId, key, keyHash: hashKey(key) };
}

/** Whether a presented credential has the shape of a key (anything else is refused unread). */
export function looksLikeKey(s: string): boolean {
  return KEY_RE.test(s);
}

/** The displayed prefix of a key: its public part. */
export const keyPrefix = (keyId: string): string => `tc_${keyId}_`;

/** May a key with these scopes read this branch id (known or not)? */
export function canReadBranch(scopes: KeyScopes, branchId: string, directory: BranchDirectory): boolean {
  if (scopes.admin || scopes.branches.includes(branchId)) return true;
  if (scopes.groups.length === 0) return false;
  const b = directory.get(branchId);
  if (!b) return false;
  return (
    (b.group !== undefined && scopes.groups.includes(b.group)) ||
    (b.pos_company_id !== undefined && scopes.groups.includes(b.pos_company_id))
  );
}

/** May a key with these scopes publish events of this branch id (POST /v1/events)? Its branches, and the capture scope. */
export function canCaptureBranch(scopes: KeyScopes, branchId: string, directory: BranchDirectory): boolean {
  return scopes.capture === true && canReadBranch(scopes, branchId, directory);
}

/** May a key with these scopes write operators' data (calendar, overrides) of this branch id? Admin, or its branches with the write scope. */
export function canWriteBranch(scopes: KeyScopes, branchId: string, directory: BranchDirectory): boolean {
  return scopes.admin || (scopes.write === true && canReadBranch(scopes, branchId, directory));
}

/** One line naming what a key may do, for listings. */
export function describeScopes(s: KeyScopes): string {
  const parts: string[] = [];
  if (s.admin) parts.push('admin');
  if (s.branches.length > 0) parts.push(`branches ${s.branches.join(',')}`);
  if (s.groups.length > 0) parts.push(`groups ${s.groups.join(',')}`);
  if (s.metrics) parts.push('metrics');
  if (s.capture === true) parts.push('capture');
  if (s.write === true) parts.push('write');
  return parts.length > 0 ? parts.join('; ') : 'nothing';
}
