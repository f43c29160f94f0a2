/**
 * tillcast's capture JSON (docs/capture.md): one object per sale event or heartbeat, mapping
 * field for field to the Avro schemas (schemas/avro/*.avsc), read into the TypeScript types the
 * codec encodes. Only the shape is checked here (types, money, instants); the business rules are
 * schemas/event-rules.ts, the same the ingest consumer applies.
 *
 * Money: `<field>_minor` as a JSON integer (or a string of one) in minor units, or `<field>` as a
 * decimal string in major units ("12.50"), at most as many decimals as the currency has. A JSON
 * number with a fraction, or any number for a major-unit field, is refused (`float_amount`):
 * binary floats cannot hold cents exactly. Instants: ISO-8601 with a UTC offset, or epoch ms.
 */
import type { Rejection } from '../../schemas/event-rules';
import type { Channel, Heartbeat, PosMessage, SaleEvent, SaleStatus } from '../../schemas/events';

export type ParsedEvent =
  | { ok: true; message: PosMessage }
  | { ok: false; rejection: Rejection; branchId?: string; eventId?: string };

const STATUSES: readonly SaleStatus[] = ['SALE', 'REFUND', 'VOID'];
const CHANNELS: readonly Channel[] = ['RESTAURANT', 'TAKEAWAY', 'DELIVERY', 'OTHER'];
const SALE_FIELDS = new Set([
  'type',
  'event_id',
  'branch_id',
  'occurred_at',
  'status',
  'channel',
  'currency',
  'total',
  'total_minor',
  'net',
  'net_minor',
  'tax',
  'tax_minor',
  'tip',
  'tip_minor',
  'covers',
  'pos',
]);
const HEARTBEAT_FIELDS = new Set(['type', 'branch_id', 'at', 'source']);
const MAX_POS_ENTRIES = 64;
const MAX_POS_VALUE = 1024;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;
const MINOR_STRING = /^-?\d{1,17}$/;
const DECIMAL_STRING = /^(-?)(\d{1,15})(?:\.(\d{1,9}))?$/;
const CURRENCY = /^[A-Z]{3}$/;

/** Thrown inside the parser: the first thing wrong with the event. */
class ShapeError extends Error {
  constructor(
    readonly code: string,
    reason: string,
  ) {
    super(reason);
  }
}

const invalid = (reason: string): ShapeError => new ShapeError('invalid_event', reason);
const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
};

const digitsCache = new Map<string, number>();
/** Decimals of a currency's minor unit (ISO 4217, from Intl): EUR 2, JPY 0, KWD 3. */
export function currencyDigits(currency: string): number {
  let d = digitsCache.get(currency);
  if (d === undefined) {
    d =
      new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ??
      2;
    if (digitsCache.size < 1000) digitsCache.set(currency, d);
  }
  return d;
}

/** A decimal string in major units to integer minor units; undefined when it has too many decimals. */
export function decimalToMinor(text: string, digits: number): number | undefined {
  const m = DECIMAL_STRING.exec(text);
  if (!m) return undefined;
  const [, sign, whole = '0', frac = ''] = m;
  if (frac.replace(/0+$/, '').length > digits) return undefined;
  const minor = Number(whole + frac.padEnd(digits, '0').slice(0, digits));
  return sign === '-' ? -minor : minor;
}

function money(o: Record<string, unknown>, name: string, currency: string, required: boolean): number {
  const minorName = `${name}_minor`;
  const minor = o[minorName];
  const major = o[name];
  if (minor !== undefined && major !== undefined)
    throw invalid(`give either ${minorName} (integer minor units) or ${name} (a decimal string), not both`);
  if (minor !== undefined) {
    if (typeof minor === 'number') {
      if (!Number.isInteger(minor))
        throw new ShapeError(
          'float_amount',
          `${minorName} ${show(minor)} is not an integer: money is integer minor units (cents), never a float`,
        );
      return minor;
    }
    if (typeof minor === 'string' && MINOR_STRING.test(minor)) return Number(minor);
    throw invalid(`${minorName} must be an integer number of minor units, got ${show(minor)}`);
  }
  if (major !== undefined) {
    if (typeof major === 'number')
      throw new ShapeError(
        'float_amount',
        `${name} ${show(major)} is a JSON number: send ${name} as a decimal string ("12.50") or ${minorName} as an integer`,
      );
    if (typeof major !== 'string' || !DECIMAL_STRING.test(major))
      throw invalid(`${name} must be a decimal string such as "12.50", got ${show(major)}`);
    const digits = currencyDigits(currency);
    const v = decimalToMinor(major, digits);
    if (v === undefined)
      throw new ShapeError(
        'invalid_amount',
        `${name} ${show(major)} has more decimals than ${currency} has (${digits})`,
      );
    return v;
  }
  if (required) throw invalid(`${minorName} (or ${name}) is required`);
  return 0;
}

