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

test('levelWeighting: a busy branch rows weigh as its level, ten times a branch selling a tenth', () => {
  const busy = syntheticSeries({ branchId: 'busy', start, hours: 24 * 63, level: 400, seed: 9 });
  const quiet = { ...busy, branchId: 'quiet', sales: busy.sales.map((v) => v / 10) };
  // Every row and no intraday origin (no random draws): the quiet copy's rows mirror the busy ones.
  const all = { ...opts, halfLifeDays: 1e9, rowSampling: 1, intraday: false };
  const plain = buildTrainingRows([busy, quiet], all);
  const weighted = buildTrainingRows([busy, quiet], { ...all, levelWeighting: true });
  // Same rows either way; only their weights change.
  expect(weighted.n).toBe(plain.n);
  expect(Array.from(weighted.y)).toEqual(Array.from(plain.y));
  expect(new Set(Array.from(plain.weight).map((w) => w.toFixed(6)))).toEqual(new Set(['1.000000']));
  // The quiet copy's rows come second, row for row the same as the busy ones'.
  const half = plain.n / 2;
  expect(Number.isInteger(half)).toBe(true);
  for (let i = 0; i < half; i += 97)
    expect(weighted.weight[i]! / weighted.weight[half + i]!).toBeCloseTo(10, 3);
  expect(weighted.weight.reduce((s, w) => s + w, 0) / weighted.n).toBeCloseTo(1, 5);
});
