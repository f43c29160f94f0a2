import { dateToDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { specialDayIndex } from './calendar';
import {
  calendarNotes,
  FEATURE_COUNT,
  FEATURE_NAMES,
  featureIndex,
  lagWeeksBack,
  originRows,
} from './features';
import { historyGrid } from './horizon';
import { toLocalGrid } from './local-grid';
import { syntheticSeries } from './testing/synthetic';

const ZONE = 'Europe/Dublin';
const start = localMidnightUtc(ZONE, dateToDayNumber('2020-11-02'));
const series = syntheticSeries({ start, hours: 24 * 70, closedMondays: true, seed: 3 });
const origin = localMidnightUtc(ZONE, dateToDayNumber('2020-12-14')); // a Monday

describe('features', () => {
  test('one row per possibly-open target hour, named features, finite values', () => {
    const { grid, originSlot } = historyGrid(series, origin, 14, 36);
    const r = originRows(grid, specialDayIndex('IE'), originSlot, 14)!;
    expect(FEATURE_NAMES).toHaveLength(FEATURE_COUNT);
    expect(r.slots.length).toBe(15 * 10); // open 12:00-22:00 only: other hours are closed (0)
    expect(r.rows.length).toBe(r.slots.length * FEATURE_COUNT);
    expect(r.rows.every((v) => Number.isFinite(v))).toBe(true);
    const i = [...r.slots].findIndex((s) => s % 24 === 19);
    expect(r.rows[i * FEATURE_COUNT + featureIndex('hour_19')]).toBe(1);
    expect(r.rows[i * FEATURE_COUNT + featureIndex('dow_mon')]).toBe(1);
    // Mondays are closed: the lag days were closed.
    expect(r.rows[i * FEATURE_COUNT + featureIndex('lag1_closed')]).toBe(1);
    // Christmas Day (Friday 25th, horizon day 11) is flagged.
    const xmas = [...r.horizonDay].indexOf(11);
    expect(r.rows[xmas * FEATURE_COUNT + featureIndex('closure_prone')]).toBe(1);
    expect(r.rows[xmas * FEATURE_COUNT + featureIndex('public_holiday')]).toBe(1);
  });

  test('no peeking: data at or after the origin does not change the rows', () => {
    const altered = { ...series, sales: series.sales.slice(), orders: series.orders.slice() };
    const from = (origin - start) / HOUR_MS;
    for (let i = from; i < altered.sales.length; i++) {
      altered.sales[i] = altered.sales[i]! * 5 + 1;
      altered.orders[i] = altered.orders[i]! + 3;
    }
    const cal = specialDayIndex('IE');
    // Full-history grid (as in training) vs history-only grid (as in forecasting).
    const full = toLocalGrid(altered);
    const originSlot = (dateToDayNumber('2020-12-14') - full.day0) * 24;
    const a = originRows(full, cal, originSlot, 14)!;
    const hg = historyGrid(series, origin, 14, 36);
    const b = originRows(hg.grid, cal, hg.originSlot, 14)!;
    expect(Array.from(a.rows)).toEqual(Array.from(b.rows));
    expect(a.scaleSales).toBeCloseTo(b.scaleSales, 9);
  });

  test('a branch with no sales in 28 days has no rows (forecast 0)', () => {
    const quiet = {
      ...series,
      sales: new Float64Array(series.sales.length),
      orders: new Float64Array(series.sales.length),
    };
    const { grid, originSlot } = historyGrid(quiet, origin, 14, 36);
    expect(originRows(grid, specialDayIndex('IE'), originSlot, 14)).toBeNull();
  });
});

describe('calendarNotes: the named reasons behind a day’s calendar flags', () => {
  const ie = specialDayIndex('IE');
  const day = (d: string) => dateToDayNumber(d);
  test('a closure-prone holiday, an eve that is also a trading day, a plain day', () => {
    const origin = day('2020-12-21');
    expect(calendarNotes(ie, origin, day('2020-12-25'))).toEqual([
      { date: '2020-12-25', name: 'Christmas Day', kind: 'public_holiday' },
      { date: '2020-12-25', name: 'Christmas Day', kind: 'likely_closure' },
      { date: '2020-12-26', name: "St Stephen's Day", kind: 'eve_of_public_holiday' },
    ]);
    expect(calendarNotes(ie, origin, day('2020-12-24'))).toEqual([
      { date: '2020-12-24', name: 'Christmas Eve', kind: 'trading_day' },
      { date: '2020-12-25', name: 'Christmas Day', kind: 'eve_of_public_holiday' },
    ]);
    expect(calendarNotes(ie, origin, day('2020-12-22'))).toEqual([]);
  });
  test('a holiday on the lag day the shape reads: one week back in the first week, two in the second', () => {
    // Monday 2 November 2020: its lag day is 26 October (the October Bank Holiday) when the
    // origin's day is 27 October (6 days ahead), 19 October when it is 26 October (7 days ahead).
    expect(calendarNotes(ie, day('2020-10-27'), day('2020-11-02'))).toEqual([
      { date: '2020-10-26', name: 'October Bank Holiday', kind: 'holiday_in_reference_week' },
    ]);
    expect(calendarNotes(ie, day('2020-10-26'), day('2020-11-02'))).toEqual([]);
    expect(lagWeeksBack(0)).toBe(1);
    expect(lagWeeksBack(6)).toBe(1);
    expect(lagWeeksBack(7)).toBe(2);
  });
  test("the operators' calendar: a closure or an event by its name, first; a closure wins over an event", () => {
    const entries = [
      { date: '2020-12-24', kind: 'event' as const, name: 'Staff party' },
      { date: '2020-12-22', kind: 'event' as const, name: 'Match day' },
      { date: '2020-12-22', kind: 'closed' as const, name: 'Refit' },
    ];
    const origin = day('2020-12-21');
    expect(calendarNotes(ie, origin, day('2020-12-24'), entries)).toEqual([
      { date: '2020-12-24', name: 'Staff party', kind: 'event' },
      { date: '2020-12-24', name: 'Christmas Eve', kind: 'trading_day' },
      { date: '2020-12-25', name: 'Christmas Day', kind: 'eve_of_public_holiday' },
    ]);
    expect(calendarNotes(ie, origin, day('2020-12-22'), entries)).toEqual([
      { date: '2020-12-22', name: 'Refit', kind: 'closed' },
    ]);
    expect(calendarNotes(ie, origin, day('2020-12-23'), entries)).toEqual([]);
  });
});
