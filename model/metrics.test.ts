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
