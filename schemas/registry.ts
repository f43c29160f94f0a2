/**
 * The in-process schema registry: every Avro schema version tillcast ships
 * (schemas/avro/*.avsc, plus any registered at runtime), compiled with avsc,
 * keyed by the CRC-64-AVRO fingerprint of its Parsing Canonical Form. No
 * registry service: writer and reader schemas are both known locally, so a
 * consumer resolves writer -> reader itself (avsc `createResolver`).
 *
 * Compiled types are hardened against hostile bytes (see "Hardened types"):
 * avsc's stock readers can loop ~forever on a forged map block count and lose
 * precision (or flip the sign) on longs near 2^53.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Type, types as avroTypes, type Resolver, type Schema } from 'avsc';
import { TillcastError } from '../lib/errors';
import type { CalendarChanged, Heartbeat, HourClosed, SaleEvent } from './events';
import { fingerprintHex, fingerprintToBytesLE, rabinFingerprint64 } from './rabin-fingerprint';

/** The logical message kinds carried by tillcast topics. */
export type EventKind = 'sale' | 'heartbeat' | 'hourClosed' | 'calendarChanged';

/** The TypeScript value of each kind (the latest schema version). */
export interface EventOfKind {
  sale: SaleEvent;
  heartbeat: Heartbeat;
  hourClosed: HourClosed;
  calendarChanged: CalendarChanged;
}

export const EVENT_KINDS: readonly EventKind[] = ['sale', 'heartbeat', 'hourClosed', 'calendarChanged'];

/** Full Avro name of each kind's record; every version of a kind keeps it (resolution matches by name). */
export const RECORD_NAMES: Readonly<Record<EventKind, string>> = {
  sale: 'io.tillcast.SaleEvent',
  heartbeat: 'io.tillcast.Heartbeat',
  hourClosed: 'io.tillcast.HourClosed',
  calendarChanged: 'io.tillcast.CalendarChanged',
};

/** File name stem of each kind under schemas/avro: `<stem>.v<version>.avsc`. */
export const FILE_STEMS: Readonly<Record<EventKind, string>> = {
  sale: 'sale-event',
  heartbeat: 'heartbeat',
  hourClosed: 'hour-closed',
  calendarChanged: 'calendar-changed',
};

/** Avro single-object encoding: marker C3 01, 8-byte little-endian fingerprint, then the binary body. */
export const SINGLE_OBJECT_MARKER: readonly [number, number] = [0xc3, 0x01];
export const HEADER_BYTES = 10;

export type SchemaErrorCode =
  'invalid_schema' | 'duplicate_schema' | 'incompatible_schema' | 'unknown_version' | 'schema_dir_not_found';

