/**
 * Square webhooks -> tillcast capture JSON (docs/capture.md "Square"). Pure: the route
 * (square-route.ts) checks the signature, then these objects go through the same shape check,
 * rules and publishing as POST /v1/events. The next POS is a new file next to this one.
 *
 * Square's notification body: `{merchant_id, type, event_id, created_at, data: {type, id, object}}`.
 * What becomes a receipt:
 * - `payment.created|updated` with `object.payment` in status COMPLETED: a SALE `sq-payment-<id>`,
 *   total = amount_money (the payment without its tip), tip = tip_money. A payment does not say
 *   its tax: tax 0, net = total, `pos.tax_known` "false". APPROVED/PENDING are not final (Square
 *   sends payment.updated when they complete); CANCELED/FAILED never took money: both ignored.
 * - `refund.created|updated` with `object.refund` in status COMPLETED: a REFUND
 *   `sq-refund-<id>` of -amount_money. PENDING ones wait for their update; REJECTED/FAILED ignored.
 * - a full Square Order in `object.order` (a relay that forwards RetrieveOrder's answer on
 *   order.* events): COMPLETED is a SALE `sq-order-<id>` with gross = total_money - total_tip_money,
 *   tax = total_tax_money, net = gross - tax, tip = total_tip_money, channel from its first
 *   fulfillment (PICKUP: TAKEAWAY, DELIVERY/SHIPMENT: DELIVERY, none: RESTAURANT); CANCELED is a
 *   VOID of 0; each COMPLETED entry of `refunds` a REFUND `sq-refund-<id>` (the same identity as
 *   its refund webhook, so both paths together count it once). Use payments or orders for a
 *   location, not both: a sale would count twice.
 * - Square's own order notifications (`object.order_created|order_updated|...`) carry no amounts:
 *   ignored. Everything else: ignored, named.
 */

export type SquareItem = { event: Record<string, unknown> } | { ignored: string };

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Square Money `{amount, currency}`: amount in the smallest unit (cents), an integer. */
function money(v: unknown): { amount: unknown; currency: unknown } | undefined {
  const m = obj(v);
  return m ? { amount: m.amount, currency: m.currency } : undefined;
}

const minus = (a: unknown, b: unknown): unknown =>
  typeof a === 'number' && typeof b === 'number' ? a - b : a;
const neg = (a: unknown): unknown => (typeof a === 'number' ? (a === 0 ? 0 : -a) : a);

export interface SquareContext {
  /** The tillcast branch of a Square location, or undefined when it is not mapped. */
  branchOf: (locationId: string) => string | undefined;
}

function branch(locationId: unknown, ctx: SquareContext): string | { ignored: string } {
  const loc = text(locationId);
  if (loc === undefined) return { ignored: 'no location_id' };
  return (
    ctx.branchOf(loc) ?? { ignored: `location ${loc} is not mapped to a branch (SQUARE_LOCATION_BRANCHES)` }
  );
}

function fromPayment(p: Obj, ctx: SquareContext): SquareItem {
  const status = text(p.status);
  if (status !== 'COMPLETED')
    return { ignored: `payment ${String(p.id)} is ${String(status)}, not COMPLETED` };
  const b = branch(p.location_id, ctx);
  if (typeof b !== 'string') return b;
  const amount = money(p.amount_money);
  const tip = money(p.tip_money);
  return {
    event: {
      type: 'sale',
      event_id: `sq-payment-${String(p.id)}`,
      branch_id: b,
      occurred_at: p.created_at,
      status: 'SALE',
      channel: 'OTHER',
      currency: amount?.currency,
      total_minor: amount?.amount,
      net_minor: amount?.amount,
      tax_minor: 0,
      tip_minor: tip?.amount ?? 0,
      pos: {
        source: 'square',
        square_payment_id: String(p.id),
        ...(text(p.order_id) !== undefined ? { square_order_id: text(p.order_id) } : {}),
        ...(text(p.source_type) !== undefined ? { square_source_type: text(p.source_type) } : {}),
        tax_known: 'false',
      },
    },
  };
}

