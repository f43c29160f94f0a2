import { dateToDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import { horizonHours, toLocalGrid } from './local-grid';

const ZONE = 'Europe/Dublin';

describe('local grid', () => {
  test('a 25-hour day folds its repeated hour into one slot; a 23-hour day has an empty slot', () => {
    const start = localMidnightUtc(ZONE, dateToDayNumber('2020-10-25'));
    const n = 25;
    const s = {
      branchId: 'b',
      timezone: ZONE,
      country: 'IE',
      start,
      sales: new Float64Array(n).fill(1),
      orders: new Float64Array(n).fill(1),
    };
    const g = toLocalGrid(s);
    expect(g.days).toBe(1);
    expect(g.sales[1]).toBe(2);
    expect(Array.from(g.sales).reduce((a, b) => a + b, 0)).toBe(25);

    const spring = localMidnightUtc(ZONE, dateToDayNumber('2021-03-28'));
    const s2 = {
      ...s,
      start: spring,
      sales: new Float64Array(23).fill(1),
      orders: new Float64Array(23).fill(1),
    };
    const g2 = toLocalGrid(s2);
    expect(g2.sales[1]).toBe(0); // 01:00 local does not exist
    expect(Array.from(g2.sales).reduce((a, b) => a + b, 0)).toBe(23);
  });

  test('horizon: rest of the day + N local days, 25 hours on the fall-back day', () => {
    const origin = localMidnightUtc(ZONE, dateToDayNumber('2020-10-24'));
    const h = horizonHours(ZONE, origin, 1);
    expect(h).toHaveLength(24 + 25);
    expect(h.filter((x) => x.share === 2)).toHaveLength(2);
    const mid = Date.UTC(2020, 9, 24, 15); // 16:00 IST
    const rest = horizonHours(ZONE, mid, 0);
    expect(rest).toHaveLength(8);
    expect(localSlotOf(ZONE, rest[rest.length - 1]!.hourStart).hour).toBe(23);
    expect(rest[1]!.hourStart - rest[0]!.hourStart).toBe(HOUR_MS);
  });
});
