import { HOUR_MS } from '../lib/time/units';
import type { BranchForecast } from './forecast-types';
import { addGroupCoverage, emptyGroupCoverage, groupInterval, measureGroupFactors } from './group-intervals';
import type { GrainFactors, GroupFactors } from './interval-factors';
import type { HourlySeries } from './series';

describe('groupInterval', () => {
  const a = { salesP10: 90, salesP50: 100, salesP90: 120, ordersP10: 9, ordersP50: 10, ordersP90: 12 };
  const b = { salesP10: 45, salesP50: 50, salesP90: 60, ordersP10: 4, ordersP50: 5, ordersP90: 8 };
  const factors = (spread: 'sum' | 'rss', k: number): GroupFactors => ({
    hour: { spread, sales: k, orders: k },
    day: { spread, sales: k, orders: 2 * k },
    week: { spread, sales: 3 * k, orders: 3 * k },
  });

  test('without factors: the sums of the branches’ quantiles; a group of one is its branch', () => {
    expect(groupInterval([a, b], undefined, 'day')).toEqual({
      salesP10: 135,
      salesP50: 150,
      salesP90: 180,
      ordersP10: 13,
      ordersP50: 15,
      ordersP90: 20,
    });
    expect(groupInterval([a], factors('sum', 0.5), 'week')).toEqual(a);
  });

  test('sum: k × the summed half-widths around the summed p50, per grain and quantity', () => {
    // Sales half-widths 10 + 5 below, 20 + 10 above; orders 1 + 1 below, 2 + 3 above.
    expect(groupInterval([a, b], factors('sum', 0.5), 'day')).toEqual({
      salesP10: 150 - 0.5 * 15,
      salesP50: 150,
      salesP90: 150 + 0.5 * 30,
      ordersP10: 15 - 1 * 2,
      ordersP50: 15,
      ordersP90: 15 + 1 * 5,
    });
  });

  test('rss: k × the root-sum-of-squares; p10 floored at 0', () => {
    const g = groupInterval([a, b], factors('rss', 2), 'hour');
    expect(g.salesP10).toBeCloseTo(150 - 2 * Math.sqrt(125), 12);
    expect(g.salesP90).toBeCloseTo(150 + 2 * Math.sqrt(500), 12);
    expect(g.ordersP90).toBeCloseTo(15 + 2 * Math.sqrt(13), 12);
    expect(groupInterval([a, b], factors('rss', 20), 'week').salesP10).toBe(0);
  });
});

