/**
 * POST /v1/events and POST /v1/webhooks/square at the running server, with a recording sink in
 * place of Kafka (test/integration/capture*.test.ts publish to the real broker): every hostile
 * body gets its exact per-event answer, nothing valid is lost, a sink that fails answers 503
 * with Retry-After and reports nothing accepted, and fast-check finds no input that answers 500.
 */
import fc from 'fast-check';
import type { Message } from 'kafkajs';
import { UnavailableError } from '../../lib/errors';
import { defaultCodec } from '../../schemas/avro-codec';
import type { SaleEvent } from '../../schemas/events';
import { captureResponseSchema } from '../schemas';
import { createApiServer, type ApiServer } from '../server';
import {
  bearer,
  createTestKey,
  destroyAgent,
  NEW_YORK,
  PIZZA,
  request,
  setupScenario,
  SUSHI,
  useApiKey,
  type HttpAnswer,
  type Scenario,
} from '../../test/api-helpers';
import { squareSignature } from './adapters/square-route';
import type { SalesSink } from './sales-sink';

const SQUARE_KEY = 'sq-test-signature-key';
const SQUARE_URL = 'https://tillcast.example/v1/webhooks/square';

class RecordingSink implements SalesSink {
  messages: Message[] = [];
  mode: 'ok' | 'fail' = 'ok';
  publish(messages: Message[]): Promise<void> {
    if (this.mode === 'fail')
      return Promise.reject(new UnavailableError('kafka_unavailable', 'Kafka did not acknowledge', 2));
    this.messages.push(...messages);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  /** The decoded sales published so far. */
  sales(): SaleEvent[] {
    return this.messages.flatMap((m) => {
      const d = defaultCodec().decode(m.value as Buffer);
      return d.kind === 'sale' ? [d.value] : [];
    });
  }
}

let sc: Scenario;
let api: ApiServer;
let base: string;
const sink = new RecordingSink();
let sushiKey: string;

beforeAll(async () => {
  sc = await setupScenario({
    API_RATE_LIMIT_PER_MIN: '0',
    CAPTURE_MAX_EVENTS: '50',
    CAPTURE_MAX_BODY_BYTES: '65536',
    SQUARE_WEBHOOK_SIGNATURE_KEY: SQUARE_KEY,
    SQUARE_WEBHOOK_URL: SQUARE_URL,
    SQUARE_LOCATION_BRANCHES: `L88917AVBK2S5=${SUSHI.id}`,
  });
  api = createApiServer({ ...sc, captureSink: sink }, { forecastPollMs: 60_000 });
  await api.start();
  await api.listen(0, '127.0.0.1');
  base = api.url();
  sushiKey = (await createTestKey(sc.ch, { branches: [SUSHI.id], capture: true }, 'sushi till')).key;
  useApiKey(sushiKey);
});

afterAll(async () => {
  await api?.stop();
  destroyAgent();
  await sc?.drop();
});

beforeEach(() => {
  sink.messages = [];
  sink.mode = 'ok';
});

const T = '2021-01-15T12:30:00+01:00';
const sale = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  event_id: 'r-1',
  branch_id: SUSHI.id,
  occurred_at: T,
  status: 'SALE',
  channel: 'RESTAURANT',
  currency: SUSHI.currency,
  total_minor: 1250,
  net_minor: 1025,
  tax_minor: 225,
  ...over,
});

function post(
  body: unknown,
  opts: { headers?: Record<string, string>; raw?: string } = {},
): Promise<HttpAnswer> {
  return request(base, '/v1/events', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...opts.headers },
    body: opts.raw ?? JSON.stringify(body),
  });
}

interface Answer {
  accepted: number;
  rejected: number;
  results: { index: number; status: string; code?: string; event_id?: string; branch_id?: string }[];
}
/** The 202 body, checked against its OpenAPI schema first. */
const answer = (a: HttpAnswer): Answer => captureResponseSchema.parse(a.json);
const codes = (a: HttpAnswer) => answer(a).results.map((r) => r.code ?? r.status);

