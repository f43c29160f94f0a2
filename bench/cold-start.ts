/**
 * `npm run bench:cold-start`: how well a new branch is forecast in its first two weeks (issue 16,
 * docs/model.md "New branches"), on the shared export. Prints one JSON line on stdout (the
 * per-case table on stderr).
 *
 * For each date D (BENCH_COLD_DATES, default 2020-11-02 and 2020-12-07, Mondays) and each of the
 * three branches X in turn, X is pretended new on D: its history before D is removed. Scored on
 * the 14 local days D … D+13 (daily and weekly WAPE of sales and orders, pooled over the cases):
 * - cold: the cold-start forecast (model/cold-start.ts) from D with no own history, by a model
 *   trained only on the other two branches before D, prior level = the others' median level;
 * - cold_expected: the same with `expected_weekly_sales` = X's actual mean weekly sales over the
 *   two weeks (an oracle: how good the forecast gets with a perfect manager's estimate);
 * - warm: the production model trained on all three branches before D, forecasting X from its
 *   full history (what the branch would get if it were not new);
 * - naive_group: seasonal naive on the other branches' shape: each hour = the others' same local
 *   hour in the week before D, each divided by its own level of that week, averaged, at the prior
 *   level (the same median), repeated for week two.
 * The hand-over, `age` days after the opening (AGES: 3 and 7, that much own history, scored on the
 * 14 days from then): prior_ageN (w = 0: the prior alone), rule_ageN (the production rule,
 * w = age / 7), own_level_ageN (w = 1: its own history padded with the group's shape at its
 * own level), own_alone_ageN (the model on its own few days, what the forecaster did before cold
 * starts) and warm_ageN.
 * Ranges: p10–p90 coverage of the cold forecasts' hours, days and weeks (days and weeks by the
 * model's grain factors, as /predict builds them), with the cold-start stretch, without it
 * (rangeFactor 1) and of the warm model, and the stretch of the unstretched ranges covering 80%.
 */
