/**
 * Rolling-origin backtest.
 *
 * Origins: every local Monday midnight from the first Monday at least 70 days (10 weeks) after
 * the earliest series start — enough history for the 5 weeks the features read and several
 * weeks of training windows; 2020-09-07 on the shared export — through the last one whose
 * complete horizon (`horizonDays` local days, default 14) lies within the data of every branch
 * (`weeks` keeps only the last n; `firstDay` moves the start). For each origin the network is
 * trained on data strictly before it (`cutoff = origin`: no window, feature or target at or after
 * the origin), then it and every baseline forecast from the origin with only the history before
 * it, and everything is scored on the `horizonDays` days that follow.
 *
 * Training per origin ("retrain", the default): a fresh model per origin, same seed and
 * hyper-parameters as production. "warm": one model trained before the first origin, then for
 * every later origin a copy fine-tuned on the recent data before that origin (cheaper; also
 * honest). Hyper-parameters are fixed for all origins (never tuned on an origin's actuals).
 *
 * Models: the network, and the baselines side by side: seasonal naive, mean of 4 weeks, the
 * network's own structural base (level × shape of its feature rows, no network) and Holt-Winters
 * on daily totals (baselines.ts, structural-baseline.ts).
 *
 * Summary numbers are means over origins of the WAPE pooled over branches at that origin (each
 * origin weighs the same); per-branch numbers are means over origins of that branch's WAPE.
 * Skill = 1 − WAPE / WAPE of seasonal naive, from those means. Per horizon day, the errors are
 * pooled over origins and branches (see summarizeModels).
 */
