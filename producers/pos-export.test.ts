/**
 * The POS export parser: on the real shared export (every row parsed, totals
 * equal to the independent reference per branch and hour) and on synthetic
 * fixtures (BOM, CRLF, quoting, broken rows with exact line numbers, filters).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { BranchDirectory, NORY_BRANCHES } from '../lib/branches';
import type { SaleEvent } from '../schemas/events';
import { computeReferenceHourly, referenceDaily, referenceTotals } from '../test/reference-totals';
import { requireSharedExport } from '../test/shared-data';
import {
  compareEvents,
  loadPosExport,
  parseCents,
  parseTaxes,
  readPosExport,
  splitCsvRecord,
  type LoadedPosExport,
  type PosExportError,
} from './pos-export';

const HOUR = 3_600_000;
const branches = new BranchDirectory(NORY_BRANCHES);
const FIXTURES = path.join(__dirname, '..', 'test', 'fixtures');
const MESSY = path.join(FIXTURES, 'pos-export-messy.csv');
const MISSING_COLUMN = path.join(FIXTURES, 'pos-export-missing-column.csv');
const TACO = '2hg8j32gw8g';
const PIZZA = '345hngydkgs';
const SUSHI = '352h67i328fh';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-pos-export-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The sales/orders definitions applied to parsed events, per branch and UTC hour. */
function hourlyFromEvents(
  events: SaleEvent[],
): Map<string, Map<number, { salesCents: number; orders: number }>> {
  const out = new Map<string, Map<number, { salesCents: number; orders: number }>>();
  for (const e of events) {
    if (e.status === 'VOID') continue;
    let hours = out.get(e.branch_id);
    if (!hours) out.set(e.branch_id, (hours = new Map<number, { salesCents: number; orders: number }>()));
    const h = Math.floor(e.occurred_at / HOUR) * HOUR;
    const b = hours.get(h) ?? { salesCents: 0, orders: 0 };
    b.salesCents += e.total_minor;
    if (e.status === 'SALE') b.orders++;
    hours.set(h, b);
  }
  return out;
}

const brief = (errors: PosExportError[]) => errors.map((e) => ({ line: e.line, error: e.error }));

