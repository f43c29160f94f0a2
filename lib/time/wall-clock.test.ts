import { dateToDayNumber } from './civil-date';
import {
  formatLocal,
  isoUtc,
  localSlotOf,
  localToUtcMs,
  localWallClock,
  startOfLocalDay,
  utcToLocal,
} from './wall-clock';

describe('wall clock', () => {
  it('converts Dublin wall time to UTC with the documented DST policy', () => {
    const z = 'Europe/Dublin';
    expect(localToUtcMs(z, 2020, 7, 1, 12, 0)).toBe(Date.UTC(2020, 6, 1, 11, 0));
    expect(localToUtcMs(z, 2020, 12, 1, 12, 0)).toBe(Date.UTC(2020, 11, 1, 12, 0));
    expect(localToUtcMs(z, 2020, 10, 25, 0, 59)).toBe(Date.UTC(2020, 9, 24, 23, 59));
    expect(localToUtcMs(z, 2020, 10, 25, 1, 0)).toBe(Date.UTC(2020, 9, 25, 0, 0)); // ambiguous: earlier (IST)
    expect(localToUtcMs(z, 2020, 10, 25, 1, 59)).toBe(Date.UTC(2020, 9, 25, 0, 59));
    expect(localToUtcMs(z, 2020, 10, 25, 2, 0)).toBe(Date.UTC(2020, 9, 25, 2, 0));
    expect(localToUtcMs(z, 2021, 3, 28, 0, 59)).toBe(Date.UTC(2021, 2, 28, 0, 59));
    expect(localToUtcMs(z, 2021, 3, 28, 1, 0)).toBe(Date.UTC(2021, 2, 28, 1, 0)); // gap: shifted forward to 02:00 IST
    expect(localToUtcMs(z, 2021, 3, 28, 2, 0)).toBe(Date.UTC(2021, 2, 28, 1, 0));
    expect(localToUtcMs(z, 2021, 3, 28, 3, 0)).toBe(Date.UTC(2021, 2, 28, 2, 0));
    // Another zone with a half-hour offset and a different transition rule.
    expect(localToUtcMs('America/St_Johns', 2021, 1, 15, 12, 0)).toBe(Date.UTC(2021, 0, 15, 15, 30));
    expect(localToUtcMs('America/New_York', 2021, 11, 7, 1, 30)).toBe(Date.UTC(2021, 10, 7, 5, 30)); // ambiguous: EDT
    expect(localToUtcMs('America/New_York', 2021, 3, 14, 2, 30)).toBe(Date.UTC(2021, 2, 14, 7, 30)); // gap: 03:30 EDT
    expect(() => localToUtcMs('Mars/Olympus', 2021, 1, 1, 0, 0)).toThrow(/unknown IANA time zone/);
  });

  it('a local day starts at its midnight, the earlier one when midnight happens twice, after a gap over it', () => {
    expect(startOfLocalDay('Europe/Dublin', dateToDayNumber('2020-07-01'))).toBe(Date.UTC(2020, 5, 30, 23));
    expect(startOfLocalDay('Asia/Kolkata', dateToDayNumber('2021-02-04'))).toBe(Date.UTC(2021, 1, 3, 18, 30));
    // America/Havana: 2021-03-14 00:00 does not exist (-05:00 -> -04:00); 2021-11-07 00:00-00:59
    // happens twice (-04:00 -> -05:00 at 01:00).
    expect(startOfLocalDay('America/Havana', dateToDayNumber('2021-03-14'))).toBe(Date.UTC(2021, 2, 14, 5));
    expect(startOfLocalDay('America/Havana', dateToDayNumber('2021-11-07'))).toBe(Date.UTC(2021, 10, 7, 4));
  });

  it('reads an instant on the local clock', () => {
    const fallBack = Date.UTC(2020, 9, 25, 1, 30); // 01:30 GMT, the second 01:30 of the day
    expect(utcToLocal('Europe/Dublin', fallBack)).toEqual({
      year: 2020,
      month: 10,
      day: 25,
      hour: 1,
      minute: 30,
      weekday: 7,
    });
    expect(localSlotOf('Europe/Dublin', fallBack)).toEqual({ day: dateToDayNumber('2020-10-25'), hour: 1 });
    expect(localSlotOf('Asia/Kolkata', Date.UTC(2021, 1, 3, 18, 30))).toEqual({
      day: dateToDayNumber('2021-02-04'),
      hour: 0,
    });
    expect(localWallClock('Europe/Dublin', Date.UTC(2020, 9, 24, 23, 30))).toEqual({
      text: '2020-10-25 00:30:00',
      date: '2020-10-25',
      offsetMin: 60,
    });
    expect(localWallClock('America/St_Johns', Date.UTC(2021, 0, 1, 2))).toEqual({
      text: '2020-12-31 22:30:00',
      date: '2020-12-31',
      offsetMin: -210,
    });
    expect(formatLocal(Date.UTC(2020, 9, 25, 0), 60)).toBe('2020-10-25T01:00:00+01:00');
    expect(isoUtc(Date.UTC(2021, 1, 1))).toBe('2021-02-01T00:00:00.000Z');
  });
});
