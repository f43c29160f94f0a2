/**
 * Registry-free Avro codec for tillcast's topics.
 *
 * Wire format: Avro single-object encoding, i.e. C3 01, the 8-byte
 * little-endian CRC-64-AVRO fingerprint of the writer schema's Parsing
 * Canonical Form, then the Avro binary body. The codec knows every schema
 * version shipped in schemas/avro/ (plus any registered at runtime) and
 * resolves writer -> reader locally, so no schema registry service is needed.
 *
 *   const codec = defaultCodec();
 *   const bytes = codec.encode('sale', event);
 *   const msg = codec.decode(bytes); // { kind: 'sale', value, writerVersion, ... }
 *
 * Decoding never trusts the bytes: every failure is a DecodeError with a
 * stable `code` (dead-letter header) and a human `message` (the reason).
 */
import { TillcastError } from '../lib/errors';
import type { Heartbeat, HourClosed, SaleEvent } from './events';
import {
  EVENT_KINDS,
  HEADER_BYTES,
  SINGLE_OBJECT_MARKER,
  SchemaRegistry,
  ValueReadError,
  compileSchema,
  findSchemaDir,
  loadSchemaDir,
  type CompiledSchema,
  type EventKind,
  type EventOfKind,
  type SchemaDefinition,
  type SchemaSource,
} from './registry';

export {
  EVENT_KINDS,
  HEADER_BYTES,
  SINGLE_OBJECT_MARKER,
  SchemaError,
  type EventKind,
  type EventOfKind,
  type SchemaDefinition,
  type SchemaSource,
} from './registry';

/** Default upper bound of an encoded message, header included. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/** A decoded message: the value is shaped by the reader schema of its kind. */
export type DecodedMessage = {
  [K in EventKind]: {
    kind: K;
    value: EventOfKind[K];
    /** Version of the schema the producer wrote with. */
    writerVersion: number;
    /** Version of the schema the value was read into (the latest, unless pinned). */
    readerVersion: number;
  };
}[EventKind];

/** Base of the codec's errors: the bytes or the value are wrong, so retrying cannot help. */
export abstract class AvroCodecError extends TillcastError {
  readonly retriable = false;
}

export type DecodeErrorCode =
  | 'not_single_object'
  | 'unknown_fingerprint'
  | 'truncated'
  | 'trailing_bytes'
  | 'invalid_value'
  | 'oversized';

export interface DecodeErrorDetails {
  /** Message size in bytes. */
  size: number;
  /** Writer fingerprint (16 hex digits), when the header was readable. */
  fingerprint?: string;
  kind?: EventKind;
  writerVersion?: number;
  /** Field path of an invalid value, when known (e.g. "total_minor", "pos.*"). */
  path?: string;
}

