/**
 * New branches: a forecast from day one, marked, with wider ranges, handing over to its own history.
 */
import './testing/node-realm';
import { dateToDayNumber, formatCivilDate } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { DAY_MS, HOUR_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import {
  blendForecasts,
  COLD_START_RANGE_FACTOR,
  forecastWithColdStart,
  groupPrior,
  HAND_OVER_DAYS,
  handOverWeight,
  isColdStart,
  LEVEL_HAND_OVER_DAYS,
  priorHistory,
  rangeFactor,
} from './cold-start';
import { forecast } from './forecast';
import type { BranchForecast, ForecastModel } from './forecast-types';
import { historyBefore, sliceSeries, type HourlySeries } from './series';
import { syntheticSeries } from './testing/synthetic';
import { train } from './train';

const ZONE = 'Europe/Dublin';
const start = localMidnightUtc(ZONE, dateToDayNumber('2020-08-03'));
const HOURS = 24 * 112;
const peerA = syntheticSeries({ branchId: 'a', start, hours: HOURS, level: 200, seed: 1 });
const peerB = syntheticSeries({
  branchId: 'b',
  start,
  hours: HOURS,
  level: 100,
  closedMondays: true,
  seed: 2,
});
/** The "new" branch: busier than both peers, its history before `opening` removed. */
const full = syntheticSeries({ branchId: 'new', start, hours: HOURS, level: 450, seed: 3 });
const openingDay = dateToDayNumber('2020-10-05'); // a Monday
const opening = localMidnightUtc(ZONE, openingDay);
const newBranch = sliceSeries(full, opening, start + HOURS * HOUR_MS);
const FAST = { epochs: 2, members: 2, hidden: [16], seed: 11 };

let model: ForecastModel;
beforeAll(async () => {
  model = await train([peerA, peerB], { ...FAST, cutoff: opening });
});
afterAll(() => model.net.dispose());

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const p50Sales = (f: BranchForecast): number => sum(f.hours.map((h) => h.salesP50));
const peers = [peerA, peerB];
const originAfter = (days: number): number => localMidnightUtc(ZONE, openingDay + days);

/** A peer's level as the prior defines it: mean per hour over the open days of the 7 days before `origin`. */
function level(s: HourlySeries, origin: number, q: 'sales' | 'orders'): number {
  const perDay = new Map<number, number>();
  for (let i = 0; i < s.sales.length; i++) {
    const t = s.start + i * HOUR_MS;
    if (t < origin - 7 * DAY_MS || t >= origin) continue;
    const d = localSlotOf(ZONE, t).day;
    perDay.set(d, (perDay.get(d) ?? 0) + s[q][i]!);
  }
  const open = [...perDay.values()].filter((v) => v > 0);
  return sum(open) / (24 * open.length);
}

describe('cold start: the prior', () => {
  test('without expected sales: the median of the other branches’ levels (two peers: their mean), orders by their median ticket', () => {
    const p = groupPrior({ peers }, opening)!;
    const [la, lb] = [level(peerA, opening, 'sales'), level(peerB, opening, 'sales')];
    expect(p.source).toBe('group');
    expect(p.peers).toBe(2);
    expect(p.salesLevel).toBeCloseTo((la + lb) / 2, 9);
    const ticket = [level(peerA, opening, 'orders') / la, level(peerB, opening, 'orders') / lb];
    expect(p.ordersLevel).toBeCloseTo(p.salesLevel * ((ticket[0]! + ticket[1]!) / 2), 9);
  });

  test('expected_weekly_sales spread by the group shape: a synthetic week sums to it exactly', () => {
    const p = groupPrior({ peers, expectedWeeklySales: 21_000 }, opening)!;
    expect(p.source).toBe('expected_weekly_sales');
    const week = priorHistory(
      full,
      p,
      { sales: p.salesLevel, orders: p.ordersLevel },
      opening,
      opening + 7 * DAY_MS,
    );
    expect(week.sales.length).toBe(168);
    expect(sum([...week.sales])).toBeCloseTo(21_000, 6);
    // The shape is the group's: nothing before noon (the peers never sell then).
    expect(week.sales[11]).toBe(0);
    expect(week.sales[13]).toBeGreaterThan(0);
  });

  test('no warm peer: no prior', () => {
    expect(groupPrior({ peers: [] }, opening)).toBeNull();
    expect(groupPrior({ peers: [newBranch] }, originAfter(3))).toBeNull(); // itself too young
  });
});

describe('cold start: the forecast', () => {
  test('from day one, with no history at all: exists, is marked, its ranges are the prior forecast’s stretched by the factor', async () => {
    const empty: HourlySeries = {
      ...newBranch,
      start: opening,
      sales: new Float64Array(0),
      orders: new Float64Array(0),
    };
    const [cold] = await forecastWithColdStart(model, [empty], [opening], [{ peers }]);
    expect(cold!.coldStart).toBe(true);
    expect(cold!.branchId).toBe('new');
    expect(cold!.hours.length).toBe(15 * 24);
    expect(p50Sales(cold!)).toBeGreaterThan(0);
    // The same model on the prior's synthetic history (w = 0), unstretched.
    const p = groupPrior({ peers }, opening)!;
    const from = localMidnightUtc(ZONE, openingDay - 38);
    const [plain] = await forecast(
      model,
      [priorHistory(empty, p, { sales: p.salesLevel, orders: p.ordersLevel }, from, opening)],
      [opening],
    );
    expect(rangeFactor(0)).toBe(COLD_START_RANGE_FACTOR);
    let wider = 0;
    cold!.hours.forEach((h, i) => {
      const q = plain!.hours[i]!;
      expect(h.hourStart).toBe(q.hourStart);
      expect(h.salesP50).toBeCloseTo(q.salesP50, 9);
      expect(h.salesP90 - h.salesP50).toBeCloseTo(COLD_START_RANGE_FACTOR * (q.salesP90 - q.salesP50), 9);
      expect(h.salesP10).toBeCloseTo(
        Math.max(0, q.salesP50 - COLD_START_RANGE_FACTOR * (q.salesP50 - q.salesP10)),
        9,
      );
      if (h.salesP90 - h.salesP10 > q.salesP90 - q.salesP10) wider++;
    });
    expect(wider).toBeGreaterThan(100);
  });

  test('the blend adds up exactly: every hour and every total is (1 − w)·prior + w·own', () => {
    const a: BranchForecast = {
      branchId: 'x',
      origin: 0,
      hours: [0, 1, 2].map((i) => ({
        hourStart: i * HOUR_MS,
        salesP10: 1,
        salesP50: 2 + i,
        salesP90: 5,
        ordersP10: 0,
        ordersP50: 1,
        ordersP90: 2,
      })),
    };
    const b: BranchForecast = {
      branchId: 'x',
      origin: 0,
      hours: [0, 1, 2].map((i) => ({
        hourStart: i * HOUR_MS,
        salesP10: 3,
        salesP50: 10 * i,
        salesP90: 40,
        ordersP10: 1,
        ordersP50: 3,
        ordersP90: 4,
      })),
    };
    const m = blendForecasts(a, b, 0.25);
    expect(m.hours.map((h) => h.salesP50)).toEqual([1.5, 4.75, 8]);
    expect(m.hours.map((h) => h.ordersP50)).toEqual([1.5, 1.5, 1.5]);
    expect(m.hours[0]!.salesP90).toBe(13.75);
    expect(p50Sales(m)).toBe(0.75 * p50Sales(a) + 0.25 * p50Sales(b));
  });

  test('hands over to its own level within a week, widens its ranges less as it ages, and is the plain forecast once warm', async () => {
    const ages = [0, 2, 4, LEVEL_HAND_OVER_DAYS, 14, HAND_OVER_DAYS];
    const origins = ages.map(originAfter);
    const histories = origins.map((o) => historyBefore(newBranch, o));
    const out = await forecastWithColdStart(
      model,
      histories,
      origins,
      ages.map(() => ({ peers })),
    );
    const fortnight = out.map((f) => p50Sales(f));
    // The branch sells ~2.2x the prior (level 450 against the peers' 200 and 100): each day of own history moves
    // the forecast toward its own level, which it has reached after a week.
    for (let i = 1; i <= 3; i++) expect(fortnight[i]!).toBeGreaterThan(fortnight[i - 1]!);
    expect(fortnight[3]! / fortnight[0]!).toBeGreaterThan(1.5);
    expect(ages.map(handOverWeight)).toEqual([0, 2 / 7, 4 / 7, 1, 1, 1]);
    const F = COLD_START_RANGE_FACTOR;
    const expected = [
      F,
      1 + (F - 1) * (26 / 28),
      1 + (F - 1) * (24 / 28),
      1 + (F - 1) * 0.75,
      1 + (F - 1) * 0.5,
      1,
    ];
    ages.forEach((a, i) => expect(rangeFactor(a)).toBeCloseTo(expected[i]!, 12));
    expect(out.slice(0, 5).every((f) => f.coldStart === true)).toBe(true);
    expect(isColdStart(histories[5]!, origins[5]!)).toBe(false);
    const [warm] = await forecast(model, [histories[5]!], [origins[5]!]);
    expect(out[5]!.coldStart).toBeUndefined();
    expect(out[5]!.hours).toEqual(warm!.hours);
  });

  test('opened_on in the future: zeros until the opening day, the prior from then on', async () => {
    const origin = originAfter(-3);
    const empty: HourlySeries = {
      ...newBranch,
      start: origin,
      sales: new Float64Array(0),
      orders: new Float64Array(0),
    };
    const [f] = await forecastWithColdStart(
      model,
      [empty],
      [origin],
      [{ peers, openedOn: formatCivilDate(openingDay) }],
    );
    const before = f!.hours.filter((h) => h.hourStart < opening);
    const after = f!.hours.filter((h) => h.hourStart >= opening);
    expect(before.length).toBe(72);
    expect(before.every((h) => h.salesP90 === 0 && h.ordersP90 === 0)).toBe(true);
    expect(sum(after.map((h) => h.salesP50))).toBeGreaterThan(0);
    expect(f!.coldStart).toBe(true);
  });

  test('honours the operators’ calendar: a planned closure of a new branch is 0, and the forecast says why', async () => {
    // Three days old: the prior and its own days blended (w = 3/7).
    const origin = originAfter(3);
    const refit = formatCivilDate(openingDay + 5);
    const young: HourlySeries = {
      ...historyBefore(newBranch, origin),
      calendar: [{ date: refit, kind: 'closed', name: 'Refit' }],
    };
    const [f] = await forecastWithColdStart(model, [young], [origin], [{ peers }]);
    const day = f!.hours.filter((h) => localSlotOf(ZONE, h.hourStart).day === openingDay + 5);
    expect(day.length).toBe(24);
    expect(day.every((h) => h.salesP90 === 0 && h.ordersP90 === 0)).toBe(true);
    expect(f!.hours.some((h) => h.salesP50 > 0)).toBe(true);
    expect(f!.calendar?.map((n) => n.date)).toEqual([refit]);
    expect(f!.coldStart).toBe(true);
  });

  test('no peers and nothing sold: a marked forecast of zeros (nothing to start from)', async () => {
    const empty: HourlySeries = {
      ...newBranch,
      start: opening,
      sales: new Float64Array(0),
      orders: new Float64Array(0),
    };
    const [f] = await forecastWithColdStart(model, [empty], [opening], [{ peers: [] }]);
    expect(f!.coldStart).toBe(true);
    expect(p50Sales(f!)).toBe(0);
  });

  test('a warm branch is forecast exactly as forecast() does, with or without an input', async () => {
    const origin = originAfter(0);
    const [a] = await forecastWithColdStart(model, [peerA], [origin], [{ peers: [peerB] }]);
    const [b] = await forecast(model, [peerA], [origin]);
    expect(a).toEqual(b);
  });
});
