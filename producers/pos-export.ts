/**
 * Streaming parser of a POS receipt export (the format of
 * ../shared/data/nory-receipts-*.csv.gz) into SaleEvents. Pure: no Kafka.
 *
 * Input: gzip (detected by its magic bytes, not the file name) or plain; UTF-8
 * with or without BOM; LF or CRLF; RFC 4180 quoting ("a, b", "say ""hi""",
 * line breaks inside quotes). Columns are found by header name, in any order.
 *
 * Mapping of one row:
 * - branch: `Company ID` through BranchDirectory.byPosCompanyId;
 * - occurred_at: `Creation Date` (dd/mm/yy HH:MM, local wall time of the branch's
 *   time zone) -> UTC epoch ms. DST: a nonexistent time (spring-forward gap) is
 *   shifted forward; an ambiguous one (fall-back, e.g. 2020-10-25 01:00-01:59 in
 *   Dublin) takes the earlier instant (IST). See local-time.ts;
 * - event_id: `Receipt ID`;
 * - status: `Void Status` Voided or Void -> VOID; otherwise Total < 0 -> REFUND;
 *   otherwise SALE. Any other non-empty Void Status is rejected (it would be
 *   unclear whether it counts);
 * - channel: `Type` Restaurant -> RESTAURANT; Takeaway, Takeaway Simple -> TAKEAWAY;
 *   Delivery -> DELIVERY; anything else -> OTHER;
 * - money: exact integer cents from the decimal strings (no floats): Total, Net
 *   Total, Tip (empty = 0), tax = sum of the amounts in `Taxes`
 *   ("13.5%=7.11 | 23.0%=1.71"; empty = 0). At most 2 decimals (further digits must
 *   be 0); no thousands separators (the export has none; "1,234.50" is rejected
 *   rather than guessed);
 * - covers: `Number of Seats` if a non-negative integer, else null (the export
 *   has -1 on some rows);
 * - pos: source=pos-export plus the non-empty originals: company_id, status, type,
 *   void_status, table, floor, sequence.
 *
 * Rows that cannot be used are reported, never dropped silently, as
 * `{ line, error, raw }` where line is the physical line where the record starts
 * (1 = the header): wrong field count, malformed quoting, unparseable date, bad
 * amount, unknown company, unknown Void Status, empty or duplicate Receipt ID.
 * An unterminated quote does not swallow the rest of the file: the record is
 * reported and parsing resumes on the next physical line. A required column
 * missing from the header is a fatal error naming it.
 *
 * `from`/`through` (yyyy-mm-dd, inclusive) filter by the LOCAL date of Creation
 * Date; rows outside are skipped (counted in stats.filtered), not validated further.
 */
import fs from 'node:fs';
import { pipeline } from 'node:stream';
import zlib from 'node:zlib';
import type { BranchDirectory } from '../lib/branches';
import { isValidDate, parseIsoDate } from '../lib/time/civil-date';
import { localToUtcMs } from '../lib/time/wall-clock';
import type { Channel, SaleEvent, SaleStatus } from '../schemas/events';

export const REQUIRED_COLUMNS = [
  'Company ID',
  'Receipt ID',
  'Creation Date',
  'Type',
  'Void Status',
  'Net Total',
  'Taxes',
  'Total',
  'Tip',
] as const;

export interface PosExportOptions {
  branches: BranchDirectory;
  /** First local date to include (yyyy-mm-dd, inclusive). */
  from?: string;
  /** Last local date to include (yyyy-mm-dd, inclusive). */
  through?: string;
}

export interface PosExportError {
  /** Physical line where the record starts (1 = header). */
  line: number;
  error: string;
  /** The record as read (truncated). */
  raw?: string;
}

export type PosExportItem = { line: number; event: SaleEvent } | PosExportError;

export interface PosExportStats {
  /** Physical lines read, header and blank lines included. */
  lines: number;
  /** Data records (excluding the header and blank lines). */
  rows: number;
  events: number;
  errors: number;
  /** Rows outside from/through. */
  filtered: number;
  blankLines: number;
  byStatus: Record<SaleStatus, number>;
  /** Events per branch id. */
  byBranch: Record<string, number>;
}

