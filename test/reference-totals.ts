/**
 * An INDEPENDENT reference for tests: hourly, daily and per-branch sales/orders
 * computed straight from a POS export with deliberately different, simple code.
 * It shares nothing with producers/pos-export.ts (no csv-parse, no luxon): the
 * whole file through zlib, a minimal quote-aware splitter, and local time via
 * Intl.DateTimeFormat offsets. It is strict: anything unexpected throws.
 *
 * Definitions (= ../shared/data/expected-totals.json):
 * - sales  = sum of Total over receipts with an empty Void Status (refunds, i.e.
 *            negative totals, reduce it);
 * - orders = count of those receipts with Total >= 0 (zero totals count, refunds don't);
 * - bucketed by Creation Date, local wall time in Europe/Dublin, into the UTC
 *   start of that local hour. Ambiguous local hour (fall-back): the earlier
 *   instant; nonexistent local hour (spring-forward): shifted forward.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { NORY_BRANCHES } from '../lib/branches';

export interface RefBucket {
  salesCents: number;
  orders: number;
}

export interface RefBranchTotals extends RefBucket {
  rows: number;
  /** Receipts with an empty Void Status and Total < 0. */
  refundRows: number;
  /** Void Status "Voided" (a cancelled receipt). */
  voidedRows: number;
  /** Void Status "Void" (the negative reversal). */
  voidRows: number;
}

export interface Reference {
  /** branch id -> UTC hour start (ms) -> totals. */
  hourly: Map<string, Map<number, RefBucket>>;
  /** branch id -> local date yyyy-mm-dd -> totals. */
  daily: Map<string, Map<string, RefBucket>>;
  totals: Map<string, RefBranchTotals>;
}

export const REFERENCE_ZONE = 'Europe/Dublin';
const HOUR = 3_600_000;

/** Company ID -> branch id of the three Nory restaurants. */
export const NORY_COMPANIES: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(NORY_BRANCHES.map((b) => [b.pos_company_id!, b.id])),
);

// ---------------------------------------------------------------- local time via Intl

const wallFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: REFERENCE_ZONE,
  hourCycle: 'h23',
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: 'numeric',
  minute: 'numeric',
  second: 'numeric',
});

/** The Dublin wall time of an instant, as if it were UTC (ms). */
function wallOf(ms: number): number {
  const p: Record<string, number> = {};
  for (const part of wallFormat.formatToParts(new Date(ms))) {
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  }
  return Date.UTC(p.year ?? NaN, (p.month ?? NaN) - 1, p.day, p.hour, p.minute, p.second);
}

const hourCache = new Map<number, number>();

/**
 * UTC instant of a Dublin local hour start given as a wall time read as UTC.
 * Brute force: every offset seen within ±14 h is a candidate; keep those whose
 * instant shows this wall time; take the earliest. None (a gap): the offset in
 * force 14 h before, which moves the time forward past the gap.
 */
function localHourToUtc(wall: number): number {
  const cached = hourCache.get(wall);
  if (cached !== undefined) return cached;
  const offsets = new Set<number>();
  for (let k = -14; k <= 14; k++) offsets.add(wallOf(wall + k * HOUR) - (wall + k * HOUR));
  let best = Infinity;
  for (const o of offsets) {
    const t = wall - o;
    if (wallOf(t) === wall && t < best) best = t;
  }
  if (best === Infinity) best = wall - (wallOf(wall - 14 * HOUR) - (wall - 14 * HOUR));
  hourCache.set(wall, best);
  return best;
}

/** "2020-11-20", 19 -> the UTC instant at which that Dublin local hour starts. */
export function dublinLocalHourToUtc(date: string, hour: number): number {
  const [y, m, d] = date.split('-').map(Number);
  return localHourToUtc(Date.UTC(y ?? NaN, (m ?? NaN) - 1, d, hour));
}

/** UTC instant -> Dublin local "yyyy-mm-ddTHH:MM". */
export function utcToDublinLocal(ms: number): string {
  return new Date(wallOf(ms)).toISOString().slice(0, 16);
}

