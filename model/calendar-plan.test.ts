/**
 * The operators' calendar in the model (issue 16): closed days, events learned from past days of
 * the same name, expected effects, first-time events, closures in training. Synthetic branches,
 * a small network (seconds, native backend).
 */
import { dateToDayNumber, weekdayOfDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import './testing/node-realm';
import type { BranchCalendarEntry } from './branch-calendar';
import { specialDayIndex, withBranchEvents } from './calendar';
import { MODEL_NAMES, originForecasts } from './backtest';
import { branchDays } from './branch-calendar';
import {
  calendarHistoryStart,
  FIRST_TIME_WIDENING,
  learnedEventEffect,
  widening,
  withClosedDays,
} from './calendar-plan';
import { featureIndex, FEATURE_COUNT, originRows } from './features';
import { forecast, LOOKBACK_DAYS } from './forecast';
import type { BranchForecast, ForecastModel, HourlyForecast } from './forecast-types';
import { bucketInterval } from './grain-intervals';
import { historyGrid } from './horizon';
import { historyBefore, type HourlySeries } from './series';
import { syntheticSeries } from './testing/synthetic';
import { train } from './train';
import { buildTrainingRows } from './windows';

const ZONE = 'Europe/Dublin';
const day = dateToDayNumber;
const start = localMidnightUtc(ZONE, day('2020-08-03'));
const origin = localMidnightUtc(ZONE, day('2020-11-09')); // a Monday
const FAST = { epochs: 2, members: 2, hidden: [16], seed: 11 };

/**
 * A branch without noise: open 12:00–22:00, the synthetic shape, busier Friday to Sunday, the same
 * every week; `events` days sell `lift` × an ordinary day in every hour. On it the structural base
 * of an ordinary day is that day exactly, so a past event's ratio to its base is `lift`.
 */
function steadySeries(days: number, events: string[] = [], lift = 1): HourlySeries {
  const n = days * 24;
  const sales = new Float64Array(n);
  const orders = new Float64Array(n);
  const lifted = new Set(events.map(day));
  for (let i = 0; i < n; i++) {
    const { day: d, hour } = localSlotOf(ZONE, start + i * HOUR_MS);
    if (hour < 12 || hour >= 22) continue;
    const shape = hour === 13 || hour === 19 || hour === 20 ? 1 : 0.5;
    const week = weekdayOfDayNumber(d) >= 4 ? 1.4 : 1;
    const m = lifted.has(d) ? lift : 1;
    sales[i] = 200 * shape * week * m;
    orders[i] = 8 * shape * week * m;
  }
  return { branchId: 'steady', timezone: ZONE, country: 'IE', start, sales, orders };
}

const withCalendar = (s: HourlySeries, calendar: BranchCalendarEntry[]): HourlySeries => ({ ...s, calendar });

const hoursOn = (f: BranchForecast, date: string): HourlyForecast[] =>
  f.hours.filter((h) => localSlotOf(ZONE, h.hourStart).day === day(date));

const sum = (hs: HourlyForecast[], k: keyof Omit<HourlyForecast, 'hourStart' | 'parts'>): number =>
  hs.reduce((a, h) => a + h[k], 0);

let model: ForecastModel;
const busy = syntheticSeries({ branchId: 'busy', start, hours: 24 * 112, level: 400, seed: 1 });
const quiet = syntheticSeries({
  branchId: 'quiet',
  start,
  hours: 24 * 112,
  level: 40,
  closedMondays: true,
  seed: 2,
});
const steady = steadySeries(112);

beforeAll(async () => {
  model = await train([busy, quiet], { ...FAST, cutoff: origin });
});
afterAll(() => model.net.dispose());

describe('closed days', () => {
  const refit = withCalendar(steady, [{ date: '2020-11-12', kind: 'closed', name: 'Refit' }]);

  test('every hour of a closed day is 0 with a 0–0 range, the day and its range too; other days unchanged', async () => {
    const [plain] = await forecast(model, [steady], [origin]);
    const [closed] = await forecast(model, [refit], [origin]);
    const hours = hoursOn(closed!, '2020-11-12');
    expect(hours).toHaveLength(24);
    for (const h of hours)
      expect([h.salesP10, h.salesP50, h.salesP90, h.ordersP10, h.ordersP50, h.ordersP90]).toEqual([
        0, 0, 0, 0, 0, 0,
      ]);
    // It would have been an open day.
    expect(sum(hoursOn(plain!, '2020-11-12'), 'salesP50')).toBeGreaterThan(1000);
    // Calibrated day and week ranges: half-widths 0 give 0–0.
    const grains = model.meta.calibration!.grains!;
    expect(bucketInterval(hours, grains, 'day')).toEqual({
      salesP10: 0,
      salesP50: 0,
      salesP90: 0,
      ordersP10: 0,
      ordersP50: 0,
      ordersP90: 0,
    });
    expect(bucketInterval(hours, grains, 'week').salesP90).toBe(0);
    // Nothing else moves: the closure is not in the history the other days read.
    const others = (f: BranchForecast) =>
      f.hours.filter((h) => localSlotOf(ZONE, h.hourStart).day !== day('2020-11-12'));
    expect(others(closed!)).toEqual(others(plain!));
    expect(closed!.calendar).toEqual([
      {
        date: '2020-11-12',
        kind: 'closed',
        name: 'Refit',
        mode: 'closed',
        widening: 1,
        text: 'closed: Refit',
      },
    ]);
    expect(plain!.calendar).toBeUndefined();
  });

  test('explain: the closure is the calendar part (minus the day the model would have forecast)', async () => {
    const [plain] = await forecast(model, [steady], [origin], { explain: true });
    const [closed] = await forecast(model, [refit], [origin], { explain: true });
    const p = hoursOn(plain!, '2020-11-12');
    hoursOn(closed!, '2020-11-12').forEach((h, i) => {
      expect(h.parts!.salesCalendar).toBeCloseTo(-p[i]!.salesP50, 9);
      expect(h.parts!.ordersCalendar).toBeCloseTo(-p[i]!.ordersP50, 9);
      expect(h.parts!.salesLevel).toBe(p[i]!.parts!.salesLevel);
    });
  });

  test('a closure in the history is a closed day for the features, whatever was sold', () => {
    // Thursday 5 November sold as usual but is marked closed: the lag day of Thursday 12th is closed.
    const { grid, originSlot } = historyGrid(steady, origin, 14, LOOKBACK_DAYS);
    const lag1Closed = (closed: ReadonlySet<number>): number => {
      const r = originRows(withClosedDays(grid, closed), specialDayIndex('IE'), originSlot, 14)!;
      const i = [...r.slots].findIndex((slot) => grid.day0 + Math.floor(slot / 24) === day('2020-11-12'));
      return r.rows[i * FEATURE_COUNT + featureIndex('lag1_closed')]!;
    };
    expect(lag1Closed(new Set())).toBe(0);
    expect(lag1Closed(branchDays([{ date: '2020-11-05', kind: 'closed', name: 'Staff day' }])!.closed)).toBe(
      1,
    );
  });
});

describe('events', () => {
  // Two past match days sold 30 % more than an ordinary Thursday; their names differ in case and spaces.
  const past: BranchCalendarEntry[] = [
    { date: '2020-09-03', kind: 'event', name: 'match day ' },
    { date: '2020-10-08', kind: 'event', name: 'MATCH DAY' },
  ];
  const lifted = steadySeries(112, ['2020-09-03', '2020-10-08'], 1.3);
  const matchDay: BranchCalendarEntry = { date: '2020-11-12', kind: 'event', name: 'Match day' };

  test('past days of the same name: each past day measured against its base from the history before it', () => {
    const cal = branchDays([...past, matchDay])!;
    const learned = learnedEventEffect(
      historyBefore(lifted, origin),
      cal,
      'match day',
      day('2020-11-09'),
      LOOKBACK_DAYS,
    )!;
    expect(learned.dates).toEqual(['2020-10-08', '2020-09-03']);
    expect(learned.sales).toBeCloseTo(1.3, 5);
    expect(learned.orders).toBeCloseTo(1.3, 5);
    // Only days before the origin's day count: from an origin before 8 October only 3 September does.
    expect(
      learnedEventEffect(historyBefore(lifted, origin), cal, 'match day', day('2020-10-08'), LOOKBACK_DAYS)!
        .dates,
    ).toEqual(['2020-09-03']);
  });

  test('a known event name moves the day by the learned effect, p50 and range, and says so', async () => {
    const [ordinary] = await forecast(model, [withCalendar(lifted, past)], [origin]);
    const [event] = await forecast(model, [withCalendar(lifted, [...past, matchDay])], [origin]);
    const note = event!.calendar![0]!;
    expect(note).toMatchObject({
      date: '2020-11-12',
      kind: 'event',
      name: 'Match day',
      mode: 'learned',
      pastDays: 2,
      text: 'event: Match day, learned from 2 past days: +30 %',
    });
    expect(note.multiplier!.sales).toBeCloseTo(1.3, 5);
    expect(note.widening).toBeCloseTo(Math.sqrt(1.5), 12);
    const m = note.multiplier!;
    const o = hoursOn(ordinary!, '2020-11-12');
    const e = hoursOn(event!, '2020-11-12');
    expect(sum(o, 'salesP50')).toBeGreaterThan(1000);
    // The day's p50 (the sum of its hours) moves by the learned effect.
    expect(sum(e, 'salesP50') / sum(o, 'salesP50')).toBeCloseTo(m.sales, 9);
    expect(sum(e, 'ordersP50') / sum(o, 'ordersP50')).toBeCloseTo(m.orders, 9);
    e.forEach((h, i) => {
      const g = o[i]!;
      expect(h.salesP50).toBeCloseTo(m.sales * g.salesP50, 9);
      // The range: × the effect and widened √(1 + 1/2) for two past days.
      expect(h.salesP90 - h.salesP50).toBeCloseTo(m.sales * note.widening * (g.salesP90 - g.salesP50), 9);
    });
    // The other days are the same forecast.
    const others = (f: BranchForecast) =>
      f.hours.filter((h) => localSlotOf(ZONE, h.hourStart).day !== day('2020-11-12'));
    expect(others(event!)).toEqual(others(ordinary!));
  });

  test('honest: data after the origin (a planted spike, same-name days after it) changes nothing', async () => {
    const later: BranchCalendarEntry[] = [
      { date: '2020-11-10', kind: 'event', name: 'Match day' },
      { date: '2020-11-11', kind: 'event', name: 'match day' },
    ];
    const spiked = { ...lifted, sales: lifted.sales.slice(), orders: lifted.orders.slice() };
    for (let i = (origin - start) / HOUR_MS; i < spiked.sales.length; i++) {
      spiked.sales[i] = spiked.sales[i]! * 50;
      spiked.orders[i] = spiked.orders[i]! * 50;
    }
    const cal = [...past, ...later, matchDay];
    const [a] = await forecast(model, [withCalendar(spiked, cal)], [origin]);
    const [b] = await forecast(model, [withCalendar(historyBefore(lifted, origin), cal)], [origin]);
    expect(a).toEqual(b);
    expect(a!.calendar!.map((n) => [n.date, n.pastDays])).toEqual([
      ['2020-11-10', 2],
      ['2020-11-11', 2],
      ['2020-11-12', 2],
    ]);
  });

  test('a first-time event with an expected effect: × (1 + expectedEffect), range widened 1.5', async () => {
    const concert: BranchCalendarEntry = {
      date: '2020-11-12',
      kind: 'event',
      name: 'Concert',
      expectedEffect: 0.25,
    };
    const [ordinary] = await forecast(model, [steady], [origin]);
    const [event] = await forecast(model, [withCalendar(steady, [...past, concert])], [origin]);
    expect(event!.calendar).toEqual([
      {
        date: '2020-11-12',
        kind: 'event',
        name: 'Concert',
        mode: 'expected',
        multiplier: { sales: 1.25, orders: 1.25 },
        widening: FIRST_TIME_WIDENING,
        text: 'event: Concert, expected by the operators: +25 %',
      },
    ]);
    const o = hoursOn(ordinary!, '2020-11-12');
    hoursOn(event!, '2020-11-12').forEach((h, i) => {
      const g = o[i]!;
      expect(h.salesP50).toBeCloseTo(1.25 * g.salesP50, 9);
      expect(h.ordersP50).toBeCloseTo(1.25 * g.ordersP50, 9);
      expect(h.salesP90 - h.salesP50).toBeCloseTo(1.25 * 1.5 * (g.salesP90 - g.salesP50), 9);
      if (g.salesP10 > 0 && h.salesP10 > 0)
        expect(h.salesP50 - h.salesP10).toBeCloseTo(1.25 * 1.5 * (g.salesP50 - g.salesP10), 9);
    });
  });

  test('a first-time event without an expected effect: a special day for the network, range widened 1.5', async () => {
    const festival: BranchCalendarEntry = { date: '2020-11-12', kind: 'event', name: 'Food festival' };
    // The rows of that day are trading days for the features.
    const { grid, originSlot } = historyGrid(steady, origin, 14, LOOKBACK_DAYS);
    const idx = withBranchEvents(specialDayIndex('IE'), [day('2020-11-12')]);
    const r = originRows(grid, idx, originSlot, 14)!;
    const flags = [...r.slots].map((slot, i) => [
      grid.day0 + Math.floor(slot / 24),
      r.rows[i * FEATURE_COUNT + featureIndex('trading_day')],
    ]);
    expect(flags.filter(([, f]) => f === 1).every(([d]) => d === day('2020-11-12'))).toBe(true);
    expect(flags.filter(([d]) => d === day('2020-11-12')).every(([, f]) => f === 1)).toBe(true);
    const [event] = await forecast(model, [withCalendar(steady, [festival])], [origin], { explain: true });
    expect(event!.calendar).toEqual([
      {
        date: '2020-11-12',
        kind: 'event',
        name: 'Food festival',
        mode: 'generic',
        widening: FIRST_TIME_WIDENING,
        text: "event: Food festival, first time: the model's special-day effect",
      },
    ]);
    // The explanation's calendar part carries what the network makes of the special day.
    expect(hoursOn(event!, '2020-11-12').some((h) => h.parts!.salesCalendar !== 0)).toBe(true);
  });

  test('first-time widening exactly: an event on a day that is already a trading day (Christmas Eve)', async () => {
    const long = steadySeries(150);
    const xmasOrigin = localMidnightUtc(ZONE, day('2020-12-21'));
    const party: BranchCalendarEntry = { date: '2020-12-24', kind: 'event', name: 'Staff party' };
    const [plain] = await forecast(model, [long], [xmasOrigin]);
    const [event] = await forecast(model, [withCalendar(long, [party])], [xmasOrigin]);
    const o = hoursOn(plain!, '2020-12-24');
    const e = hoursOn(event!, '2020-12-24');
    expect(sum(o, 'salesP50')).toBeGreaterThan(0);
    e.forEach((h, i) => {
      const g = o[i]!;
      expect(h.salesP50).toBe(g.salesP50);
      expect(h.salesP90 - h.salesP50).toBeCloseTo(1.5 * (g.salesP90 - g.salesP50), 9);
      expect(h.ordersP90 - h.ordersP50).toBeCloseTo(1.5 * (g.ordersP90 - g.ordersP50), 9);
    });
  });

  test('widening: √(1 + 1/n) for n past days, 1.5 for an unmeasured event', () => {
    expect([1, 2, 3, 8].map((n) => Math.round(widening(n) * 100) / 100)).toEqual([1.41, 1.22, 1.15, 1.06]);
    expect(widening(0)).toBe(FIRST_TIME_WIDENING);
  });

  test('calendarHistoryStart: the loader reaches back to the past days an event of the horizon learns from', () => {
    const s = withCalendar(lifted, [...past, matchDay]);
    expect(calendarHistoryStart(s, origin, 14, LOOKBACK_DAYS)).toBe(
      localMidnightUtc(ZONE, day('2020-09-03')) - 38 * 24 * HOUR_MS,
    );
    expect(calendarHistoryStart(withCalendar(lifted, past), origin, 14, LOOKBACK_DAYS)).toBe(
      origin - 38 * 24 * HOUR_MS,
    );
  });
});

describe('training', () => {
  // A refit week with nothing sold: Monday 24 … Sunday 30 August 2020.
  const refitDates = Array.from({ length: 7 }, (_, i) => `2020-08-${24 + i}`);
  const refit: BranchCalendarEntry[] = refitDates.map((date) => ({ date, kind: 'closed', name: 'Refit' }));
  const zeroWeek = (s: HourlySeries): HourlySeries => {
    const from = (localMidnightUtc(ZONE, day('2020-08-24')) - start) / HOUR_MS;
    const to = (localMidnightUtc(ZONE, day('2020-08-31')) - start) / HOUR_MS;
    const sales = s.sales.slice();
    const orders = s.orders.slice();
    sales.fill(0, from, to);
    orders.fill(0, from, to);
    return { ...s, sales, orders };
  };
  const windowOptions = { halfLifeDays: 1000, intraday: false, minHistoryDays: 7, rowSampling: 1, seed: 1 };

  test('a marked closed day gives no targets; an event day is a trading day of the rows', () => {
    const zeroed = zeroWeek(busy);
    const unmarked = buildTrainingRows([zeroed], windowOptions);
    const marked = buildTrainingRows([{ ...zeroed, calendar: refit }], windowOptions);
    // Each closed day was a target of the 15 windows from the 14 days before it and itself, at the
    // branch's 10 open hours: 7 × 15 × 10 rows fewer; the features of every other row are the same.
    expect(unmarked.n - marked.n).toBe(7 * 15 * 10);
    const tradingDay = featureIndex('trading_day');
    const trading = (r: ReturnType<typeof buildTrainingRows>): number => {
      let n = 0;
      for (let i = 0; i < r.n; i++) if (r.x[i * FEATURE_COUNT + tradingDay] === 1) n++;
      return n;
    };
    // No trading day of Ireland in August–November 2020 …
    expect(trading(buildTrainingRows([busy], { ...windowOptions, cutoff: origin }))).toBe(0);
    // … but a past event is one, in every window whose horizon holds it: 15 × 10 rows.
    const withEvent = {
      ...busy,
      calendar: [{ date: '2020-09-17', kind: 'event' as const, name: 'Match day' }],
    };
    expect(trading(buildTrainingRows([withEvent], { ...windowOptions, cutoff: origin }))).toBe(15 * 10);
  });

  test('a refit week marked closed does not teach a false low; unmarked it does', async () => {
    // A larger, longer-trained network than FAST: two of these trained with seeds 11, 12 and 13 on
    // the same data give horizon p10 sums within 3.0 % of each other (36,220 … 37,298): the noise
    // floor of the comparison. The refit week is more than 36 days before the origin, so the
    // forecast reads the same history for all three models: only the networks differ.
    const opts = { epochs: 6, members: 2, hidden: [32], seed: 11, calibrationDays: 0, cutoff: origin };
    const normal = await train([busy, quiet], opts);
    const marked = await train(
      [
        { ...zeroWeek(busy), calendar: refit },
        { ...zeroWeek(quiet), calendar: refit },
      ],
      opts,
    );
    const unmarked = await train([zeroWeek(busy), zeroWeek(quiet)], opts);
    const totals = async (m: ForecastModel, k: 'salesP10' | 'salesP50'): Promise<number> => {
      const fs = await forecast(m, [busy, quiet], [origin]);
      return fs.reduce((a, f) => a + sum(f.hours, k), 0);
    };
    const p10 = [
      await totals(normal, 'salesP10'),
      await totals(marked, 'salesP10'),
      await totals(unmarked, 'salesP10'),
    ];
    const p50 = [
      await totals(normal, 'salesP50'),
      await totals(marked, 'salesP50'),
      await totals(unmarked, 'salesP50'),
    ];
    for (const m of [normal, marked, unmarked]) m.net.dispose();
    // Marked: like the model that saw an ordinary week (measured −1.2 % p10, −1.7 % p50).
    expect(Math.abs(p10[1]! / p10[0]! - 1)).toBeLessThan(0.03);
    expect(Math.abs(p50[1]! / p50[0]! - 1)).toBeLessThan(0.03);
    // Unmarked: the zero days as targets pull the lower quantile down (measured −18 %; p50 −1.6 %:
    // the median hardly moves for a few zero weeks of targets, the lower quantile does).
    expect(p10[2]! / p10[0]! - 1).toBeLessThan(-0.1);
  });
});

describe('backtest honesty with a calendar', () => {
  test('entries known in advance, but nothing after the origin moves a forecast (training with cutoff and forecast)', async () => {
    // Past match days before the origin, one after it whose sales are planted ×50, one in the
    // horizon; a past closure and a planned one.
    const calendar: BranchCalendarEntry[] = [
      { date: '2020-09-03', kind: 'event', name: 'Match day' },
      { date: '2020-10-08', kind: 'event', name: 'match day' },
      { date: '2020-11-10', kind: 'event', name: 'Match day' },
      { date: '2020-11-12', kind: 'event', name: 'Match day' },
      { date: '2020-09-21', kind: 'closed', name: 'Refit' },
      { date: '2020-11-16', kind: 'closed', name: 'Refit' },
    ];
    const clean = [busy, quiet].map((s) => withCalendar(s, calendar));
    const spiked = clean.map((s) => {
      const sales = s.sales.slice();
      const orders = s.orders.slice();
      for (let i = (origin - start) / HOUR_MS; i < sales.length; i++) {
        sales[i] = sales[i]! * 50;
        orders[i] = orders[i]! * 50;
      }
      return { ...s, sales, orders };
    });
    const hp = { epochs: 2, members: 1, hidden: [16], calibrationDays: 7, cutoff: origin };
    const a = await train(clean, hp);
    const b = await train(spiked, hp);
    const fa = await originForecasts(clean, origin, a, 14);
    const fb = await originForecasts(spiked, origin, b, 14);
    a.net.dispose();
    b.net.dispose();
    for (const m of MODEL_NAMES) expect(fb[m]).toEqual(fa[m]);
    expect(fa.neural[0]!.calendar!.map((n) => [n.date, n.mode, n.pastDays])).toEqual([
      ['2020-11-10', 'learned', 2],
      ['2020-11-12', 'learned', 2],
      ['2020-11-16', 'closed', undefined],
    ]);
  });
});
