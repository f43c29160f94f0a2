import { dateToDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { mean4Weeks, seasonalNaive } from './baselines';
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