export interface LoadedPosExport {
  /** Sorted by occurred_at, then branch_id, then event_id. */
  events: SaleEvent[];
  errors: PosExportError[];
  stats: PosExportStats;
}

/** Safety valve: a quoted field spanning more physical lines than this is taken as an unterminated quote. */
const MAX_RECORD_LINES = 50;
const RAW_MAX = 300;

// ---------------------------------------------------------------- decimals

/** "12.9" -> 1290, "-3.5" -> -350, "0.0" -> 0; null if not a plain decimal with at most 2 significant decimals. */
export function parseCents(text: string): number | null {
  const s = text.trim();
  const n = s.length;
  let i = 0;
  let negative = false;
  if (s.charCodeAt(0) === 45 /* - */) {
    negative = true;
    i = 1;
  }
  let units = 0;
  const intStart = i;
  for (; i < n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    units = units * 10 + d;
  }
  if (i === intStart) return null;
  let frac = 0;
  if (i < n) {
    if (s.charCodeAt(i) !== 46 /* . */ || i === n - 1) return null;
    for (let k = 0, j = i + 1; j < n; j++, k++) {
      const d = s.charCodeAt(j) - 48;
      if (d < 0 || d > 9) return null;
      if (k === 0) frac += d * 10;
      else if (k === 1) frac += d;
      else if (d !== 0) return null; // a third significant decimal is not a cent amount
    }
  }
  const cents = units * 100 + frac;
  if (!Number.isSafeInteger(cents)) return null;
  return negative && cents !== 0 ? -cents : cents;
}

/** Sum of the amounts of a Taxes field ("13.5%=12.9 | 23.0%=1.71"), in cents; null if malformed. */
export function parseTaxes(text: string): number | null {
  const t = text.trim();
  if (t === '') return 0;
  let sum = 0;
  for (const part of t.split('|')) {
    const eq = part.indexOf('=');
    if (eq < 0) return null;
    const cents = parseCents(part.slice(eq + 1));
    if (cents === null) return null;
    sum += cents;
  }
  return sum;
}

// ---------------------------------------------------------------- CSV records
// By hand, not csv-parse: a POS export with one malformed record must lose that record only.
// csv-parse's skip_records_with_error drops everything after an unclosed quote (measured with
// csv-parse 7: `1,"x` followed by two good lines returned neither); this reader reports the bad
// line and reads the lines after it again as fresh records (RecordAssembler.resync).

/** Splits one CSV record (may contain line breaks inside quotes); a string result is an error. */
export function splitCsvRecord(s: string): string[] | string {
  if (!s.includes('"')) return s.split(',');
  const fields: string[] = [];
  const n = s.length;
  let i = 0;
  for (;;) {
    if (s.charCodeAt(i) === 34 /* " */) {
      let value = '';
      let j = i + 1;
      for (;;) {
        const k = s.indexOf('"', j);
        if (k < 0) return 'unterminated quoted field';
        value += s.slice(j, k);
        if (s.charCodeAt(k + 1) === 34) {
          value += '"';
          j = k + 2;
        } else {
          i = k + 1;
          break;
        }
      }
      fields.push(value);
      if (i === n) return fields;
      if (s.charCodeAt(i) !== 44 /* , */)
        return `unexpected character after a closing quote in field ${fields.length}`;
      i++;
    } else {
      const k = s.indexOf(',', i);
      const value = k < 0 ? s.slice(i) : s.slice(i, k);
      if (value.includes('"')) return `stray quote in unquoted field ${fields.length + 1}`;
      fields.push(value);
      if (k < 0) return fields;
      i = k + 1;
    }
    if (i === n) {
      fields.push('');
      return fields;
    }
  }
}

function countQuotes(line: string): number {
  let c = 0;
  for (let i = line.indexOf('"'); i >= 0; i = line.indexOf('"', i + 1)) c++;
  return c;
}

type RecordOut =
  { line: number; fields: string[]; raw: string } | { line: number; error: string; raw: string };

/**
 * Assembles physical lines into records (a record continues while its quotes are
 * unbalanced). On malformed quoting the first line is reported and the following
 * lines are read again as fresh records.
 */
class RecordAssembler {
  private pending: string[] = [];
  private pendingStart = 0;
  private odd = false;
  blankLines = 0;

