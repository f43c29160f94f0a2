/**
 * The Avro contract: shipped schemas, single-object wire format, CRC-64-AVRO
 * fingerprints, schema evolution without a registry, and every way decoding
 * can fail. Byte-level expectations are built by an independent encoder
 * (BigInt zigzag varints below), not by avsc.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Type, type Schema } from 'avsc';
import { TillcastError, isRetriable } from '../lib/errors';
import {
  AvroCodecError,
  DEFAULT_MAX_MESSAGE_BYTES,
  DecodeError,
  EncodeError,
  SchemaError,
  createAvroCodec,
  defaultCodec,
  type AvroCodec,
  type DecodeErrorCode,
} from './avro-codec';
import type { CalendarChanged, Channel, Heartbeat, HourClosed, SaleEvent, SaleStatus } from './events';
import {
  CRC64_AVRO_EMPTY,
  fingerprintHex,
  fingerprintToBytesLE,
  rabinFingerprint64,
} from './rabin-fingerprint';
import { canonicalForm, compileSchema, findSchemaDir, loadSchemaDir } from './registry';

const AVRO_DIR = path.join(__dirname, 'avro');

/** The shape of the .avsc JSON these tests look into. */
interface TypeJson {
  type: string | TypeJson;
  name?: string;
  namespace?: string;
  doc?: string;
  symbols?: string[];
  default?: unknown;
  values?: Schemaish;
  items?: Schemaish;
  fields?: FieldJson[];
  logicalType?: string;
}
type Schemaish = string | TypeJson | Schemaish[];
interface FieldJson {
  name: string;
  type: Schemaish;
  doc?: string;
  default?: unknown;
}
interface RecordJson extends TypeJson {
  fields: FieldJson[];
}
const readSchema = (file: string): RecordJson =>
  JSON.parse(fs.readFileSync(path.join(AVRO_DIR, file), 'utf8')) as RecordJson;
const fieldOf = (schema: RecordJson, name: string): FieldJson => schema.fields.find((f) => f.name === name)!;
const symbolsOf = (t: Schemaish): string[] => (t as TypeJson).symbols ?? [];

// ---------------------------------------------------------------------------
// Independent Avro binary encoder (spec: zigzag varints, length-prefixed UTF-8).
// ---------------------------------------------------------------------------
const varint = (z: bigint): number[] => {
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return out;
};
const zigzag = (n: bigint): bigint => (n >= 0n ? n << 1n : (-n << 1n) - 1n);
const long = (n: number | bigint): number[] => varint(zigzag(BigInt(n)));
const str = (s: string): number[] => {
  const b = Buffer.from(s, 'utf8');
  return [...long(b.length), ...b];
};

const SALE_STATUSES: SaleStatus[] = ['SALE', 'REFUND', 'VOID'];
const CHANNELS: Channel[] = ['RESTAURANT', 'TAKEAWAY', 'DELIVERY', 'OTHER'];

/** The v1 SaleEvent body; number fields may be given as BigInt to forge out-of-range values. */
function saleBody(
  e: SaleEvent,
  forged: { total_minor?: bigint; covers?: bigint; status?: number; coversBranch?: number } = {},
): Buffer {
  const bytes = [
    ...str(e.event_id),
    ...str(e.branch_id),
    ...long(e.occurred_at),
    ...long(forged.status ?? SALE_STATUSES.indexOf(e.status)),
    ...long(CHANNELS.indexOf(e.channel)),
    ...str(e.currency),
    ...long(forged.total_minor ?? e.total_minor),
    ...long(e.net_minor),
    ...long(e.tax_minor),
    ...long(e.tip_minor),
  ];
  if (forged.coversBranch !== undefined) bytes.push(...long(forged.coversBranch));
  else if (forged.covers !== undefined) bytes.push(...long(1), ...long(forged.covers));
  else if (e.covers === null) bytes.push(...long(0));
  else bytes.push(...long(1), ...long(e.covers));
  const entries = Object.entries(e.pos);
  if (entries.length > 0) {
    bytes.push(...long(entries.length));
    for (const [k, v] of entries) bytes.push(...str(k), ...str(v));
  }
  bytes.push(0);
  return Buffer.from(bytes);
}