test('a valid batch is published keyed by branch, exactly as sent, and answered 202 accepted', async () => {
  const a = await post([
    sale(),
    sale({
      event_id: 'r-2',
      total: '8.40',
      net: '7.00',
      tax: '1.40',
      total_minor: undefined,
      net_minor: undefined,
      tax_minor: undefined,
      tip: '1.00',
      channel: 'TAKEAWAY',
    }),
    { type: 'heartbeat', branch_id: SUSHI.id, at: Date.UTC(2021, 0, 15, 13) },
  ]);
  expect(a.status).toBe(202);
  expect(answer(a)).toEqual({
    accepted: 3,
    rejected: 0,
    results: [
      { index: 0, status: 'accepted', type: 'sale', branch_id: SUSHI.id, event_id: 'r-1' },
      { index: 1, status: 'accepted', type: 'sale', branch_id: SUSHI.id, event_id: 'r-2' },
      { index: 2, status: 'accepted', type: 'heartbeat', branch_id: SUSHI.id },
    ],
  });
  expect(sink.messages.map((m) => m.key)).toEqual([SUSHI.id, SUSHI.id, SUSHI.id]);
  expect(sink.sales()).toEqual([
    {
      event_id: 'r-1',
      branch_id: SUSHI.id,
      occurred_at: Date.UTC(2021, 0, 15, 11, 30),
      status: 'SALE',
      channel: 'RESTAURANT',
      currency: SUSHI.currency,
      total_minor: 1250,
      net_minor: 1025,
      tax_minor: 225,
      tip_minor: 0,
      covers: null,
      pos: {},
    },
    {
      event_id: 'r-2',
      branch_id: SUSHI.id,
      occurred_at: Date.UTC(2021, 0, 15, 11, 30),
      status: 'SALE',
      channel: 'TAKEAWAY',
      currency: SUSHI.currency,
      total_minor: 840,
      net_minor: 700,
      tax_minor: 140,
      tip_minor: 100,
      covers: null,
      pos: {},
    },
  ]);
});

test('hostile events in one batch: each gets its reason, the valid ones are all published', async () => {
  const a = await post([
    sale({ event_id: 'ok-1' }),
    sale({ event_id: 'float', total_minor: 12.5 }),
    sale({ event_id: 'major-number', total_minor: undefined, total: 12.5 }),
    sale({ event_id: 'too-precise', total_minor: undefined, total: '12.505' }),
    sale({ event_id: 'wrong-type', net_minor: 'ten' }),
    sale({ event_id: 'no-offset', occurred_at: '2021-01-15T12:30:00' }),
    sale({ event_id: 'other-branch', branch_id: PIZZA.id, currency: PIZZA.currency }),
    sale({ event_id: 'unknown-branch', branch_id: 'no-such-branch' }),
    sale({ event_id: 'negative-sale', total_minor: -5 }),
    sale({ event_id: 'future', occurred_at: Date.now() + 48 * 3_600_000 }),
    sale({ event_id: 'ok-1' }),
    sale({ event_id: 'ok-1', total_minor: 999 }),
    sale({ event_id: 'extra', colour: 'red' }),
    'not an object',
    sale({ event_id: 'ok-2', currency: 'USD' }),
    sale({ event_id: 'ok-3' }),
  ]);
  expect(a.status).toBe(202);
  expect(codes(a)).toEqual([
    'accepted',
    'float_amount',
    'float_amount',
    'invalid_amount',
    'invalid_event',
    'invalid_time',
    'forbidden_branch',
    'forbidden_branch',
    'inconsistent_status',
    'future_time',
    'accepted',
    'conflicting_duplicate',
    'invalid_event',
    'invalid_event',
    SUSHI.currency === 'USD' ? 'accepted' : 'currency_mismatch',
    'accepted',
  ]);
  expect(answer(a).accepted).toBe(SUSHI.currency === 'USD' ? 4 : 3);
  // The duplicate in the batch is published once.
  expect(sink.sales().map((e) => e.event_id)).toEqual(['ok-1', 'ok-3']);
});

test('an admin capture key may publish any branch; unknown branches get the ingest rule`s unknown_branch', async () => {
  const admin = (await createTestKey(sc.ch, { admin: true, capture: true }, 'admin capture')).key;
  const a = await post(
    [
      sale({ event_id: 'p-1', branch_id: PIZZA.id, currency: PIZZA.currency }),
      sale({ event_id: 'x-1', branch_id: 'no-such-branch' }),
      sale({ event_id: 'ny-1', branch_id: NEW_YORK.id, currency: NEW_YORK.currency }),
    ],
    { headers: bearer(admin) },
  );
  expect(codes(a)).toEqual(['accepted', 'unknown_branch', 'accepted']);
});