  constructor(private readonly emit: (r: RecordOut) => void) {}

  push(line: string, lineNo: number): void {
    if (this.pending.length === 0) {
      if (line === '') {
        this.blankLines++;
        return;
      }
      if ((countQuotes(line) & 1) === 0) {
        this.complete(line, lineNo, null);
        return;
      }
      this.pending = [line];
      this.pendingStart = lineNo;
      this.odd = true;
      return;
    }
    this.pending.push(line);
    if (countQuotes(line) & 1) this.odd = !this.odd;
    if (!this.odd) {
      const lines = this.pending;
      this.pending = [];
      this.complete(lines.join('\n'), this.pendingStart, lines);
    } else if (this.pending.length > MAX_RECORD_LINES) {
      this.resync(`unterminated quoted field (still open after ${MAX_RECORD_LINES} lines)`);
    }
  }

  end(): void {
    while (this.pending.length > 0) this.resync('unterminated quoted field (open at end of file)');
  }

  private complete(text: string, lineNo: number, lines: string[] | null): void {
    const fields = splitCsvRecord(text);
    if (typeof fields !== 'string') {
      this.emit({ line: lineNo, fields, raw: text });
    } else if (lines === null) {
      this.emit({ line: lineNo, error: `malformed CSV: ${fields}`, raw: text });
    } else {
      this.pending = lines;
      this.pendingStart = lineNo;
      this.resync(`malformed CSV: ${fields}`);
    }
  }

  /** Reports the pending record's first line and re-reads the lines after it. */
  private resync(reason: string): void {
    const lines = this.pending;
    const start = this.pendingStart;
    this.pending = [];
    this.odd = false;
    this.emit({ line: start, error: reason, raw: lines[0] ?? '' });
    for (let i = 1; i < lines.length; i++) this.push(lines[i]!, start + i);
  }
}

// ---------------------------------------------------------------- input

async function isGzip(file: string): Promise<boolean> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** Decoded UTF-8 text chunks of a plain or gzip file (the BOM is removed by the decoder). */
async function* textChunks(file: string): AsyncGenerator<string> {
  const gz = await isGzip(file);
  const source = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const stream = gz ? pipeline(source, zlib.createGunzip({ chunkSize: 1 << 18 }), () => undefined) : source;
  const decoder = new TextDecoder('utf-8');
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const text = decoder.decode(chunk, { stream: true });
      if (text) yield text;
    }
  } catch (err) {
    throw new Error(
      `${file}: cannot read${gz ? ' (gzip)' : ''}: ${typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err)}`,
      { cause: err },
    );
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

// ---------------------------------------------------------------- rows -> events

const CHANNELS: Record<string, Channel> = {
  restaurant: 'RESTAURANT',
  takeaway: 'TAKEAWAY',
  'takeaway simple': 'TAKEAWAY',
  delivery: 'DELIVERY',
};

const CREATION_DATE = /^(\d{2})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2})$/;

interface Columns {
  count: number;
  company: number;
  receipt: number;
  created: number;
  type: number;
  voidStatus: number;
  net: number;
  taxes: number;
  total: number;
  tip: number;
  status: number | undefined;
  seats: number | undefined;
  table: number | undefined;
  floor: number | undefined;
  sequence: number | undefined;
}