import { BranchDirectory } from '../lib/branches';
import { dateToDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import { seriesFromExport } from '../cli/series-source';
import { measureCalibration } from '../model/calibration';
import { bucketInterval, stretchAt, stretchNeeded } from '../model/grain-intervals';
import type { GrainFactors } from '../model/interval-factors';
import { COLD_START_RANGE_FACTOR, forecastWithColdStart, groupPrior } from '../model/cold-start';
import { forecast } from '../model/forecast';
import type { BranchForecast, HourlyForecast } from '../model/forecast-types';
import { historyBefore, sliceSeries, type HourlySeries } from '../model/series';
import { train } from '../model/train';
import { requireSharedExport } from '../test/shared-data';

const DATES = (process.env.BENCH_COLD_DATES ?? '2020-11-02,2020-12-07').split(',');
const ZONE = 'Europe/Dublin';
const DAYS = 14;
/** Days after the opening the hand-over is scored at (with that much own history). */
const AGES = [3, 7];

type Q = 'sales' | 'orders';
const QS: readonly Q[] = ['sales', 'orders'];
const p50 = (h: HourlyForecast, q: Q): number => (q === 'sales' ? h.salesP50 : h.ordersP50);

/** Absolute error and actual sums per grain, per quantity. */
class Wape {
  readonly err = { daily: { sales: 0, orders: 0 }, weekly: { sales: 0, orders: 0 } };
  readonly act = { daily: { sales: 0, orders: 0 }, weekly: { sales: 0, orders: 0 } };
  add(f: BranchForecast, actual: HourlySeries, firstDay: number, days: number): void {
    for (const q of QS) {
      const fd = new Float64Array(days);
      const ad = new Float64Array(days);
      for (const h of f.hours) {
        const d = localSlotOf(ZONE, h.hourStart).day - firstDay;
        if (d < 0 || d >= days) continue;
        fd[d] = fd[d]! + p50(h, q);
        const j = (h.hourStart - actual.start) / HOUR_MS;
        ad[d] = ad[d]! + (j >= 0 && j < actual.sales.length ? actual[q][j]! : 0);
      }
      for (let d = 0; d < days; d++) {
        this.err.daily[q] += Math.abs(fd[d]! - ad[d]!);
        this.act.daily[q] += ad[d]!;
      }
      for (let w = 0; w < days / 7; w++) {
        let fw = 0;
        let aw = 0;
        for (let d = 7 * w; d < 7 * w + 7; d++) {
          fw += fd[d]!;
          aw += ad[d]!;
        }
        this.err.weekly[q] += Math.abs(fw - aw);
        this.act.weekly[q] += aw;
      }
    }
  }
  summary(): Record<Q, { daily: number; weekly: number }> {
    const r = (x: number): number => Math.round(x * 1000) / 1000;
    const of = (q: Q) => ({
      daily: r(this.err.daily[q] / this.act.daily[q]),
      weekly: r(this.err.weekly[q] / this.act.weekly[q]),
    });
    return { sales: of('sales'), orders: of('orders') };
  }
}

/** The others' week before `origin`, each hour over its branch's level, averaged, at `level`; repeated. */
function naiveGroup(
  target: HourlySeries,
  peers: HourlySeries[],
  origin: number,
  level: { sales: number; orders: number },
): BranchForecast {
  const originDay = localSlotOf(ZONE, origin).day;
  const weekOf = (s: HourlySeries) => {
    const sales = new Float64Array(168);
    const orders = new Float64Array(168);
    for (let i = 0; i < s.sales.length; i++) {
      const t = s.start + i * HOUR_MS;
      const slot = localSlotOf(ZONE, t);
      const d = slot.day - (originDay - 7);
      if (d < 0 || d >= 7) continue;
      const k = d * 24 + slot.hour;
      sales[k] = sales[k]! + s.sales[i]!;
      orders[k] = orders[k]! + s.orders[i]!;
    }
    const openLevel = (xs: Float64Array) => {
      let sum = 0;
      let n = 0;
      for (let d = 0; d < 7; d++) {
        const day = xs.subarray(d * 24, d * 24 + 24).reduce((a, b) => a + b, 0);
        if (day > 0) {
          sum += day / 24;
          n++;
        }
      }
      return sum / n;
    };
    const ls = openLevel(sales);
    const lo = openLevel(orders);
    return { sales: sales.map((v) => v / ls), orders: orders.map((v) => v / lo) };
  };
  const weeks = peers.map(weekOf);
  const hours: HourlyForecast[] = [];
  for (let t = origin; localSlotOf(ZONE, t).day < originDay + DAYS; t += HOUR_MS) {
    const slot = localSlotOf(ZONE, t);
    const k = ((slot.day - originDay) % 7) * 24 + slot.hour;
    const s = (level.sales * weeks.reduce((a, w) => a + w.sales[k]!, 0)) / weeks.length;
    const o = (level.orders * weeks.reduce((a, w) => a + w.orders[k]!, 0)) / weeks.length;
    hours.push({
      hourStart: t,
      salesP10: s,
      salesP50: s,
      salesP90: s,
      ordersP10: o,
      ordersP50: o,
      ordersP90: o,
    });
  }
  return { branchId: target.branchId, origin, hours };
}

/** Hourly p10–p90 coverage of the open hours (sold something, or forecast above 0) of the first `days` days. */
function coverage(fs: { f: BranchForecast; actual: HourlySeries }[]): number {
  let inside = 0;
  let n = 0;
  for (const { f, actual } of fs)
    for (const h of f.hours) {
      const j = (h.hourStart - actual.start) / HOUR_MS;
      const y = j >= 0 && j < actual.sales.length ? actual.sales[j]! : 0;
      if (y === 0 && h.salesP90 === 0) continue;
      n++;
      if (y >= h.salesP10 && y <= h.salesP90) inside++;
    }
  return Math.round((inside / n) * 1000) / 1000;
}

interface Scored {
  f: BranchForecast;
  actual: HourlySeries;
  grains: GrainFactors | undefined;
  firstDay: number;
}

/** p10–p90 coverage of the first DAYS local days' sales by day or week (buckets with a sale or a forecast above 0). */
function bucketCoverage(xs: Scored[], grain: 'day' | 'week'): { coverage: number; needed: number[] } {
  const len = grain === 'day' ? 1 : 7;
  let inside = 0;
  let n = 0;
  const needed: number[] = [];
  for (const { f, actual, grains, firstDay } of xs)
    for (let d = firstDay; d < firstDay + DAYS; d += len) {
      const hours = f.hours.filter((h) => {
        const day = localSlotOf(ZONE, h.hourStart).day;
        return day >= d && day < d + len;
      });
      const b = bucketInterval(hours, grains, grain);
      let y = 0;
      for (const h of hours) {
        const j = (h.hourStart - actual.start) / HOUR_MS;
        if (j >= 0 && j < actual.sales.length) y += actual.sales[j]!;
      }
      if (y === 0 && b.salesP90 === 0) continue;
      n++;
      if (y >= b.salesP10 && y <= b.salesP90) inside++;
      needed.push(stretchNeeded(y, b.salesP50, b.salesP50 - b.salesP10, b.salesP90 - b.salesP50));
    }
  return { coverage: Math.round((inside / n) * 1000) / 1000, needed };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const directory = BranchDirectory.load();
  const { series } = await seriesFromExport(requireSharedExport(), directory);
  const names = new Map(directory.list().map((b) => [b.id, b.name]));
  const scores: Record<string, Wape> = {};
  const cases: string[] = [];
  const scored = { cold: [] as Scored[], unstretched: [] as Scored[], warm: [] as Scored[] };
  const end = Math.max(...series.map((s) => s.start + s.sales.length * HOUR_MS));
  for (const date of DATES) {
    const day = dateToDayNumber(date);
    const origin = localMidnightUtc(ZONE, day);
    const warmModel = await train(series, { cutoff: origin });
    const warmGrains = warmModel.meta.calibration?.grains;
    const warmAt = new Map<number, BranchForecast[]>();
    for (const age of [0, ...AGES])
      warmAt.set(age, await forecast(warmModel, series, [localMidnightUtc(ZONE, day + age)]));
    warmModel.net.dispose();
    for (const [i, target] of series.entries()) {
      const name = names.get(target.branchId) ?? target.branchId;
      const line: string[] = [];
      const score = (label: string, f: BranchForecast, firstDay: number): string => {
        const one = new Wape();
        one.add(f, target, firstDay, DAYS);
        (scores[label] ??= new Wape()).add(f, target, firstDay, DAYS);
        const s = one.summary().sales;
        line.push(`${label} ${s.daily}/${s.weekly}`);
        return `${s.daily}/${s.weekly}`;
      };
      const peers = series.filter((_, j) => j !== i);
      const peersAt = (o: number) => peers.map((p) => historyBefore(p, o));
      const model = await train(peers, { cutoff: origin });
      const grains = model.meta.calibration?.grains;
      const twoWeeks = sliceSeries(target, origin, localMidnightUtc(ZONE, day + DAYS));
      const expectedWeeklySales = twoWeeks.sales.reduce((a, b) => a + b, 0) / 2;
      const empty: HourlySeries = {
        ...target,
        start: origin,
        sales: new Float64Array(0),
        orders: new Float64Array(0),
      };
      const input = [{ peers: peersAt(origin) }];
      const [cold] = await forecastWithColdStart(model, [empty], [origin], input);
      const [unstretched] = await forecastWithColdStart(model, [empty], [origin], input, { rangeFactor: 1 });
      const [coldExpected] = await forecastWithColdStart(
        model,
        [empty],
        [origin],
        [{ peers: peersAt(origin), expectedWeeklySales }],
      );
      const prior = groupPrior(input[0]!, origin)!;
      const naive = naiveGroup(target, peersAt(origin), origin, {
        sales: prior.salesLevel,
        orders: prior.ordersLevel,
      });
      score('cold', cold!, day);
      score('cold_expected', coldExpected!, day);
      score('warm', warmAt.get(0)![i]!, day);
      score('naive_group', naive, day);
      scored.cold.push({ f: cold!, actual: target, grains, firstDay: day });
      scored.unstretched.push({ f: unstretched!, actual: target, grains, firstDay: day });
      scored.warm.push({ f: warmAt.get(0)![i]!, actual: target, grains: warmGrains, firstDay: day });
      // The hand-over: `age` days after the opening, with that much own history.
      for (const age of AGES) {
        const at = localMidnightUtc(ZONE, day + age);
        const own = sliceSeries(target, origin, at);
        const inputAt = [{ peers: peersAt(at) }];
        const withW = async (w: number) =>
          (await forecastWithColdStart(model, [own], [at], inputAt, { handOver: () => w }))[0]!;
        score(`prior_age${age}`, await withW(0), day + age);
        score(`rule_age${age}`, (await forecastWithColdStart(model, [own], [at], inputAt))[0]!, day + age);
        score(`own_level_age${age}`, await withW(1), day + age);
        score(`own_alone_age${age}`, (await forecast(model, [own], [at]))[0]!, day + age);
        score(`warm_age${age}`, warmAt.get(age)![i]!, day + age);
      }
      model.net.dispose();
      const priorWeek = prior.salesLevel * prior.salesShape.reduce((a, b) => a + b, 0);
      cases.push(
        `${date} ${name}: actual ${Math.round(expectedWeeklySales)}/wk, prior ${Math.round(priorWeek)}/wk; sales WAPE daily/weekly: ${line.join(', ')}`,
      );
    }
  }
  const hourlyNeeded = measureCalibration(
    scored.unstretched.map((u) => u.f),
    scored.unstretched.map((u) => u.actual),
    end,
  );
  const daily = {
    cold: bucketCoverage(scored.cold, 'day'),
    unstretched: bucketCoverage(scored.unstretched, 'day'),
    warm: bucketCoverage(scored.warm, 'day'),
  };
  const weekly = {
    cold: bucketCoverage(scored.cold, 'week'),
    unstretched: bucketCoverage(scored.unstretched, 'week'),
    warm: bucketCoverage(scored.warm, 'week'),
  };
  for (const c of cases) process.stderr.write(`${c}\n`);
  const summary = Object.fromEntries(Object.entries(scores).map(([k, w]) => [k, w.summary()]));
  const r2 = (x: number) => Math.round(x * 100) / 100;
  process.stdout.write(
    `${JSON.stringify({
      dates: DATES,
      cases: scored.cold.length,
      first_days: DAYS,
      wape: summary,
      range_factor: COLD_START_RANGE_FACTOR,
      coverage_p10_p90: {
        hourly: {
          cold: coverage(scored.cold),
          unstretched: coverage(scored.unstretched),
          warm: coverage(scored.warm),
        },
        daily: {
          cold: daily.cold.coverage,
          unstretched: daily.unstretched.coverage,
          warm: daily.warm.coverage,
        },
        weekly: {
          cold: weekly.cold.coverage,
          unstretched: weekly.unstretched.coverage,
          warm: weekly.warm.coverage,
        },
      },
      stretch_needed_80: {
        hourly: r2(hourlyNeeded.sales),
        daily: r2(stretchAt(daily.unstretched.needed, 0.8)),
        weekly: r2(stretchAt(weekly.unstretched.needed, 0.8)),
      },
      seconds: Math.round((performance.now() - t0) / 1000),
    })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