// ---------------------------------------------------------------------------
// Fixtures. Typed as the TypeScript contract: every field of events.ts is present.
// ---------------------------------------------------------------------------
const sale: SaleEvent = {
  event_id: 'R-000123',
  branch_id: 'berlin-mitte',
  occurred_at: Date.UTC(2024, 4, 17, 12, 34, 56, 789),
  status: 'SALE',
  channel: 'DELIVERY',
  currency: 'EUR',
  total_minor: 4_590,
  net_minor: 3_857,
  tax_minor: 733,
  tip_minor: 250,
  covers: 3,
  pos: { table: '12', floor: 'Erdgeschoß ☕', source: 'till-2' },
};
const refund: SaleEvent = {
  ...sale,
  event_id: 'R-000124',
  status: 'REFUND',
  channel: 'OTHER',
  total_minor: -1_200,
  net_minor: -1_008,
  tax_minor: -192,
  tip_minor: 0,
  covers: null,
  pos: {},
};
const heartbeat: Heartbeat = { branch_id: 'berlin-mitte', at: Date.UTC(2024, 4, 17, 13), source: 'till-2' };
const hourClosed: HourClosed = {
  branch_id: 'berlin-mitte',
  hour_start: Date.UTC(2024, 4, 17, 12),
  sales_minor: 123_456,
  orders: 37,
  revision: 2,
  closed_at: Date.UTC(2024, 4, 17, 13, 5),
};

const shipped = createAvroCodec();
const header = (codec: AvroCodec, kind: string, version = 1): Buffer => {
  const s = codec.schemas().find((x) => x.kind === kind && x.version === version)!;
  return Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintToBytesLE(BigInt(`0x${s.fingerprint}`))]);
};

function decodeError(buf: Buffer, codec: AvroCodec = shipped): DecodeError {
  try {
    codec.decode(buf);
  } catch (err) {
    if (err instanceof DecodeError) return err;
    throw err;
  }
  throw new Error(`decoded without error: ${buf.toString('hex')}`);
}

function encodeError(fn: () => unknown): EncodeError {
  try {
    fn();
  } catch (err) {
    if (err instanceof EncodeError) return err;
    throw err;
  }
  throw new Error('encoded without error');
}

