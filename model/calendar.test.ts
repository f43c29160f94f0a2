import {
  countryCalendar,
  easterSunday,
  GENERIC,
  registerCountryCalendar,
  specialDayIndex,
  specialDays,
  IRELAND,
} from './calendar';

const names = (year: number): Record<string, string> =>
  Object.fromEntries(specialDays(IRELAND, year).map((d) => [d.name, d.date]));

describe('Irish calendar', () => {
  test('Easter (anonymous Gregorian algorithm)', () => {
    expect(easterSunday(2020)).toBe('2020-04-12');
    expect(easterSunday(2021)).toBe('2021-04-04');
    expect(easterSunday(2024)).toBe('2024-03-31');
    expect(easterSunday(2025)).toBe('2025-04-20');
  });

  test('public holidays and trading days of 2021', () => {
    expect(names(2021)).toMatchObject({
      "New Year's Day": '2021-01-01',
      "St Patrick's Day": '2021-03-17',
      'Easter Monday': '2021-04-05',
      'May Bank Holiday': '2021-05-03',
      'June Bank Holiday': '2021-06-07',
      'August Bank Holiday': '2021-08-02',
      'October Bank Holiday': '2021-10-25',
      'Christmas Day': '2021-12-25',
      "St Stephen's Day": '2021-12-26',
      "Mother's Day": '2021-03-14', // 4th Sunday of Lent
      "Valentine's Day": '2021-02-14',
      'Christmas Eve': '2021-12-24',
      "New Year's Eve": '2021-12-31',
    });
    expect(names(2021)["St Brigid's Day"]).toBeUndefined(); // from 2023
  });

  test("St Brigid's Day: first Monday of February, or 1 February when a Friday", () => {
    expect(names(2023)["St Brigid's Day"]).toBe('2023-02-06');
    expect(names(2025)["St Brigid's Day"]).toBe('2025-02-03');
    expect(names(2030)["St Brigid's Day"]).toBe('2030-02-01'); // a Friday
  });

  test('weekend holidays get an observed weekday; Christmas on a weekend pushes both', () => {
    // 2020: St Stephen's Day is a Saturday -> Monday 28th.
    expect(
      specialDays(IRELAND, 2020)
        .filter((d) => d.observed)
        .map((d) => d.date),
    ).toEqual(['2020-12-28']);
    // 2021: Christmas Saturday, St Stephen's Sunday -> Monday 27th and Tuesday 28th.
    expect(
      specialDays(IRELAND, 2021)
        .filter((d) => d.observed)
        .map((d) => d.date),
    ).toEqual(['2021-12-27', '2021-12-28']);
  });

  test('day flags: holiday, eve, trading day, closure-prone', () => {
    const ie = specialDayIndex('IE');
    expect(ie.flagsOf('2020-12-25')).toMatchObject({
      publicHoliday: true,
      closureProne: true,
      eveOfPublicHoliday: true,
    });
    expect(ie.flagsOf('2020-12-24')).toMatchObject({
      tradingDay: true,
      eveOfPublicHoliday: true,
      publicHoliday: false,
    });
    expect(ie.flagsOf('2020-12-31')).toMatchObject({ tradingDay: true, eveOfPublicHoliday: true });
    expect(ie.flagsOf('2020-08-02')).toMatchObject({ eveOfPublicHoliday: true, publicHoliday: false });
    expect(ie.flagsOf('2020-11-11')).toMatchObject({ publicHoliday: false, tradingDay: false, names: [] });
  });

  test('countries: unknown ones get the generic calendar, others can be registered', () => {
    expect(countryCalendar('ZZ')).toBe(GENERIC);
    registerCountryCalendar({
      country: 'XA',
      rules: [
        {
          name: 'Founders Day',
          kind: 'public_holiday',
          rule: { type: 'nth_weekday', month: 9, weekday: 1, n: 2 },
        },
      ],
    });
    expect(specialDays(countryCalendar('XA'), 2021)).toEqual([
      {
        date: '2021-09-13',
        name: 'Founders Day',
        kind: 'public_holiday',
        observed: false,
        closureProne: false,
      },
    ]);
  });
});