/** Epoch ms of an ISO-8601 instant with offset, or of an integer epoch ms. */
export function instant(v: unknown, field: string): number {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v))
      throw new ShapeError(
        'invalid_time',
        `${field} ${show(v)} is not an integer number of epoch milliseconds`,
      );
    return v;
  }
  if (typeof v === 'string' && ISO_INSTANT.test(v)) {
    const ms = Date.parse(v);
    if (Number.isFinite(ms)) return ms;
  }
  throw new ShapeError(
    'invalid_time',
    `${field} ${show(v)} must be ISO-8601 with a UTC offset ("2021-02-01T12:30:00+01:00", "…Z") or epoch milliseconds`,
  );
}

function str(o: Record<string, unknown>, field: string, max = 1024): string {
  const v = o[field];
  if (typeof v !== 'string') throw invalid(`${field} must be a string, got ${show(v)}`);
  if (v.length > max) throw invalid(`${field} is longer than ${max} characters`);
  return v;
}

function oneOf<T extends string>(
  o: Record<string, unknown>,
  field: string,
  values: readonly T[],
  dflt?: T,
): T {
  const v = o[field];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
  throw invalid(`${field} must be one of ${values.join(', ')}, got ${show(v)}`);
}

function unknownFields(o: Record<string, unknown>, known: ReadonlySet<string>): void {
  for (const k of Object.keys(o))
    if (!known.has(k)) throw invalid(`unknown field ${show(k)} (docs/capture.md lists the fields)`);
}

function posMap(v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw invalid('pos must be an object of string values');
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > MAX_POS_ENTRIES) throw invalid(`pos has more than ${MAX_POS_ENTRIES} entries`);
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (typeof val !== 'string' || val.length > MAX_POS_VALUE || k.length > MAX_POS_VALUE)
      throw invalid(`pos.${k.slice(0, 40)} must be a string of at most ${MAX_POS_VALUE} characters`);
    out[k] = val;
  }
  return out;
}

function sale(o: Record<string, unknown>): SaleEvent {
  unknownFields(o, SALE_FIELDS);
  const event_id = str(o, 'event_id');
  const branch_id = str(o, 'branch_id');
  const currency = str(o, 'currency', 8);
  if (!CURRENCY.test(currency))
    throw invalid(`currency ${show(currency)} must be an ISO 4217 code such as EUR`);
  const covers = o.covers;
  if (covers !== undefined && covers !== null && (typeof covers !== 'number' || !Number.isInteger(covers)))
    throw invalid(`covers must be an integer or null, got ${show(covers)}`);
  return {
    event_id,
    branch_id,
    occurred_at: instant(o.occurred_at, 'occurred_at'),
    status: oneOf(o, 'status', STATUSES),
    channel: oneOf(o, 'channel', CHANNELS, 'OTHER'),
    currency,
    total_minor: money(o, 'total', currency, true),
    net_minor: money(o, 'net', currency, true),
    tax_minor: money(o, 'tax', currency, true),
    tip_minor: money(o, 'tip', currency, false),
    covers: covers === undefined ? null : covers,
    pos: posMap(o.pos),
  };
}

function heartbeat(o: Record<string, unknown>): Heartbeat {
  unknownFields(o, HEARTBEAT_FIELDS);
  return {
    branch_id: str(o, 'branch_id'),
    at: instant(o.at, 'at'),
    source: o.source === undefined ? 'capture' : str(o, 'source', 128),
  };
}

/** Reads one capture JSON value into a sale event or heartbeat, or says what is wrong with it. */
export function parseCaptureEvent(raw: unknown): ParsedEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return {
      ok: false,
      rejection: { code: 'invalid_event', reason: `an event must be a JSON object, got ${show(raw)}` },
    };
  const o = raw as Record<string, unknown>;
  const branchId = typeof o.branch_id === 'string' ? o.branch_id.slice(0, 128) : undefined;
  const eventId = typeof o.event_id === 'string' ? o.event_id.slice(0, 128) : undefined;
  try {
    const type = o.type ?? 'sale';
    if (type === 'sale') return { ok: true, message: { kind: 'sale', value: sale(o) } };
    if (type === 'heartbeat') return { ok: true, message: { kind: 'heartbeat', value: heartbeat(o) } };
    throw invalid(`type must be "sale" or "heartbeat", got ${show(type)}`);
  } catch (err) {
    if (!(err instanceof ShapeError)) throw err;
    return { ok: false, rejection: { code: err.code, reason: err.message }, branchId, eventId };
  }
}
