import { dateToDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { syntheticSeries } from './testing/synthetic';
import { buildTrainingRows } from './windows';

const ZONE = 'Europe/Dublin';
const start = localMidnightUtc(ZONE, dateToDayNumber('2020-09-07'));
const series = syntheticSeries({ start, hours: 24 * 63, seed: 9 });
const cutoff = localMidnightUtc(ZONE, dateToDayNumber('2020-10-26'));
const opts = { halfLifeDays: 60, intraday: true, minHistoryDays: 7, rowSampling: 0.5, seed: 4, cutoff };

test('training rows use nothing at or after the cutoff', () => {
  const a = buildTrainingRows([series], opts);
  const altered = { ...series, sales: series.sales.slice(), orders: series.orders.slice() };
  for (let i = (cutoff - start) / HOUR_MS; i < altered.sales.length; i++) {
    altered.sales[i] = 1e6;
    altered.orders[i] = 1e4;
  }
  const b = buildTrainingRows([altered], opts);
  expect(b.n).toBe(a.n);
  expect(Array.from(b.x)).toEqual(Array.from(a.x));
  expect(Array.from(b.y)).toEqual(Array.from(a.y));
  expect(a.dataTo).toBeLessThanOrEqual(cutoff);
  expect(a.n).toBeGreaterThan(1000);
  // Recency weights average 1, newest windows weigh most.
  expect(a.weight.reduce((s, w) => s + w, 0) / a.n).toBeCloseTo(1, 5);
  expect(a.weight[a.n - 1]!).toBeGreaterThan(a.weight[0]!);
});

test('seeded: the same seed gives the same sample', () => {
  expect(Array.from(buildTrainingRows([series], opts).y)).toEqual(
    Array.from(buildTrainingRows([series], opts).y),
  );
  expect(buildTrainingRows([series], { ...opts, seed: 5 }).n).not.toBe(0);
});
