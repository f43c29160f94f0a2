/**
 * The managers' overrides in force, per branch, in memory: what /predict's plan is made from.
 * Polled and refreshed as polled-branch-days.ts says; the signature of a branch is the row count
 * and latest set_at of its ledger rows, and what is read is the latest ledger row per branch and
 * day that is not a clear.
 */
import type { ClickHouse } from '../clickhouse/client';
import { Overrides, type OverrideRow } from '../clickhouse/store/overrides';
import type { Logger } from '../lib/logger';
import type { PlannedOverride } from './plan';
import { PolledBranchDays, type BranchDays } from './polled-branch-days';

/** A branch's overrides in force by epoch day, and the epoch they belong to. */
export type BranchOverrides = BranchDays<PlannedOverride>;

function planned(r: OverrideRow): PlannedOverride {
  return {
    salesCents: r.salesCents,
    orders: r.orders,
    reason: r.reason,
    setAt: r.setAt,
    keyId: r.by.keyId,
    keyName: r.by.keyName,
  };
}

const samePlanned = (x: PlannedOverride, y: PlannedOverride): boolean =>
  x.salesCents === y.salesCents &&
  x.orders === y.orders &&
  x.reason === y.reason &&
  x.setAt === y.setAt &&
  x.keyId === y.keyId &&
  x.keyName === y.keyName;

export class OverridesCache extends PolledBranchDays<PlannedOverride> {
  constructor(ch: ClickHouse, logger: Logger, pollMs: number) {
    const store = new Overrides(ch);
    super(
      {
        name: 'forecast_overrides',
        module: 'overrides-cache',
        label: 'overrides',
        signatures: () => store.signatures(),
        read: async (branchId) =>
          (await store.inForce(branchId)).map((r) => ({
            branchId: r.branchId,
            date: r.date,
            value: planned(r),
          })),
        same: samePlanned,
      },
      logger,
      pollMs,
    );
  }
}
