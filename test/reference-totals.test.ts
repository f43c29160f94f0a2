/**
 * The independent reference reproduces ../shared/data/expected-totals.json
 * (computed outside the project) exactly: the two agree on the definitions.
 * Without the shared data this test fails; it never skips.
 */
import fs from 'node:fs';
import path from 'node:path';
import { requireSharedExport } from './shared-data';
import {
  computeReference,
  computeReferenceHourly,
  dublinLocalHourToUtc,
  formatCents,
  referenceDaily,
  referenceTotals,
  utcToDublinLocal,
} from './reference-totals';

interface ExpectedBranch {
  sales: string;
  orders: number;
  refund_rows: number;
  excluded_void_rows: { Voided: number; Void: number };
  busiest_local_hours: { hour: string; sales: string; orders: number }[];
  sample_local_days: { date: string; sales: string; orders: number }[];
}

const file = requireSharedExport();
const expectedFile = path.join(path.dirname(file), 'expected-totals.json');

function loadExpected(): Record<string, ExpectedBranch> {
  if (!fs.existsSync(expectedFile))
    throw new Error(`missing ${expectedFile}: the reference cannot be checked`);
  return (JSON.parse(fs.readFileSync(expectedFile, 'utf8')) as { branches: Record<string, ExpectedBranch> })
    .branches;
}

describe('reference totals from the shared POS export', () => {
  const expected = loadExpected();
  const ref = computeReference(file);

  it('covers exactly the three Nory branches', () => {
    expect(Object.keys(expected).sort()).toHaveLength(3);
    expect([...ref.totals.keys()].sort()).toEqual(Object.keys(expected).sort());
    expect([...ref.totals.values()].reduce((n, t) => n + t.rows, 0)).toBe(72_700);
  });

  it.each(['2hg8j32gw8g', '345hngydkgs', '352h67i328fh'])(
    'branch %s: total sales, orders, refund and void rows',
    (branch) => {
      const want = expected[branch]!;
      const got = ref.totals.get(branch)!;
      expect({
        sales: formatCents(got.salesCents),
        orders: got.orders,
        refund_rows: got.refundRows,
        excluded_void_rows: { Voided: got.voidedRows, Void: got.voidRows },
      }).toEqual({
        sales: want.sales,
        orders: want.orders,
        refund_rows: want.refund_rows,
        excluded_void_rows: want.excluded_void_rows,
      });
    },
  );

  it.each(['2hg8j32gw8g', '345hngydkgs', '352h67i328fh'])(
    'branch %s: the busiest local hours, in order',
    (branch) => {
      const want = expected[branch]!.busiest_local_hours;
      const hours = [...computeReferenceHourly(file).get(branch)!.entries()]
        .sort((a, b) => b[1].salesCents - a[1].salesCents || a[0] - b[0])
        .slice(0, want.length)
        .map(([hour, v]) => ({
          hour: utcToDublinLocal(hour),
          sales: formatCents(v.salesCents),
          orders: v.orders,
        }));
      expect(hours).toEqual(want);
    },
  );

  it.each(['2hg8j32gw8g', '345hngydkgs', '352h67i328fh'])(
    'branch %s: sample local days (incl. the 2020-10-25 DST day)',
    (branch) => {
      const want = expected[branch]!.sample_local_days;
      expect(want.map((d) => d.date)).toContain('2020-10-25');
      const days = referenceDaily(file).get(branch)!;
      expect(
        want.map((d) => ({
          date: d.date,
          sales: formatCents(days.get(d.date)!.salesCents),
          orders: days.get(d.date)!.orders,
        })),
      ).toEqual(want);
      // The 25-hour DST day: its hourly buckets, local midnight to local midnight, add up to the daily figure.
      const dst = want.find((d) => d.date === '2020-10-25')!;
      const start = dublinLocalHourToUtc('2020-10-25', 0);
      const end = dublinLocalHourToUtc('2020-10-26', 0);
      expect(end - start).toBe(25 * 3_600_000);
      let sales = 0;
      let orders = 0;
      for (const [h, v] of computeReferenceHourly(file).get(branch)!) {
        if (h >= start && h < end) {
          sales += v.salesCents;
          orders += v.orders;
        }
      }
      expect({ date: dst.date, sales: formatCents(sales), orders }).toEqual(dst);
    },
  );

  it('hourly, daily and whole-file totals agree with each other', () => {
    for (const [branch, t] of referenceTotals(file)) {
      const sum = (m: Map<unknown, { salesCents: number; orders: number }>) =>
        [...m.values()].reduce(
          (a, v) => ({ salesCents: a.salesCents + v.salesCents, orders: a.orders + v.orders }),
          { salesCents: 0, orders: 0 },
        );
      expect(sum(ref.hourly.get(branch)!)).toEqual({ salesCents: t.salesCents, orders: t.orders });
      expect(sum(ref.daily.get(branch)!)).toEqual({ salesCents: t.salesCents, orders: t.orders });
    }
  });

  it('maps Dublin local hours to UTC with the documented DST policy', () => {
    expect(new Date(dublinLocalHourToUtc('2020-07-01', 12)).toISOString()).toBe('2020-07-01T11:00:00.000Z'); // IST
    expect(new Date(dublinLocalHourToUtc('2020-12-01', 12)).toISOString()).toBe('2020-12-01T12:00:00.000Z'); // GMT
    // 2020-10-25 01:00-01:59 happens twice: the earlier (IST) instant.
    expect(new Date(dublinLocalHourToUtc('2020-10-25', 1)).toISOString()).toBe('2020-10-25T00:00:00.000Z');
    expect(new Date(dublinLocalHourToUtc('2020-10-25', 2)).toISOString()).toBe('2020-10-25T02:00:00.000Z');
    // 2021-03-28 01:00 does not exist: shifted forward to 02:00 IST = 01:00Z.
    expect(new Date(dublinLocalHourToUtc('2021-03-28', 1)).toISOString()).toBe('2021-03-28T01:00:00.000Z');
    expect(new Date(dublinLocalHourToUtc('2021-03-28', 2)).toISOString()).toBe('2021-03-28T01:00:00.000Z');
    expect(utcToDublinLocal(Date.UTC(2020, 10, 20, 19))).toBe('2020-11-20T19:00');
  });
});