describe('readPosExport on the shared real export', () => {
  const file = requireSharedExport();
  let full: LoadedPosExport;
  beforeAll(async () => {
    full = await loadPosExport(file, { branches });
  });

  it('parses all 72,700 rows without errors, and the totals equal the reference for every branch and hour', () => {
    const { events, errors, stats } = full;
    expect(brief(errors)).toEqual([]);
    expect(stats).toEqual({
      lines: 72_701,
      rows: 72_700,
      events: 72_700,
      errors: 0,
      filtered: 0,
      blankLines: 0,
      byStatus: { SALE: 72_318, REFUND: 2, VOID: 380 },
      byBranch: { [TACO]: 21_822, [PIZZA]: 20_308, [SUSHI]: 30_570 },
    });

    const ours = hourlyFromEvents(events);
    const reference = computeReferenceHourly(file);
    const mismatches: string[] = [];
    let compared = 0;
    for (const branch of [TACO, PIZZA, SUSHI]) {
      const a = ours.get(branch)!;
      const b = reference.get(branch)!;
      for (const hour of new Set([...a.keys(), ...b.keys()])) {
        compared++;
        const got = a.get(hour) ?? { salesCents: 0, orders: 0 };
        const want = b.get(hour) ?? { salesCents: 0, orders: 0 };
        if (got.salesCents !== want.salesCents || got.orders !== want.orders) {
          mismatches.push(
            `${branch} ${new Date(hour).toISOString()}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`,
          );
        }
      }
      const totals = referenceTotals(file).get(branch)!;
      const refunds = events.filter((e) => e.branch_id === branch && e.status === 'REFUND').length;
      const voids = events.filter((e) => e.branch_id === branch && e.status === 'VOID').length;
      expect({ refunds, voids }).toEqual({
        refunds: totals.refundRows,
        voids: totals.voidRows + totals.voidedRows,
      });
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(compared).toBeGreaterThan(4_000); // hours with receipts
  });

  it('returns events in stream order (time, branch, receipt) with ids unique per branch and consistent money', () => {
    const { events } = full;
    for (let i = 1; i < events.length; i++) {
      if (compareEvents(events[i - 1]!, events[i]!) > 0) throw new Error(`events out of order at ${i}`);
    }
    const ids = new Set(events.map((e) => `${e.branch_id}/${e.event_id}`));
    expect(ids.size).toBe(events.length);
    const inconsistent = events.filter((e) => e.net_minor + e.tax_minor !== e.total_minor);
    expect(inconsistent).toEqual([]);
    const bad = events.filter(
      (e) =>
        !Number.isSafeInteger(e.total_minor) ||
        e.currency !== 'EUR' ||
        (e.status === 'SALE' && e.total_minor < 0) ||
        (e.status === 'REFUND' && e.total_minor >= 0) ||
        (e.covers !== null && (!Number.isInteger(e.covers) || e.covers < 0)) ||
        e.pos.source !== 'pos-export',
    );
    expect(bad).toEqual([]);
    const channels = new Set(events.map((e) => e.channel));
    expect([...channels].sort()).toEqual(['DELIVERY', 'RESTAURANT', 'TAKEAWAY']);
  });

  it('filters by local date: one day (the 2020-10-25 DST day) equals the reference day', async () => {
    const { events, errors, stats } = await loadPosExport(file, {
      branches,
      from: '2020-10-25',
      through: '2020-10-25',
    });
    expect(errors).toEqual([]);
    expect(stats.events + stats.filtered).toBe(72_700);
    const daily = referenceDaily(file);
    for (const branch of [TACO, PIZZA, SUSHI]) {
      const mine = events.filter((e) => e.branch_id === branch && e.status !== 'VOID');
      const got = {
        salesCents: mine.reduce((s, e) => s + e.total_minor, 0),
        orders: mine.filter((e) => e.status === 'SALE').length,
      };
      expect(got).toEqual(daily.get(branch)!.get('2020-10-25'));
    }
    // Dublin local midnight to midnight was 25 hours long that day.
    const dayStart = Date.UTC(2020, 9, 24, 23);
    const dayEnd = Date.UTC(2020, 9, 26, 0);
    expect(events.every((e) => e.occurred_at >= dayStart && e.occurred_at < dayEnd)).toBe(true);
  });

  it('gives the same result from the gzip file and its decompressed copy (chunk boundaries included)', async () => {
    const plain = path.join(tmp, 'export-plain.csv');
    fs.writeFileSync(plain, zlib.gunzipSync(fs.readFileSync(file)));
    const b = await loadPosExport(plain, { branches });
    expect(b.stats).toEqual(full.stats);
    expect(JSON.stringify(b.events) === JSON.stringify(full.events)).toBe(true);
  });
});

describe('readPosExport on synthetic fixtures', () => {
  it('the messy fixture really has a BOM, CRLF line ends and no final newline', () => {
    const bytes = fs.readFileSync(MESSY);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.includes('\r\n')).toBe(true);
    expect(bytes.at(-1)).not.toBe(0x0a);
  });

  it('parses the good rows and reports every bad row with its physical line number', async () => {
    const { events, errors, stats } = await loadPosExport(MESSY, { branches });
    expect(brief(errors)).toEqual([
      { line: 6, error: 'expected 25 fields, got 6' },
      { line: 7, error: 'unparseable Creation Date "2020-07-01 13:00" (expected dd/mm/yy HH:MM)' },
      { line: 8, error: 'bad amount in Total: "12,50"' },
      { line: 9, error: 'unknown Company ID "99999"' },
      { line: 16, error: 'invalid Creation Date "31/02/21 12:00"' },
      { line: 17, error: 'bad Taxes: "13.5%:1.0"' },
      { line: 18, error: 'unknown Void Status "Pending"' },
      { line: 20, error: 'bad amount in Total: "1.234"' },
      { line: 21, error: 'unterminated quoted field (open at end of file)' },
      { line: 23, error: 'duplicate Receipt ID "2003" for this branch (first on line 22)' },
    ]);
    expect(errors[0]!.raw).toBe('36871,Nory Taco,3,1002,,01/07/20 13:00');
    expect(stats).toMatchObject({ lines: 23, rows: 20, events: 10, errors: 10, filtered: 0, blankLines: 1 });
    expect(stats.byStatus).toEqual({ SALE: 7, REFUND: 1, VOID: 2 });

    const byId = new Map(events.map((e) => [e.event_id, e]));
    expect(events.map((e) => e.event_id)).toEqual([
      '1001',
      '2001',
      '1005',
      '1006',
      '3001',
      '2002',
      '2004',
      '2003',
      '3002',
      '3003',
    ]);
    expect(byId.get('1001')).toEqual({
      event_id: '1001',
      branch_id: TACO,
      occurred_at: Date.UTC(2020, 6, 1, 11, 15), // 12:15 IST
      status: 'SALE',
      channel: 'RESTAURANT',
      currency: 'EUR',
      total_minor: 2400,
      net_minor: 2115,
      tax_minor: 285,
      tip_minor: 150,
      covers: 2,
      pos: {
        source: 'pos-export',
        company_id: '36871',
        status: 'Paid',
        type: 'Restaurant',
        table: 'Table 1, window',
        floor: 'Inside',
        sequence: '1',
      },
    });
    expect(byId.get('2001')).toMatchObject({
      branch_id: PIZZA,
      channel: 'TAKEAWAY',
      total_minor: 1150,
      tax_minor: 150,
      covers: null,
    });
    expect(byId.get('2001')!.pos).toMatchObject({
      table: 'The "Big" Table',
      floor: 'COLLECTION & DELIVERY',
      type: 'Takeaway Simple',
    });
    // A quoted field with a line break: the record spans lines 4-5; the next record is line 6.
    expect(byId.get('3001')).toMatchObject({
      branch_id: SUSHI,
      channel: 'DELIVERY',
      total_minor: 3690,
      tax_minor: 690,
    });
    expect(byId.get('3001')!.pos.table).toBe('Rider note:\nring the bell, twice');
    expect(byId.get('1005')).toMatchObject({ status: 'VOID', total_minor: 1500 });
    expect(byId.get('1005')!.pos.void_status).toBe('Voided');
    expect(byId.get('1006')).toMatchObject({
      status: 'VOID',
      total_minor: -1500,
      net_minor: -1322,
      tax_minor: -178,
    });
    expect(byId.get('1006')!.pos.void_status).toBe('Void');
    expect(byId.get('2002')).toMatchObject({
      status: 'REFUND',
      total_minor: -800,
      net_minor: -705,
      tax_minor: -95,
    });
    expect(byId.get('2004')).toMatchObject({
      status: 'SALE',
      channel: 'OTHER',
      total_minor: 0,
      covers: null,
    });
    expect(byId.get('2003')).toMatchObject({
      status: 'SALE',
      channel: 'DELIVERY',
      total_minor: 0,
      covers: 0,
    });
    // DST: 2020-10-25 01:30 happened twice -> the earlier (IST) instant; seats -1 -> covers null.
    expect(byId.get('3002')).toMatchObject({ occurred_at: Date.UTC(2020, 9, 25, 0, 30), covers: null });
    // 2021-03-28 01:30 never happened -> shifted forward to 02:30 IST = 01:30Z.
    expect(byId.get('3003')).toMatchObject({ occurred_at: Date.UTC(2021, 2, 28, 1, 30) });
  });

  it('the generator yields events and errors in file order and returns the stats', async () => {
    const it = readPosExport(MESSY, { branches });
    const lines: number[] = [];
    let r = await it.next();
    while (!r.done) {
      lines.push(r.value.line);
      r = await it.next();
    }
    expect(lines).toEqual([2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]);
    expect(r.value.rows).toBe(20);
  });

  it('fails clearly on a missing required column, naming it', async () => {
    await expect(loadPosExport(MISSING_COLUMN, { branches })).rejects.toThrow(
      /lacks required column "Creation Date"/,
    );
  });

  it('fails clearly on an empty file', async () => {
    const empty = path.join(tmp, 'empty.csv');
    fs.writeFileSync(empty, '');
    await expect(loadPosExport(empty, { branches })).rejects.toThrow(/empty file, no header/);
  });

  it('fails clearly on a missing file or a truncated gzip', async () => {
    await expect(loadPosExport(path.join(tmp, 'nope.csv'), { branches })).rejects.toThrow(/ENOENT/);
    const truncated = path.join(tmp, 'truncated.csv.gz');
    const gz = zlib.gzipSync(fs.readFileSync(MESSY));
    fs.writeFileSync(truncated, gz.subarray(0, gz.length - 20));
    await expect(loadPosExport(truncated, { branches })).rejects.toThrow(
      /truncated\.csv\.gz: cannot read \(gzip\): unexpected end of file/,
    );
  });

  it('detects gzip by its magic bytes, whatever the file name', async () => {
    const gz = path.join(tmp, 'messy-but-gzipped.csv');
    fs.writeFileSync(gz, zlib.gzipSync(fs.readFileSync(MESSY)));
    const a = await loadPosExport(MESSY, { branches });
    const b = await loadPosExport(gz, { branches });
    expect(b).toEqual(a);
  });

  it('filters by local date (from/through inclusive); rows that cannot be dated are still reported', async () => {
    const { events, errors, stats } = await loadPosExport(MESSY, {
      branches,
      from: '2020-07-02',
      through: '2020-07-02',
    });
    expect(events.map((e) => e.event_id)).toEqual(['1006', '3001', '2002']);
    expect(brief(errors).map((e) => e.line)).toEqual([6, 7, 8, 9, 16, 21]);
    expect(stats.filtered).toBe(11);
    const from = await loadPosExport(MESSY, { branches, from: '2020-10-01' });
    expect(from.events.map((e) => e.event_id)).toEqual(['3002', '3003']);
    const through = await loadPosExport(MESSY, { branches, through: '2020-07-01' });
    expect(through.events.map((e) => e.event_id)).toEqual(['1001', '2001', '1005']);
    // Local date, not UTC date: 01/07/20 00:30 IST is 2020-06-30 23:30Z but belongs to 2020-07-01.
    const midnight = path.join(tmp, 'midnight.csv');
    fs.writeFileSync(
      midnight,
      'Company ID,Receipt ID,Creation Date,Type,Void Status,Net Total,Taxes,Total,Tip\n36871,1,01/07/20 00:30,Restaurant,,1.0,,1.0,0.0\n',
    );
    const m = await loadPosExport(midnight, { branches, from: '2020-07-01', through: '2020-07-01' });
    expect(m.events.map((e) => new Date(e.occurred_at).toISOString())).toEqual(['2020-06-30T23:30:00.000Z']);
  });

  it('rejects malformed from/through options', async () => {
    await expect(loadPosExport(MESSY, { branches, from: '2020-7-1' })).rejects.toThrow(
      /from must be a date yyyy-mm-dd/,
    );
    await expect(loadPosExport(MESSY, { branches, through: '2020-02-30' })).rejects.toThrow(
      /through must be a date/,
    );
    await expect(
      loadPosExport(MESSY, { branches, from: '2020-08-01', through: '2020-07-01' }),
    ).rejects.toThrow(/after through/);
  });

  it('uses the branch directory it is given', async () => {
    const other = new BranchDirectory([
      {
        id: 'elsewhere',
        name: 'Elsewhere',
        timezone: 'Europe/London',
        currency: 'GBP',
        country: 'GB',
        pos_company_id: '99999',
      },
    ]);
    const { events, errors } = await loadPosExport(MESSY, { branches: other });
    expect(events.map((e) => [e.event_id, e.branch_id, e.currency])).toEqual([['9001', 'elsewhere', 'GBP']]);
    expect(errors.filter((e) => e.error.startsWith('unknown Company ID')).length).toBeGreaterThan(5);
  });

  it('handles large synthetic files: chunk boundaries inside multi-byte characters, quotes, CRLF', async () => {
    const header =
      'Company ID,Receipt ID,Creation Date,Type,Void Status,Table Name,Net Total,Taxes,Total,Tip\r\n';
    const cups = '☕'.repeat(40);
    const rows: string[] = [];
    let expectedCents = 0;
    for (let i = 0; i < 12_000; i++) {
      const cents = 100 + ((i * 7919) % 9000);
      expectedCents += cents;
      const amount = `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
      const day = String(1 + (i % 28)).padStart(2, '0');
      rows.push(
        `36872,${i},${day}/11/20 19:${String(i % 60).padStart(2, '0')},Delivery,,"Café ${cups} ""n°${i}"", Zürich",${amount},,${amount},0.0\r\n`,
      );
    }
    // The plain reader takes 1 MiB chunks: pad the header row so that byte 1 MiB is inside a 3-byte character.
    let bytes = Buffer.alloc(0);
    for (let pad = 0; pad < 1000; pad++) {
      bytes = Buffer.from(`\uFEFF${header.replace('Tip', `Tip${' '.repeat(pad)}`)}${rows.join('')}`, 'utf8');
      if (((bytes[1 << 20] ?? 0) & 0xc0) === 0x80) break;
    }
    expect((bytes[1 << 20]! & 0xc0) === 0x80).toBe(true);
    const big = path.join(tmp, 'big.csv');
    fs.writeFileSync(big, bytes);
    fs.writeFileSync(`${big}.gz`, zlib.gzipSync(bytes));
    for (const f of [big, `${big}.gz`]) {
      const { events, errors } = await loadPosExport(f, { branches });
      expect(errors).toEqual([]);
      expect(events).toHaveLength(12_000);
      expect(events.reduce((s, e) => s + e.total_minor, 0)).toBe(expectedCents);
      const names = new Set(events.map((e) => e.pos.table));
      expect(names.has(`Café ${cups} "n°1234", Zürich`)).toBe(true);
      expect(
        [...names].every((n) => n === `Café ${cups} "n°${n!.replace(/^.*n°(\d+).*$/, '$1')}", Zürich`),
      ).toBe(true);
    }
  });
});

describe('parsing helpers', () => {
  it('parses decimal strings to exact cents', () => {
    expect(parseCents('12.9')).toBe(1290);
    expect(parseCents('-3.5')).toBe(-350);
    expect(parseCents('0.0')).toBe(0);
    expect(Object.is(parseCents('-0.0'), 0)).toBe(true);
    expect(parseCents('108.45')).toBe(10845);
    expect(parseCents('0.29')).toBe(29); // 0.29 * 100 = 28.999999999999996 in floating point
    expect(parseCents('1.005')).toBeNull();
    expect(parseCents('1.050')).toBe(105);
    expect(parseCents('17')).toBe(1700);
    expect(parseCents(' 4.2 ')).toBe(420);
    for (const bad of ['', '-', '.5', '5.', '1,234.50', '12,50', '1e3', '€5', '--1', '0x10', 'NaN'])
      expect(parseCents(bad)).toBeNull();
  });

  it('sums the Taxes field', () => {
    expect(parseTaxes('13.5%=12.9')).toBe(1290);
    expect(parseTaxes('13.5%=7.11 | 23.0%=1.71')).toBe(882);
    expect(parseTaxes('0.0%=0.0 | 13.5%=2.66 | 23.0%=6.57')).toBe(923);
    expect(parseTaxes('9.0%=-0.66 | 21.0%=0.0')).toBe(-66);
    expect(parseTaxes('')).toBe(0);
    expect(parseTaxes('13.5%')).toBeNull();
    expect(parseTaxes('13.5%=x')).toBeNull();
  });

  it('splits CSV records strictly', () => {
    expect(splitCsvRecord('a,b,,c')).toEqual(['a', 'b', '', 'c']);
    expect(splitCsvRecord('a,"b, c","d ""e"""')).toEqual(['a', 'b, c', 'd "e"']);
    expect(splitCsvRecord('"",x,')).toEqual(['', 'x', '']);
    expect(splitCsvRecord('"a\nb",c')).toEqual(['a\nb', 'c']);
    expect(splitCsvRecord('a,"b')).toBe('unterminated quoted field');
    expect(splitCsvRecord('a,"b"c')).toMatch(/after a closing quote/);
    expect(splitCsvRecord('a,b"c"')).toMatch(/stray quote/);
  });
});
