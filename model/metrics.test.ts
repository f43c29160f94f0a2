import { dateToDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { scoreForecast, summarize, wape } from './metrics';

test('WAPE at hourly, daily and weekly grain; coverage over open hours', () => {
  const zone = 'Europe/Dublin';
  const origin = localMidnightUtc(zone, dateToDayNumber('2021-01-04'));
  const n = 48;
  const sales = new Float64Array(n);
  sales[12] = 10; // day 0
  sales[36] = 10; // day 1
  const series = {
    branchId: 'b',
    timezone: zone,
    country: 'IE',
    start: origin,
    sales,
    orders: sales.slice(),
  };
  const hours = Array.from({ length: n }, (_, i) => {
    // Right daily totals, wrong hours: hourly WAPE 2, daily 0.
    const v = i === 13 || i === 37 ? 10 : 0;
    return {
      hourStart: origin + i * HOUR_MS,
      salesP10: 0,
      salesP50: v,
      salesP90: v,
      ordersP10: 0,
      ordersP50: v,
      ordersP90: v,
    };
  });
  const acc = scoreForecast({ branchId: 'b', origin, hours }, series);
  const s = summarize(acc, true);
  expect(s.sales.hourly).toBeCloseTo(2);
  expect(s.sales.daily).toBe(0);
  expect(s.sales.weekly).toBe(0);
  // Open hours: 12, 13, 36, 37 (x2 quantities); covered: 13 and 37 only (actual 0 within [0, 10]).
  expect(s.coverage_p10_p90).toBeCloseTo(0.5);
  expect(wape({ absErr: 1, actual: 4 })).toBe(0.25);
});

test('per quantity and grain coverage (day and week through bucket intervals), Winkler score, per horizon day', () => {
  const zone = 'Europe/Dublin';
  const origin = localMidnightUtc(zone, dateToDayNumber('2021-01-04'));
  const n = 48;
  const sales = new Float64Array(n);
  sales[12] = 10; // day 0
  sales[36] = 30; // day 1
  const series = {
    branchId: 'b',
    timezone: zone,
    country: 'IE',
    start: origin,
    sales,
    orders: sales.slice(),
  };
  const hours = Array.from({ length: n }, (_, i) => {
    const v = i === 12 || i === 36 ? 20 : 0;
    return {
      hourStart: origin + i * HOUR_MS,
      salesP10: v / 2,
      salesP50: v,
      salesP90: v * 1.5,
      ordersP10: v / 2,
      ordersP50: v,
      ordersP90: v * 1.5,
    };
  });
  // A bucket's interval: its summed p50 ± 25% for sales, an empty one for orders.
  const acc = scoreForecast({ branchId: 'b', origin, hours }, series, Infinity, (_g, hs) => {
    const p50 = hs.reduce((a, h) => a + h.salesP50, 0);
    return { salesP10: 0.75 * p50, salesP90: 1.25 * p50, ordersP10: 0, ordersP90: 0 };
  });
  const s = summarize(acc, true, true);
  // Hourly: hour 12 (10 in [10, 30]) inside, hour 36 (30 in [10, 30]) inside.
  expect(s.coverage!.sales.hourly).toBe(1);
  // Daily: day 0 actual 10 vs [15, 25] out, day 1 actual 30 vs [15, 25] out; the week: 40 in [30, 50].
  expect(s.coverage!.sales.daily).toBe(0);
  expect(s.coverage!.sales.weekly).toBe(1);
  // Orders: day 0 actual 10 and day 1 actual 30 outside [0, 0]; a null interval would be NaN.
  expect(s.coverage!.orders.daily).toBe(0);
  // Winkler hourly: both inside, widths 20 + 20 over actuals 40.
  expect(s.winkler!.sales.hourly).toBeCloseTo(1);
  // Daily: day 0 width 10 + 10·(15 − 10); day 1 width 10 + 10·(30 − 25); over 40.
  expect(s.winkler!.sales.daily).toBeCloseTo((60 + 60) / 40);
  expect(s.byHorizonDay).toHaveLength(2);
  expect(s.byHorizonDay![0]!.sales.daily).toBe(1); // |20 − 10| / 10
  expect(s.byHorizonDay![1]!.sales.daily).toBeCloseTo(1 / 3); // |20 − 30| / 30
  // Without detail the summary is what the trainer's holdout score reads, unchanged.
  expect(Object.keys(summarize(acc, true)).sort()).toEqual(['coverage_p10_p90', 'orders', 'sales']);
});