/** A message cannot be decoded. `message` is a one-line reason suitable for a dead-letter header. */
export class DecodeError extends AvroCodecError {
  constructor(
    readonly code: DecodeErrorCode,
    message: string,
    readonly details: DecodeErrorDetails,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type EncodeErrorCode = 'invalid_value' | 'oversized';

/** A value cannot be encoded: it does not match the writer schema (each problem names its field path) or is too large. */
export class EncodeError extends AvroCodecError {
  constructor(
    readonly code: EncodeErrorCode,
    message: string,
    readonly kind: EventKind,
    /** One entry per problem: `path: expected ..., got ...`. */
    readonly problems: readonly string[],
    /** The offending field paths ("" for the value itself). */
    readonly paths: readonly string[],
  ) {
    super(message);
  }
}

export interface SchemaInfo {
  kind: EventKind;
  version: number;
  /** CRC-64-AVRO of the canonical form, 16 hex digits. */
  fingerprint: string;
  canonicalForm: string;
  /** File it was loaded from, or "runtime". */
  source: string;
  /** This version is the reader of its kind / the version encoders write. */
  reader: boolean;
  writer: boolean;
}

export interface AvroCodecOptions {
  /** Folder of the shipped .avsc files; default `<project root>/schemas/avro`. */
  schemaDir?: string;
  /** More schema versions (tests, rollouts); they must be fully compatible with the shipped ones. */
  extraSchemas?: readonly SchemaDefinition[];
  /** Largest message accepted by decode and produced by encode, header included (default 64 KiB). */
  maxMessageBytes?: number;
  /**
   * Pin the reader version of a kind (default: the latest). Decoded values then have that
   * version's shape, which may lack fields of the TypeScript types (they mirror the latest).
   */
  readerVersions?: Partial<Record<EventKind, number>>;
  /** Pin the version encoders write (default: the latest); pin to the old version while consumers roll out a new one. */
  writerVersions?: Partial<Record<EventKind, number>>;
}

export interface EncodeOptions {
  /** Write with this registered version instead of the codec's writer version. */
  version?: number;
}

export interface AvroCodec {
  readonly maxMessageBytes: number;
  /** Validates `value` against the writer schema of `kind` and returns the single-object encoded bytes. Throws EncodeError. */
  encode<K extends EventKind>(kind: K, value: EventOfKind[K], options?: EncodeOptions): Buffer;
  encodeSale(event: SaleEvent): Buffer;
  encodeHeartbeat(heartbeat: Heartbeat): Buffer;
  encodeHourClosed(hourClosed: HourClosed): Buffer;
  /** Decodes one single-object encoded message into the reader schema of its kind. Throws DecodeError. */
  decode(buf: Buffer): DecodedMessage;
  /** Adds a schema version at runtime (throws SchemaError if invalid, duplicate or incompatible). A new latest version becomes reader and writer unless pinned. */
  registerSchema(kind: EventKind, version: number, schema: SchemaSource): SchemaInfo;
  /** Every registered version, by kind then version. */
  schemas(): SchemaInfo[];
}

/** Creates a codec over the shipped schemas plus `options.extraSchemas`. */
export function createAvroCodec(options: AvroCodecOptions = {}): AvroCodec {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes <= HEADER_BYTES) {
    throw new RangeError(`maxMessageBytes must be an integer > ${HEADER_BYTES}, got ${maxMessageBytes}`);
  }
  const registry = new SchemaRegistry({
    readerVersions: options.readerVersions,
    writerVersions: options.writerVersions,
  });
  const definitions = [
    ...loadSchemaDir(options.schemaDir ?? findSchemaDir()),
    ...(options.extraSchemas ?? []),
  ];
  for (const d of definitions) registry.register(compileSchema(d.kind, d.version, d.schema, d.source));
  // The schema encoders write, per kind (recomputed when a version is registered). Also checks
  // that every kind has a reader and a writer, and that pinned versions exist.
  const writers = new Map<EventKind, CompiledSchema>();
  const refreshWriters = () => {
    for (const kind of EVENT_KINDS) {
      registry.readerVersion(kind);
      writers.set(kind, registry.version(kind, registry.writerVersion(kind)).schema);
    }
  };
  refreshWriters();

  // Encoders write into one growing scratch buffer, then copy out exactly the bytes used.
  let scratch = Buffer.allocUnsafe(1024);

  const info = (s: CompiledSchema): SchemaInfo => ({
    kind: s.kind,
    version: s.version,
    fingerprint: s.fingerprintHex,
    canonicalForm: s.canonicalForm,
    source: s.source,
    reader: registry.readerVersion(s.kind) === s.version,
    writer: registry.writerVersion(s.kind) === s.version,
  });

  const encodeWith = (schema: CompiledSchema, value: unknown): Buffer => {
    const type = schema.type;
    if (!type.isValid(value)) throw invalidValueError(schema, value);
    for (;;) {
      schema.header.copy(scratch, 0);
      const end = type.encode(value, scratch, HEADER_BYTES);
      if (end > 0) {
        if (end > maxMessageBytes) throw oversizedEncodeError(schema, end, maxMessageBytes);
        const out = Buffer.allocUnsafe(end);
        scratch.copy(out, 0, 0, end);
        return out;
      }
      // avsc returns minus the number of missing bytes.
      const needed = scratch.length - end;
      if (needed > maxMessageBytes) throw oversizedEncodeError(schema, needed, maxMessageBytes);
      scratch = Buffer.allocUnsafe(Math.min(Math.max(needed, scratch.length * 2), maxMessageBytes));
    }
  };

  const encode = <K extends EventKind>(kind: K, value: EventOfKind[K], opts?: EncodeOptions): Buffer =>
    encodeWith(
      opts?.version === undefined
        ? (writers.get(kind) as CompiledSchema)
        : registry.version(kind, opts.version).schema,
      value,
    );

  const decode = (buf: Buffer): DecodedMessage => {
    const size = buf.length;
    if (size > maxMessageBytes) {
      throw new DecodeError('oversized', `message is ${size} bytes, over the ${maxMessageBytes}-byte limit`, {
        size,
      });
    }
    if (size < HEADER_BYTES || buf[0] !== SINGLE_OBJECT_MARKER[0] || buf[1] !== SINGLE_OBJECT_MARKER[1]) {
      throw notSingleObject(buf);
    }
    const entry = registry.lookup(buf.readUInt32LE(2), buf.readUInt32LE(6));
    if (entry === undefined) {
      const fingerprint = buf.readBigUInt64LE(2).toString(16).padStart(16, '0');
      throw new DecodeError(
        'unknown_fingerprint',
        `unknown writer schema fingerprint ${fingerprint} (CRC-64-AVRO): not a schema version this consumer ships; deploy the new .avsc to consumers before producers write it`,
        { size, fingerprint },
      );
    }
    let result: { value: unknown; offset: number };
    try {
      result = entry.reader.decode(buf, HEADER_BYTES, entry.resolver);
    } catch (err) {
      const path = err instanceof ValueReadError ? err.path : undefined;
      const reason = err instanceof Error ? err.message : String(err);
      throw new DecodeError(
        'invalid_value',
        `invalid ${entry.kind} v${entry.version} body: ${reason}`,
        details(entry, size, path),
        { cause: err },
      );
    }
    if (result.offset < 0) {
      throw new DecodeError(
        'truncated',
        `truncated ${entry.kind} v${entry.version} body: its ${size - HEADER_BYTES} bytes end before the record does`,
        details(entry, size),
      );
    }
    if (result.offset !== size) {
      throw new DecodeError(
        'trailing_bytes',
        `${size - result.offset} trailing bytes after a complete ${entry.kind} v${entry.version} body (${result.offset - HEADER_BYTES} bytes)`,
        details(entry, size),
      );
    }
    return {
      kind: entry.kind,
      value: result.value,
      writerVersion: entry.version,
      readerVersion: entry.readerVersion,
    } as DecodedMessage;
  };

  return {
    maxMessageBytes,
    encode,
    encodeSale: (e) => encode('sale', e),
    encodeHeartbeat: (h) => encode('heartbeat', h),
    encodeHourClosed: (h) => encode('hourClosed', h),
    decode,
    registerSchema: (kind, version, schema) => {
      const entry = registry.register(compileSchema(kind, version, schema));
      refreshWriters();
      return info(entry.schema);
    },
    schemas: () => registry.entries().map((e) => info(e.schema)),
  };
}

let shared: AvroCodec | undefined;

/** The codec over the shipped schemas, created on first use and shared. */
export function defaultCodec(): AvroCodec {
  shared ??= createAvroCodec();
  return shared;
}

function details(
  entry: { kind: EventKind; version: number; schema: CompiledSchema },
  size: number,
  path?: string,
): DecodeErrorDetails {
  const d: DecodeErrorDetails = {
    size,
    fingerprint: entry.schema.fingerprintHex,
    kind: entry.kind,
    writerVersion: entry.version,
  };
  if (path !== undefined) d.path = path;
  return d;
}

function notSingleObject(buf: Buffer): DecodeError {
  const size = buf.length;
  if (size >= 2 && (buf[0] !== SINGLE_OBJECT_MARKER[0] || buf[1] !== SINGLE_OBJECT_MARKER[1])) {
    return new DecodeError(
      'not_single_object',
      `not Avro single-object encoded: expected marker c3 01, got ${buf
        .subarray(0, 2)
        .toString('hex')
        .replace(/(..)(..)/, '$1 $2')}`,
      {
        size,
      },
    );
  }
  const what = size === 0 ? 'empty message' : `message of ${size} bytes`;
  return new DecodeError(
    'not_single_object',
    `not Avro single-object encoded: ${what}, shorter than the ${HEADER_BYTES}-byte header`,
    { size },
  );
}

function oversizedEncodeError(schema: CompiledSchema, size: number, max: number): EncodeError {
  return new EncodeError(
    'oversized',
    `cannot encode ${schema.kind} v${schema.version}: ${size} bytes, over the ${max}-byte message limit`,
    schema.kind,
    [],
    [],
  );
}

function invalidValueError(schema: CompiledSchema, value: unknown): EncodeError {
  const problems: string[] = [];
  const paths: string[] = [];
  schema.type.isValid(value, {
    errorHook: (path: string[], val: unknown, type: unknown) => {
      const p = path.join('.');
      paths.push(p);
      problems.push(`${p || '(value)'}: expected ${describeType(type)}, got ${describeValue(val)}`);
    },
  });
  if (problems.length === 0) problems.push('(value): does not match the schema');
  return new EncodeError(
    'invalid_value',
    `cannot encode ${schema.kind} v${schema.version}: ${problems.join('; ')}`,
    schema.kind,
    problems,
    paths,
  );
}

function describeType(type: unknown): string {
  const t = type as { typeName?: string; name?: string; symbols?: string[]; types?: unknown[] };
  switch (t.typeName) {
    case 'long':
      return 'long (a safe integer)';
    case 'int':
      return 'int (a 32-bit integer)';
    case 'enum':
      return `one of ${(t.symbols ?? []).join('|')}`;
    case 'record':
      return `record ${t.name ?? ''}`.trim();
    case 'map':
      return 'map (object of values)';
    default:
      if (t.types) return t.types.map(describeType).join(' | ');
      return t.typeName ?? 'a valid value';
  }
}

function describeValue(val: unknown): string {
  if (val === undefined) return 'nothing (missing)';
  if (typeof val === 'number') return Number.isNaN(val) ? 'NaN' : String(val);
  if (typeof val === 'bigint') return `bigint ${val}`;
  if (typeof val === 'function' || typeof val === 'symbol') return typeof val;
  let s: string;
  try {
    s = JSON.stringify(val) ?? typeof val;
  } catch {
    s = Object.prototype.toString.call(val);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
