/**
 * The event contract shared by producers and consumers, as TypeScript types.
 * The Avro schemas under schemas/avro/ are the wire truth; these mirror their
 * latest versions field by field (snake_case, as decoded by avsc).
 *
 * Money is integer minor units (cents for EUR), never floats.
 * Instants are epoch milliseconds, UTC (Avro timestamp-millis).
 */

/** Sales channel of a receipt. OTHER is the Avro enum default, so new POS channels degrade gracefully. */
export type Channel = 'RESTAURANT' | 'TAKEAWAY' | 'DELIVERY' | 'OTHER';

/**
 * SALE: a completed receipt (counts as an order; total >= 0).
 * REFUND: money given back outside a void (total <= 0; reduces sales, not an order).
 * VOID: a cancelled receipt or the negative reversal that cancels it; excluded from sales and orders.
 */
export type SaleStatus = 'SALE' | 'REFUND' | 'VOID';

/** One POS receipt. */
export interface SaleEvent {
  /** POS receipt id; unique per branch. (branch_id, event_id) identifies the event. */
  event_id: string;
  branch_id: string;
  /** When the order was opened (epoch ms, UTC). Bucketing uses this instant. */
  occurred_at: number;
  status: SaleStatus;
  channel: Channel;
  /** ISO 4217 code, e.g. EUR. */
  currency: string;
  /** Gross total incl. tax, minor units. */
  total_minor: number;
  /** Net of tax, minor units. */
  net_minor: number;
  /** Tax, minor units. */
  tax_minor: number;
  /** Tip, minor units (not part of sales). */
  tip_minor: number;
  /** Covers (seats); null when the POS does not know. */
  covers: number | null;
  /** Free-form POS metadata (table, floor, original status, source, ...). */
  pos: Record<string, string>;
}

/** A till saying "alive at time T", so quiet hours can close. */
export interface Heartbeat {
  branch_id: string;
  /** Event time the till vouches for (epoch ms, UTC). */
  at: number;
  /** Who sent it (till id, "replay", "simulator"). */
  source: string;
}

/** Published when a branch's hour closes (and again, with a higher revision, when a late event corrects it). */
export interface HourClosed {
  branch_id: string;
  /** Hour start, epoch ms UTC. */
  hour_start: number;
  sales_minor: number;
  orders: number;
  /** 1 on first close, +1 per correction. */
  revision: number;
  /** Wall-clock time of publication, epoch ms. */
  closed_at: number;
}

/**
 * Published by the API when an operator sets, changes or removes a branch calendar entry (after
 * the version is stored): the forecaster refreshes the branch at once.
 */
export interface CalendarChanged {
  branch_id: string;
  /** Local date `YYYY-MM-DD` in the branch's zone. */
  local_date: string;
  /** The stored version of that (branch, date). */
  version: number;
  /** true when this version removed the entry. */
  deleted: boolean;
  /** When the version was written (epoch ms, UTC). */
  changed_at: number;
}

export type PosMessage = { kind: 'sale'; value: SaleEvent } | { kind: 'heartbeat'; value: Heartbeat };
