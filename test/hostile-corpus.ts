/**
 * A seeded corpus of hostile messages for the sales topic, interleaved with a
 * day of valid POS traffic, each message labelled with what ingest must do with
 * it (test/integration/ingest-hostile.test.ts checks every one).
 *
 * Hostile bytes are made three ways: the codec, for values the schema allows but
 * the business rules refuse (unknown branch, 1970, SALE with a negative total);
 * a hand-written Avro body writer (below), for what the codec refuses to encode
 * (longs beyond 2^53, NaN bytes where a long belongs, unknown enum indexes,
 * negative lengths, forged map block counts, overlong varints, > 64 KiB); and raw
 * bytes (random, empty, truncated, unknown fingerprints, tombstones).
 */
import type { BranchDirectory } from '../lib/branches';
import { mulberry32 } from '../producers/simulator';
import { HEADER_BYTES, type AvroCodec } from '../schemas/avro-codec';
import type { HourClosed, SaleEvent } from '../schemas/events';
import { compileSchema, loadSchemaDir, findSchemaDir } from '../schemas/registry';

/** What ingest must do with a message. */
export type Expectation =
  /** A heartbeat of the valid traffic. */
  | { outcome: 'heartbeat' }
  /** A new valid event: stored once and counted once in its hour. */
  | { outcome: 'accepted'; event: SaleEvent }
  /** An exact copy of an event already sent: no trace anywhere (not counted, not dead-lettered). */
  | { outcome: 'duplicate'; of: SaleEvent }
  /** Older than the correction window: stored raw with too_late = 1, never aggregated. */
  | { outcome: 'too_late'; event: SaleEvent }
  /** Dead-lettered (and recorded in ingest_rejections) with one of these codes. */
  | { outcome: 'rejected'; codes: readonly string[] };

export interface StreamItem {
  /** The class of message, e.g. "random-bytes", "time-2100", "valid". */
  label: string;
  key: string | null;
  value: Buffer | null;
  expect: Expectation;
}

/** Every code the codec may raise (DecodeError), for messages whose exact failure is incidental. */
export const DECODE_CODES = [
  'not_single_object',
  'unknown_fingerprint',
  'truncated',
  'trailing_bytes',
  'invalid_value',
  'oversized',
] as const;
/** Every code validate.ts may raise. */
export const VALIDATION_CODES = [
  'invalid_branch_id',
  'unknown_branch',
  'invalid_event_id',
  'implausible_time',
  'future_time',
  'implausible_amount',
  'inconsistent_status',
  'currency_mismatch',
  'implausible_covers',
] as const;

// ---------------------------------------------------------------- a hand-written Avro body writer

/** Zigzag varint of any integer (BigInt: beyond 2^53 on purpose). */
export function avroLong(n: bigint | number): Buffer {
  const v = BigInt(n);
  let z = v >= 0n ? v << 1n : (-v << 1n) - 1n;
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}

export function avroString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([avroLong(b.length), b]);
}

const STATUS_INDEX: Record<SaleEvent['status'], number> = { SALE: 0, REFUND: 1, VOID: 2 };
const CHANNEL_INDEX: Record<SaleEvent['channel'], number> = {
  RESTAURANT: 0,
  TAKEAWAY: 1,
  DELIVERY: 2,
  OTHER: 3,
};

export type SaleField = keyof SaleEvent;

/**
 * The Avro body of a SaleEvent v1, field by field in schema order, with raw
 * bytes substituted for any field in `patch`. Without a patch it equals the
 * codec's body byte for byte (the test checks that).
 */
export function rawSaleBody(e: SaleEvent, patch: Partial<Record<SaleField, Buffer>> = {}): Buffer {
  const pos = Object.entries(e.pos);
  const fields: [SaleField, Buffer][] = [
    ['event_id', avroString(e.event_id)],
    ['branch_id', avroString(e.branch_id)],
    ['occurred_at', avroLong(e.occurred_at)],
    ['status', avroLong(STATUS_INDEX[e.status])],
    ['channel', avroLong(CHANNEL_INDEX[e.channel])],
    ['currency', avroString(e.currency)],
    ['total_minor', avroLong(e.total_minor)],
    ['net_minor', avroLong(e.net_minor)],
    ['tax_minor', avroLong(e.tax_minor)],
    ['tip_minor', avroLong(e.tip_minor)],
    ['covers', e.covers === null ? avroLong(0) : Buffer.concat([avroLong(1), avroLong(e.covers)])],
    [
      'pos',
      pos.length === 0
        ? avroLong(0)
        : Buffer.concat([
            avroLong(pos.length),
            ...pos.flatMap(([k, v]) => [avroString(k), avroString(v)]),
            avroLong(0),
          ]),
    ],
  ];
  return Buffer.concat(fields.map(([name, bytes]) => patch[name] ?? bytes));
}

