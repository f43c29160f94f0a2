import { DAY_MS, floorToHour, HOUR_MS, MINUTE_MS } from './units';

describe('units', () => {
  it('durations and the hour an instant falls in', () => {
    expect([MINUTE_MS, HOUR_MS, DAY_MS]).toEqual([60_000, 3_600_000, 86_400_000]);
    expect(floorToHour(Date.parse('2021-01-01T10:59:59.999Z'))).toBe(Date.parse('2021-01-01T10:00:00Z'));
    expect(floorToHour(Date.parse('2021-01-01T10:00:00Z'))).toBe(Date.parse('2021-01-01T10:00:00Z'));
    expect(floorToHour(-1)).toBe(-HOUR_MS);
  });
});
