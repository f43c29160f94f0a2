import {
  dateToDayNumber,
  daysFromCivil,
  formatCivilDate,
  isoWeekday,
  isoWeekLabel,
  isoWeekMonday,
  isValidDate,
  parseCivilDate,
  parseIsoDate,
  weekdayOfDayNumber,
} from './civil-date';

const day = (s: string) => parseCivilDate(s) as number;

describe('civil dates', () => {
  it('rejects impossible dates and anything not yyyy-mm-dd', () => {
    expect(parseCivilDate('2021-02-30')).toBeNull();
    expect(parseCivilDate('2021-2-3')).toBeNull();
    expect(parseCivilDate('2020-02-29')).not.toBeNull();
    expect(parseCivilDate('2021-02-29')).toBeNull();
    expect(parseCivilDate('2021-04-31')).toBeNull();
    expect(parseCivilDate('2021-13-01')).toBeNull();
    expect(parseCivilDate('2021-01-01\n')).toBeNull();
    expect(parseCivilDate(' 2021-01-01')).toBeNull();
    expect(parseIsoDate('2000-02-29')).toEqual({ year: 2000, month: 2, day: 29 });
    expect(parseIsoDate('1900-02-29')).toBeNull();
    expect(isValidDate(2021, 0, 1)).toBe(false);
    expect(isValidDate(2021, 12, 31)).toBe(true);
  });

  it('day numbers count from 1970-01-01 and round-trip', () => {
    expect(day('1970-01-01')).toBe(0);
    expect(day('1969-12-31')).toBe(-1);
    expect(day('2021-02-01')).toBe(18659);
    expect(daysFromCivil(2021, 2, 1)).toBe(18659);
    for (let d = -800; d < 30_000; d += 37) expect(day(formatCivilDate(d))).toBe(d);
    expect(dateToDayNumber('2021-02-01')).toBe(18659);
    expect(() => dateToDayNumber('2021-02-30')).toThrow('not a date yyyy-mm-dd: "2021-02-30"');
  });

  it('weekdays: ISO 1 = Monday … 7 = Sunday, and the 0-based index of the model', () => {
    expect(weekdayOfDayNumber(dateToDayNumber('2021-01-18'))).toBe(0); // Monday
    expect(weekdayOfDayNumber(dateToDayNumber('2020-10-25'))).toBe(6); // Sunday
    expect(isoWeekday(day('2021-01-18'))).toBe(1);
    expect(isoWeekday(day('2020-10-25'))).toBe(7);
    expect(isoWeekday(day('1969-12-31'))).toBe(3); // negative day numbers too
  });

  it('labels ISO weeks by the year of their Thursday', () => {
    expect(isoWeekLabel(day('2021-01-03'))).toBe('2020-W53');
    expect(isoWeekLabel(day('2021-01-04'))).toBe('2021-W01');
    expect(isoWeekLabel(day('2024-12-30'))).toBe('2025-W01');
    expect(isoWeekLabel(day('2021-02-07'))).toBe('2021-W05');
    expect(formatCivilDate(isoWeekMonday(day('2021-02-07')))).toBe('2021-02-01');
  });
});
