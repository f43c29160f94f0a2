/**
 * The /predict plan (api/plan.ts, predict-service.ts): the override spread over the day's hours
 * by the model's hourly values, exact to the cent and the thousandth at every grain (property
 * tested over random runs, overrides and ranges, DST days included), a zero-shape day spread
 * evenly, and no plan fields at all without an override in the range.
 */
import fc from 'fast-check';
import { spread, type PlannedOverride } from './plan';
import { assemblePrediction, type AssembleInput } from './predict-service';
import { GRANULARITIES, predictResponseSchema } from './schemas';
import { toCents, toMilli, type ServedRun } from './served-types';
import { parseCivilDate } from '../lib/time/civil-date';
import { HOUR_MS } from '../lib/time/units';

const DUBLIN = { id: 'b1', name: 'Nory Sushi', timezone: 'Europe/Dublin', currency: 'EUR' };
const day = (s: string) => parseCivilDate(s) as number;
const utc = (s: string) => Date.parse(s);

function run(origin: number, hours: number, v: (i: number) => { s: number; o: number }): ServedRun {
  const a = () => new Float64Array(hours);
  const r = { salesP10: a(), salesP50: a(), salesP90: a(), ordersP10: a(), ordersP50: a(), ordersP90: a() };
  for (let i = 0; i < hours; i++) {
    const { s, o } = v(i);
    r.salesP10[i] = toCents(s * 0.5);
    r.salesP50[i] = toCents(s);
    r.salesP90[i] = toCents(s * 2);
    r.ordersP10[i] = toMilli(o * 0.5);
    r.ordersP50[i] = toMilli(o);
    r.ordersP90[i] = toMilli(o * 2);
  }
  return {
    runId: 'run-1',
    modelVersion: 'm1',
    generatedAt: origin,
    dataThrough: origin - HOUR_MS,
    horizonEnd: origin + hours * HOUR_MS,
    firstHour: origin,
    hours,
    ...r,
  };
}

const override = (salesCents: number | null, orders: number | null): PlannedOverride => ({
  salesCents,
  orders,
  reason: 'match day',
  setAt: utc('2021-02-01T09:00:00Z'),
  keyId: 'k1',
  keyName: 'anna',
});

function input(
  over: Partial<AssembleInput> & Pick<AssembleInput, 'startDay' | 'endDay' | 'run'>,
): AssembleInput {
  return {
    branch: DUBLIN,
    granularity: new Set(GRANULARITIES),
    actuals: new Map(),
    lastClosedHour: null,
    ...over,
  };
}

const c = (x: number | null | undefined) => (x === null || x === undefined ? NaN : Math.round(x * 100));
const m = (x: number | null | undefined) => (x === null || x === undefined ? NaN : Math.round(x * 1000));

describe('spread', () => {
  it('splits in proportion, the remainder to the largest fractions, exactly', () => {
    expect(spread(100, [1, 1, 1])).toEqual([34, 33, 33]);
    expect(spread(1000, [0, 3, 1])).toEqual([0, 750, 250]);
    expect(spread(7, [0, 0, 0, 0])).toEqual([2, 2, 2, 1]); // no positive weight: evenly
    expect(spread(5, [-3, 2, NaN])).toEqual([0, 5, 0]);
    expect(spread(0, [1, 2])).toEqual([0, 0]);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e10 }),
        fc.array(fc.integer({ min: -50_000, max: 5_000_000 }), { minLength: 1, maxLength: 25 }),
        (total, weights) => {
          const out = spread(total, weights);
          expect(out.reduce((a, b) => a + b, 0)).toBe(total);
          expect(out.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
          if (weights.some((w) => w > 0)) weights.forEach((w, i) => w <= 0 && expect(out[i]).toBe(0));
        },
      ),
    );
  });
});