/** 159240 -> "1592.40", -255 -> "-2.55". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

// ---------------------------------------------------------------- CSV

function splitLine(line: string, lineNo: number): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        cur += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (quoted) throw new Error(`reference: line ${lineNo} has an unterminated quote`);
  out.push(cur);
  return out;
}

function euroToCents(text: string, lineNo: number): number {
  if (!/^-?\d+(\.\d{1,2})?$/.test(text))
    throw new Error(`reference: line ${lineNo}: not an amount: "${text}"`);
  return Math.round(Number(text) * 100);
}

function readText(file: string): string {
  let bytes = fs.readFileSync(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = zlib.gunzipSync(bytes);
  return bytes.toString('utf8').replace(/^\uFEFF/, '');
}

// ---------------------------------------------------------------- the reference

const cache = new Map<string, Reference>();

export function computeReference(
  file: string,
  companies: Readonly<Record<string, string>> = NORY_COMPANIES,
): Reference {
  const stat = fs.statSync(file);
  const key = JSON.stringify([file, stat.size, stat.mtimeMs, companies]);
  const hit = cache.get(key);
  if (hit) return hit;

  const lines = readText(file).split('\n');
  const header = splitLine(lines[0]!.replace(/\r$/, ''), 1);
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`reference: no column "${name}"`);
    return i;
  };
  const cCompany = col('Company ID');
  const cCreated = col('Creation Date');
  const cVoid = col('Void Status');
  const cTotal = col('Total');

  const ref: Reference = { hourly: new Map(), daily: new Map(), totals: new Map() };
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!.replace(/\r$/, '');
    if (line === '') continue;
    const f = splitLine(line, n + 1);
    if (f.length !== header.length)
      throw new Error(`reference: line ${n + 1} has ${f.length} fields, header ${header.length}`);
    const branch = companies[f[cCompany]!];
    if (branch === undefined) throw new Error(`reference: line ${n + 1}: unknown company ${f[cCompany]}`);

    let t = ref.totals.get(branch);
    if (!t)
      ref.totals.set(
        branch,
        (t = { salesCents: 0, orders: 0, rows: 0, refundRows: 0, voidedRows: 0, voidRows: 0 }),
      );
    t.rows++;
    const voidStatus = f[cVoid]!;
    if (voidStatus === 'Voided') t.voidedRows++;
    else if (voidStatus === 'Void') t.voidRows++;
    else if (voidStatus !== '')
      throw new Error(`reference: line ${n + 1}: unexpected Void Status "${voidStatus}"`);
    if (voidStatus !== '') continue;

    const cents = euroToCents(f[cTotal]!, n + 1);
    const isOrder = cents >= 0 ? 1 : 0;
    if (cents < 0) t.refundRows++;
    t.salesCents += cents;
    t.orders += isOrder;

    const m = /^(\d\d)\/(\d\d)\/(\d\d) (\d\d):(\d\d)$/.exec(f[cCreated]!);
    if (!m) throw new Error(`reference: line ${n + 1}: bad Creation Date "${f[cCreated]}"`);
    const date = `20${m[3]}-${m[2]}-${m[1]}`;
    const hourStart = dublinLocalHourToUtc(date, Number(m[4]));

    let hours = ref.hourly.get(branch);
    if (!hours) ref.hourly.set(branch, (hours = new Map<number, RefBucket>()));
    const h = hours.get(hourStart) ?? { salesCents: 0, orders: 0 };
    h.salesCents += cents;
    h.orders += isOrder;
    hours.set(hourStart, h);

    let days = ref.daily.get(branch);
    if (!days) ref.daily.set(branch, (days = new Map<string, RefBucket>()));
    const d = days.get(date) ?? { salesCents: 0, orders: 0 };
    d.salesCents += cents;
    d.orders += isOrder;
    days.set(date, d);
  }
  cache.set(key, ref);
  return ref;
}

/** branch id -> UTC hour start (ms) -> { salesCents, orders }. */
export function computeReferenceHourly(
  file: string,
  companies?: Readonly<Record<string, string>>,
): Map<string, Map<number, RefBucket>> {
  return computeReference(file, companies).hourly;
}

/** branch id -> local date (yyyy-mm-dd, Europe/Dublin) -> { salesCents, orders }. */
export function referenceDaily(
  file: string,
  companies?: Readonly<Record<string, string>>,
): Map<string, Map<string, RefBucket>> {
  return computeReference(file, companies).daily;
}

/** branch id -> whole-file totals and row counts. */
export function referenceTotals(
  file: string,
  companies?: Readonly<Record<string, string>>,
): Map<string, RefBranchTotals> {
  return computeReference(file, companies).totals;
}