test('NDJSON: a malformed line is that event`s invalid_json, the other lines go through', async () => {
  const body = [
    JSON.stringify(sale({ event_id: 'n-1' })),
    '{"event_id": ',
    '',
    JSON.stringify(sale({ event_id: 'n-2' })),
  ].join('\n');
  const a = await post(undefined, { raw: body, headers: { 'Content-Type': 'application/x-ndjson' } });
  expect(a.status).toBe(202);
  expect(codes(a)).toEqual(['accepted', 'invalid_json', 'accepted']);
  expect(sink.sales().map((e) => e.event_id)).toEqual(['n-1', 'n-2']);
});

test('whole-request refusals: bad JSON 400, no events 400, wrong type 415, too many 413, too large 413', async () => {
  const bad = await post(undefined, { raw: '[{"event_id": "a",' });
  expect([bad.status, (bad.json as { error: { code: string } }).error.code]).toEqual([400, 'invalid_json']);
  const empty = await post([]);
  expect([empty.status, (empty.json as { error: { code: string } }).error.code]).toEqual([
    400,
    'invalid_body',
  ]);
  const text = await post(undefined, { raw: '[]', headers: { 'Content-Type': 'text/plain' } });
  expect(text.status).toBe(415);
  const many = await post(Array.from({ length: 51 }, (_, i) => sale({ event_id: `m-${i}` })));
  expect([many.status, (many.json as { error: { message: string } }).error.message]).toEqual([
    413,
    '51 events in one request; at most 50 (CAPTURE_MAX_EVENTS)',
  ]);
  const huge = await post(undefined, { raw: `[${' '.repeat(70_000)}]` });
  expect(huge.status).toBe(413);
  expect(sink.messages).toEqual([]);
});

test('keys: none 401, a key without the capture scope 403, nothing published', async () => {
  const none = await request(base, '/v1/events', {
    method: 'POST',
    auth: false,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify([sale()]),
  });
  expect(none.status).toBe(401);
  const reader = (await createTestKey(sc.ch, { branches: [SUSHI.id] }, 'reader')).key;
  const a = await post([sale()], { headers: bearer(reader) });
  expect([a.status, (a.json as { error: { code: string } }).error.code]).toEqual([403, 'forbidden']);
  expect(sink.messages).toEqual([]);
});

test('Kafka not acknowledging: 503 with Retry-After, nothing reported accepted', async () => {
  sink.mode = 'fail';
  const a = await post([sale({ event_id: 'k-1' })]);
  expect(a.status).toBe(503);
  expect(a.headers['retry-after']).toBe('2');
  expect((a.json as { error: { code: string } }).error.code).toBe('kafka_unavailable');
  expect(sink.messages).toEqual([]);
});

test('beyond its rate a key gets 429 with Retry-After (the per-key limiter), and nothing is published', async () => {
  const limited = createApiServer(
    { ...sc, config: { ...sc.config, API_RATE_LIMIT_PER_MIN: 2 }, captureSink: sink },
    { forecastPollMs: 60_000 },
  );
  await limited.start();
  await limited.listen(0, '127.0.0.1');
  try {
    const send = (id: string) =>
      request(limited.url(), '/v1/events', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify([sale({ event_id: id })]),
      });
    expect((await send('rl-1')).status).toBe(202);
    expect((await send('rl-2')).status).toBe(202);
    const third = await send('rl-3');
    expect([third.status, Number(third.headers['retry-after']) > 0]).toEqual([429, true]);
    expect(sink.sales().map((e) => e.event_id)).toEqual(['rl-1', 'rl-2']);
  } finally {
    await limited.stop();
  }
});

