/**
 * Business rules an event must pass after it decoded (the schema already
 * guarantees types). A rejection carries a stable code and a human reason; it
 * becomes the dead-letter header.
 */
import type { BranchDirectory } from '../lib/branches';
import type { Heartbeat, SaleEvent } from './events';

export interface Rejection {
  code: string;
  reason: string;
}

export interface ValidationRules {
  branches: BranchDirectory;
  acceptUnknownBranches: boolean;
  /** Reject events later than wall clock + this. */
  maxFutureMs: number;
  now: () => number;
}

/** A single receipt above this (1,000,000.00 in major units) is a broken till, not a sale. */
export const MAX_ABS_AMOUNT_MINOR = 100_000_000;
/** POS history before this is not plausible for this product. */
export const MIN_EVENT_TIME_MS = Date.UTC(2000, 0, 1);
const ID_PATTERN = /^[\x21-\x7e]{1,128}$/; // printable ASCII, no spaces

function checkBranch(branchId: string, rules: ValidationRules): Rejection | undefined {
  if (!ID_PATTERN.test(branchId) || branchId.length > 64) {
    return {
      code: 'invalid_branch_id',
      reason: `branch_id ${JSON.stringify(branchId.slice(0, 80))} is not a valid id`,
    };
  }
  if (!rules.acceptUnknownBranches && !rules.branches.get(branchId)) {
    return { code: 'unknown_branch', reason: `branch_id ${branchId} is not a known branch` };
  }
  return undefined;
}

function checkTime(field: string, ms: number, rules: ValidationRules): Rejection | undefined {
  if (!Number.isSafeInteger(ms) || ms < MIN_EVENT_TIME_MS) {
    return {
      code: 'implausible_time',
      reason: `${field} ${new Date(Number.isFinite(ms) ? ms : 0).toISOString()} is before 2000-01-01`,
    };
  }
  const limit = rules.now() + rules.maxFutureMs;
  if (ms > limit) {
    return {
      code: 'future_time',
      reason: `${field} ${new Date(Math.min(ms, 8.64e15)).toISOString()} is more than ${Math.round(rules.maxFutureMs / 1000)} s in the future`,
    };
  }
  return undefined;
}

export function validateSale(e: SaleEvent, rules: ValidationRules): Rejection | undefined {
  const branch = checkBranch(e.branch_id, rules);
  if (branch) return branch;
  if (!ID_PATTERN.test(e.event_id)) {
    return {
      code: 'invalid_event_id',
      reason: `event_id ${JSON.stringify(e.event_id.slice(0, 80))} must be 1-128 printable ASCII characters`,
    };
  }
  const time = checkTime('occurred_at', e.occurred_at, rules);
  if (time) return time;
  for (const field of ['total_minor', 'net_minor', 'tax_minor', 'tip_minor'] as const) {
    const v = e[field];
    if (!Number.isSafeInteger(v) || Math.abs(v) > MAX_ABS_AMOUNT_MINOR) {
      return {
        code: 'implausible_amount',
        reason: `${field} ${v} is outside ±${MAX_ABS_AMOUNT_MINOR} minor units`,
      };
    }
  }
  if (e.status === 'SALE' && e.total_minor < 0) {
    return {
      code: 'inconsistent_status',
      reason: `a SALE cannot have a negative total (${e.total_minor}); send it as REFUND`,
    };
  }
  if (e.status === 'REFUND' && e.total_minor > 0) {
    return {
      code: 'inconsistent_status',
      reason: `a REFUND cannot have a positive total (${e.total_minor})`,
    };
  }
  const branch2 = rules.branches.get(e.branch_id);
  if (branch2 && e.currency !== branch2.currency) {
    return {
      code: 'currency_mismatch',
      reason: `currency ${e.currency} differs from the branch currency ${branch2.currency}`,
    };
  }
  if (e.covers !== null && (!Number.isInteger(e.covers) || e.covers < 0 || e.covers > 10_000)) {
    return { code: 'implausible_covers', reason: `covers ${e.covers} is outside 0..10000` };
  }
  return undefined;
}

export function validateHeartbeat(h: Heartbeat, rules: ValidationRules): Rejection | undefined {
  return checkBranch(h.branch_id, rules) ?? checkTime('at', h.at, rules);
}