/** A schema cannot be loaded or registered (a deployment/programming error, found at start-up). */
export class SchemaError extends TillcastError {
  readonly retriable = false;
  constructor(
    readonly code: SchemaErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One schema version, compiled. Immutable. */
export interface CompiledSchema {
  readonly kind: EventKind;
  readonly version: number;
  /** Hardened avsc type. */
  readonly type: Type;
  /** Parsing Canonical Form: what the fingerprint hashes. */
  readonly canonicalForm: string;
  /** CRC-64-AVRO of the canonical form (unsigned). */
  readonly fingerprint: bigint;
  /** The fingerprint as 16 hex digits (see fingerprintHex). */
  readonly fingerprintHex: string;
  /** The 10-byte single-object header of messages written with this schema. */
  readonly header: Buffer;
  /** Where it came from: a file path, or "runtime". */
  readonly source: string;
  /** The header's fingerprint as two little-endian uint32 (allocation-free lookup). */
  readonly fpLow: number;
  readonly fpHigh: number;
}

/** Parsing Canonical Form of a type: avsc's `schema()` without attributes is exactly that (names fully qualified; doc, default, aliases, order and logicalType stripped; primitives collapsed). */
export function canonicalForm(type: Type): string {
  return JSON.stringify(type.schema());
}

/** Parses (if text) and compiles one schema version of `kind`. */
export function compileSchema(
  kind: EventKind,
  version: number,
  schema: SchemaSource,
  source = 'runtime',
): CompiledSchema {
  const label = `${kind} v${version} (${source})`;
  if (!EVENT_KINDS.includes(kind))
    throw new SchemaError('invalid_schema', `unknown event kind ${JSON.stringify(kind)}`);
  if (!Number.isInteger(version) || version < 1)
    throw new SchemaError('invalid_schema', `${label}: version must be a positive integer`);
  let type: Type;
  try {
    const json: unknown =
      typeof schema === 'string'
        ? JSON.parse(schema)
        : Type.isType(schema)
          ? (schema as Type).schema({ exportAttrs: true })
          : schema;
    type = buildHardenedType(json);
  } catch (err) {
    throw new SchemaError('invalid_schema', `${label}: ${errorMessage(err)}`, { cause: err });
  }
  if (type.typeName !== 'record' || type.name !== RECORD_NAMES[kind]) {
    throw new SchemaError(
      'invalid_schema',
      `${label}: expected record ${RECORD_NAMES[kind]}, got ${type.name ?? type.typeName}`,
    );
  }
  const canonical = canonicalForm(type);
  const fingerprint = rabinFingerprint64(canonical);
  const fpBytes = fingerprintToBytesLE(fingerprint);
  const header = Buffer.concat([Buffer.from(SINGLE_OBJECT_MARKER), fpBytes]);
  return {
    kind,
    version,
    type,
    canonicalForm: canonical,
    fingerprint,
    fingerprintHex: fingerprintHex(fingerprint),
    header,
    source,
    fpLow: fpBytes.readUInt32LE(0),
    fpHigh: fpBytes.readUInt32LE(4),
  };
}

/**
 * Locates `<project root>/schemas/avro`, walking up from this module's folder:
 * works from the sources (schemas/) and from the build (dist/schemas/). Stops
 * at the first folder holding a package.json.
 */
export function findSchemaDir(start: string = __dirname): string {
  let dir = path.resolve(start);
  for (;;) {
    const candidate = path.join(dir, 'schemas', 'avro');
    if (isDirectory(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (fs.existsSync(path.join(dir, 'package.json')) || parent === dir) break;
    dir = parent;
  }
  throw new SchemaError(
    'schema_dir_not_found',
    `cannot find schemas/avro above ${start} (looked up to the project root)`,
  );
}

/** An Avro schema as JSON text, a parsed JSON object, or an avsc Type (avsc validates it). */
export type SchemaSource = string | object;

export interface SchemaDefinition {
  kind: EventKind;
  version: number;
  schema: SchemaSource;
  /** Where it comes from, for messages (default "runtime"). */
  source?: string;
}

/** Reads every `<stem>.v<N>.avsc` of a folder. Any other .avsc file name is an error (not silently ignored). */
export function loadSchemaDir(dir: string): SchemaDefinition[] {
  const byStem = new Map<string, EventKind>(EVENT_KINDS.map((k) => [FILE_STEMS[k], k]));
  const out: SchemaDefinition[] = [];
  for (const file of fs.readdirSync(dir).sort()) {
    if (!file.endsWith('.avsc')) continue;
    const m = /^([a-z][a-z0-9-]*)\.v([1-9][0-9]*)\.avsc$/.exec(file);
    const kind = m ? byStem.get(m[1] as string) : undefined;
    if (!m || !kind) {
      throw new SchemaError(
        'invalid_schema',
        `${path.join(dir, file)}: expected <${[...byStem.keys()].join('|')}>.v<N>.avsc`,
      );
    }
    const source = path.join(dir, file);
    out.push({ kind, version: Number(m[2]), schema: fs.readFileSync(source, 'utf8'), source });
  }
  return out;
}

/** One registered writer schema, with the resolver into the current reader of its kind. */
export interface RegistryEntry {
  readonly schema: CompiledSchema;
  readonly kind: EventKind;
  readonly version: number;
  /** Reader type used to decode this writer's bytes. */
  reader: Type;
  readerVersion: number;
  /** undefined when writer === reader (no resolution needed). */
  resolver: Resolver | undefined;
}

export interface SchemaRegistryOptions {
  /** Pin the reader version of a kind (default: the latest registered). */
  readerVersions?: Partial<Record<EventKind, number>>;
  /** Pin the version written by encoders (default: the latest registered). */
  writerVersions?: Partial<Record<EventKind, number>>;
}

/**
 * Writer schemas keyed by fingerprint. Every version of a kind must be fully
 * compatible with every other (each can read the other's data), checked on
 * registration, so decoding never meets a resolution error.
 */
export class SchemaRegistry {
  private readonly byLow = new Map<number, RegistryEntry[]>();
  private readonly byKind = new Map<EventKind, Map<number, RegistryEntry>>();

  constructor(private readonly options: SchemaRegistryOptions = {}) {}

  register(schema: CompiledSchema): RegistryEntry {
    const versions = this.byKind.get(schema.kind) ?? new Map<number, RegistryEntry>();
    if (versions.has(schema.version)) {
      throw new SchemaError(
        'duplicate_schema',
        `${schema.kind} v${schema.version} is already registered (${versions.get(schema.version)?.schema.source})`,
      );
    }
    const same = this.lookup(schema.fpLow, schema.fpHigh);
    if (same) {
      throw new SchemaError(
        'duplicate_schema',
        `${schema.kind} v${schema.version} (${schema.source}) has the canonical form of ${same.kind} v${same.version}: ` +
          'doc-only changes need no new version, and default-only changes cannot be told apart on the wire',
      );
    }
    for (const other of versions.values()) checkFullyCompatible(schema, other.schema);
    const entry: RegistryEntry = {
      schema,
      kind: schema.kind,
      version: schema.version,
      reader: schema.type,
      readerVersion: schema.version,
      resolver: undefined,
    };
    versions.set(schema.version, entry);
    this.byKind.set(schema.kind, versions);
    const bucket = this.byLow.get(schema.fpLow) ?? [];
    bucket.push(entry);
    this.byLow.set(schema.fpLow, bucket);
    this.refreshResolvers(schema.kind);
    return entry;
  }

  /** The entry whose fingerprint has these little-endian halves, if any. Allocation-free. */
  lookup(fpLow: number, fpHigh: number): RegistryEntry | undefined {
    const bucket = this.byLow.get(fpLow);
    if (bucket === undefined) return undefined;
    for (const e of bucket) if (e.schema.fpHigh === fpHigh) return e;
    return undefined;
  }

  /** A registered version of a kind; throws `unknown_version` if absent. */
  version(kind: EventKind, version: number): RegistryEntry {
    const e = this.byKind.get(kind)?.get(version);
    if (!e)
      throw new SchemaError(
        'unknown_version',
        `no ${kind} schema v${version} is registered (have: ${this.versionsOf(kind).join(', ') || 'none'})`,
      );
    return e;
  }

  versionsOf(kind: EventKind): number[] {
    return [...(this.byKind.get(kind)?.keys() ?? [])].sort((a, b) => a - b);
  }

  readerVersion(kind: EventKind): number {
    return this.pinnedOrLatest(kind, this.options.readerVersions?.[kind]);
  }

  writerVersion(kind: EventKind): number {
    return this.pinnedOrLatest(kind, this.options.writerVersions?.[kind]);
  }

  entries(): RegistryEntry[] {
    return EVENT_KINDS.flatMap((k) => this.versionsOf(k).map((v) => this.version(k, v)));
  }

  private pinnedOrLatest(kind: EventKind, pinned: number | undefined): number {
    if (pinned !== undefined) return this.version(kind, pinned).version;
    const all = this.versionsOf(kind);
    const latest = all[all.length - 1];
    if (latest === undefined) throw new SchemaError('unknown_version', `no ${kind} schema is registered`);
    return latest;
  }

  /** (Re)computes the cached resolvers of a kind: its reader may have changed. */
  private refreshResolvers(kind: EventKind): void {
    const pinned = this.options.readerVersions?.[kind];
    const versions = this.byKind.get(kind);
    if (!versions) return;
    // A pinned reader that is not registered yet: keep the latest until it is.
    const readerVersion =
      pinned !== undefined && versions.has(pinned) ? pinned : Math.max(...versions.keys());
    const reader = this.version(kind, readerVersion).schema.type;
    for (const e of versions.values()) {
      e.reader = reader;
      e.readerVersion = readerVersion;
      e.resolver = e.version === readerVersion ? undefined : reader.createResolver(e.schema.type);
    }
  }
}

/** Throws `incompatible_schema` unless each schema can read data written with the other. */
export function checkFullyCompatible(a: CompiledSchema, b: CompiledSchema): void {
  for (const [reader, writer] of [
    [a, b],
    [b, a],
  ] as const) {
    try {
      reader.type.createResolver(writer.type);
    } catch (err) {
      throw new SchemaError(
        'incompatible_schema',
        `${reader.kind} v${reader.version} cannot read data written with v${writer.version}: ${errorMessage(err)} ` +
          '(add fields only with defaults; never rename, remove or retype a field without a new topic)',
        { cause: err },
      );
    }
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------
// Hardened types.
//
// avsc's types are fast but trust their input, and a consumer reads bytes from
// anyone who can produce to the topic. So every int, long, map and array type
// is built (through avsc's `typeHook`) as a subclass overriding a few internal
// methods of avsc 5.7 (pinned by the tests in avro-codec.test.ts):
//   - int/long: exact varint decoding; a long outside Number.isSafeInteger or an
//     int outside 32 bits is an error naming the field, never a rounded number
//     (stock avsc reads -(2^53-1) as 2^53-2 and writes longs below -2^52 wrongly);
//   - map/array: a block count larger than the bytes left is a truncation, not a
//     2^40-iteration loop (a 16-byte message could hang a consumer), and a
//     negative block size cannot move the cursor backwards.
// Record readers call `fieldType._read` at run time and resolvers copy
// `this._read`, so both pick the overrides up.
// ---------------------------------------------------------------------------

type ForSchemaOptions = NonNullable<Parameters<typeof Type.forSchema>[1]>;

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

/**
 * Builds the avsc type of a schema with hardened int/long/map/array types.
 * Primitive names ("long") are first rewritten to object form ({"type":"long"}),
 * one object per use: avsc would otherwise share one instance per primitive
 * name, and each field's reader names its own field in errors. The canonical
 * form is unchanged.
 */
function buildHardenedType(json: unknown): Type {
  const paths = new Map<object, string>();
  const expanded = expandPrimitives(json, '', paths);
  const typeHook = (schema: Schema, opts: ForSchemaOptions): Type | undefined => {
    const path = typeof schema === 'object' ? paths.get(schema) : undefined;
    if (path === undefined) return undefined;
    switch ((schema as { type?: unknown }).type) {
      case 'long':
        return new (hardenedLong(path))();
      case 'int':
        return new (hardenedInt(path))();
      case 'map':
        return new HardenedMapType(schema, opts);
      case 'array':
        return new HardenedArrayType(schema, opts);
      default:
        return undefined;
    }
  };
  return Type.forSchema(expanded as Schema, {
    wrapUnions: 'auto',
    omitRecordMethods: true,
    registry: {},
    typeHook,
  });
}

function expandPrimitives(schema: unknown, path: string, paths: Map<object, string>): unknown {
  const at = (name: string) => (path ? `${path}.${name}` : name);
  if (typeof schema === 'string') {
    if (!PRIMITIVES.has(schema)) return schema; // a named type reference
    const obj = { type: schema };
    paths.set(obj, path);
    return obj;
  }
  if (Array.isArray(schema)) return schema.map((branch) => expandPrimitives(branch, path, paths));
  if (schema === null || typeof schema !== 'object') return schema;
  const s = schema as Record<string, unknown>;
  const out: Record<string, unknown> = { ...s };
  switch (s.type) {
    case 'record':
    case 'error':
      if (Array.isArray(s.fields)) {
        out.fields = (s.fields as unknown[]).map((f) => {
          if (f === null || typeof f !== 'object') return f;
          const field = f as Record<string, unknown>;
          return { ...field, type: expandPrimitives(field.type, at(String(field.name)), paths) };
        });
      }
      break;
    case 'map':
      out.values = expandPrimitives(s.values, at('*'), paths);
      break;
    case 'array':
      out.items = expandPrimitives(s.items, at('[]'), paths);
      break;
    default:
      if (typeof s.type === 'object' && s.type !== null) out.type = expandPrimitives(s.type, path, paths);
  }
  paths.set(out, path);
  return out;
}

/** The part of avsc's internal Tap the hardened types use. */
interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  readString(): string | undefined;
  skipLong(): void;
  skipString(): void;
  writeLong(n: number): void;
}

/** What a hardened map/array reads its items with: a type, or a resolver when `this` is one. */
interface ItemReader {
  _read(tap: Tap): unknown;
  _skip(tap: Tap): void;
}

type CheckHook = (val: unknown, type: unknown) => void;

/** Raised inside a decode when bytes are well-formed but the value is not acceptable; the codec reports `invalid_value`. */
export class ValueReadError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path || '(value)'}: ${reason}`);
    this.name = 'ValueReadError';
  }
}

const TWO_26 = 67_108_864;
const TWO_27 = 134_217_728;
const MIN_INT = -2_147_483_648;
const MAX_INT = 2_147_483_647;
const UNSAFE_LONG =
  'long outside the safe integer range of JavaScript (|n| > 2^53 - 1): refusing to lose precision';

/** Marks the tap past its end: avsc then reports the decode as truncated. */
function invalidate(tap: Tap): void {
  tap.pos = tap.buf.length + 1;
}

/**
 * Reads one zigzag varint exactly. Returns a safe integer or throws
 * ValueReadError; a varint running past the buffer invalidates the tap.
 */
function readZigZag(tap: Tap, path: string): number {
  const buf = tap.buf;
  let pos = tap.pos;
  let lo = 0; // low 28 bits of the zigzag value
  for (let shift = 0; shift < 28; shift += 7) {
    const b = buf[pos++];
    if (b === undefined) {
      invalidate(tap);
      return 0;
    }
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      tap.pos = pos;
      return (lo >>> 1) ^ -(lo & 1);
    }
  }
  let hi = 0; // the bits above the 28th: at most 42 bits, exact in a double
  let mul = 1;
  for (let i = 4; ; i++) {
    const b = buf[pos++];
    if (b === undefined) {
      invalidate(tap);
      return 0;
    }
    if (i >= 10) throw new ValueReadError(path, 'varint longer than 10 bytes');
    hi += (b & 0x7f) * mul;
    mul *= 128;
    if (b < 0x80) break;
  }
  tap.pos = pos;
  // zigzag z = hi * 2^28 + lo; the value is z / 2 when z is even, -(z + 1) / 2 when odd.
  if (hi >= TWO_26) throw new ValueReadError(path, UNSAFE_LONG);
  const half = hi * TWO_27 + (lo >>> 1); // < 2^53: exact
  const n = lo & 1 ? -half - 1 : half;
  if (!Number.isSafeInteger(n)) throw new ValueReadError(path, UNSAFE_LONG);
  return n;
}

/** Writes a safe integer as a zigzag varint exactly (avsc's writer is exact only down to -2^52). */
function writeZigZag(tap: Tap, n: number): void {
  if (n >= -4_503_599_627_370_496) {
    tap.writeLong(n);
    return;
  }
  // z = 2m - 1 with m = -n in (2^52, 2^53): split m = 64a + b so that nothing exceeds 2^53.
  const m = -n;
  const a = Math.floor(m / 64);
  const b = m - a * 64;
  const buf = tap.buf;
  let rest = b >= 1 ? a : a - 1;
  // Writes past the end are ignored by the Buffer; the tap then reports the bytes missing and avsc's caller grows it.
  buf[tap.pos++] = (b >= 1 ? 2 * b - 1 : 127) | 0x80;
  while (rest >= 128) {
    buf[tap.pos++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  buf[tap.pos++] = rest;
}

function hardenedLong(path: string) {
  return class HardenedLongType extends avroTypes.LongType {
    _read(tap: Tap): number {
      return readZigZag(tap, path);
    }
    _check(val: unknown, _flags: number, hook?: CheckHook): boolean {
      const ok = typeof val === 'number' && Number.isSafeInteger(val);
      if (!ok && hook) hook(val, this);
      return ok;
    }
    _write(tap: Tap, val: unknown): void {
      if (typeof val !== 'number' || !Number.isSafeInteger(val))
        throw new Error(`invalid long at ${path || '(value)'}: ${String(val)}`);
      writeZigZag(tap, val);
    }
  };
}

function hardenedInt(path: string) {
  return class HardenedIntType extends avroTypes.IntType {
    _read(tap: Tap): number {
      const n = readZigZag(tap, path);
      if (n < MIN_INT || n > MAX_INT) throw new ValueReadError(path, `int ${n} outside the 32-bit range`);
      return n;
    }
  };
}

/** Reads a block count; one larger than the bytes left (every map entry and array item takes at least one byte) truncates. */
function readBlockCount(tap: Tap): number {
  let n = tap.readLong();
  if (n < 0) {
    n = -n;
    tap.skipLong(); // block size in bytes
  }
  if (n > tap.buf.length - tap.pos) {
    invalidate(tap);
    return 0;
  }
  return n;
}

function skipBlocks(tap: Tap, skipItem: () => void): void {
  for (;;) {
    const n = tap.readLong();
    if (n === 0 || tap.pos > tap.buf.length) return;
    if (n < 0) {
      const size = tap.readLong();
      if (size < 0) {
        invalidate(tap);
        return;
      }
      tap.pos += size;
    } else if (n > tap.buf.length - tap.pos) {
      invalidate(tap);
      return;
    } else {
      for (let i = 0; i < n; i++) skipItem();
    }
  }
}

class HardenedMapType extends avroTypes.MapType {
  // `this` is the type, or a resolver carrying the values' resolver.
  _read(this: { valuesType: ItemReader }, tap: Tap): Record<string, unknown> {
    const values = this.valuesType;
    const val: Record<string, unknown> = {};
    for (let n = readBlockCount(tap); n > 0; n = readBlockCount(tap)) {
      while (n-- > 0) {
        const key = tap.readString();
        if (key === undefined || tap.pos > tap.buf.length) return val;
        val[key] = values._read(tap);
      }
    }
    return val;
  }
  _skip(this: { valuesType: ItemReader }, tap: Tap): void {
    const values = this.valuesType;
    skipBlocks(tap, () => {
      tap.skipString();
      values._skip(tap);
    });
  }
}

/** Note: arrays of zero-byte items (null, empty records) longer than the bytes left are rejected as truncated. */
class HardenedArrayType extends avroTypes.ArrayType {
  _read(this: { itemsType: ItemReader }, tap: Tap): unknown[] {
    const items = this.itemsType;
    const val: unknown[] = [];
    for (let n = readBlockCount(tap); n > 0; n = readBlockCount(tap)) {
      while (n-- > 0) {
        if (tap.pos > tap.buf.length) return val;
        val.push(items._read(tap));
      }
    }
    return val;
  }
  _skip(this: { itemsType: ItemReader }, tap: Tap): void {
    const items = this.itemsType;
    skipBlocks(tap, () => items._skip(tap));
  }
}
