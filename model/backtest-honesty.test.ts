/**
 * The backtest reads nothing after its origin: a spike planted after the origin (every hour from
 * the origin on multiplied by 50, plus a huge single hour) must not move any model's forecast
 * from that origin — the network trained with `cutoff = origin` and every baseline.
 */
import './testing/node-realm';
import { dateToDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { MODEL_NAMES, originForecasts } from './backtest';
import type { HourlySeries } from './series';
import { syntheticSeries } from './testing/synthetic';
import { train } from './train';

jest.setTimeout(120_000);

const ZONE = 'Europe/Dublin';
const start = localMidnightUtc(ZONE, dateToDayNumber('2020-08-03'));
const origin = localMidnightUtc(ZONE, dateToDayNumber('2020-10-19'));
const clean = [
  syntheticSeries({ branchId: 'a', start, hours: 24 * 110, closedMondays: true, seed: 3 }),
  syntheticSeries({ branchId: 'b', start, hours: 24 * 110, level: 250, seed: 4 }),
];

function withSpike(s: HourlySeries): HourlySeries {
  const sales = s.sales.slice();
  const orders = s.orders.slice();
  const from = (origin - s.start) / HOUR_MS;
  for (let i = from; i < sales.length; i++) {
    sales[i] = sales[i]! * 50;
    orders[i] = orders[i]! * 50;
  }
  sales[from] = 1e9;
  orders[from] = 1e6;
  return { ...s, sales, orders };
}

test('a spike after the origin moves no forecast from that origin (network and every baseline)', async () => {
  const spiked = clean.map(withSpike);
  // A cheap but complete configuration: the honesty of the path, not the accuracy, is tested.
  const hp = { epochs: 2, members: 1, hidden: [16], calibrationDays: 7 };
  const modelClean = await train(clean, { ...hp, cutoff: origin });
  const modelSpiked = await train(spiked, { ...hp, cutoff: origin });
  const a = await originForecasts(clean, origin, modelClean, 14);
  const b = await originForecasts(spiked, origin, modelSpiked, 14);
  modelClean.net.dispose();
  modelSpiked.net.dispose();
  for (const m of MODEL_NAMES) {
    expect(b[m]).toEqual(a[m]);
    // The forecasts are not trivially empty: 14 local days (the DST change adds an hour).
    expect(a[m][0]!.hours).toHaveLength(14 * 24 + 1);
    expect(a[m][0]!.hours.some((h) => h.salesP50 > 0)).toBe(true);
  }
  // And the planted data is there to be read: the spiked series differs after the origin.
  expect(spiked[0]!.sales[(origin - start) / HOUR_MS]).toBe(1e9);
});
