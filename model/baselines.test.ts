import { dateToDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { holtWintersBaseline, mean4Weeks, seasonalNaive } from './baselines';
import { structuralBaseline } from './structural-baseline';
import { syntheticSeries } from './testing/synthetic';

const ZONE = 'Europe/Dublin';
const start = localMidnightUtc(ZONE, dateToDayNumber('2020-09-07'));
const series = syntheticSeries({ start, hours: 24 * 70, seed: 5 });

test('seasonal naive repeats the last week at the same local hour, across the DST change', () => {
  const origin = localMidnightUtc(ZONE, dateToDayNumber('2020-10-19'));
  const [f] = seasonalNaive([series], [origin]);
  expect(f!.hours).toHaveLength(15 * 24 + 1); // 2020-10-25 has 25 hours
  // 2020-10-20 13:00 IST = 12:00Z; a week earlier, same local hour.
  const at = (t: number): number => series.sales[(t - series.start) / HOUR_MS]!;
  const h = f!.hours.find((x) => x.hourStart === Date.UTC(2020, 9, 20, 12))!;
  expect(h.salesP50).toBe(at(Date.UTC(2020, 9, 13, 12)));
  // Second week, after the change (GMT): 2020-10-27 13:00 GMT = 13:00Z repeats the last observed
  // week again: 2020-10-13 13:00 IST = 12:00Z.
  const g = f!.hours.find((x) => x.hourStart === Date.UTC(2020, 9, 27, 13))!;
  expect(g.salesP50).toBe(at(Date.UTC(2020, 9, 13, 12)));
  expect(f!.hours.every((x) => x.salesP10 === x.salesP50 && x.salesP90 === x.salesP50)).toBe(true);
});

test('mean of 4 weeks at the same local hour of week', () => {
  const origin = localMidnightUtc(ZONE, dateToDayNumber('2020-11-02'));
  const [f] = mean4Weeks([series], [origin]);
  const at = (t: number): number => series.sales[(t - series.start) / HOUR_MS]!;
  const h = f!.hours.find((x) => x.hourStart === Date.UTC(2020, 10, 3, 19))!; // Tue 19:00 GMT
  const want =
    (at(Date.UTC(2020, 9, 27, 19)) +
      at(Date.UTC(2020, 9, 20, 18)) +
      at(Date.UTC(2020, 9, 13, 18)) +
      at(Date.UTC(2020, 9, 6, 18))) /
    4;
  expect(h.salesP50).toBeCloseTo(want, 9);
});

test('Holt-Winters on a series that repeats every week forecasts that week again, hour by hour', () => {
  // November–December 2020: no DST change, so a week is 168 UTC hours at the same local hours.
  const from = localMidnightUtc(ZONE, dateToDayNumber('2020-11-02'));
  const base = syntheticSeries({ start: from, hours: 24 * 63, seed: 9 });
  const sales = base.sales.map((_, i) => base.sales[i % 168]!);
  const orders = base.orders.map((_, i) => base.orders[i % 168]!);
  const periodic = { ...base, sales, orders };
  const origin = localMidnightUtc(ZONE, dateToDayNumber('2020-12-21'));
  const [hw] = holtWintersBaseline([periodic], [origin], 6);
  const [naive] = seasonalNaive([periodic], [origin], 6);
  expect(hw!.hours).toHaveLength(7 * 24);
  hw!.hours.forEach((h, i) => {
    expect(h.salesP50).toBeCloseTo(naive!.hours[i]!.salesP50, 6);
    expect(h.ordersP50).toBeCloseTo(naive!.hours[i]!.ordersP50, 6);
    expect(h.salesP10).toBe(h.salesP50);
  });
});

test('the structural base: point forecasts, 0 at hours never open in 28 days, positive at open hours', () => {
  const origin = localMidnightUtc(ZONE, dateToDayNumber('2020-11-02'));
  const [f] = structuralBaseline([series], [origin], 13);
  expect(f!.hours).toHaveLength(14 * 24);
  expect(f!.hours.every((h) => h.salesP10 === h.salesP50 && h.salesP90 === h.salesP50)).toBe(true);
  // The synthetic branch opens 12:00–22:00 local (GMT here): nothing at 03:00, something at 19:00.
  const at = (t: number): number => f!.hours.find((h) => h.hourStart === t)!.salesP50;
  expect(at(Date.UTC(2020, 10, 3, 3))).toBe(0);
  expect(at(Date.UTC(2020, 10, 3, 19))).toBeGreaterThan(0);
});