function resolveColumns(file: string, header: string[]): Columns {
  const index = new Map<string, number>();
  header.forEach((name, i) => {
    const key = name.replace(/^\uFEFF/, '').trim();
    if (!index.has(key)) index.set(key, i);
  });
  const missing = REQUIRED_COLUMNS.filter((c) => !index.has(c));
  if (missing.length > 0) {
    throw new Error(
      `${file}: the header (line 1) lacks required column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c}"`).join(', ')}; ` +
        `found: ${[...index.keys()].map((c) => `"${c}"`).join(', ')}`,
    );
  }
  const req = (c: (typeof REQUIRED_COLUMNS)[number]) => index.get(c)!;
  return {
    count: header.length,
    company: req('Company ID'),
    receipt: req('Receipt ID'),
    created: req('Creation Date'),
    type: req('Type'),
    voidStatus: req('Void Status'),
    net: req('Net Total'),
    taxes: req('Taxes'),
    total: req('Total'),
    tip: req('Tip'),
    status: index.get('Status'),
    seats: index.get('Number of Seats'),
    table: index.get('Table Name'),
    floor: index.get('Floor Name'),
    sequence: index.get('Sequence Number'),
  };
}

const at = (fields: string[], i: number | undefined): string =>
  i === undefined ? '' : (fields[i] ?? '').trim();

type RowResult = SaleEvent | { error: string } | 'filtered';

function rowToEvent(
  fields: string[],
  cols: Columns,
  opts: PosExportOptions,
  fromDate: string | null,
  throughDate: string | null,
): RowResult {
  if (fields.length !== cols.count) return { error: `expected ${cols.count} fields, got ${fields.length}` };

  const company = at(fields, cols.company);
  const branch = opts.branches.byPosCompanyId(company);
  if (!branch) return { error: `unknown Company ID "${company}"` };

  const created = at(fields, cols.created);
  const m = CREATION_DATE.exec(created);
  if (!m) return { error: `unparseable Creation Date "${created}" (expected dd/mm/yy HH:MM)` };
  const year = 2000 + Number(m[3]);
  const month = Number(m[2]);
  const day = Number(m[1]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  if (!isValidDate(year, month, day) || hour > 23 || minute > 59)
    return { error: `invalid Creation Date "${created}"` };
  if (fromDate !== null || throughDate !== null) {
    const localDate = `${year}-${m[2]}-${m[1]}`;
    if ((fromDate !== null && localDate < fromDate) || (throughDate !== null && localDate > throughDate))
      return 'filtered';
  }

  const receipt = at(fields, cols.receipt);
  if (receipt === '') return { error: 'empty Receipt ID' };

  const voidStatus = at(fields, cols.voidStatus);
  const voidKind = voidStatus.toLowerCase();
  if (voidKind !== '' && voidKind !== 'void' && voidKind !== 'voided')
    return { error: `unknown Void Status "${voidStatus}"` };

  const totalText = at(fields, cols.total);
  const total = parseCents(totalText);
  if (total === null) return { error: `bad amount in Total: "${totalText}"` };
  const netText = at(fields, cols.net);
  const net = parseCents(netText);
  if (net === null) return { error: `bad amount in Net Total: "${netText}"` };
  const tipText = at(fields, cols.tip);
  const tip = tipText === '' ? 0 : parseCents(tipText);
  if (tip === null) return { error: `bad amount in Tip: "${tipText}"` };
  const taxText = at(fields, cols.taxes);
  const tax = parseTaxes(taxText);
  if (tax === null) return { error: `bad Taxes: "${taxText}"` };

  const status: SaleStatus = voidKind !== '' ? 'VOID' : total < 0 ? 'REFUND' : 'SALE';
  const type = at(fields, cols.type);
  const channel = CHANNELS[type.toLowerCase()] ?? 'OTHER';

  const seatsText = at(fields, cols.seats);
  const covers = /^\d{1,6}$/.test(seatsText) ? Number(seatsText) : null;

  const pos: Record<string, string> = { source: 'pos-export', company_id: company };
  const put = (key: string, value: string) => {
    if (value !== '') pos[key] = value;
  };
  put('status', at(fields, cols.status));
  put('type', type);
  put('void_status', voidStatus);
  put('table', at(fields, cols.table));
  put('floor', at(fields, cols.floor));
  put('sequence', at(fields, cols.sequence));

  return {
    event_id: receipt,
    branch_id: branch.id,
    occurred_at: localToUtcMs(branch.timezone, year, month, day, hour, minute),
    status,
    channel,
    currency: branch.currency,
    total_minor: total,
    net_minor: net,
    tax_minor: tax,
    tip_minor: tip,
    covers,
    pos,
  };
}

function checkDateOption(name: string, v: string | undefined): string | null {
  if (v === undefined) return null;
  if (!parseIsoDate(v)) throw new Error(`${name} must be a date yyyy-mm-dd, got "${v}"`);
  return v;
}

const truncate = (s: string) => (s.length > RAW_MAX ? `${s.slice(0, RAW_MAX)}…` : s);

/**
 * Reads a POS export row by row: yields `{ line, event }` for each usable row and
 * `{ line, error, raw }` for each rejected one, in file order. The generator's
 * return value is the stats. Throws on a missing/unreadable file, an empty file or
 * a header without the required columns.
 */
export async function* readPosExport(
  file: string,
  opts: PosExportOptions,
): AsyncGenerator<PosExportItem, PosExportStats, undefined> {
  const fromDate = checkDateOption('from', opts.from);
  const throughDate = checkDateOption('through', opts.through);
  if (fromDate !== null && throughDate !== null && fromDate > throughDate) {
    throw new Error(`from (${fromDate}) is after through (${throughDate})`);
  }
  const stats: PosExportStats = {
    lines: 0,
    rows: 0,
    events: 0,
    errors: 0,
    filtered: 0,
    blankLines: 0,
    byStatus: { SALE: 0, REFUND: 0, VOID: 0 },
    byBranch: {},
  };
  let cols: Columns | null = null;
  const seen = new Map<string, Map<string, number>>(); // branch -> receipt -> first line
  let out: PosExportItem[] = [];

  const onRecord = (r: RecordOut) => {
    if (cols === null) {
      if ('error' in r) throw new Error(`${file}: cannot read the header (line ${r.line}): ${r.error}`);
      cols = resolveColumns(file, r.fields);
      return;
    }
    stats.rows++;
    let error: string;
    if ('error' in r) {
      error = r.error;
    } else {
      const result = rowToEvent(r.fields, cols, opts, fromDate, throughDate);
      if (result === 'filtered') {
        stats.filtered++;
        return;
      }
      if ('error' in result) {
        error = result.error;
      } else {
        let perBranch = seen.get(result.branch_id);
        if (!perBranch) seen.set(result.branch_id, (perBranch = new Map<string, number>()));
        const first = perBranch.get(result.event_id);
        if (first === undefined) {
          perBranch.set(result.event_id, r.line);
          stats.events++;
          stats.byStatus[result.status]++;
          stats.byBranch[result.branch_id] = (stats.byBranch[result.branch_id] ?? 0) + 1;
          out.push({ line: r.line, event: result });
          return;
        }
        error = `duplicate Receipt ID "${result.event_id}" for this branch (first on line ${first})`;
      }
    }
    stats.errors++;
    out.push({ line: r.line, error, raw: truncate(r.raw) });
  };

  const assembler = new RecordAssembler(onRecord);
  let carry = '';
  const pushLine = (line: string) => {
    stats.lines++;
    assembler.push(line.endsWith('\r') ? line.slice(0, -1) : line, stats.lines);
  };

  for await (const chunk of textChunks(file)) {
    let text = carry + chunk;
    if (stats.lines === 0 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      pushLine(text.slice(start, nl));
      start = nl + 1;
    }
    carry = text.slice(start);
    if (out.length > 0) {
      const batch = out;
      out = [];
      yield* batch;
    }
  }
  if (carry !== '') pushLine(carry);
  assembler.end();
  stats.blankLines = assembler.blankLines;
  if (cols === null) throw new Error(`${file}: empty file, no header`);
  yield* out;
  return stats;
}

function compareIds(a: string, b: string): number {
  // Numeric receipt ids in numeric order; otherwise plain string order.
  if (a.length !== b.length && /^\d+$/.test(a) && /^\d+$/.test(b)) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Time order as a POS stream would deliver it: occurred_at, then branch_id, then event_id. */
export function compareEvents(a: SaleEvent, b: SaleEvent): number {
  return (
    a.occurred_at - b.occurred_at ||
    (a.branch_id < b.branch_id ? -1 : a.branch_id > b.branch_id ? 1 : 0) ||
    compareIds(a.event_id, b.event_id)
  );
}

/** Reads a whole POS export: events in time order, rejected rows in file order, stats. */
export async function loadPosExport(file: string, opts: PosExportOptions): Promise<LoadedPosExport> {
  const events: SaleEvent[] = [];
  const errors: PosExportError[] = [];
  const it = readPosExport(file, opts);
  for (;;) {
    const r = await it.next();
    if (r.done) {
      events.sort(compareEvents);
      return { events, errors, stats: r.value };
    }
    if ('event' in r.value) events.push(r.value.event);
    else errors.push(r.value);
  }
}
