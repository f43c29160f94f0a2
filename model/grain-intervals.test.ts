import { HOUR_MS } from '../lib/time/units';
import type { BranchForecast, HourlyForecast } from './forecast-types';
import { bucketInterval, conformalLevel, grainForHours, measureGrainFactors } from './grain-intervals';
import type { GrainFactors } from './interval-factors';

const hour = (h: Omit<HourlyForecast, 'hourStart'>): HourlyForecast => ({ hourStart: 0, ...h });
const twoHours = [
  hour({ salesP10: 8, salesP50: 10, salesP90: 13, ordersP10: 1, ordersP50: 2, ordersP90: 3 }),
  hour({ salesP10: 1, salesP50: 2, salesP90: 6, ordersP10: 0, ordersP50: 1, ordersP90: 2 }),
];
const factors = (spread: GrainFactors['spread']): GrainFactors => ({
  spread,
  day: { sales: 0.5, orders: 1 },
  week: { sales: 2, orders: 3 },
});

describe('bucketInterval', () => {
  test('without factors or at grain hour: the sums of the hourly quantiles (the former rule)', () => {
    const former = { salesP10: 9, salesP50: 12, salesP90: 19, ordersP10: 1, ordersP50: 3, ordersP90: 5 };
    expect(bucketInterval(twoHours, undefined, 'day')).toEqual(former);
    expect(bucketInterval(twoHours, factors('sum'), 'hour')).toEqual(former);
  });

  test('sum spread: p50 ± k × the summed half-widths (sales below 3, above 7; orders 2 and 2)', () => {
    expect(bucketInterval(twoHours, factors('sum'), 'day')).toEqual({
      salesP10: 10.5,
      salesP50: 12,
      salesP90: 15.5,
      ordersP10: 1,
      ordersP50: 3,
      ordersP90: 5,
    });
    // Week: orders 3 − 3 × 2 floors at 0.
    expect(bucketInterval(twoHours, factors('sum'), 'week')).toEqual({
      salesP10: 6,
      salesP50: 12,
      salesP90: 26,
      ordersP10: 0,
      ordersP50: 3,
      ordersP90: 9,
    });
  });

  test('rss spread: p50 ± k × the root-sum-of-squares of the half-widths', () => {
    const w = bucketInterval(twoHours, factors('rss'), 'week');
    expect(w.salesP10).toBeCloseTo(12 - 2 * Math.sqrt(5), 12);
    expect(w.salesP90).toBe(22);
    expect(w.ordersP10).toBe(0); // 3 − 3√2 floors at 0
    expect(w.ordersP90).toBeCloseTo(3 + 3 * Math.sqrt(2), 12);
  });

  test('the grain of a bucket by its forecast hours', () => {
    expect([1, 4, 5, 24, 63, 64, 168, 336].map(grainForHours)).toEqual([
      'hour',
      'hour',
      'day',
      'day',
      'day',
      'week',
      'week',
      'week',
    ]);
  });
});

describe('measureGrainFactors', () => {
  // 14 UTC days from a Monday midnight; the forecast says 10 ± 1 every hour (day: 240 ± 24, sum
  // spread; 7-day block: 1680 ± 168). Day d's actual sales are 240 + e[d]; orders are sales / 5.
  const start = Date.UTC(2021, 0, 4);
  const days = 14;
  const e = [0, 24, -48, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 72];
  const n = 20 * 24;
  const sales = new Float64Array(n).map((_, i) => 10 + (e[Math.floor(i / 24)] ?? 0) / 24);
  const series = {
    branchId: 'b',
    timezone: 'UTC',
    country: 'IE',
    start,
    sales,
    orders: sales.map((x) => x / 5),
  };
  const forecast: BranchForecast = {
    branchId: 'b',
    origin: start,
    hours: Array.from({ length: days * 24 }, (_, i) => ({
      hourStart: start + i * HOUR_MS,
      salesP10: 9,
      salesP50: 10,
      salesP90: 11,
      ordersP10: 1.8,
      ordersP50: 2,
      ordersP90: 2.2,
    })),
  };

  test('k per grain covers 80% of the days and of the overlapping 7-day blocks, conformal-corrected', () => {
    const g = measureGrainFactors([forecast], [series], start + days * 24 * HOUR_MS);
    // Days: 14 distinct, level ⌈15 × 0.8⌉ / 14 = 12/14; stretches |e|/24 = ten 0s, 0.5, 1, 2, 3:
    // index 12 of 14 is 2.
    expect(g.day.sales).toBe(2);
    // Blocks 0..7 of 7 days: 8 distinct, level ⌈9 × 0.8⌉ / 8 = 1; e sums −12, −12, −36, 12, 0,
    // 0, 0, 72 over a spread of 168: the largest, 72/168.
    expect(g.week.sales).toBeCloseTo(72 / 168, 12);
    // Orders are sales / 5, forecast and actual alike: the same factors.
    expect(g.day.orders).toBeCloseTo(2, 12);
    expect(g.week.orders).toBeCloseTo(72 / 168, 12);
    // Equal-width buckets: both spreads give the same intervals; the tie keeps 'sum'.
    expect(g.spread).toBe('sum');
    expect({ days: g.days, weeks: g.weeks }).toEqual({ days: 28, weeks: 16 });
  });

  test('every horizon weighs the same, however many origins score it', () => {
    // Actual sales 10 an hour, except days 10..13: +24, +48, +48, +72 a day (stretches 1, 2, 2, 3).
    const late = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 24, 48, 48, 72];
    const flat = new Float64Array(n).map((_, i) => 10 + (late[Math.floor(i / 24)] ?? 0) / 24);
    const s = { ...series, sales: flat, orders: flat.map((x) => x / 5) };
    const from = (day: number, length: number): BranchForecast => ({
      ...forecast,
      origin: start + day * 24 * HOUR_MS,
      hours: forecast.hours
        .slice(0, length * 24)
        .map((h, i) => ({ ...h, hourStart: start + (day * 24 + i) * HOUR_MS })),
    });
    // One 14-day forecast, and two one-day forecasts of each of days 0..9 (horizon 0, no error).
    const oneDay = Array.from({ length: 20 }, (_, i) => from(i % 10, 1));
    const forecasts = [from(0, 14), ...oneDay];
    const g = measureGrainFactors(
      forecasts,
      forecasts.map(() => s),
      start + days * 24 * HOUR_MS,
    );
    // 14 distinct days: level 12/14. Counted once each, 30 of the 34 days need no stretch and k
    // would be the floor (0.05). Weighed per horizon (horizon 0: 21 scores of 1/21; 1..13: 1 each),
    // no stretch holds 10/14 of the weight, ≤ 1 holds 11/14, ≤ 2 holds 13/14 ≥ 12/14: k = 2.
    expect(g.day.sales).toBe(2);
    expect(g.days).toBe(2 * 34);
  });

  test('the conformal level counts distinct buckets: ⌈(n + 1) × 0.8⌉ / n', () => {
    expect([1, 4, 8, 14, 24, 42].map(conformalLevel)).toEqual([1, 1, 1, 12 / 14, 20 / 24, 35 / 42]);
  });

  test('days cut by the end of the window and blocks that would cross it are not scored', () => {
    const g = measureGrainFactors([forecast], [series], start + (days * 24 - 3) * HOUR_MS);
    expect({ days: g.days, weeks: g.weeks }).toEqual({ days: 26, weeks: 14 });
  });
});
