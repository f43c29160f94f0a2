/**
 * Train → forecast → save/load → fine-tune on synthetic branches (seconds, native backend).
 */
import { dateToDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { localSlotOf } from '../lib/time/wall-clock';
import './testing/node-realm';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from './artifacts';
import { forecast } from './forecast';
import { historyBefore } from './series';
import { structuralBaseline } from './structural-baseline';
import { holtWintersDailyTotals } from './baselines';
import { syntheticSeries } from './testing/synthetic';
import type { DayTotals, ForecastModel } from './forecast-types';
import { fineTune, train, type TrainProgress } from './train';

const ZONE = 'Europe/Dublin';
const start = localMidnightUtc(ZONE, dateToDayNumber('2020-08-03'));
const busy = syntheticSeries({ branchId: 'busy', start, hours: 24 * 112, level: 400, seed: 1 });
const quiet = syntheticSeries({
  branchId: 'quiet',
  start,
  hours: 24 * 112,
  level: 40,
  closedMondays: true,
  seed: 2,
});
const origin = localMidnightUtc(ZONE, dateToDayNumber('2020-10-19')); // horizon crosses the DST change
const FAST = { epochs: 2, members: 2, hidden: [16], seed: 11 };

let model: ForecastModel;
const progress: TrainProgress[] = [];
let dir: string;

beforeAll(async () => {
  model = await train([busy, quiet], { ...FAST, cutoff: origin, onProgress: (p) => progress.push(p) });
  dir = await mkdtemp(join(tmpdir(), 'tillcast-model-'));
});
afterAll(async () => {
  model.net.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('train and forecast', () => {
  test('reports progress per epoch and records what it was trained on', () => {
    expect(progress.map((p) => p.epoch)).toEqual([1, 2, 3, 4]); // calibration model + production model
    expect(progress.every((p) => p.epochs === 4 && Number.isFinite(p.loss) && p.etaS >= 0)).toBe(true);
    expect(model.meta.trainingData.branches).toEqual(['busy', 'quiet']);
    expect(Date.parse(model.meta.trainingData.to)).toBeLessThanOrEqual(origin);
    expect(model.meta.backend).toBe('tensorflow');
  });

  test('records day and week p10–p90 factors measured in the calibration window', () => {
    const g = model.meta.calibration?.grains;
    // 28 origins × 2 branches in the 28-day window, each forecast 14 days beyond its origin's day: the 7-day
    // blocks inside the window, 9 for each of the first 14 origins (15 days) and 8 + 7 + … + 1 = 36 for the
    // next ones, 162 per branch, for sales and orders.
    expect(g?.weeks).toBe(162 * 2 * 2);
    expect(['sum', 'rss']).toContain(g?.spread);
    for (const k of [g?.day.sales, g?.day.orders, g?.week.sales, g?.week.orders])
      expect(k).toBeGreaterThan(0);
  });

  test('hourly sales and orders, ordered quantiles, never negative, closed hours 0, DST day of 25 hours', async () => {
    const [fb, fq] = await forecast(model, [busy, quiet], [origin]);
    for (const f of [fb!, fq!]) {
      expect(f.hours).toHaveLength(15 * 24 + 1);
      for (const h of f.hours) {
        expect(h.salesP10).toBeGreaterThanOrEqual(0);
        expect(h.salesP10).toBeLessThanOrEqual(h.salesP50);
        expect(h.salesP50).toBeLessThanOrEqual(h.salesP90);
        expect(h.ordersP10).toBeLessThanOrEqual(h.ordersP50);
        expect(h.ordersP50).toBeLessThanOrEqual(h.ordersP90);
        const { hour } = localSlotOf(ZONE, h.hourStart);
        if (hour < 12 || hour >= 22) expect(h.salesP90).toBe(0);
      }
    }
    // Scale-free: the busy branch forecasts about 10x the quiet one at an open hour.
    const at = Date.UTC(2020, 9, 22, 18); // Thu 19:00 IST
    const b = fb!.hours.find((h) => h.hourStart === at)!;
    const q = fq!.hours.find((h) => h.hourStart === at)!;
    expect(b.salesP50 / q.salesP50).toBeGreaterThan(4);
    expect(b.salesP50 / q.salesP50).toBeLessThan(25);
    // Closed Mondays of the quiet branch.
    const monday = fq!.hours.filter(
      (h) => localSlotOf(ZONE, h.hourStart).day === dateToDayNumber('2020-10-26'),
    );
    expect(Math.max(...monday.map((h) => h.salesP50))).toBeLessThan(0.25 * q.salesP50);
  });

  test('a branch alone or in a batch gets the same forecast; future data is ignored', async () => {
    const [alone] = await forecast(model, [quiet], [origin]);
    const [, inBatch] = await forecast(model, [busy, quiet], [origin]);
    const [cut] = await forecast(model, [historyBefore(quiet, origin)], [origin]);
    expect(alone!.hours.map((h) => h.salesP50)).toEqual(inBatch!.hours.map((h) => h.salesP50));
    expect(cut!.hours.map((h) => h.salesP50)).toEqual(alone!.hours.map((h) => h.salesP50));
  });

  test('explain: level + shape + calendar + network = p50 in every hour; calendar only on special days', async () => {
    const [plain] = await forecast(model, [busy], [origin]);
    const [explained] = await forecast(model, [busy], [origin], { explain: true });
    expect(plain!.hours.every((h) => h.parts === undefined)).toBe(true);
    // Asking for the parts changes no number.
    expect(explained!.hours.map((h) => h.salesP50)).toEqual(plain!.hours.map((h) => h.salesP50));
    expect(explained!.hours.map((h) => h.ordersP90)).toEqual(plain!.hours.map((h) => h.ordersP90));
    const special = new Set(['2020-10-25', '2020-10-26', '2020-11-02'].map(dateToDayNumber)); // eve, October Bank Holiday, a week later (lag day a holiday)
    let calendarOnSpecial = 0;
    for (const h of explained!.hours) {
      const p = h.parts!;
      const { day, hour } = localSlotOf(ZONE, h.hourStart);
      if (hour < 12 || hour >= 22) {
        // Hours the branch never sells at: not forecast, every part 0.
        expect([p.salesLevel, p.salesShape, p.salesCalendar, h.salesP50]).toEqual([0, 0, 0, 0]);
        continue;
      }
      // The level is the branch's recent mean open hour, the same for every forecast hour.
      expect(p.salesLevel).toBe(explained!.hours.find((x) => x.parts!.salesLevel > 0)!.parts!.salesLevel);
      if (special.has(day)) calendarOnSpecial += Math.abs(p.salesCalendar);
      else expect(p.salesCalendar).toBe(0);
      const network = h.salesP50 - p.salesLevel - p.salesShape - p.salesCalendar;
      expect(p.salesLevel + p.salesShape + p.salesCalendar + network).toBeCloseTo(h.salesP50, 9);
      // The structural base (level + shape) is the branch's weekly hour profile: positive when open.
      expect(p.salesLevel + p.salesShape).toBeGreaterThan(0);
    }
    expect(calendarOnSpecial).toBeGreaterThan(0);
  });

  test('combined day totals: the mean of the network, the base and Holt-Winters (ordinary days) or of the first two', async () => {
    const withTotals = (dayTotals: DayTotals): ForecastModel => ({
      ...model,
      meta: { ...model.meta, hyperParameters: { ...model.meta.hyperParameters, dayTotals } },
    });
    expect(model.meta.hyperParameters.dayTotals).toBe('combined'); // the production default
    const dayTotals = (hours: { hourStart: number; salesP50: number; ordersP50: number }[]) => {
      const totals = new Map<number, [number, number]>();
      for (const h of hours) {
        const d = localSlotOf(ZONE, h.hourStart).day;
        const t = totals.get(d) ?? [0, 0];
        totals.set(d, [t[0] + h.salesP50, t[1] + h.ordersP50]);
      }
      return totals;
    };
    const [own] = await forecast(withTotals('network'), [busy], [origin]);
    const [combined] = await forecast(withTotals('combined'), [busy], [origin]);
    const [base] = structuralBaseline([busy], [origin]);
    const ets = holtWintersDailyTotals(busy, origin, 14)!;
    const ownDays = dayTotals(own!.hours);
    const combinedDays = dayTotals(combined!.hours);
    const baseDays = dayTotals(base!.hours);
    expect(combinedDays.size).toBe(15);
    expect(ets.firstDay).toBe(localSlotOf(ZONE, origin).day);
    // The horizon's special days (eve of the October bank holiday, the holiday): no Holt-Winters.
    const special = new Set(['2020-10-25', '2020-10-26'].map(dateToDayNumber));
    let moved = 0;
    for (const [d, [sales, orders]] of combinedDays) {
      const [ownSales, ownOrders] = ownDays.get(d)!;
      const [baseSales, baseOrders] = baseDays.get(d)!;
      const k = d - ets.firstDay;
      const [wantSales, wantOrders] = special.has(d)
        ? [(ownSales + baseSales) / 2, (ownOrders + baseOrders) / 2]
        : [(ownSales + baseSales + ets.sales[k]!) / 3, (ownOrders + baseOrders + ets.orders[k]!) / 3];
      expect(sales).toBeCloseTo(wantSales, 2);
      expect(orders).toBeCloseTo(wantOrders, 3);
      moved += Math.abs(sales - ownSales);
    }
    expect(moved).toBeGreaterThan(1); // the network's totals are not the mean: the combination did something
    // Within a day the network's hours keep their shares.
    own!.hours.forEach((h, i) => {
      const d = localSlotOf(ZONE, h.hourStart).day;
      const share = h.salesP50 / ownDays.get(d)![0];
      expect(combined!.hours[i]!.salesP50 / combinedDays.get(d)![0]).toBeCloseTo(share, 6);
    });
    // An intraday origin: the rest of its day has no Holt-Winters (a whole day's total).
    const mid = Date.UTC(2020, 9, 20, 14);
    const [ownMid] = await forecast(withTotals('network'), [busy], [mid], { days: 1 });
    const [baseMid] = structuralBaseline([busy], [mid], 1);
    const [combinedMid] = await forecast(withTotals('combined'), [busy], [mid], { days: 1 });
    const today = localSlotOf(ZONE, mid).day;
    const rest = (hours: { hourStart: number; salesP50: number; ordersP50: number }[]) =>
      dayTotals(hours).get(today)![0];
    expect(rest(combinedMid!.hours)).toBeCloseTo((rest(ownMid!.hours) + rest(baseMid!.hours)) / 2, 2);
  });

  test('intraday origin: the rest of the local day and the next days', async () => {
    const mid = Date.UTC(2020, 9, 20, 14); // 15:00 IST
    const [f] = await forecast(model, [busy], [mid], { days: 1 });
    expect(f!.hours[0]!.hourStart).toBe(mid);
    expect(f!.hours).toHaveLength(9 + 24);
  });

  test('the same seed trains the same model (up to native float noise)', async () => {
    const again = await train([busy, quiet], { ...FAST, cutoff: origin });
    const [a] = await forecast(model, [busy], [origin]);
    const [b] = await forecast(again, [busy], [origin]);
    again.net.dispose();
    const maxRel = Math.max(
      ...a!.hours.map((h, i) => Math.abs(h.salesP50 - b!.hours[i]!.salesP50) / Math.max(1, h.salesP50)),
    );
    expect(maxRel).toBeLessThan(1e-3);
  });

  test('save and load with file:// + meta.json; fine-tune warm-starts a copy', async () => {
    await saveModel(model, dir);
    expect((await readdir(dir)).sort()).toEqual(['meta.json', 'model.json', 'weights.bin']);
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8'));
    expect(meta).toMatchObject({
      formatVersion: 1,
      backend: 'tensorflow',
      hyperParameters: { seed: 11, members: 2 },
    });
    expect(meta.features.length).toBeGreaterThan(50);
    const loaded = await loadModel(dir);
    const [a] = await forecast(model, [busy], [origin]);
    const [b] = await forecast(loaded, [busy], [origin]);
    expect(b!.hours.map((h) => h.salesP90)).toEqual(a!.hours.map((h) => h.salesP90));

    const tuned = await fineTune(loaded, [busy, quiet], { epochs: 1 });
    expect(tuned.meta.training.fineTunes).toBe(1);
    expect(Date.parse(tuned.meta.trainingData.to)).toBeGreaterThan(origin);
    const [c] = await forecast(loaded, [busy], [origin]);
    expect(c!.hours.map((h) => h.salesP90)).toEqual(a!.hours.map((h) => h.salesP90)); // original untouched
    tuned.net.dispose();
    loaded.net.dispose();
  });
});
