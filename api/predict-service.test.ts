import fc from 'fast-check';
import { assemblePrediction, type AssembleInput } from './predict-service';
import { GRANULARITIES, predictResponseSchema, type Granularity } from './schemas';
import { toCents, toMilli, type ActualHour, type ServedRun } from './served-types';
import { formatCivilDate, parseCivilDate } from '../lib/time/civil-date';
import { HOUR_MS } from '../lib/time/units';

const DUBLIN = { id: 'b1', name: 'Nory Sushi', timezone: 'Europe/Dublin', currency: 'EUR' };
const day = (s: string) => parseCivilDate(s) as number;
const utc = (s: string) => Date.parse(s);

/** A run of `hours` points from `origin`; values in major units / counts. */
function run(
  origin: number,
  hours: number,
  v: (i: number) => { s: number; o: number } = () => ({ s: 10, o: 2 }),
): ServedRun {
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
    generatedAt: origin + 60_000,
    dataThrough: origin - HOUR_MS,
    horizonEnd: origin + hours * HOUR_MS,
    firstHour: origin,
    hours,
    ...r,
  };
}

function actuals(
  from: number,
  to: number,
  v: (h: number) => ActualHour = () => ({ salesCents: 1234, orders: 3 }),
): Map<number, ActualHour> {
  const m = new Map<number, ActualHour>();
  for (let h = from; h < to; h += HOUR_MS) m.set(h, v(h));
  return m;
}

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

const sum = (xs: (number | null)[]) => xs.reduce<number>((a, x) => a + (x ?? 0), 0);
const cents = (x: number | null) => (x === null ? null : Math.round(x * 100));