function fromRefund(r: Obj, ctx: SquareContext, locationFallback?: unknown): SquareItem {
  const status = text(r.status);
  if (status !== 'COMPLETED')
    return { ignored: `refund ${String(r.id)} is ${String(status)}, not COMPLETED` };
  const b = branch(r.location_id ?? locationFallback, ctx);
  if (typeof b !== 'string') return b;
  const amount = money(r.amount_money);
  const total = neg(amount?.amount);
  return {
    event: {
      type: 'sale',
      event_id: `sq-refund-${String(r.id)}`,
      branch_id: b,
      occurred_at: r.created_at,
      status: 'REFUND',
      channel: 'OTHER',
      currency: amount?.currency,
      total_minor: total,
      net_minor: total,
      tax_minor: 0,
      tip_minor: 0,
      pos: {
        source: 'square',
        square_refund_id: String(r.id),
        ...(text(r.payment_id) !== undefined ? { square_payment_id: text(r.payment_id) } : {}),
        ...(text(r.order_id) !== undefined ? { square_order_id: text(r.order_id) } : {}),
        tax_known: 'false',
      },
    },
  };
}

const CHANNELS: Record<string, string> = { PICKUP: 'TAKEAWAY', DELIVERY: 'DELIVERY', SHIPMENT: 'DELIVERY' };

function fromOrder(o: Obj, ctx: SquareContext): SquareItem[] {
  const state = text(o.state);
  if (state !== 'COMPLETED' && state !== 'CANCELED')
    return [{ ignored: `order ${String(o.id)} is ${String(state)}, not COMPLETED or CANCELED` }];
  const b = branch(o.location_id, ctx);
  if (typeof b !== 'string') return [b];
  const total = money(o.total_money);
  const tax = money(o.total_tax_money);
  const tip = money(o.total_tip_money);
  const fulfillments = Array.isArray(o.fulfillments) ? o.fulfillments : [];
  const ftype = text(obj(fulfillments[0])?.type);
  const channel = ftype === undefined ? 'RESTAURANT' : (CHANNELS[ftype] ?? 'OTHER');
  const gross = minus(total?.amount, tip?.amount ?? 0);
  const taxAmount = tax?.amount ?? 0;
  const canceled = state === 'CANCELED';
  const items: SquareItem[] = [
    {
      event: {
        type: 'sale',
        event_id: `sq-order-${String(o.id)}`,
        branch_id: b,
        occurred_at: o.created_at,
        status: canceled ? 'VOID' : 'SALE',
        channel,
        currency: total?.currency,
        total_minor: canceled ? 0 : gross,
        net_minor: canceled ? 0 : minus(gross, taxAmount),
        tax_minor: canceled ? 0 : taxAmount,
        tip_minor: canceled ? 0 : (tip?.amount ?? 0),
        pos: {
          source: 'square',
          square_order_id: String(o.id),
          square_state: String(state),
          ...(text(obj(o.source)?.name) !== undefined ? { square_source: text(obj(o.source)?.name) } : {}),
          ...(ftype !== undefined ? { square_fulfillment: ftype } : {}),
        },
      },
    },
  ];
  const refunds = Array.isArray(o.refunds) ? o.refunds : [];
  for (const r of refunds) {
    const ro = obj(r);
    if (ro) items.push(fromRefund(ro, ctx, o.location_id));
  }
  return items;
}

/** The capture JSON events of one Square webhook body (or why each part was ignored). */
export function squareWebhookEvents(body: unknown, ctx: SquareContext): SquareItem[] {
  const b = obj(body);
  const type = text(b?.type) ?? '(no type)';
  const object = obj(obj(b?.data)?.object);
  if (!object) return [{ ignored: `${type}: no data.object` }];
  const payment = obj(object.payment);
  if (payment && type.startsWith('payment.')) return [fromPayment(payment, ctx)];
  const refund = obj(object.refund);
  if (refund && type.startsWith('refund.')) return [fromRefund(refund, ctx)];
  const order = obj(object.order);
  if (order && type.startsWith('order.')) return fromOrder(order, ctx);
  if (type.startsWith('order.'))
    return [
      { ignored: `${type}: Square's order notifications carry no amounts (its payments and refunds do)` },
    ];
  return [{ ignored: `${type}: not a payment, refund or order event` }];
}

/** SQUARE_LOCATION_BRANCHES (`LOC=branch` entries; empty: the location id is the branch id). */
export function locationMap(entries: readonly string[]): SquareContext['branchOf'] {
  if (entries.length === 0) return (loc) => loc;
  const map = new Map<string, string>();
  for (const e of entries) {
    const [loc, br] = e.split('=', 2).map((s) => s.trim());
    if (loc && br) map.set(loc, br);
  }
  return (loc) => map.get(loc);
}