/** A double's 8 bytes (what a writer with `"type": "double"` puts where our long is). */
function doubleBytes(x: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return b;
}

// ---------------------------------------------------------------- the corpus

export interface HostileCorpusOptions {
  seed: number;
  codec: AvroCodec;
  branches: BranchDirectory;
  /** The day's valid events, in event-time order (e.g. a day of the shared export). */
  valid: SaleEvent[];
  /** Events ingested before this stream (targets of conflicting duplicates, and the branches' clocks). */
  earlier: SaleEvent[];
  /** Branches that get hourly heartbeats (like `tillcast replay`). */
  branchIds: string[];
  /** Instant of the final heartbeat that closes the day. */
  closeAt: number;
  /** Wall clock (the consumer rejects events more than an hour past it). */
  now: number;
}

export interface HostileCorpus {
  /** Valid traffic and hostile messages interleaved, in publish order. */
  stream: StreamItem[];
  /** Valid events of the day held back: published once the stream was consumed, they correct closed hours. */
  late: StreamItem[];
  /** Harmless copies (exact duplicates, replays, a too-late event again) to publish after the stream. */
  harmless: StreamItem[];
  /** Every event that must be counted (the valid day, out-of-order ones, odd-but-valid ones). */
  counted: SaleEvent[];
  /** Events that must be stored raw as too late. */
  tooLate: SaleEvent[];
  /** Number of hostile messages in the stream plus the harmless copies (not counting the plain valid traffic). */
  hostileCount: number;
}

const HOUR = 3_600_000;