describe('measureGroupFactors', () => {
  // Two branches of group 'g' and one alone in 'h', 14 UTC days from a Monday midnight. Every
  // branch's forecast says 10 ± 1 each hour; with day and week grain factors 1 ('sum') a branch's
  // day is 240 ± 24 and a 7-day block 1680 ± 168, the group's 480 ± 48 and 3360 ± 336 (sum).
  // Both branches of 'g' miss the same way: day d's sales are 240 + e[d], spread evenly over
  // its hours; orders are sales / 5.
  const start = Date.UTC(2021, 0, 4);
  const days = 14;
  const e = [0, 24, -48, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 72];
  const grains: GrainFactors = { spread: 'sum', day: { sales: 1, orders: 1 }, week: { sales: 1, orders: 1 } };
  const seriesOf = (id: string, group: string): HourlySeries => {
    const sales = new Float64Array(20 * 24).map((_, i) => 10 + (e[Math.floor(i / 24)] ?? 0) / 24);
    return {
      branchId: id,
      timezone: 'UTC',
      country: 'IE',
      start,
      sales,
      orders: sales.map((x) => x / 5),
      group,
    };
  };
  const forecastOf = (id: string): BranchForecast => ({
    branchId: id,
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
  });
  const series = [seriesOf('a', 'g'), seriesOf('b', 'g'), seriesOf('c', 'h')];
  const forecasts = series.map((s) => forecastOf(s.branchId));
  const end = start + days * 24 * HOUR_MS;

  test('k per grain covers 80% of the group hours, days and 7-day blocks, conformal-corrected', () => {
    const g = measureGroupFactors(forecasts, series, end, grains)!;
    // Hours: 336 distinct, level ⌈337 × 0.8⌉ / 336 = 270/336; a group hour misses by e/12 over a
    // spread of 2 (sum): stretches |e|/24, 240 zeros, 24 × 0.5, 24 × 1, 24 × 2, 24 × 3: index 270 is 1.
    expect(g.hour.sales).toBeCloseTo(1, 12);
    // Days: 14 distinct, level 12/14; stretches |2e| / 48: ten 0s, 0.5, 1, 2, 3: index 12 is 2.
    expect(g.day.sales).toBeCloseTo(2, 12);
    // Blocks 0..7: 8 distinct, level 1; the largest |2 Σe| / 336 is 144/336.
    expect(g.week.sales).toBeCloseTo(72 / 168, 12);
    expect([g.hour.orders, g.day.orders, g.week.orders].map((k) => Math.round(k * 1e9) / 1e9)).toEqual([
      1,
      2,
      Math.round((72 / 168) * 1e9) / 1e9,
    ]);
    // Equal widths of both rules on every bucket: the tie keeps 'sum'.
    expect([g.hour.spread, g.day.spread, g.week.spread]).toEqual(['sum', 'sum', 'sum']);
    // Group 'h' has one branch: not scored.
    expect({ groups: g.groups, hours: g.hours, days: g.days, weeks: g.weeks }).toEqual({
      groups: 1,
      hours: 672,
      days: 28,
      weeks: 16,
    });
  });

  test('a branch whose history ends early (still replaying): the others’ sums are scored without it', () => {
    // A third branch of 'g' with two days of history only, missing like the others.
    const short = {
      ...seriesOf('d', 'g'),
      sales: series[0]!.sales.slice(0, 48),
      orders: series[0]!.orders.slice(0, 48),
    };
    const g = measureGroupFactors([...forecasts, forecastOf('d')], [...series, short], end, grains)!;
    // Hours and days 0–1 of three branches miss by 3e over 3 × the spread: the same stretches
    // under 'sum'. Under 'rss' a day of three has a spread of 24√3, not 24√2 × 3/2: over the
    // twelve two-branch days the same width (k 2√2, index 12 of the stretches |e|√2/24 is e = 48),
    // on the two three-branch days narrower (2√2 × 24√3 < 2 × 72), so days take 'rss'. Hours keep
    // 'sum' (rss would need √3, wider); weeks have two branches only: a tie, 'sum'.
    expect([g.hour.spread, g.day.spread, g.week.spread]).toEqual(['sum', 'rss', 'sum']);
    expect([g.hour.sales, g.day.sales, g.week.sales].map((k) => Math.round(k * 1e9) / 1e9)).toEqual([
      1,
      Math.round(2 * Math.SQRT2 * 1e9) / 1e9,
      Math.round((72 / 168) * 1e9) / 1e9,
    ]);
    expect({ hours: g.hours, days: g.days, weeks: g.weeks }).toEqual({ hours: 672, days: 28, weeks: 16 });
  });

  test('no group of two branches: no factors', () => {
    expect(measureGroupFactors([forecasts[2]!], [series[2]!], end, grains)).toBeUndefined();
    const loose = series.map(({ group: _, ...s }) => s);
    expect(measureGroupFactors(forecasts, loose, end, grains)).toBeUndefined();
  });

  test('addGroupCoverage: group hours, days and the origin’s two weeks inside the group ranges', () => {
    const group: GroupFactors = {
      hour: { spread: 'sum', sales: 0.75, orders: 0.75 },
      day: { spread: 'sum', sales: 1.5, orders: 1.5 },
      week: { spread: 'sum', sales: 0.25, orders: 0.25 },
    };
    const c = emptyGroupCoverage();
    addGroupCoverage(c, forecasts, series, end, { ...grains, group });
    // Hours inside at stretch ≤ 0.75: 240 + 24 of 336; days at ≤ 1.5: 12 of 14; weeks (days
    // 0–6 and 7–13) need 12/168 and 72/168: 1 of 2 within 0.25.
    const want = { hour: { n: 336, inside: 264 }, day: { n: 14, inside: 12 }, week: { n: 2, inside: 1 } };
    expect(c).toEqual({ sales: want, orders: want });
  });
});