import { dateToDayNumber, formatCivilDate, weekdayOfDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';

import { localSlotOf } from '../lib/time/wall-clock';
import { holtWintersBaseline, mean4Weeks, seasonalNaive } from './baselines';
import { forecast } from './forecast';
import { bucketInterval } from './grain-intervals';
import { addGroupCoverage, emptyGroupCoverage, type GroupCoverageCounts } from './group-intervals';
import type { BranchForecast, ForecastModel } from './forecast-types';
import {
  addAccuracy,
  emptyAccuracy,
  GRAINS,
  meanSummary,
  QUANTITIES,
  scoreForecast,
  summarize,
  type Accuracy,
  type BucketIntervals,
  type Grain,
  type Quantity,
  type WapeSummary,
} from './metrics';
import { seriesEnd, type HourlySeries } from './series';
import { baseAndHoltWinters, structuralBaseline } from './structural-baseline';
import { fineTune, train, type TrainOptions, type TrainProgress } from './train';

export type ModelName =
  'neural' | 'seasonal_naive' | 'mean_4w' | 'structural_base' | 'holt_winters' | 'base_and_holt_winters';
/** What the network must beat (the acceptance). */
export const BASELINE_NAMES = ['seasonal_naive', 'mean_4w', 'structural_base', 'holt_winters'] as const;
/**
 * Reported, not in the acceptance: the forecast's day-total combination without the network
 * (structural-baseline.ts `baseAndHoltWinters`), to show what the network adds to it.
 */
export const ABLATION_NAMES = ['base_and_holt_winters'] as const;
export const MODEL_NAMES: readonly ModelName[] = ['neural', ...BASELINE_NAMES, ...ABLATION_NAMES];

/** Days of history before the first origin (see the file comment). */
export const MIN_HISTORY_DAYS = 70;

export interface OriginOptions {
  /** Keep only the last n origins (default: all). */
  weeks?: number;
  horizonDays?: number;
  /** First local date an origin may fall on (yyyy-mm-dd; default: 70 days after the data start). */
  firstDay?: string;
}

export interface BacktestOptions extends OriginOptions {
  /** Hyper-parameters of the network (default: production's). */
  train?: Omit<TrainOptions, 'cutoff' | 'onProgress'>;
  scheme?: 'retrain' | 'warm';
  /** Fine-tuning epochs of the warm scheme. */
  fineTuneEpochs?: number;
  /** Called per origin and epoch. */
  onProgress?: (p: { origin: number; originIndex: number; origins: number } & TrainProgress) => void;
}

export type Skill = Record<Quantity, Record<Grain, number>>;

export interface BacktestSummary {
  origins: string[];
  /** The origins' local dates (yyyy-mm-dd; every one a Monday). */
  originDates: string[];
  neural: WapeSummary;
  seasonal_naive: WapeSummary;
  mean_4w: WapeSummary;
  structural_base: WapeSummary;
  holt_winters: WapeSummary;
  base_and_holt_winters: WapeSummary;
  /** Per model: 1 − WAPE / WAPE of seasonal naive. */
  skill: Record<ModelName, Skill>;
}

export type ModelSummaries = Omit<BacktestSummary, 'origins' | 'originDates'>;

export interface OriginResult {
  origin: number;
  /** Per model: the forecasts of every branch. */
  forecasts: Record<ModelName, BranchForecast[]>;
  /** Per model and branch id. */
  accuracy: Record<ModelName, Map<string, Accuracy>>;
  trainSeconds: number;
}

export interface BacktestResult {
  summary: BacktestSummary;
  /** Per branch id: the same shape as the summary, over that branch only. */
  branches: Record<string, ModelSummaries>;
  /** Everything pooled over origins and branches (for reference; the summary is per-origin means). */
  pooled: ModelSummaries;
  perOrigin: OriginResult[];
  /** The series the backtest ran on (actuals for charts). */
  series: HourlySeries[];
  horizonDays: number;
  trainSecondsTotal: number;
  /** The network's group p10–p90 coverage counts (series with a `group`), pooled over origins. */
  groupCoverage: GroupCoverageCounts;
}

/** The weekly Monday local-midnight origins of the backtest (oldest first). */
export function backtestOrigins(series: HourlySeries[], opts: OriginOptions = {}): number[] {
  if (series.length === 0) return [];
  const horizonDays = opts.horizonDays ?? 14;
  const zone = series[0]!.timezone;
  const end = Math.min(...series.map(seriesEnd));
  const start = Math.min(...series.map((s) => s.start));
  let first = opts.firstDay
    ? dateToDayNumber(opts.firstDay)
    : localSlotOf(zone, start).day + MIN_HISTORY_DAYS;
  while (weekdayOfDayNumber(first) !== 0) first++;
  const out: number[] = [];
  for (let day = first; localMidnightUtc(zone, day + horizonDays) <= end; day += 7)
    out.push(localMidnightUtc(zone, day));
  return opts.weeks === undefined ? out : out.slice(Math.max(0, out.length - opts.weeks));
}

/**
 * Every model's forecasts from one origin, each from the history strictly before it (the network
 * trained with `cutoff = origin`). The horizon: days 0 … horizonDays-1 from the origin.
 */
export async function originForecasts(
  series: HourlySeries[],
  origin: number,
  model: ForecastModel,
  horizonDays: number,
): Promise<Record<ModelName, BranchForecast[]>> {
  // The forecast covers one day more than it is scored on (`days` full days after the origin's).
  const days = horizonDays - 1;
  return {
    neural: await forecast(model, series, [origin], { days }),
    seasonal_naive: seasonalNaive(series, [origin], days),
    mean_4w: mean4Weeks(series, [origin], days),
    structural_base: structuralBaseline(series, [origin], days),
    holt_winters: holtWintersBaseline(series, [origin], days),
    base_and_holt_winters: baseAndHoltWinters(series, [origin], days),
  };
}

export async function runBacktest(
  series: HourlySeries[],
  opts: BacktestOptions = {},
): Promise<BacktestResult> {
  const horizonDays = opts.horizonDays ?? 14;
  const origins = backtestOrigins(series, opts);
  if (origins.length === 0) throw new Error('runBacktest: no origin with a complete horizon');
  const zone = series[0]!.timezone;
  const perOrigin: OriginResult[] = [];
  let warm: ForecastModel | undefined;
  let trainSecondsTotal = 0;
  const groupCoverage = emptyGroupCoverage();

  for (const [oi, origin] of origins.entries()) {
    const progress = (p: TrainProgress): void =>
      opts.onProgress?.({ ...p, origin, originIndex: oi, origins: origins.length });
    const t0 = performance.now();
    let model: ForecastModel;
    if (opts.scheme === 'warm' && warm) {
      model = await fineTune(warm, series, {
        cutoff: origin,
        epochs: opts.fineTuneEpochs ?? 3,
        onProgress: progress,
      });
    } else {
      model = await train(series, { ...opts.train, cutoff: origin, onProgress: progress });
    }
    if (opts.scheme === 'warm') {
      if (warm && warm !== model) warm.net.dispose();
      warm = model;
    }
    const trainSeconds = (performance.now() - t0) / 1000;
    trainSecondsTotal += trainSeconds;
    const until = localMidnightUtc(zone, localSlotOf(zone, origin).day + horizonDays);
    const forecasts = await originForecasts(series, origin, model, horizonDays);
    const intervals = modelBucketIntervals(model);
    // Groups of branches: their hours, days and weeks with the group ranges the API serves.
    addGroupCoverage(groupCoverage, forecasts.neural, series, until, model.meta.calibration?.grains);
    if (opts.scheme !== 'warm') model.net.dispose();
    const accuracy = {} as Record<ModelName, Map<string, Accuracy>>;
    for (const name of MODEL_NAMES) {
      accuracy[name] = new Map(
        forecasts[name].map((f, i) => [
          f.branchId,
          scoreForecast(f, series[i]!, until, name === 'neural' ? intervals : undefined),
        ]),
      );
    }
    perOrigin.push({ origin, forecasts, accuracy, trainSeconds });
  }
  warm?.net.dispose();

  const summarizeModels = (pick: (o: OriginResult, m: ModelName) => Accuracy[]): ModelSummaries => {
    const s = {} as Record<ModelName, WapeSummary>;
    for (const m of MODEL_NAMES) {
      const per = perOrigin.map((o) =>
        summarize(pick(o, m).reduce(addAccuracy, emptyAccuracy()), m === 'neural', true),
      );
      // Per horizon day: pooled over origins (and branches), not a mean of per-origin ratios: on
      // a day every branch was closed (Christmas) an origin's own WAPE of that day is infinite.
      const all = perOrigin.flatMap((o) => pick(o, m)).reduce(addAccuracy, emptyAccuracy());
      s[m] = { ...meanSummary(per, m === 'neural') };
      const byHorizonDay = summarize(all, m === 'neural', true).byHorizonDay;
      if (byHorizonDay) s[m].byHorizonDay = byHorizonDay;
    }
    return { ...s, skill: skillOf(s) };
  };
  const summary: BacktestSummary = {
    origins: origins.map((o) => new Date(o).toISOString()),
    originDates: origins.map((o) => formatCivilDate(localSlotOf(zone, o).day)),
    ...summarizeModels((o, m) => [...o.accuracy[m].values()]),
  };
  const branches: BacktestResult['branches'] = {};
  for (const s of series) branches[s.branchId] = summarizeModels((o, m) => [o.accuracy[m].get(s.branchId)!]);
  const pooledBy = {} as Record<ModelName, WapeSummary>;
  for (const m of MODEL_NAMES) {
    const acc = emptyAccuracy();
    for (const o of perOrigin) for (const a of o.accuracy[m].values()) addAccuracy(acc, a);
    pooledBy[m] = summarize(acc, m === 'neural', true);
  }
  const pooled: ModelSummaries = { ...pooledBy, skill: skillOf(pooledBy) };
  return { summary, branches, pooled, perOrigin, series, horizonDays, trainSecondsTotal, groupCoverage };
}

/**
 * The network's day and 7-day intervals: the calibrated bucket intervals of grain-intervals.ts
 * with the factors its training measured (ModelMeta.calibration.grains), exactly as the API
 * builds them; none for a model without factors (then day and week coverage are not measured).
 */
export function modelBucketIntervals(model: ForecastModel): BucketIntervals | undefined {
  const factors = model.meta.calibration?.grains;
  if (!factors) return undefined;
  return (grain, hours) => bucketInterval(hours, factors, grain === 'daily' ? 'day' : 'week');
}

function skillOf(s: Record<ModelName, WapeSummary>): Record<ModelName, Skill> {
  const out = {} as Record<ModelName, Skill>;
  const naive = s.seasonal_naive;
  for (const m of MODEL_NAMES) {
    const k = {} as Skill;
    for (const q of QUANTITIES) {
      k[q] = {} as Record<Grain, number>;
      for (const g of GRAINS) k[q][g] = 1 - s[m][q][g] / naive[q][g];
    }
    out[m] = k;
  }
  return out;
}

/** The acceptance check of issue 15, as data (tests and the report use it). */
export function acceptance(summary: BacktestSummary): {
  ok: boolean;
  checks: Array<{ check: string; ok: boolean }>;
} {
  const checks: Array<{ check: string; ok: boolean }> = [];
  for (const q of QUANTITIES) {
    for (const g of GRAINS) {
      const n = summary.neural[q][g];
      for (const b of BASELINE_NAMES) {
        const w = summary[b][q][g];
        checks.push({ check: `${q} ${g}: neural ${n.toFixed(3)} < ${b} ${w.toFixed(3)}`, ok: n < w });
      }
    }
  }
  for (const q of QUANTITIES) {
    for (const g of GRAINS) {
      const cov = summary.neural.coverage?.[q][g] ?? NaN;
      checks.push({
        check: Number.isNaN(cov)
          ? `${q} ${g} p10–p90 coverage: not measured (no calibrated ${g} intervals)`
          : `${q} ${g} p10–p90 coverage ${(100 * cov).toFixed(1)}% within 75–85%`,
        ok: cov >= 0.75 && cov <= 0.85,
      });
    }
  }
  return { ok: checks.every((c) => c.ok), checks };
}

const round4 = (x: number): number | null => (Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : null);
const wapes = (s: WapeSummary): Record<Quantity, Record<Grain, number | null>> => {
  const out = {} as Record<Quantity, Record<Grain, number | null>>;
  for (const q of QUANTITIES) {
    out[q] = {} as Record<Grain, number | null>;
    for (const g of GRAINS) out[q][g] = round4(s[q][g]);
  }
  return out;
};

/** Group p10–p90 coverage per quantity at hourly, daily and weekly grain (null: no group bucket scored). */
export function groupCoverageLine(c: GroupCoverageCounts): Record<Quantity, Record<Grain, number | null>> {
  const out = {} as Record<Quantity, Record<Grain, number | null>>;
  for (const q of QUANTITIES) {
    const g = c[q];
    out[q] = {
      hourly: round4(g.hour.inside / g.hour.n),
      daily: round4(g.day.inside / g.day.n),
      weekly: round4(g.week.inside / g.week.n),
    };
  }
  return out;
}

/**
 * The one JSON line of `npm run backtest`: WAPE per model, quantity and grain; the network's
 * p10–p90 coverage per quantity and grain (null where not measured); the origin count; the
 * acceptance verdict and its failed checks; the coverage of groups of branches (group_coverage).
 */
export function backtestLine(result: BacktestResult): Record<string, unknown> {
  const s = result.summary;
  const cov = s.neural.coverage;
  const coverage = {} as Record<Quantity, Record<Grain, number | null>>;
  for (const q of QUANTITIES) {
    coverage[q] = {} as Record<Grain, number | null>;
    for (const g of GRAINS) coverage[q][g] = round4(cov?.[q][g] ?? NaN);
  }
  const acc = acceptance(s);
  const line: Record<string, unknown> = {
    origins: s.origins.length,
    neural: { ...wapes(s.neural), coverage },
  };
  for (const b of [...BASELINE_NAMES, ...ABLATION_NAMES]) line[b] = wapes(s[b]);
  line.first_origin = s.originDates[0];
  line.last_origin = s.originDates.at(-1);
  line.train_seconds = Math.round(result.trainSecondsTotal);
  line.group_coverage = groupCoverageLine(result.groupCoverage);
  line.acceptance = { ok: acc.ok, failed: acc.checks.filter((c) => !c.ok).map((c) => c.check) };
  return line;
}