/** Deterministic PRNG (mulberry32) for the fuzz tests. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------

describe('shipped schemas', () => {
  const files = fs.readdirSync(AVRO_DIR).filter((f) => f.endsWith('.avsc'));

  it('ships v1 of every kind, in namespace io.tillcast', () => {
    expect(files.sort()).toEqual([
      'calendar-changed.v1.avsc',
      'heartbeat.v1.avsc',
      'hour-closed.v1.avsc',
      'sale-event.v1.avsc',
    ]);
    for (const f of files) expect(readSchema(f).namespace).toBe('io.tillcast');
    expect(shipped.schemas().map((s) => `${s.kind} v${s.version}`)).toEqual([
      'sale v1',
      'heartbeat v1',
      'hourClosed v1',
      'calendarChanged v1',
    ]);
  });

  it('documents every record, enum and field', () => {
    const missing: string[] = [];
    const visit = (schema: Schemaish | undefined, where: string): void => {
      if (Array.isArray(schema)) return schema.forEach((s) => visit(s, where));
      if (schema === undefined || typeof schema === 'string') return;
      if ((schema.type === 'record' || schema.type === 'enum') && !schema.doc)
        missing.push(`${where} (${schema.name})`);
      for (const f of schema.fields ?? []) {
        if (typeof f.doc !== 'string' || f.doc.length < 5) missing.push(`${where}.${f.name}`);
        visit(f.type, `${where}.${f.name}`);
      }
      visit(schema.values, where);
      visit(schema.items, where);
    };
    for (const f of files) visit(readSchema(f), f);
    expect(missing).toEqual([]);
  });

  it('match schemas/events.ts field for field, in order', () => {
    const fieldNames = (file: string) => readSchema(file).fields.map((f) => f.name);
    expect(fieldNames('sale-event.v1.avsc')).toEqual(Object.keys(sale));
    expect(fieldNames('heartbeat.v1.avsc')).toEqual(Object.keys(heartbeat));
    expect(fieldNames('hour-closed.v1.avsc')).toEqual(Object.keys(hourClosed));
    const calendarChanged: Record<keyof CalendarChanged, true> = {
      branch_id: true,
      local_date: true,
      version: true,
      deleted: true,
      changed_at: true,
    };
    expect(fieldNames('calendar-changed.v1.avsc')).toEqual(Object.keys(calendarChanged));
    // Record<Union, true> makes the compiler check that these lists are the TypeScript unions, exactly.
    const statuses: Record<SaleStatus, true> = { SALE: true, REFUND: true, VOID: true };
    const channels: Record<Channel, true> = { RESTAURANT: true, TAKEAWAY: true, DELIVERY: true, OTHER: true };
    const s = readSchema('sale-event.v1.avsc');
    expect(symbolsOf(fieldOf(s, 'status').type)).toEqual(Object.keys(statuses));
    expect(symbolsOf(fieldOf(s, 'channel').type)).toEqual(Object.keys(channels));
  });

  it('use the agreed types and defaults', () => {
    const s = readSchema('sale-event.v1.avsc');
    const field = (name: string) => fieldOf(s, name);
    expect(field('occurred_at').type).toEqual({ type: 'long', logicalType: 'timestamp-millis' });
    for (const money of ['total_minor', 'net_minor', 'tax_minor', 'tip_minor'])
      expect(field(money).type).toBe('long');
    expect(field('tip_minor').default).toBe(0);
    expect((field('channel').type as TypeJson).default).toBe('OTHER');
    expect(field('covers')).toMatchObject({ type: ['null', 'int'], default: null });
    expect(field('pos')).toMatchObject({ type: { type: 'map', values: 'string' }, default: {} });
    const h = readSchema('heartbeat.v1.avsc');
    expect(h.fields[1]!.type).toEqual({ type: 'long', logicalType: 'timestamp-millis' });
    expect(h.fields[2]).toMatchObject({ name: 'source', type: 'string', default: '' });
    const c = readSchema('hour-closed.v1.avsc');
    expect(c.fields.map((f) => f.type)).toEqual([
      'string',
      { type: 'long', logicalType: 'timestamp-millis' },
      'long',
      'int',
      'int',
      { type: 'long', logicalType: 'timestamp-millis' },
    ]);
  });

  it('keep their fingerprints (changing one is a wire change: add a new version instead)', () => {
    // Docs and defaults are not part of the canonical form: editing them keeps these.
    expect(
      Object.fromEntries(shipped.schemas().map((s) => [`${s.kind} v${s.version}`, s.fingerprint])),
    ).toEqual({
      'sale v1': '47aff8271568c5b9',
      'heartbeat v1': 'f477796fc960ecd4',
      'hourClosed v1': '2184f97601c6aa53',
      'calendarChanged v1': 'e6ef2f26b9bdb2d9',
    });
  });
});

describe('CRC-64-AVRO fingerprint', () => {
  // Vectors from the Avro project's shared test suite (share/test/data/schema-tests.txt,
  // apache/avro): input, Parsing Canonical Form, fingerprint as a Java signed long.
  const SPEC_VECTORS: [input: string, canonical: string, fingerprint: string][] = [
    ['"null"', '"null"', '7195948357588979594'],
    ['"boolean"', '"boolean"', '-6970731678124411036'],
    ['{"type":"int"}', '"int"', '8247732601305521295'],
    ['"long"', '"long"', '-3434872931120570953'],
    ['"float"', '"float"', '5583340709985441680'],
    ['"double"', '"double"', '-8181574048448539266'],
    ['"bytes"', '"bytes"', '5746618253357095269'],
    ['"string"', '"string"', '-8142146995180207161'],
    ['[ "int" , {"type":"boolean"} ]', '["int","boolean"]', '5392556393470105090'],
    [
      '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
      '{"name":"x.y.foo","type":"record","fields":[]}',
      '5916914534497305771',
    ],
    [
      '{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}',
      '{"name":"a.b.foo","type":"record","fields":[]}',
      '-4616218487480524110',
    ],
    [
      '{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}',
      '{"name":"foo","type":"record","fields":[]}',
      '-4824392279771201922',
    ],
    [
      '{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":true}, {"order":"descending","name":"f2","doc":"Hello","type":"int"}], "type":"record", "name":"foo" }',
      '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
      '-4860222112080293046',
    ],
    [
      '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
      '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
      '-4448647247586288245',
    ],
    [
      '{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}',
      '{"name":"x.y.z.foo","type":"fixed","size":32}',
      '-3064184465700546786',
    ],
    ['{ "items":{"type":"null"}, "type":"array"}', '{"type":"array","items":"null"}', '-589620603366471059'],
    ['{ "values":"string", "type":"map"}', '{"type":"map","values":"string"}', '-8732877298790414990'],
    [
      '{"name":"PigValue","type":"record", "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
      '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
      '-1759257747318642341',
    ],
  ];

  it.each(SPEC_VECTORS)('matches the spec test suite for %s', (input, canonical, expected) => {
    expect(BigInt.asIntN(64, rabinFingerprint64(canonical)).toString()).toBe(expected);
    // avsc's attribute-free schema() is the Parsing Canonical Form we hash.
    expect(canonicalForm(Type.forSchema(JSON.parse(input) as Schema))).toBe(canonical);
  });

  it('is EMPTY for no bytes', () => {
    expect(rabinFingerprint64('')).toBe(CRC64_AVRO_EMPTY);
  });

  it('agrees with a bit-by-bit implementation of the same polynomial (no lookup table)', () => {
    // CRC-64-AVRO processed one bit at a time, least significant first: what the
    // spec's table precomputes. A table bug would show up here.
    const bitwise = (text: string): bigint => {
      let fp = CRC64_AVRO_EMPTY;
      for (const byte of Buffer.from(text, 'utf8')) {
        fp ^= BigInt(byte);
        for (let i = 0; i < 8; i++) fp = (fp >> 1n) ^ (fp & 1n ? CRC64_AVRO_EMPTY : 0n);
      }
      return fp;
    };
    for (const s of shipped.schemas())
      expect(fingerprintHex(rabinFingerprint64(s.canonicalForm))).toBe(
        fingerprintHex(bitwise(s.canonicalForm)),
      );
    expect(rabinFingerprint64('héllo wörld ☕')).toBe(bitwise('héllo wörld ☕'));
  });

  it('hashes the canonical form: docs, defaults, logical types, aliases and layout do not change it', () => {
    const v1 = readSchema('heartbeat.v1.avsc');
    expect(compileSchema('heartbeat', 1, v1).canonicalForm).toBe(
      '{"name":"io.tillcast.Heartbeat","type":"record","fields":[{"name":"branch_id","type":"string"},{"name":"at","type":"long"},{"name":"source","type":"string"}]}',
    );
    const restyled = {
      fields: v1.fields.map((f) => ({
        type: f.type === 'string' ? { type: 'string' } : 'long',
        name: f.name,
        doc: 'changed',
      })),
      aliases: ['Ping'],
      name: 'Heartbeat',
      type: 'record',
      namespace: 'io.tillcast',
    };
    const a = compileSchema('heartbeat', 1, v1);
    const b = compileSchema('heartbeat', 1, JSON.stringify(restyled, null, 4));
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(a.fingerprint).toBe(rabinFingerprint64(a.canonicalForm));
    expect(a.header).toEqual(Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintToBytesLE(a.fingerprint)]));
  });

  it('changes with anything that changes the wire (a field name)', () => {
    const v1 = readSchema('heartbeat.v1.avsc');
    const renamed = {
      ...v1,
      fields: v1.fields.map((f) => (f.name === 'source' ? { ...f, name: 'origin' } : f)),
    };
    expect(compileSchema('heartbeat', 1, renamed).fingerprint).not.toBe(
      compileSchema('heartbeat', 1, v1).fingerprint,
    );
  });
});

describe('round trips', () => {
  it.each([
    ['sale', sale],
    ['refund with null covers and empty pos', refund],
  ])('SaleEvent: %s', (_name, event) => {
    const bytes = shipped.encodeSale(event);
    const msg = shipped.decode(bytes);
    expect(msg).toEqual({ kind: 'sale', value: event, writerVersion: 1, readerVersion: 1 });
    expect({ ...msg.value }).toStrictEqual(event); // exactly these fields, nothing extra
    expect(shipped.encode('sale', event)).toEqual(bytes);
  });

  it('Heartbeat', () => {
    const bytes = shipped.encodeHeartbeat(heartbeat);
    expect(shipped.decode(bytes)).toEqual({
      kind: 'heartbeat',
      value: heartbeat,
      writerVersion: 1,
      readerVersion: 1,
    });
    expect({ ...shipped.decode(bytes).value }).toStrictEqual(heartbeat);
  });

  it('HourClosed', () => {
    const bytes = shipped.encodeHourClosed(hourClosed);
    expect(shipped.decode(bytes)).toEqual({
      kind: 'hourClosed',
      value: hourClosed,
      writerVersion: 1,
      readerVersion: 1,
    });
    expect({ ...shipped.decode(bytes).value }).toStrictEqual(hourClosed);
  });

  it('CalendarChanged', () => {
    const changed: CalendarChanged = {
      branch_id: 'berlin-mitte',
      local_date: '2024-05-20',
      version: 3,
      deleted: true,
      changed_at: Date.UTC(2024, 4, 17, 13, 5),
    };
    const bytes = shipped.encode('calendarChanged', changed);
    expect(shipped.decode(bytes)).toEqual({
      kind: 'calendarChanged',
      value: changed,
      writerVersion: 1,
      readerVersion: 1,
    });
    expect({ ...shipped.decode(bytes).value }).toStrictEqual(changed);
  });

  it('writes exactly the Avro single-object bytes of the spec', () => {
    for (const e of [sale, refund]) {
      expect(shipped.encodeSale(e)).toEqual(Buffer.concat([header(shipped, 'sale'), saleBody(e)]));
    }
    const hb = Buffer.from([...str(heartbeat.branch_id), ...long(heartbeat.at), ...str(heartbeat.source)]);
    expect(shipped.encodeHeartbeat(heartbeat)).toEqual(Buffer.concat([header(shipped, 'heartbeat'), hb]));
  });

  it('reads a message that is a slice of a larger buffer (as kafkajs hands them out)', () => {
    const bytes = shipped.encodeSale(sale);
    const big = Buffer.concat([Buffer.from('junk before'), bytes, Buffer.from('junk after')]);
    expect(shipped.decode(big.subarray(11, 11 + bytes.length)).value).toEqual(sale);
  });

  it('keeps every safe integer exact, including where avsc alone would round', () => {
    const edges = [
      0,
      1,
      -1,
      63,
      -64,
      64,
      2 ** 31 - 1,
      -(2 ** 31),
      2 ** 31,
      1.7e12,
      -1.7e12,
      2 ** 52,
      -(2 ** 52),
      2 ** 52 + 1,
      -(2 ** 52) - 1,
      -(2 ** 53) + 2,
      2 ** 53 - 1,
      -(2 ** 53 - 1),
    ];
    const rand = prng(7);
    for (let i = 0; i < 200; i++) edges.push(Math.round((rand() - 0.5) * 2 * Number.MAX_SAFE_INTEGER));
    for (const at of edges) {
      const bytes = shipped.encodeHeartbeat({ ...heartbeat, at });
      expect([...bytes.subarray(10)]).toEqual([
        ...str(heartbeat.branch_id),
        ...long(at),
        ...str(heartbeat.source),
      ]);
      expect(shipped.decode(bytes).value).toEqual({ ...heartbeat, at });
    }
  });

  it('grows its buffer for large messages within the limit', () => {
    const big: SaleEvent = { ...sale, pos: { note: 'x'.repeat(40_000), more: 'é'.repeat(5_000) } };
    expect(shipped.decode(shipped.encodeSale(big)).value).toEqual(big);
    expect(shipped.decode(shipped.encodeSale(sale)).value).toEqual(sale);
  });

  it('shares one default codec', () => {
    expect(defaultCodec()).toBe(defaultCodec());
    expect(defaultCodec().decode(shipped.encodeSale(sale)).value).toEqual(sale);
  });
});

describe('schema evolution without a registry', () => {
  // v2: v1 plus a field with a default, and a new Channel symbol.
  const v1 = readSchema('sale-event.v1.avsc');
  const saleV2 = {
    ...v1,
    fields: [
      ...v1.fields.map((f) =>
        f.name === 'channel'
          ? { ...f, type: { ...(f.type as TypeJson), symbols: [...symbolsOf(f.type), 'KIOSK'] } }
          : f,
      ),
      { name: 'order_type', type: 'string', default: '', doc: 'POS order type (test-only v2 field).' },
    ],
  };
  const saleV2Object = { ...sale, channel: 'KIOSK', order_type: 'express' };

  const v2Codec = createAvroCodec({ extraSchemas: [{ kind: 'sale', version: 2, schema: saleV2 }] });
  /** Knows v2's writer schema but still reads into v1 (a consumer not yet on v2). */
  const v1Reader = createAvroCodec({
    extraSchemas: [{ kind: 'sale', version: 2, schema: JSON.stringify(saleV2) }],
    readerVersions: { sale: 1 },
  });

  it('makes the latest version reader and writer', () => {
    const infos = v2Codec.schemas().filter((s) => s.kind === 'sale');
    expect(infos.map((s) => [s.version, s.reader, s.writer, s.source])).toEqual([
      [1, false, false, path.join(AVRO_DIR, 'sale-event.v1.avsc')],
      [2, true, true, 'runtime'],
    ]);
  });

  it('v1 bytes read by a v2 reader get the defaults', () => {
    const msg = v2Codec.decode(shipped.encodeSale(sale));
    expect(msg).toEqual({
      kind: 'sale',
      value: { ...sale, order_type: '' },
      writerVersion: 1,
      readerVersion: 2,
    });
  });

  it('v2 bytes read by a v1 reader drop the new field and map the new symbol to the enum default', () => {
    const bytes = v2Codec.encode('sale', saleV2Object as unknown as SaleEvent);
    expect(v2Codec.decode(bytes)).toEqual({
      kind: 'sale',
      value: saleV2Object,
      writerVersion: 2,
      readerVersion: 2,
    });
    const msg = v1Reader.decode(bytes);
    expect(msg).toEqual({
      kind: 'sale',
      value: { ...sale, channel: 'OTHER' },
      writerVersion: 2,
      readerVersion: 1,
    });
    expect(msg.value).not.toHaveProperty('order_type');
  });

  it('v2 bytes are rejected by a consumer that does not ship v2', () => {
    const bytes = v2Codec.encode('sale', saleV2Object as unknown as SaleEvent);
    const err = decodeError(bytes, shipped);
    expect(err.code).toBe('unknown_fingerprint');
  });

  it('can keep writing the old version while consumers roll out (writer pin or per call)', () => {
    const pinned = createAvroCodec({
      extraSchemas: [{ kind: 'sale', version: 2, schema: saleV2 }],
      writerVersions: { sale: 1 },
    });
    expect(pinned.encodeSale(sale)).toEqual(shipped.encodeSale(sale));
    expect(v2Codec.encode('sale', sale, { version: 1 })).toEqual(shipped.encodeSale(sale));
    expect(() => v2Codec.encode('sale', sale, { version: 9 })).toThrow(SchemaError);
  });

  it('registers versions at runtime; a newer one becomes the reader', () => {
    const codec = createAvroCodec();
    const v1Bytes = codec.encodeSale(sale);
    expect(codec.decode(v1Bytes).readerVersion).toBe(1);
    const info = codec.registerSchema('sale', 2, saleV2);
    expect(info).toMatchObject({ kind: 'sale', version: 2, reader: true, writer: true, source: 'runtime' });
    expect(codec.decode(v1Bytes)).toEqual({
      kind: 'sale',
      value: { ...sale, order_type: '' },
      writerVersion: 1,
      readerVersion: 2,
    });
  });

  it('refuses schemas that break the evolution rules', () => {
    const codec = createAvroCodec();
    const expectSchemaError = (code: string, fn: () => unknown) => {
      let caught: unknown;
      try {
        fn();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(SchemaError);
      expect((caught as SchemaError).code).toBe(code);
      return caught as SchemaError;
    };
    // A new field without a default: v2 cannot read v1 data.
    const noDefault = { ...v1, fields: [...v1.fields, { name: 'order_type', type: 'string', doc: 'x' }] };
    expect(
      expectSchemaError('incompatible_schema', () => codec.registerSchema('sale', 2, noDefault)).message,
    ).toMatch(/order_type/);
    // A removed field without a default: v1 cannot read v2 data.
    const removed = { ...v1, fields: v1.fields.filter((f) => f.name !== 'currency') };
    expectSchemaError('incompatible_schema', () => codec.registerSchema('sale', 2, removed));
    // A retyped field.
    const retyped = {
      ...v1,
      fields: v1.fields.map((f) => (f.name === 'total_minor' ? { ...f, type: 'string' } : f)),
    };
    expectSchemaError('incompatible_schema', () => codec.registerSchema('sale', 2, retyped));
    // A doc-only change is not a new version.
    expectSchemaError('duplicate_schema', () => codec.registerSchema('sale', 2, { ...v1, doc: 'reworded' }));
    expectSchemaError('duplicate_schema', () => codec.registerSchema('sale', 1, saleV2));
    expectSchemaError('invalid_schema', () => codec.registerSchema('sale', 2, { ...v1, name: 'Sale' }));
    expectSchemaError('invalid_schema', () => codec.registerSchema('sale', 2, '{not json'));
    expectSchemaError('unknown_version', () => createAvroCodec({ readerVersions: { heartbeat: 3 } }));
    // Nothing half-registered.
    expect(codec.schemas().filter((s) => s.kind === 'sale')).toHaveLength(1);
  });
});

