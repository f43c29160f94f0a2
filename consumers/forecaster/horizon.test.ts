import { horizonEnd, hoursBetween } from './horizon';

describe('forecast horizon', () => {
  it('an origin at local midnight covers exactly the next 14 local days', () => {
    const origin = Date.UTC(2021, 1, 1, 0); // 2021-02-01 00:00 Dublin (GMT)
    const end = horizonEnd(origin, 'Europe/Dublin', 14);
    expect(new Date(end).toISOString()).toBe('2021-02-15T00:00:00.000Z');
    expect(hoursBetween(origin, end)).toHaveLength(14 * 24);
  });

  it('a mid-day origin covers the rest of the day plus 14 full days, across DST', () => {
    const origin = Date.UTC(2021, 2, 20, 15); // 2021-03-20 15:00 GMT; DST starts 2021-03-28
    const end = horizonEnd(origin, 'Europe/Dublin', 14);
    // 2021-04-04 00:00 IST = 2021-04-03 23:00 UTC
    expect(new Date(end).toISOString()).toBe('2021-04-03T23:00:00.000Z');
    expect(hoursBetween(origin, end)).toHaveLength(9 + 14 * 24 - 1);
  });
});