export function buildHostileCorpus(o: HostileCorpusOptions): HostileCorpus {
  const rnd = mulberry32(o.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1)); // inclusive
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(0, 255)));
  const { codec } = o;
  const known = new Set(o.branches.list().map((b) => b.id));
  const knownFingerprints = new Set(codec.schemas().map((s) => s.fingerprint));
  let seq = 0;
  const freshId = (prefix: string) => `${prefix}-${o.seed}-${++seq}`;

  // --- the valid day, in the order `tillcast replay` sends it: hourly heartbeats, events, a closing heartbeat.
  // 20 events are held back to be sent after the close (corrections), 30 neighbours swap places.
  const day = [...o.valid];
  const held = new Set<SaleEvent>();
  while (held.size < Math.min(20, Math.floor(day.length / 10))) held.add(pick(day));
  for (let i = 0; i < 30; i++) {
    const j = int(0, day.length - 2);
    const [a, b] = [day[j]!, day[j + 1]!];
    if (a.branch_id === b.branch_id) [day[j], day[j + 1]] = [b, a];
  }
  const heartbeat = (branch: string, at: number): StreamItem => ({
    label: 'heartbeat',
    key: branch,
    value: codec.encodeHeartbeat({ branch_id: branch, at, source: 'hostile-test' }),
    expect: { outcome: 'heartbeat' },
  });
  const validItem = (e: SaleEvent, label = 'valid'): StreamItem => ({
    label,
    key: e.branch_id,
    value: codec.encodeSale(e),
    expect: { outcome: 'accepted', event: e },
  });
  const stream: StreamItem[] = [];
  const itemOf = new Map<SaleEvent, StreamItem>();
  let boundary: number | null = null;
  for (const e of day) {
    if (held.has(e)) continue;
    boundary ??= Math.floor(e.occurred_at / HOUR) * HOUR + HOUR;
    while (e.occurred_at >= boundary) {
      for (const b of o.branchIds) stream.push(heartbeat(b, boundary));
      boundary += HOUR;
    }
    const item = validItem(e);
    itemOf.set(e, item);
    stream.push(item);
  }
  for (const b of o.branchIds) stream.push(heartbeat(b, o.closeAt));
  const late = [...held].map((e) => validItem(e, 'out-of-order-late'));
  /** Events of the stream (copies of them go after them). */
  const sent = o.valid.filter((e) => !held.has(e));

  // --- hostile messages, each at a random place (copies of an event only after it).
  let hostileCount = 0;
  const insert = (item: StreamItem, after?: StreamItem) => {
    const from = after ? stream.indexOf(after) + 1 : 0;
    stream.splice(int(from, stream.length), 0, item);
    hostileCount++;
  };
  const rejected = (label: string, key: string | null, value: Buffer | null, ...codes: string[]) =>
    insert({ label, key, value, expect: { outcome: 'rejected', codes } });
  const someKey = () => (rnd() < 0.5 ? null : pick(o.branchIds));
  const template = () => pick(sent);
  /** A valid event with a new id (for rule violations: everything else about it is fine). */
  const variant = (over: Partial<SaleEvent>): SaleEvent => ({
    ...template(),
    event_id: freshId('hx'),
    ...over,
  });
  const saleHeader = codec.encodeSale(o.valid[0]!).subarray(0, HEADER_BYTES);
  const crafted = (e: SaleEvent, patch: Partial<Record<SaleField, Buffer>>) =>
    Buffer.concat([saleHeader, rawSaleBody(e, patch)]);

  // Bytes that are not Avro single-object messages at all.
  for (let i = 0; i < 200; i++) {
    const b = bytes(int(1, 400));
    if (b[0] === 0xc3) b[0] = 0x00;
    rejected('random-bytes', someKey(), b, 'not_single_object');
  }
  for (let i = 0; i < 15; i++) rejected('empty', someKey(), Buffer.alloc(0), 'empty_message');
  for (let i = 0; i < 15; i++) rejected('tombstone', someKey(), null, 'empty_message');
  for (let i = 0; i < 20; i++)
    rejected(
      'marker-only',
      someKey(),
      Buffer.concat([Buffer.from([0xc3, 0x01]), bytes(int(0, 7))]),
      'not_single_object',
    );

  // Single-object headers of schemas this consumer does not ship.
  for (let i = 0; i < 60; i++) {
    let fp = bytes(8);
    while (knownFingerprints.has(Buffer.from(fp).reverse().toString('hex'))) fp = bytes(8);
    rejected(
      'unknown-fingerprint',
      someKey(),
      Buffer.concat([Buffer.from([0xc3, 0x01]), fp, bytes(int(0, 200))]),
      'unknown_fingerprint',
    );
  }
  // A real schema, not ours: SaleEvent with a double total (NaN, ±Infinity, 1e300), written properly.
  const saleV1 = loadSchemaDir(findSchemaDir()).find((d) => d.kind === 'sale')!;
  const doubleJson = JSON.parse(saleV1.schema as string) as { fields: { name: string; type: unknown }[] };
  for (const f of doubleJson.fields) if (f.name === 'total_minor') f.type = 'double';
  const doubleSchema = compileSchema('sale', 99, doubleJson);
  for (let i = 0; i < 20; i++) {
    const e = { ...variant({}), total_minor: pick([NaN, Infinity, -Infinity, 1e300]) };
    rejected(
      'foreign-schema-double-total',
      e.branch_id,
      Buffer.concat([doubleSchema.header, doubleSchema.type.toBuffer(e)]),
      'unknown_fingerprint',
    );
  }
  // An HourClosed on the sales topic.
  for (let i = 0; i < 20; i++) {
    const hc: HourClosed = {
      branch_id: pick(o.branchIds),
      hour_start: Math.floor(template().occurred_at / HOUR) * HOUR,
      sales_minor: int(0, 1e6),
      orders: int(0, 99),
      revision: 1,
      closed_at: o.now,
    };
    rejected('hour-closed-on-sales-topic', hc.branch_id, codec.encodeHourClosed(hc), 'wrong_topic_type');
  }

  // Broken Avro bodies.
  for (let i = 0; i < 100; i++) {
    const full = codec.encodeSale(variant({}));
    rejected('truncated', someKey(), full.subarray(0, int(HEADER_BYTES, full.length - 1)), 'truncated');
  }
  for (let i = 0; i < 30; i++)
    rejected(
      'trailing-bytes',
      someKey(),
      Buffer.concat([codec.encodeSale(variant({})), bytes(int(1, 20))]),
      'trailing_bytes',
    );
  for (let i = 0; i < 8; i++) {
    const e = variant({ pos: { note: 'x'.repeat(int(65_600, 75_000)) } });
    rejected('oversized', e.branch_id, crafted(e, {}), 'oversized');
  }
  for (let i = 0; i < 30; i++) {
    const huge = 2n ** 53n + BigInt(int(0, 1e9)) * BigInt(int(1, 1 << 20));
    const field = pick(['total_minor', 'net_minor', 'occurred_at', 'tip_minor'] as const);
    rejected(
      'long-beyond-2^53',
      someKey(),
      crafted(variant({}), { [field]: avroLong(rnd() < 0.5 ? huge : -huge - 1n) }),
      'invalid_value',
    );
  }
  for (let i = 0; i < 10; i++) {
    const overlong = Buffer.concat([Buffer.alloc(int(10, 14), 0xff), Buffer.from([0x01])]);
    rejected('overlong-varint', someKey(), crafted(variant({}), { total_minor: overlong }), 'invalid_value');
  }
  for (let i = 0; i < 20; i++) {
    // NaN / ±Infinity as 8 double bytes where the long total belongs: the body no longer lines up.
    rejected(
      'nan-bytes-in-long',
      someKey(),
      crafted(variant({}), { total_minor: doubleBytes(pick([NaN, Infinity, -Infinity])) }),
      ...DECODE_CODES,
    );
  }
  for (let i = 0; i < 20; i++) {
    const field = pick(['status', 'channel'] as const);
    rejected(
      'unknown-enum-index',
      someKey(),
      crafted(variant({}), { [field]: avroLong(pick([-1, 4, 7, 99, 100_000])) }),
      'invalid_value',
    );
  }
  for (let i = 0; i < 10; i++) {
    // A negative string length: whatever the decoder makes of it, it must not be counted.
    const e = variant({});
    rejected(
      'negative-string-length',
      someKey(),
      crafted(e, { event_id: Buffer.concat([avroLong(-int(1, 9)), Buffer.from(e.event_id)]) }),
      ...DECODE_CODES,
      ...VALIDATION_CODES,
    );
  }
  for (let i = 0; i < 10; i++) {
    // A forged map block count (2^40 entries in a few bytes).
    rejected(
      'forged-map-count',
      someKey(),
      crafted(variant({}), { pos: Buffer.concat([avroLong(2n ** 40n), avroString('k'), avroString('v')]) }),
      'truncated',
    );
  }

  // Valid Avro, invalid business: each breaks exactly one rule.
  const ruled = (label: string, e: SaleEvent, code: string, key: string | null = e.branch_id) =>
    rejected(label, key, codec.encodeSale(e), code);
  for (let i = 0; i < 30; i++) {
    const field = pick(['total_minor', 'net_minor', 'tax_minor', 'tip_minor'] as const);
    ruled(
      'implausible-amount',
      variant({ [field]: pick([100_000_001, 2 ** 53 - 1, 5e12, -(2 ** 53 - 1)]), status: 'VOID' }),
      'implausible_amount',
    );
  }
  for (let i = 0; i < 40; i++) {
    let branch = `br${Math.floor(rnd() * 36 ** 8).toString(36)}`;
    while (known.has(branch)) branch += 'x';
    ruled('unknown-branch', variant({ branch_id: branch }), 'unknown_branch');
  }
  const badBranches = ['', 'has space', 'x'.repeat(65), 'ünïcödé', 'nul\u0000', 'tab\tbranch'];
  for (let i = 0; i < 15; i++)
    ruled(
      'invalid-branch-id',
      variant({ branch_id: badBranches[i % badBranches.length]! }),
      'invalid_branch_id',
      someKey(),
    );
  const badIds = [
    '',
    ' ',
    'has space',
    'tab\there',
    'x'.repeat(129),
    'ünïcödé',
    'emoji😀',
    'nul\u0000byte',
    'new\nline',
    'del\x7f',
  ];
  for (let i = 0; i < 40; i++)
    ruled('invalid-event-id', variant({ event_id: badIds[i % badIds.length]! }), 'invalid_event_id');
  for (let i = 0; i < 30; i++)
    ruled(
      'time-1970',
      variant({ occurred_at: pick([0, -1, int(1, 946_684_799_999), -int(1, 1e12)]) }),
      'implausible_time',
    );
  for (let i = 0; i < 30; i++)
    ruled(
      'time-2100',
      variant({ occurred_at: Date.UTC(2100, int(0, 11), int(1, 28), int(0, 23)) }),
      'future_time',
    );
  for (let i = 0; i < 40; i++)
    ruled(
      'sale-negative-total',
      variant({ status: 'SALE', total_minor: -int(1, 100_000) }),
      'inconsistent_status',
    );
  for (let i = 0; i < 10; i++)
    ruled(
      'refund-positive-total',
      variant({ status: 'REFUND', total_minor: int(1, 100_000) }),
      'inconsistent_status',
    );
  for (let i = 0; i < 15; i++)
    ruled('currency-mismatch', variant({ currency: pick(['USD', 'GBP', 'eur', '']) }), 'currency_mismatch');
  for (let i = 0; i < 15; i++)
    ruled(
      'covers-out-of-range',
      variant({ covers: pick([-1, -2_147_483_648, 10_001, 2_147_483_647]) }),
      'implausible_covers',
    );
  const hb = (label: string, branch: string, at: number, code: string) =>
    rejected(label, someKey(), codec.encodeHeartbeat({ branch_id: branch, at, source: 'hostile' }), code);
  for (let i = 0; i < 10; i++) hb('heartbeat-unknown-branch', `ghost-${i}`, o.closeAt, 'unknown_branch');
  for (let i = 0; i < 10; i++) hb('heartbeat-1970', pick(o.branchIds), int(0, 1e9), 'implausible_time');
  for (let i = 0; i < 10; i++)
    hb('heartbeat-2100', pick(o.branchIds), Date.UTC(2100, 0, 1) + int(0, 1e9), 'future_time');

  // Conflicting duplicates: an id already recorded, with another amount (first write wins).
  for (let i = 0; i < 60; i++) {
    const original = i < 50 ? pick(sent) : pick(o.earlier);
    const conflict: SaleEvent = {
      ...original,
      total_minor: original.total_minor + int(1, 999),
      net_minor: original.net_minor + 1,
    };
    if (conflict.status === 'REFUND') conflict.total_minor = original.total_minor - int(1, 999);
    const item: StreamItem = {
      label: 'conflicting-duplicate',
      key: original.branch_id,
      value: codec.encodeSale(conflict),
      expect: { outcome: 'rejected', codes: ['conflicting_duplicate'] },
    };
    insert(item, itemOf.get(original));
  }

  // Harmless: exact duplicates, one event replayed ten times, odd-but-valid ids and metadata.
  const duplicate = (label: string, of: SaleEvent): StreamItem => ({
    label,
    key: of.branch_id,
    value: codec.encodeSale(of),
    expect: { outcome: 'duplicate', of },
  });
  for (let i = 0; i < 80; i++) {
    const of = pick(sent);
    insert(duplicate('exact-duplicate', of), itemOf.get(of));
  }
  const replayed = new Set<SaleEvent>();
  while (replayed.size < 5) replayed.add(pick(sent));
  for (const of of replayed)
    for (let i = 0; i < 10; i++) insert(duplicate('replayed-10-times', of), itemOf.get(of));
  const oddIds = [
    `'quote`,
    `"dq"`,
    `back\\slash`,
    `semi;colon`,
    `{b:String}`,
    `%_like`,
    `');DROP_TABLE_sales_events;--`,
    `\`tick\``,
    `a|1607673600`,
    `~!@#$^&*()`,
  ];
  const counted = [...o.valid];
  for (let i = 0; i < 20; i++) {
    const base = pick(sent);
    const e: SaleEvent = {
      ...base,
      event_id: `${oddIds[i % oddIds.length]}-${o.seed}-${i}`,
      occurred_at: base.occurred_at + int(0, 59) * 1000,
      status: 'SALE',
      total_minor: int(0, 20_000),
      net_minor: 0,
      tax_minor: 0,
      pos: {
        ключ: 'значение',
        emoji: '🍕🌮🍣',
        nul: 'a\u0000b',
        quote: `'"\\`,
        empty: '',
        [`k${i}`]: 'v'.repeat(int(0, 2000)),
      },
    };
    counted.push(e);
    insert({
      label: 'odd-but-valid',
      key: e.branch_id,
      value: codec.encodeSale(e),
      expect: { outcome: 'accepted', event: e },
    });
  }

  // Too late: new ids for hours long closed (well beyond the correction window).
  const tooLate: SaleEvent[] = [];
  const firstEarlier = Math.min(...o.earlier.map((e) => e.occurred_at));
  for (let i = 0; i < 15; i++) {
    const base = pick(o.valid);
    const e: SaleEvent = {
      ...base,
      event_id: freshId('late'),
      occurred_at: firstEarlier - int(5, 40) * 24 * HOUR - int(0, 23) * HOUR,
      status: 'SALE',
      total_minor: int(1, 5000),
    };
    tooLate.push(e);
    insert({
      label: 'too-late',
      key: e.branch_id,
      value: codec.encodeSale(e),
      expect: { outcome: 'too_late', event: e },
    });
  }

  // Sent after the stream: every valid event of the day again, one of them ten more times, the too-late ones again.
  const harmless: StreamItem[] = [
    ...o.valid.map((e) => duplicate('replayed-day', e)),
    ...Array.from({ length: 10 }, () => duplicate('replayed-10-times', o.valid[0]!)),
    ...tooLate.map((e) => duplicate('too-late-again', e)),
  ];
  hostileCount += harmless.length;
  return { stream, late, harmless, counted, tooLate, hostileCount };
}