describe('Square webhook', () => {
  const post = (body: unknown, signature?: string): Promise<HttpAnswer> => {
    const raw = JSON.stringify(body);
    return request(base, '/v1/webhooks/square', {
      method: 'POST',
      auth: false,
      headers: {
        'Content-Type': 'application/json',
        'x-square-hmacsha256-signature':
          signature ?? squareSignature(SQUARE_KEY, SQUARE_URL, Buffer.from(raw)),
      },
      body: raw,
    });
  };
  // Square's documented payment.created example (Payments API webhooks), tip added as in its
  // UpdatePayment example; the location is mapped to Sushi by SQUARE_LOCATION_BRANCHES.
  const paymentCompleted = {
    merchant_id: 'ML82H4QPKMGXY',
    type: 'payment.updated',
    event_id: '00000000-0000-0000-0000-000000000001',
    created_at: '2021-01-15T14:25:28.000Z',
    data: {
      type: 'payment',
      id: 'KkAkhdMsgzn59SM8A89WgKwekxLZY',
      object: {
        payment: {
          id: 'KkAkhdMsgzn59SM8A89WgKwekxLZY',
          created_at: '2021-01-15T14:25:27.000Z',
          updated_at: '2021-01-15T14:25:28.000Z',
          amount_money: { amount: 200, currency: SUSHI.currency },
          tip_money: { amount: 30, currency: SUSHI.currency },
          total_money: { amount: 230, currency: SUSHI.currency },
          status: 'COMPLETED',
          source_type: 'CARD',
          location_id: 'L88917AVBK2S5',
          order_id: 'CAISENgvhpdP05f1DWG9H8yMn4kZY',
        },
      },
    },
  };

  test('a completed payment is a SALE of its amount with its tip', async () => {
    const a = await post(paymentCompleted);
    expect(a.status).toBe(202);
    expect(sink.sales()).toEqual([
      {
        event_id: 'sq-payment-KkAkhdMsgzn59SM8A89WgKwekxLZY',
        branch_id: SUSHI.id,
        occurred_at: Date.UTC(2021, 0, 15, 14, 25, 27),
        status: 'SALE',
        channel: 'OTHER',
        currency: SUSHI.currency,
        total_minor: 200,
        net_minor: 200,
        tax_minor: 0,
        tip_minor: 30,
        covers: null,
        pos: {
          source: 'square',
          square_payment_id: 'KkAkhdMsgzn59SM8A89WgKwekxLZY',
          square_order_id: 'CAISENgvhpdP05f1DWG9H8yMn4kZY',
          square_source_type: 'CARD',
          tax_known: 'false',
        },
      },
    ]);
  });

  test('a wrong signature is 401 and publishes nothing; an order notification is ignored by name', async () => {
    const bad = await post(paymentCompleted, 'AAAA');
    expect(bad.status).toBe(401);
    expect(sink.messages).toEqual([]);
    // Square's documented order.updated example: a summary without amounts.
    const a = await post({
      merchant_id: '5S9MXCS9Y99KK',
      type: 'order.updated',
      event_id: '4b8e5c91-9f17-4cf1-900a-4a0629f81add',
      created_at: '2020-04-16T23:14:26.359Z',
      data: {
        type: 'order',
        id: 'eA3vssLHKJrv9H0IdJCM3gNqfdcZY',
        object: {
          order_updated: {
            created_at: '2020-04-16T23:14:26.129Z',
            location_id: 'FPYCBCHYMXFK1',
            order_id: 'eA3vssLHKJrv9H0IdJCM3gNqfdcZY',
            state: 'OPEN',
            updated_at: '2020-04-16T23:14:26.359Z',
            version: 2,
          },
        },
      },
    });
    expect(a.status).toBe(202);
    expect(a.json).toEqual({
      accepted: 0,
      rejected: 0,
      ignored: ["order.updated: Square's order notifications carry no amounts (its payments and refunds do)"],
      results: [],
    });
  });
});

describe('fuzzing POST /v1/events never answers 500', () => {
  const jsonValue = fc.jsonValue({ maxDepth: 3 });
  const mutatedSale = fc
    .record({
      field: fc.constantFrom(...Object.keys(sale()), 'total', 'tip', 'covers', 'pos', 'type', 'at'),
      value: fc.oneof(jsonValue, fc.double(), fc.string({ maxLength: 200 }), fc.integer()),
    })
    .map(({ field, value }) => sale({ [field]: value }));
  const body = fc.oneof(
    fc.array(fc.oneof(mutatedSale, jsonValue), { maxLength: 60 }).map((v) => JSON.stringify(v)),
    jsonValue.map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 500 }),
    fc
      .array(
        fc.oneof(
          mutatedSale.map((s) => JSON.stringify(s)),
          fc.string({ maxLength: 80 }),
        ),
        { maxLength: 20 },
      )
      .map((l) => l.join('\n')),
  );

  test('random bodies and content types: 202, 400, 413 or 415 only, with JSON bodies', async () => {
    await fc.assert(
      fc.asyncProperty(
        body,
        fc.constantFrom('application/json', 'application/x-ndjson', 'text/plain'),
        async (b, type) => {
          const a = await request(base, '/v1/events', {
            method: 'POST',
            headers: { 'Content-Type': type },
            body: b,
          });
          expect([202, 400, 413, 415]).toContain(a.status);
          expect(typeof a.json).toBe('object');
          if (a.status === 202) {
            const ans = answer(a);
            expect(ans.accepted + ans.rejected).toBe(ans.results.length);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
