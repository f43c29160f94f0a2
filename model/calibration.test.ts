import { HOUR_MS } from '../lib/time/units';
import { applyCalibration, measureCalibration } from './calibration';
import type { BranchForecast } from './forecast-types';

const start = Date.UTC(2021, 0, 4);
const n = 100;
const sales = new Float64Array(n).map((_, i) => (i % 10) + 1); // 1..10
const series = {
  branchId: 'b',
  timezone: 'Europe/Dublin',
  country: 'IE',
  start,
  sales,
  orders: sales.slice(),
};
const forecastOf = (): BranchForecast => ({
  branchId: 'b',
  origin: start,
  hours: Array.from({ length: n }, (_, i) => ({
    hourStart: start + i * HOUR_MS,
    salesP10: 3.5,
    salesP50: 5.5,
    salesP90: 7.5,
    ordersP10: 0,
    ordersP50: 5.5,
    ordersP90: 11,
  })),
});

test('measures the stretch that covers 80% out of sample, and applies it', () => {
  const c = measureCalibration([forecastOf()], [series], start + n * HOUR_MS);
  // |y - 5.5| / 2 over y = 1..10: 0.25 … 2.25 (20 each); the conformal 80% quantile is 2.25.
  expect(c.sales).toBeCloseTo(2.25);
  // Orders intervals are wider than needed: shrunk to 4.5 / 5.5.
  expect(c.orders).toBeCloseTo(4.5 / 5.5);
  const f = applyCalibration(forecastOf(), c);
  const inside = f.hours.filter((h, i) => sales[i]! >= h.salesP10 && sales[i]! <= h.salesP90).length;
  expect(inside / n).toBeGreaterThanOrEqual(0.8);
  expect(f.hours[0]!.salesP10).toBeCloseTo(1);
  expect(f.hours.every((h) => h.salesP10 >= 0)).toBe(true);
});
