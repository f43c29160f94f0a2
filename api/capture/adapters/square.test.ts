/**
 * The Square adapter on fixtures shaped like Square's documented webhook examples (Payments,
 * Refunds and Orders API references): exact capture JSON out, and every non-receipt named.
 */
import crypto from 'node:crypto';
import { parseCaptureEvent } from '../json-events';
import { squareSignature, verifySquareSignature } from './square-route';
import { locationMap, squareWebhookEvents } from './square';

const ctx = { branchOf: locationMap(['L88917AVBK2S5=sushi-1']) };
const envelope = (type: string, object: Record<string, unknown>) => ({
  merchant_id: 'ML82H4QPKMGXY',
  type,
  event_id: '6a8f5f28-54a1-4eb0-a98a-3111513fd4fc',
  created_at: '2021-01-15T14:25:28.000Z',
  data: { type: type.split('.')[0], id: 'x', object },
});

test('a completed refund is a REFUND of minus its amount; a pending one waits for its update', () => {
  const refund = {
    id: 'bP9mAsEMYPUGjjGNaNO5ZDVyLhSZY_69MmgHubkLqx9wGhnmenRUHOaKitE6llfZuxcWYjGxd',
    status: 'COMPLETED',
    amount_money: { amount: 550, currency: 'EUR' },
    payment_id: 'bP9mAsEMYPUGjjGNaNO5ZDVyLhSZY',
    order_id: 'kLbuzbIyP0gP8Gd8t1nQ7mFoBJRZY',
    created_at: '2021-01-16T09:00:00.000Z',
    location_id: 'L88917AVBK2S5',
  };
  expect(squareWebhookEvents(envelope('refund.updated', { refund }), ctx)).toEqual([
    {
      event: {
        type: 'sale',
        event_id: `sq-refund-${refund.id}`,
        branch_id: 'sushi-1',
        occurred_at: '2021-01-16T09:00:00.000Z',
        status: 'REFUND',
        channel: 'OTHER',
        currency: 'EUR',
        total_minor: -550,
        net_minor: -550,
        tax_minor: 0,
        tip_minor: 0,
        pos: {
          source: 'square',
          square_refund_id: refund.id,
          square_payment_id: refund.payment_id,
          square_order_id: refund.order_id,
          tax_known: 'false',
        },
      },
    },
  ]);
  expect(
    squareWebhookEvents(envelope('refund.created', { refund: { ...refund, status: 'PENDING' } }), ctx),
  ).toEqual([{ ignored: `refund ${refund.id} is PENDING, not COMPLETED` }]);
});

test('a full completed Order: gross without tip, tax, net, tip, channel from its fulfillment, and its refunds', () => {
  const order = {
    id: 'CAISENgvhpdP05f1DWG9H8yMn4kZY',
    location_id: 'L88917AVBK2S5',
    state: 'COMPLETED',
    created_at: '2021-01-15T18:02:11.000Z',
    source: { name: 'Square Online' },
    fulfillments: [{ uid: 'f1', type: 'PICKUP', state: 'COMPLETED' }],
    total_money: { amount: 2750, currency: 'EUR' },
    total_tax_money: { amount: 400, currency: 'EUR' },
    total_tip_money: { amount: 250, currency: 'EUR' },
    refunds: [
      {
        id: 'rf-1',
        location_id: 'L88917AVBK2S5',
        status: 'COMPLETED',
        amount_money: { amount: 500, currency: 'EUR' },
        created_at: '2021-01-15T19:00:00.000Z',
      },
    ],
  };
  const items = squareWebhookEvents(envelope('order.updated', { order }), ctx);
  const parsed = items.map((i) => ('event' in i ? parseCaptureEvent(i.event) : i));
  expect(parsed).toEqual([
    {
      ok: true,
      message: {
        kind: 'sale',
        value: {
          event_id: 'sq-order-CAISENgvhpdP05f1DWG9H8yMn4kZY',
          branch_id: 'sushi-1',
          occurred_at: Date.UTC(2021, 0, 15, 18, 2, 11),
          status: 'SALE',
          channel: 'TAKEAWAY',
          currency: 'EUR',
          total_minor: 2500,
          net_minor: 2100,
          tax_minor: 400,
          tip_minor: 250,
          covers: null,
          pos: {
            source: 'square',
            square_order_id: order.id,
            square_state: 'COMPLETED',
            square_source: 'Square Online',
            square_fulfillment: 'PICKUP',
          },
        },
      },
    },
    {
      ok: true,
      message: {
        kind: 'sale',
        value: {
          event_id: 'sq-refund-rf-1',
          branch_id: 'sushi-1',
          occurred_at: Date.UTC(2021, 0, 15, 19),
          status: 'REFUND',
          channel: 'OTHER',
          currency: 'EUR',
          total_minor: -500,
          net_minor: -500,
          tax_minor: 0,
          tip_minor: 0,
          covers: null,
          pos: { source: 'square', square_refund_id: 'rf-1', tax_known: 'false' },
        },
      },
    },
  ]);
  const canceled = squareWebhookEvents(
    envelope('order.updated', { order: { ...order, state: 'CANCELED', refunds: [] } }),
    ctx,
  );
  expect(canceled).toEqual([
    {
      event: expect.objectContaining({
        status: 'VOID',
        total_minor: 0,
        net_minor: 0,
        tax_minor: 0,
        tip_minor: 0,
      }) as unknown,
    },
  ]);
});

test('payments not completed, unmapped locations and other events are ignored by name', () => {
  const payment = {
    id: 'p1',
    status: 'APPROVED',
    location_id: 'L88917AVBK2S5',
    amount_money: { amount: 1, currency: 'EUR' },
  };
  expect(squareWebhookEvents(envelope('payment.created', { payment }), ctx)).toEqual([
    { ignored: 'payment p1 is APPROVED, not COMPLETED' },
  ]);
  expect(
    squareWebhookEvents(
      envelope('payment.updated', { payment: { ...payment, status: 'COMPLETED', location_id: 'ELSEWHERE' } }),
      ctx,
    ),
  ).toEqual([{ ignored: 'location ELSEWHERE is not mapped to a branch (SQUARE_LOCATION_BRANCHES)' }]);
  expect(squareWebhookEvents(envelope('customer.created', { customer: {} }), ctx)).toEqual([
    { ignored: 'customer.created: not a payment, refund or order event' },
  ]);
  expect(squareWebhookEvents('nonsense', ctx)).toEqual([{ ignored: '(no type): no data.object' }]);
  // Without a mapping the location id is the branch id.
  expect(locationMap([])('LOC')).toBe('LOC');
});

test('the signature is HMAC-SHA256 over the notification URL then the raw body, base64', () => {
  const body = Buffer.from('{"type":"payment.updated"}');
  const sig = squareSignature('key', 'https://x.example/hook', body);
  expect(sig).toBe(
    crypto
      .createHmac('sha256', 'key')
      .update('https://x.example/hook{"type":"payment.updated"}')
      .digest('base64'),
  );
  expect(verifySquareSignature('key', 'https://x.example/hook', body, sig)).toBe(true);
  expect(verifySquareSignature('key', 'https://x.example/hook/', body, sig)).toBe(false);
  expect(verifySquareSignature('key', 'https://x.example/hook', body, '')).toBe(false);
});