describe('decode errors', () => {
  const good = shipped.encodeSale(sale);
  const saleHeader = header(shipped, 'sale');

  it.each<[string, Buffer, DecodeErrorCode, RegExp]>([
    ['an empty buffer', Buffer.alloc(0), 'not_single_object', /empty message/],
    ['the marker alone', Buffer.from([0xc3, 0x01]), 'not_single_object', /shorter than the 10-byte header/],
    ['a marker and half a fingerprint', good.subarray(0, 6), 'not_single_object', /6 bytes/],
    [
      'random garbage',
      Buffer.from('7b2274797065223a2273616c65227d0a', 'hex'),
      'not_single_object',
      /expected marker c3 01, got 7b 22/,
    ],
    [
      'a wrong format version',
      Buffer.concat([Buffer.from([0xc3, 0x02]), good.subarray(2)]),
      'not_single_object',
      /got c3 02/,
    ],
    [
      'a Confluent-framed message',
      Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), good.subarray(10)]),
      'not_single_object',
      /got 00 00/,
    ],
    [
      'an unknown fingerprint',
      Buffer.concat([Buffer.from('c3010102030405060708', 'hex'), good.subarray(10)]),
      'unknown_fingerprint',
      /0807060504030201/,
    ],
    ['a truncated body', good.subarray(0, good.length - 3), 'truncated', /truncated sale v1 body/],
    ['a header without a body', saleHeader, 'truncated', /truncated/],
    [
      'trailing bytes',
      Buffer.concat([good, Buffer.from([0, 1, 2])]),
      'trailing_bytes',
      /^3 trailing bytes after a complete sale v1 body/,
    ],
    [
      'an unsafe long',
      Buffer.concat([saleHeader, saleBody(sale, { total_minor: 2n ** 53n })]),
      'invalid_value',
      /total_minor: long outside the safe integer range/,
    ],
    [
      'an unsafe negative long',
      Buffer.concat([saleHeader, saleBody(sale, { total_minor: -(2n ** 53n) })]),
      'invalid_value',
      /total_minor/,
    ],
    [
      'a 64-bit long',
      Buffer.concat([saleHeader, saleBody(sale, { total_minor: -(2n ** 63n) })]),
      'invalid_value',
      /total_minor/,
    ],
    [
      'an int beyond 32 bits',
      Buffer.concat([saleHeader, saleBody(sale, { covers: 2n ** 31n })]),
      'invalid_value',
      /covers: int 2147483648 outside the 32-bit range/,
    ],
    [
      'a bad enum index',
      Buffer.concat([saleHeader, saleBody(sale, { status: 7 })]),
      'invalid_value',
      /enum index/,
    ],
    [
      'a bad union branch',
      Buffer.concat([saleHeader, saleBody(sale, { coversBranch: 2 })]),
      'invalid_value',
      /union index/,
    ],
  ])('%s', (_name, buf, code, reason) => {
    const err = decodeError(buf);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(reason);
    expect(err.message).not.toMatch(/\n/); // one line: it goes into a dead-letter header
    expect(err.retriable).toBe(false);
    expect(isRetriable(err)).toBe(false);
    expect(err).toBeInstanceOf(AvroCodecError);
    expect(err).toBeInstanceOf(TillcastError);
    expect(err.details.size).toBe(buf.length);
  });

  it('names the writer and the field in the details', () => {
    expect(
      decodeError(Buffer.concat([saleHeader, saleBody(sale, { total_minor: 2n ** 60n })])).details,
    ).toEqual({
      size: expect.any(Number),
      fingerprint: '47aff8271568c5b9',
      kind: 'sale',
      writerVersion: 1,
      path: 'total_minor',
    });
    expect(decodeError(Buffer.from('c3010102030405060708', 'hex')).details).toEqual({
      size: 10,
      fingerprint: '0807060504030201',
    });
  });

  it('accepts the largest safe longs', () => {
    for (const total of [2 ** 53 - 1, -(2 ** 53 - 1)]) {
      const msg = shipped.decode(Buffer.concat([saleHeader, saleBody(sale, { total_minor: BigInt(total) })]));
      expect(msg.value).toEqual({ ...sale, total_minor: total });
    }
  });

  it('reports every truncation point as truncated', () => {
    for (let end = 10; end < good.length; end++)
      expect(decodeError(good.subarray(0, end)).code).toBe('truncated');
  });

  it('rejects oversized messages before looking at them', () => {
    const tooBig = Buffer.concat([good, Buffer.alloc(DEFAULT_MAX_MESSAGE_BYTES)]);
    const err = decodeError(tooBig);
    expect(err.code).toBe('oversized');
    expect(err.message).toBe(`message is ${tooBig.length} bytes, over the 65536-byte limit`);
    const small = createAvroCodec({ maxMessageBytes: good.length });
    expect(small.decode(good).value).toEqual(sale);
    expect(decodeError(Buffer.concat([good, Buffer.from([0])]), small).code).toBe('oversized');
  });

  it('does not hang on a forged map block count', () => {
    // pos = one block of 2^40 entries: stock avsc loops 2^40 times on these 20-odd bytes.
    const body = saleBody({ ...sale, pos: {} }).subarray(0, -1);
    const forged = Buffer.concat([
      saleHeader,
      body,
      Buffer.from([...long(2n ** 40n), ...str('k'), ...str('v'), 0]),
    ]);
    const negative = Buffer.concat([
      saleHeader,
      body,
      Buffer.from([...long(-(2n ** 40n)), ...long(4), ...str('k'), ...str('v'), 0]),
    ]);
    const started = Date.now();
    expect(decodeError(forged).code).toBe('truncated');
    expect(decodeError(negative).code).toBe('truncated');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('does not hang skipping a forged map of a newer writer', () => {
    // v2 adds a map field that a v1 reader skips; its block count and size are forged.
    const v1 = readSchema('sale-event.v1.avsc');
    const withTags = {
      ...v1,
      fields: [
        ...v1.fields,
        { name: 'tags', type: { type: 'map', values: 'string' }, default: {}, doc: 'test' },
      ],
    };
    const codec = createAvroCodec({
      extraSchemas: [{ kind: 'sale', version: 2, schema: withTags }],
      readerVersions: { sale: 1 },
    });
    const v2Header = header(codec, 'sale', 2);
    const ok = Buffer.concat([
      v2Header,
      saleBody(sale),
      Buffer.from([...long(1), ...str('k'), ...str('v'), 0]),
    ]);
    expect(codec.decode(ok).value).toEqual(sale);
    const started = Date.now();
    for (const tags of [
      [...long(2n ** 40n), ...str('k'), ...str('v'), 0],
      [...long(-1), ...long(-5), 0, 0, 0, 0, 0, 0],
    ]) {
      expect(decodeError(Buffer.concat([v2Header, saleBody(sale), Buffer.from(tags)]), codec).code).toBe(
        'truncated',
      );
    }
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('only ever throws DecodeError on random and mutated bytes', () => {
    const rand = prng(42);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    const codes = new Set<string>();
    const started = Date.now();
    for (let i = 0; i < 5_000; i++) {
      let buf: Buffer;
      if (i % 3 === 0) buf = bytes(Math.floor(rand() * 64));
      else if (i % 3 === 1) buf = Buffer.concat([saleHeader, bytes(Math.floor(rand() * 120))]);
      else {
        buf = Buffer.from(good);
        for (let k = 1 + Math.floor(rand() * 3); k > 0; k--)
          buf[10 + Math.floor(rand() * (buf.length - 10))] = Math.floor(rand() * 256);
      }
      try {
        const msg = shipped.decode(buf);
        expect(msg.kind).toBe('sale');
        codes.add('ok');
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        codes.add(err.code);
      }
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    expect([...codes].sort()).toEqual(
      expect.arrayContaining(['not_single_object', 'truncated', 'invalid_value', 'ok']),
    );
  });
});

describe('encode validation', () => {
  const bad = (patch: Record<string, unknown>): SaleEvent => Object.assign({}, sale, patch);

  it.each<[string, SaleEvent, string[], RegExp]>([
    [
      'a NaN amount',
      bad({ total_minor: NaN }),
      ['total_minor'],
      /total_minor: expected long \(a safe integer\), got NaN/,
    ],
    [
      'a float amount',
      bad({ net_minor: 12.5 }),
      ['net_minor'],
      /net_minor: expected long \(a safe integer\), got 12\.5/,
    ],
    ['an unsafe long', bad({ occurred_at: 2 ** 53 }), ['occurred_at'], /occurred_at/],
    [
      'a string amount',
      bad({ tax_minor: '733' }),
      ['tax_minor'],
      /tax_minor: expected long \(a safe integer\), got "733"/,
    ],
    [
      'a missing field',
      bad({ event_id: undefined }),
      ['event_id'],
      /event_id: expected string, got nothing \(missing\)/,
    ],
    [
      'an unknown enum symbol',
      bad({ channel: 'KIOSK' }),
      ['channel'],
      /channel: expected one of RESTAURANT\|TAKEAWAY\|DELIVERY\|OTHER, got "KIOSK"/,
    ],
    ['fractional covers', bad({ covers: 2.5 }), ['covers'], /covers/],
    [
      'a non-string POS value',
      bad({ pos: { table: 12 } }),
      ['pos.table'],
      /pos\.table: expected string, got 12/,
    ],
    [
      'several problems at once',
      bad({ total_minor: 1.5, currency: null }),
      ['currency', 'total_minor'],
      /currency: .*; total_minor: /,
    ],
  ])('rejects %s, naming the field path', (_name, value, paths, reason) => {
    const err = encodeError(() => shipped.encodeSale(value));
    expect(err.code).toBe('invalid_value');
    expect(err.kind).toBe('sale');
    expect(err.paths).toEqual(paths);
    expect(err.message).toMatch(/^cannot encode sale v1: /);
    expect(err.message).toMatch(reason);
    expect(err.retriable).toBe(false);
  });

  it('rejects a value that is not an object', () => {
    const err = encodeError(() => shipped.encode('heartbeat', null as unknown as Heartbeat));
    expect(err.paths).toEqual(['']);
    expect(err.message).toMatch(/\(value\): expected record io\.tillcast\.Heartbeat, got null/);
  });

  it('rejects ints beyond 32 bits', () => {
    const err = encodeError(() => shipped.encodeHourClosed({ ...hourClosed, orders: 2 ** 31 }));
    expect(err.paths).toEqual(['orders']);
  });

  it('fills fields that have defaults when they are absent', () => {
    const partial = { ...heartbeat } as Partial<Heartbeat>;
    delete partial.source;
    expect(shipped.decode(shipped.encodeHeartbeat(partial as Heartbeat)).value).toEqual({
      ...heartbeat,
      source: '',
    });
  });

  it('refuses to produce messages consumers would reject as oversized', () => {
    const err = encodeError(() =>
      shipped.encodeSale({ ...sale, pos: { blob: 'x'.repeat(DEFAULT_MAX_MESSAGE_BYTES) } }),
    );
    expect(err.code).toBe('oversized');
    expect(err.message).toMatch(/over the 65536-byte message limit/);
  });
});

describe('schema files', () => {
  it('are found from the sources and from the build output', () => {
    const root = path.resolve(__dirname, '..');
    expect(findSchemaDir(__dirname)).toBe(AVRO_DIR);
    expect(findSchemaDir(path.join(root, 'dist', 'schemas'))).toBe(AVRO_DIR);
  });

  it('fail loudly when missing or misnamed', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-avro-'));
    try {
      fs.writeFileSync(path.join(tmp, 'package.json'), '{}');
      expect(() => findSchemaDir(tmp)).toThrow(/cannot find schemas\/avro/);
      fs.writeFileSync(path.join(tmp, 'sale.v1.avsc'), '{}');
      expect(() => loadSchemaDir(tmp)).toThrow(
        /sale\.v1\.avsc: expected <sale-event\|heartbeat\|hour-closed\|calendar-changed>\.v<N>\.avsc/,
      );
      // A folder without every kind cannot make a codec.
      fs.rmSync(path.join(tmp, 'sale.v1.avsc'));
      fs.copyFileSync(path.join(AVRO_DIR, 'heartbeat.v1.avsc'), path.join(tmp, 'heartbeat.v1.avsc'));
      expect(() => createAvroCodec({ schemaDir: tmp })).toThrow(/no sale schema is registered/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
