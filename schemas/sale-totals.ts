/**
 * What a receipt contributes to an hour's totals — the rule of `sales_hourly`.
 * The ingest aggregates the same rule in SQL (clickhouse/store/sales-hourly.ts,
 * aggregateHours); this TypeScript form serves tools that read a POS export
 * directly (`tillcast train|backtest --export`). Keep the two in step.
 *
 *   SALE:   sales += total, orders += 1
 *   REFUND: sales += total (negative), no order
 *   VOID:   nothing (a voided receipt and its reversal cancel out)
 */
import type { SaleEvent } from './events';
import type { BranchDirectory } from '../lib/branches';
import { floorToHour } from '../lib/time/units';
import { localSlotOf, startOfLocalDay } from '../lib/time/wall-clock';

export interface HourTotals {
  salesCents: number;
  orders: number;
}

/** Branch id -> UTC hour start -> totals. */
export function hourlyTotals(events: Iterable<SaleEvent>): Map<string, Map<number, HourTotals>> {
  const out = new Map<string, Map<number, HourTotals>>();
  for (const e of events) {
    if (e.status === 'VOID') continue;
    let hours = out.get(e.branch_id);
    if (!hours) out.set(e.branch_id, (hours = new Map<number, HourTotals>()));
    const hour = floorToHour(e.occurred_at);
    const t = hours.get(hour) ?? { salesCents: 0, orders: 0 };
    t.salesCents += e.total_minor;
    if (e.status === 'SALE') t.orders += 1;
    hours.set(hour, t);
  }
  return out;
}

/** The local midnight after the last event's local day: where a replay of the events closes. */
export function closeOfLastDay(events: readonly SaleEvent[], branches: BranchDirectory): number | undefined {
  let last: SaleEvent | undefined;
  for (const e of events) if (!last || e.occurred_at > last.occurred_at) last = e;
  if (!last) return undefined;
  const zone = branches.get(last.branch_id)?.timezone ?? 'UTC';
  return startOfLocalDay(zone, localSlotOf(zone, last.occurred_at).day + 1);
}