describe('assemblePrediction', () => {
  it('DST days: 25 and 23 hourly rows, daily hours and sums follow', () => {
    const origin = utc('2020-10-24T00:00:00Z');
    const out = assemblePrediction(
      input({ startDay: day('2020-10-25'), endDay: day('2020-10-25'), run: run(origin, 24 * 4) }),
    );
    expect(out.hourly).toHaveLength(25);
    expect(out.daily?.[0]).toMatchObject({
      date: '2020-10-25',
      hours: 25,
      missing_hours: 0,
      sales: 250,
      orders: 50,
      source: 'forecast',
    });
    const spring = assemblePrediction(
      input({
        startDay: day('2021-03-28'),
        endDay: day('2021-03-28'),
        run: run(utc('2021-03-27T00:00:00Z'), 72),
      }),
    );
    expect(spring.hourly).toHaveLength(23);
    expect(spring.daily?.[0]).toMatchObject({
      hours: 23,
      sales: 230,
      sales_p10: 115,
      sales_p90: 460,
      orders: 46,
    });
    expect(predictResponseSchema.safeParse(out).success).toBe(true);
  });

  it('weeks are ISO weeks clipped to the range, with day counts', () => {
    // 2021-02-04 is a Thursday, 2021-02-10 a Wednesday.
    const out = assemblePrediction(
      input({
        startDay: day('2021-02-04'),
        endDay: day('2021-02-10'),
        run: run(utc('2021-02-01T00:00:00Z'), 24 * 14),
      }),
    );
    expect(out.weekly).toEqual([
      expect.objectContaining({
        week_start: '2021-02-01',
        iso_week: '2021-W05',
        first_date: '2021-02-04',
        last_date: '2021-02-07',
        days: 4,
        sales: 960,
      }),
      expect.objectContaining({
        week_start: '2021-02-08',
        iso_week: '2021-W06',
        first_date: '2021-02-08',
        last_date: '2021-02-10',
        days: 3,
        sales: 720,
      }),
    ]);
    expect(out.range).toEqual({ start: '2021-02-04', end: '2021-02-10', days: 7 });
    expect(out.totals).toMatchObject({ days: 7, sales: 1680, orders: 336, source: 'forecast' });
    expect(out.daily).toHaveLength(7);
    expect(out.hourly).toHaveLength(168);
  });

  it('actual hours, forecast hours and mixed days', () => {
    const origin = utc('2021-02-05T12:00:00Z'); // Dublin = UTC in February
    const out = assemblePrediction(
      input({
        startDay: day('2021-02-04'),
        endDay: day('2021-02-06'),
        run: run(origin, 24 * 7),
        actuals: actuals(utc('2021-02-04T00:00:00Z'), origin),
        lastClosedHour: origin - HOUR_MS,
      }),
    );
    const [d4, d5, d6] = out.daily!;
    expect(d4).toMatchObject({
      source: 'actual',
      sales: 296.16,
      sales_p10: 296.16,
      sales_p90: 296.16,
      orders: 72,
      orders_p10: 72,
    });
    expect(d5).toMatchObject({
      source: 'mixed',
      sales: Math.round(12 * 1234 + 12 * 1000) / 100,
      sales_p10: (12 * 1234 + 12 * 500) / 100,
      orders: 36 + 24,
    });
    expect(d6).toMatchObject({ source: 'forecast', sales: 240 });
    const h = out.hourly!;
    expect(h[0]).toEqual({
      start: '2021-02-04T00:00:00+00:00',
      sales: 12.34,
      sales_p10: 12.34,
      sales_p90: 12.34,
      orders: 3,
      orders_p10: 3,
      orders_p90: 3,
      source: 'actual',
    });
    expect(h[36]).toMatchObject({
      start: '2021-02-05T12:00:00+00:00',
      source: 'forecast',
      sales: 10,
      sales_p10: 5,
      sales_p90: 20,
      orders: 2,
    });
    expect(out.totals.source).toBe('mixed');
    expect(out.weekly?.[0]?.source).toBe('mixed');
    expect(out.last_closed_hour).toBe('2021-02-05T11:00:00.000Z');
    expect(out.coverage).toEqual({ complete: true, missing: [], missing_hours: 0 });
  });

  it('beyond the horizon and before history: nulls, listed in coverage, never zeros', () => {
    const origin = utc('2021-02-05T00:00:00Z');
    const out = assemblePrediction(
      input({
        startDay: day('2021-02-02'),
        endDay: day('2021-02-08'),
        run: run(origin, 48), // covers 02-05 and 02-06
        actuals: actuals(utc('2021-02-03T10:00:00Z'), origin), // history starts 02-03 10:00
      }),
    );
    const byDate = Object.fromEntries(out.daily!.map((d) => [d.date, d]));
    expect(byDate['2021-02-02']).toMatchObject({
      sales: null,
      orders: null,
      sales_p10: null,
      orders_p90: null,
      source: 'missing',
      missing_hours: 24,
    });
    expect(byDate['2021-02-03']).toMatchObject({ sales: null, source: 'missing', missing_hours: 10 });
    expect(byDate['2021-02-04']).toMatchObject({ source: 'actual', missing_hours: 0 });
    expect(byDate['2021-02-06']).toMatchObject({ source: 'forecast', sales: 240 });
    expect(byDate['2021-02-07']).toMatchObject({ sales: null, source: 'missing', missing_hours: 24 });
    expect(out.coverage).toEqual({
      complete: false,
      missing: ['2021-02-02', '2021-02-03', '2021-02-07', '2021-02-08'],
      missing_hours: 24 + 10 + 48,
    });
    expect(out.totals).toMatchObject({ sales: null, orders: null, source: 'missing' });
    expect(out.weekly?.every((w) => w.sales === null && w.source === 'missing')).toBe(true);
    const missingHour = out.hourly!.find((r) => r.start === '2021-02-07T05:00:00+00:00');
    expect(missingHour).toEqual({
      start: '2021-02-07T05:00:00+00:00',
      sales: null,
      sales_p10: null,
      sales_p90: null,
      orders: null,
      orders_p10: null,
      orders_p90: null,
      source: 'missing',
    });
    expect(predictResponseSchema.safeParse(out).success).toBe(true);
  });

  it('rounds to cents (half away from zero) and sums exactly', () => {
    expect(toCents(1.005)).toBe(101);
    expect(toCents(0.1 + 0.2)).toBe(30);
    expect(toCents(2.675)).toBe(268);
    expect(toMilli(1.0005)).toBe(1001);
    const origin = utc('2021-02-04T00:00:00Z');
    const out = assemblePrediction(
      input({
        startDay: day('2021-02-04'),
        endDay: day('2021-02-05'),
        run: run(origin, 48, (i) => ({ s: 0.1 + i * 0.011 + 0.0049, o: 0.3333 + i / 7 })),
      }),
    );
    const all = [...out.hourly!, ...out.daily!, ...out.weekly!, out.totals];
    for (const r of all) {
      for (const x of [r.sales, r.sales_p10, r.sales_p90]) expect(Math.round(x! * 100) / 100).toBe(x);
      for (const x of [r.orders, r.orders_p10, r.orders_p90]) expect(Math.round(x! * 1000) / 1000).toBe(x);
    }
    // A day is exactly the sum of its (rounded) hours; the total the sum of the days.
    expect(cents(out.daily![0]!.sales)).toBe(sum(out.hourly!.slice(0, 24).map((h) => cents(h.sales))));
    expect(cents(out.totals.sales)).toBe(sum(out.daily!.map((d) => cents(d.sales))));
  });

  it('returns only the requested granularities (totals and coverage always)', () => {
    const out = assemblePrediction(
      input({
        startDay: day('2021-02-04'),
        endDay: day('2021-02-04'),
        run: run(utc('2021-02-04T00:00:00Z'), 24),
        granularity: new Set<Granularity>(['daily']),
      }),
    );
    expect(out.daily).toHaveLength(1);
    expect(out).not.toHaveProperty('hourly');
    expect(out).not.toHaveProperty('weekly');
    expect(out.granularity).toEqual(['daily']);
    expect(out.totals.sales).toBe(240);
  });

  it('invariants hold for random zones, ranges, runs and actuals (property)', () => {
    const zones = [
      'Europe/Dublin',
      'America/New_York',
      'Asia/Kolkata',
      'Australia/Lord_Howe',
      'UTC',
      'America/Santiago',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: day('2020-01-01'), max: day('2022-12-31') }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: -30 * 24, max: 30 * 24 }),
        fc.integer({ min: 0, max: 20 * 24 }),
        fc.integer({ min: 0, max: 10 * 24 }),
        (zone, startDay, len, originOffsetH, runHours, actualHours) => {
          const branch = { ...DUBLIN, timezone: zone };
          const origin = startDay * 86_400_000 + originOffsetH * HOUR_MS;
          const out = assemblePrediction({
            branch,
            startDay,
            endDay: startDay + len,
            granularity: new Set(GRANULARITIES),
            run: run(origin, runHours, (i) => ({ s: (i % 13) * 1.37, o: (i % 5) / 3 })),
            actuals: actuals(origin - actualHours * HOUR_MS, origin, (h) => ({
              salesCents: (h / HOUR_MS) % 977,
              orders: (h / HOUR_MS) % 4,
            })),
            lastClosedHour: origin - HOUR_MS,
          });
          expect(predictResponseSchema.safeParse(out).success).toBe(true);
          const daily = out.daily!;
          expect(daily.map((d) => d.date)).toEqual(
            Array.from({ length: len + 1 }, (_, i) => formatCivilDate(startDay + i)),
          );
          expect(out.hourly!.length).toBe(sum(daily.map((d) => d.hours)));
          expect(sum(out.weekly!.map((w) => w.days))).toBe(len + 1);
          let i = 0;
          for (const d of daily) {
            const hours = out.hourly!.slice(i, i + d.hours);
            i += d.hours;
            const missing = hours.filter((h) => h.source === 'missing').length;
            expect(d.missing_hours).toBe(missing);
            if (missing === 0) {
              expect(cents(d.sales)).toBe(sum(hours.map((h) => cents(h.sales))));
              const kinds = new Set(hours.map((h) => h.source));
              expect(d.source).toBe(kinds.size > 1 ? 'mixed' : [...kinds][0]);
            } else {
              expect(d).toMatchObject({ sales: null, orders: null, source: 'missing' });
            }
            for (const h of hours) if (h.source === 'actual') expect(h.sales_p10).toBe(h.sales);
          }
          expect(out.coverage.complete).toBe(out.coverage.missing.length === 0);
          expect(out.totals.sales === null).toBe(!out.coverage.complete);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('assemblePrediction with the run’s grain factors (calibrated day/week/total ranges)', () => {
  // Every forecast hour: sales p10/p50/p90 5/10/20, orders 1/2/4 (half-widths below 5 and 1,
  // above 10 and 2); spread 'sum'. A bucket of n forecast hours: p50 ± k × n × half-width.
  const monday = utc('2021-01-04T00:00:00Z'); // Europe/Dublin is UTC in January
  const factors = {
    spread: 'sum' as const,
    day: { sales: 0.5, orders: 0.25 },
    week: { sales: 0.2, orders: 0.1 },
  };
  const calibrated = (): ServedRun => ({ ...run(monday, 24 * 10), grainFactors: factors });

  it('a forecast day: p50 the sum of its hours, p10/p90 at k_day × the summed half-widths', () => {
    const out = assemblePrediction(
      input({ startDay: day('2021-01-05'), endDay: day('2021-01-05'), run: calibrated() }),
    );
    // sales 240 − 0.5 × 120, 240 + 0.5 × 240; orders 48 − 0.25 × 24, 48 + 0.25 × 48.
    expect(out.daily?.[0]).toMatchObject({
      sales: 240,
      sales_p10: 180,
      sales_p90: 360,
      orders: 48,
      orders_p10: 42,
      orders_p90: 60,
      source: 'forecast',
    });
    // Hours keep their own quantiles.
    expect(out.hourly?.[0]).toMatchObject({ sales: 10, sales_p10: 5, sales_p90: 20 });
  });

  it('a mixed day and its week: the actual sum exactly plus the interval of the forecast hours', () => {
    const out = assemblePrediction(
      input({
        startDay: day('2021-01-04'),
        endDay: day('2021-01-10'),
        run: calibrated(),
        actuals: actuals(monday, monday + 12 * HOUR_MS), // 12 × (12.34, 3)
      }),
    );
    // Day: actual 148.08 / 36; 12 forecast hours at k_day: sales 120 − 30, 120 + 60; orders 24 − 3, 24 + 6.
    expect(out.daily?.[0]).toMatchObject({
      sales: 268.08,
      sales_p10: 238.08,
      sales_p90: 328.08,
      orders: 60,
      orders_p10: 57,
      orders_p90: 66,
      source: 'mixed',
    });
    // Week: 156 forecast hours at k_week: sales 1560 − 0.2 × 780, 1560 + 0.2 × 1560; orders 312 ∓ 0.1 × 156 / 312.
    const week = {
      sales: 1708.08,
      sales_p10: 1552.08,
      sales_p90: 2020.08,
      orders: 348,
      orders_p10: 332.4,
      orders_p90: 379.2,
    };
    expect(out.weekly?.[0]).toMatchObject({ iso_week: '2021-W01', ...week, source: 'mixed' });
    expect(out.totals).toMatchObject(week);
  });

  it('partial ISO weeks take the grain of their forecast hours: 72 → week, 48 → day; the total 120 → week', () => {
    const out = assemblePrediction(
      input({ startDay: day('2021-01-08'), endDay: day('2021-01-12'), run: calibrated() }),
    );
    expect(
      out.weekly?.map((w) => [
        w.iso_week,
        w.sales,
        w.sales_p10,
        w.sales_p90,
        w.orders,
        w.orders_p10,
        w.orders_p90,
      ]),
    ).toEqual([
      ['2021-W01', 720, 648, 864, 144, 136.8, 158.4],
      ['2021-W02', 480, 360, 720, 96, 84, 120],
    ]);
    expect(out.totals).toMatchObject({
      sales: 1200,
      sales_p10: 1080,
      sales_p90: 1440,
      orders: 240,
      orders_p10: 228,
      orders_p90: 264,
    });
  });

  it('a day with fewer than 5 forecast hours sums their hourly quantiles (grain hour)', () => {
    const out = assemblePrediction(
      input({
        startDay: day('2021-01-04'),
        endDay: day('2021-01-04'),
        run: calibrated(),
        actuals: actuals(monday, monday + 21 * HOUR_MS),
      }),
    );
    // Actual 21 × 12.34 = 259.14; 3 forecast hours: 15 / 30 / 60.
    expect(out.daily?.[0]).toMatchObject({
      sales: 289.14,
      sales_p10: 274.14,
      sales_p90: 319.14,
      orders: 69,
      orders_p10: 66,
      orders_p90: 75,
    });
  });

  it('a run without factors (written before them) keeps the former rule: sums of the hourly quantiles', () => {
    const out = assemblePrediction(
      input({ startDay: day('2021-01-05'), endDay: day('2021-01-05'), run: run(monday, 24 * 10) }),
    );
    expect(out.daily?.[0]).toMatchObject({
      sales: 240,
      sales_p10: 120,
      sales_p90: 480,
      orders: 48,
      orders_p10: 24,
      orders_p90: 96,
    });
  });
});

describe('assemblePrediction with explain=true (where each value comes from)', () => {
  const origin = utc('2021-03-15T00:00:00Z'); // Monday; St Patrick's Day is Wednesday 17 March
  const IE = { ...DUBLIN, country: 'IE' };
  /** A run whose hours carry parts: level 6, shape s − 6 − calendar, calendar 1.5 on the 17th, the rest the network's. */
  function explainedRun(hours: number): ServedRun {
    const r = run(origin, hours, (i) => ({ s: 10 + (i % 5), o: 2 }));
    const a = () => new Float64Array(hours);
    const parts = {
      salesLevel: a(),
      salesShape: a(),
      salesCalendar: a(),
      ordersLevel: a(),
      ordersShape: a(),
      ordersCalendar: a(),
    };
    for (let i = 0; i < hours; i++) {
      const onPatricks = i >= 48 && i < 72;
      parts.salesLevel[i] = 600;
      parts.salesShape[i] = 250;
      parts.salesCalendar[i] = onPatricks ? 150 : 0;
      parts.ordersLevel[i] = 1500;
      parts.ordersShape[i] = 250;
      parts.ordersCalendar[i] = onPatricks ? 100 : 0;
    }
    return { ...r, parts };
  }

  it('every day, week and the totals: actual + level + shape + calendar + network = the value, to the cent', () => {
    const r = explainedRun(24 * 14);
    // The first 30 hours have closed: actual 12.34 / 3 each.
    const out = assemblePrediction(
      input({
        branch: IE,
        startDay: day('2021-03-15'),
        endDay: day('2021-03-21'),
        run: r,
        actuals: actuals(origin, origin + 30 * HOUR_MS),
        explain: true,
      }),
    );
    expect(predictResponseSchema.parse(out)).toEqual(out);
    expect(out.explained).toBe(true);
    const rows = [...(out.daily ?? []), ...(out.weekly ?? []), out.totals];
    expect(rows).toHaveLength(9);
    for (const row of rows) {
      const e = row.explain!;
      const s = e.sales;
      const o = e.orders;
      expect(Math.round((s.actual + s.level + s.shape + s.calendar + s.network) * 100)).toBe(
        cents(row.sales),
      );
      expect(Math.round((o.actual + o.level + o.shape + o.calendar + o.network) * 1000)).toBe(
        Math.round(row.orders! * 1000),
      );
    }
    const [mon, tue, wed] = out.daily!;
    // Monday: all 24 hours closed, no forecast part at all.
    expect(mon!.explain).toEqual({
      sales: { actual: 296.16, level: 0, shape: 0, calendar: 0, network: 0 },
      orders: { actual: 72, level: 0, shape: 0, calendar: 0, network: 0 },
      special_days: [],
    });
    // Tuesday: 6 actual hours, 18 forecast hours (level 6 and shape 2.5 each); the eve of St Patrick's Day.
    expect(tue!.explain!.sales).toMatchObject({ actual: 74.04, level: 108, shape: 45, calendar: 0 });
    expect(tue!.explain!.special_days).toEqual([
      { date: '2021-03-17', name: "St Patrick's Day", kind: 'eve_of_public_holiday' },
    ]);
    // Wednesday: the holiday, its calendar part 24 × 1.5 and 24 × 0.1 orders.
    expect(wed!.explain!.sales).toMatchObject({ actual: 0, level: 144, shape: 60, calendar: 36 });
    expect(wed!.explain!.orders).toMatchObject({ actual: 0, level: 36, shape: 6, calendar: 2.4 });
    expect(wed!.explain!.special_days).toEqual([
      { date: '2021-03-17', name: "St Patrick's Day", kind: 'public_holiday' },
    ]);
    // The week and the totals name each special day once.
    expect(out.totals.explain!.special_days).toEqual([
      { date: '2021-03-17', name: "St Patrick's Day", kind: 'eve_of_public_holiday' },
      { date: '2021-03-17', name: "St Patrick's Day", kind: 'public_holiday' },
    ]);
  });

  it("a day with the branch's calendar entry carries it, and with explain names it first among its special days", () => {
    const out = assemblePrediction(
      input({
        branch: IE,
        startDay: day('2021-03-16'),
        endDay: day('2021-03-19'),
        run: explainedRun(24 * 14),
        explain: true,
        branchCalendar: new Map([
          [day('2021-03-17'), { kind: 'closed' as const, name: 'Refit', note: 'new kitchen' }],
          [day('2021-03-19'), { kind: 'event' as const, name: 'Match day' }],
        ]),
      }),
    );
    expect(predictResponseSchema.parse(out)).toEqual(out);
    const [tue, wed, thu, fri] = out.daily!;
    expect([tue, thu].map((d) => 'calendar' in d!)).toEqual([false, false]);
    expect(wed!.calendar).toEqual({ kind: 'closed', name: 'Refit', note: 'new kitchen' });
    expect(fri!.calendar).toEqual({ kind: 'event', name: 'Match day' });
    expect(wed!.explain!.special_days).toEqual([
      { date: '2021-03-17', name: 'Refit', kind: 'closed' },
      { date: '2021-03-17', name: "St Patrick's Day", kind: 'public_holiday' },
    ]);
    expect(fri!.explain!.special_days).toEqual([{ date: '2021-03-19', name: 'Match day', kind: 'event' }]);
    // Weeks and totals hold only the days' values: no calendar field of their own.
    expect(out.weekly!.every((w) => !('calendar' in w))).toBe(true);
  });

  it('a run stored without parts: explained false, explain null wherever forecast hours are; no explain without asking', () => {
    const r = run(origin, 24 * 14);
    const out = assemblePrediction(
      input({
        branch: IE,
        startDay: day('2021-03-15'),
        endDay: day('2021-03-16'),
        run: r,
        actuals: actuals(origin, origin + 24 * HOUR_MS),
        explain: true,
      }),
    );
    expect(out.explained).toBe(false);
    expect(out.daily![0]!.explain).toMatchObject({ sales: { actual: 296.16, network: 0 } });
    expect(out.daily![1]!.explain).toBeNull();
    expect(out.totals.explain).toBeNull();
    const plain = assemblePrediction(
      input({ branch: IE, startDay: day('2021-03-15'), endDay: day('2021-03-16'), run: explainedRun(48) }),
    );
    expect(plain.explained).toBeUndefined();
    expect(plain.daily![1]).not.toHaveProperty('explain');
  });

  it('a missing day has no explanation', () => {
    const out = assemblePrediction(
      input({
        branch: IE,
        startDay: day('2021-03-15'),
        endDay: day('2021-03-31'),
        run: explainedRun(24 * 14),
        explain: true,
      }),
    );
    const last = out.daily!.at(-1)!;
    expect(last.source).toBe('missing');
    expect(last.explain).toBeNull();
    expect(out.totals.explain).toBeNull();
  });
});