describe('the plan in /predict', () => {
  const origin = utc('2021-02-01T00:00:00Z');
  // Hour i of the day sells 10 * (hour of day) EUR, 0 at night: the model's shape.
  const shaped = run(origin, 24 * 14, (i) => ({ s: 10 * (i % 24), o: 0.5 * (i % 24) }));

  it('spreads the override by the hourly model shape; days, weeks and totals add up exactly', () => {
    const overrides = new Map([
      [day('2021-02-03'), override(2_000_00, 150)],
      [day('2021-02-09'), override(99_99, null)], // sales only
    ]);
    const out = assemblePrediction(
      input({ startDay: day('2021-02-02'), endDay: day('2021-02-10'), run: shaped, overrides }),
    );
    expect(predictResponseSchema.parse(out)).toEqual(out);
    const daily = out.daily!;
    const d3 = daily.find((d) => d.date === '2021-02-03')!;
    expect(d3.plan).toEqual({ sales: 2000, orders: 150 });
    expect(d3.override).toEqual({
      sales: 2000,
      orders: 150,
      reason: 'match day',
      set_at: '2021-02-01T09:00:00.000Z',
      set_by: { key_id: 'k1', key_name: 'anna' },
    });
    // The model's values are untouched.
    expect(d3).toMatchObject({ sales: 2760, orders: 138, source: 'forecast' });
    const d9 = daily.find((d) => d.date === '2021-02-09')!;
    expect(d9.plan).toEqual({ sales: 99.99, orders: 138 });
    const d2 = daily.find((d) => d.date === '2021-02-02')!;
    expect(d2).toMatchObject({ plan: { sales: 2760, orders: 138 }, override: null });

    // Hours of 02-03: sales in proportion to 10 * hour (sum 2760), to the cent.
    const hours = out.hourly!.filter((h) => h.start.startsWith('2021-02-03'));
    expect(hours).toHaveLength(24);
    expect(hours[0]!.plan).toEqual({ sales: 0, orders: 0 });
    expect(hours.reduce((a, h) => a + c(h.plan!.sales), 0)).toBe(2_000_00);
    expect(hours.reduce((a, h) => a + m(h.plan!.orders), 0)).toBe(150_000);
    hours.forEach((h, i) => expect(Math.abs(c(h.plan!.sales) - (200_000 * i) / 276)).toBeLessThan(1));
    // A day without an override: its hours' plan is their model value.
    for (const h of out.hourly!.filter((x) => x.start.startsWith('2021-02-02')))
      expect(h.plan).toEqual({ sales: h.sales, orders: h.orders });

    // Weeks and totals: sums of the days' plans.
    for (const w of out.weekly!) {
      const days = daily.filter((d) => d.date >= w.first_date && d.date <= w.last_date);
      expect(c(w.plan!.sales)).toBe(days.reduce((a, d) => a + c(d.plan!.sales), 0));
      expect(m(w.plan!.orders)).toBe(days.reduce((a, d) => a + m(d.plan!.orders), 0));
    }
    expect(out.totals.plan).toEqual({
      sales: (7 * 2760_00 + 2_000_00 + 99_99) / 100,
      orders: 8 * 138 + 150,
      overridden_days: 2,
    });
  });

  it('a day the model forecasts at 0 everywhere: the override spread evenly over its hours', () => {
    const closedDay = run(origin, 24 * 3, (i) => ({
      s: i >= 24 && i < 48 ? 0 : 10,
      o: i >= 24 && i < 48 ? 0 : 1,
    }));
    const out = assemblePrediction(
      input({
        startDay: day('2021-02-02'),
        endDay: day('2021-02-02'),
        run: closedDay,
        overrides: new Map([[day('2021-02-02'), override(100_01, 25)]]),
      }),
    );
    const hours = out.hourly!;
    // 100.01 EUR = 24 x 4.16 + 17 cents, to the first 17 hours; 25 orders = 24 x 1.041 + 16 thousandths.
    expect(hours.map((h) => c(h.plan!.sales))).toEqual([
      ...Array<number>(17).fill(417),
      ...Array<number>(7).fill(416),
    ]);
    expect(hours.map((h) => m(h.plan!.orders))).toEqual([
      ...Array<number>(16).fill(1042),
      ...Array<number>(8).fill(1041),
    ]);
    expect(hours.reduce((a, h) => a + m(h.plan!.orders), 0)).toBe(25_000);
  });

  it('no override in the range: the answer has no plan fields at all', () => {
    const out = assemblePrediction(
      input({
        startDay: day('2021-02-02'),
        endDay: day('2021-02-04'),
        run: shaped,
        overrides: new Map([[day('2021-02-10'), override(1, 1)]]),
      }),
    );
    expect(JSON.stringify(out)).not.toMatch(/plan|override/);
  });

  it('adds up to the cent at every grain for random shapes, overrides and ranges (DST days too)', () => {
    const dstOrigin = utc('2021-03-20T00:00:00Z'); // 2021-03-28: 23 hours in Dublin
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -500, max: 100_000 }), { minLength: 24 * 21, maxLength: 24 * 21 }),
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 20 }),
            fc.option(fc.integer({ min: 0, max: 50_000_00 })),
            fc.option(fc.integer({ min: 0, max: 5000 })),
          ),
          { minLength: 1, maxLength: 8 },
        ),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 10 }),
        (values, ovs, s, len) => {
          const r = run(dstOrigin, 24 * 21, (i) => ({ s: values[i]! / 100, o: values[i]! / 1000 }));
          const first = day('2021-03-20');
          const overrides = new Map<number, PlannedOverride>();
          for (const [d, sales, orders] of ovs)
            overrides.set(first + d, override(sales, orders === null && sales === null ? 1 : orders));
          const out = assemblePrediction(
            input({ startDay: first + s, endDay: first + s + len, run: r, overrides }),
          );
          const daily = out.daily!;
          if (!daily.some((d) => d.override)) return;
          let hi = 0;
          for (const d of daily) {
            const hs = out.hourly!.slice(hi, hi + d.hours);
            hi += d.hours;
            expect(c(d.plan!.sales)).toBe(hs.reduce((a, h) => a + c(h.plan!.sales), 0));
            expect(m(d.plan!.orders)).toBe(hs.reduce((a, h) => a + m(h.plan!.orders), 0));
            if (d.override?.sales != null) expect(c(d.plan!.sales)).toBe(c(d.override.sales));
          }
          for (const w of out.weekly!) {
            const ds = daily.filter((d) => d.date >= w.first_date && d.date <= w.last_date);
            expect(c(w.plan!.sales)).toBe(ds.reduce((a, d) => a + c(d.plan!.sales), 0));
            expect(m(w.plan!.orders)).toBe(ds.reduce((a, d) => a + m(d.plan!.orders), 0));
          }
          expect(c(out.totals.plan!.sales)).toBe(daily.reduce((a, d) => a + c(d.plan!.sales), 0));
          expect(m(out.totals.plan!.orders)).toBe(daily.reduce((a, d) => a + m(d.plan!.orders), 0));
        },
      ),
      { numRuns: 150 },
    );
  });
});
