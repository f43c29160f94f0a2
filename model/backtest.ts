/**
 * Rolling-origin backtest.
 *
 * Origins: local midnight, weekly, the last `weeks` (default 8) origins whose complete horizon
 * (`horizonDays` local days, default 14) lies within the data of every branch. For each origin
 * the network is trained on data strictly before it (`cutoff = origin`: no window, feature or
 * target at or after the origin), then it and both baselines forecast from the origin with only
 * the history before it, and everything is scored on the `horizonDays` days that follow.
 *
 * Training per origin ("retrain", the default): a fresh model per origin, same seed and
 * hyper-parameters as production. "warm": one model trained before the first origin, then for
 * every later origin a copy fine-tuned on the recent data before that origin (cheaper; also
 * honest). Hyper-parameters are fixed for all origins (never tuned on an origin's actuals).
 *
 * Summary numbers are means over origins of the WAPE pooled over branches at that origin (each
 * origin weighs the same); per-branch numbers are means over origins of that branch's WAPE.
 */
import { localMidnightUtc } from '../lib/time/local-days';
import { localSlotOf } from '../lib/time/wall-clock';
import { mean4Weeks, seasonalNaive } from './baselines';
import { forecast } from './forecast';
import type { BranchForecast } from './forecast-types';
import {
  addAccuracy,
  emptyAccuracy,
  meanSummary,
  scoreForecast,
  summarize,
  type Accuracy,
  type WapeSummary,
} from './metrics';
import { seriesEnd, type HourlySeries } from './series';
import type { ForecastModel } from './forecast-types';
import { fineTune, train, type TrainOptions, type TrainProgress } from './train';

export type ModelName = 'neural' | 'seasonal_naive' | 'mean_4w';
export const MODEL_NAMES: readonly ModelName[] = ['neural', 'seasonal_naive', 'mean_4w'];

export interface BacktestOptions {
  weeks?: number;
  horizonDays?: number;
  /** Hyper-parameters of the network (default: production's). */
  train?: Omit<TrainOptions, 'cutoff' | 'onProgress'>;
  scheme?: 'retrain' | 'warm';
  /** Fine-tuning epochs of the warm scheme. */
  fineTuneEpochs?: number;
  /** Called per origin and epoch. */
  onProgress?: (p: { origin: number; originIndex: number; origins: number } & TrainProgress) => void;
}

export interface BacktestSummary {
  origins: string[];
  neural: WapeSummary;
  seasonal_naive: WapeSummary;
  mean_4w: WapeSummary;
}

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
  branches: Record<string, Omit<BacktestSummary, 'origins'>>;
  /** Everything pooled over origins and branches (for reference; the summary is per-origin means). */
  pooled: Omit<BacktestSummary, 'origins'>;
  perOrigin: OriginResult[];
  /** The series the backtest ran on (actuals for charts). */
  series: HourlySeries[];
  horizonDays: number;
  trainSecondsTotal: number;
}

/** The weekly local-midnight origins of the backtest (oldest first). */
export function backtestOrigins(series: HourlySeries[], weeks = 8, horizonDays = 14): number[] {
  if (series.length === 0) return [];
  const zone = series[0]!.timezone;
  const end = Math.min(...series.map(seriesEnd));
  // Last local day whose following horizonDays days end by `end`.
  let lastDay = localSlotOf(zone, end).day - horizonDays;
  while (localMidnightUtc(zone, lastDay + horizonDays) > end) lastDay--;
  const out: number[] = [];
  for (let j = weeks - 1; j >= 0; j--) out.push(localMidnightUtc(zone, lastDay - 7 * j));
  return out;
}

export async function runBacktest(
  series: HourlySeries[],
  opts: BacktestOptions = {},
): Promise<BacktestResult> {
  const weeks = opts.weeks ?? 8;
  const horizonDays = opts.horizonDays ?? 14;
  const origins = backtestOrigins(series, weeks, horizonDays);
  if (origins.length === 0) throw new Error('runBacktest: no series');
  const zone = series[0]!.timezone;
  const perOrigin: OriginResult[] = [];
  let warm: ForecastModel | undefined;
  let trainSecondsTotal = 0;

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
    // Horizon: days 0 … horizonDays-1 from the origin (forecast covers one day more; not scored).
    const days = horizonDays - 1;
    const until = localMidnightUtc(zone, localSlotOf(zone, origin).day + horizonDays);
    const forecasts: Record<ModelName, BranchForecast[]> = {
      neural: await forecast(model, series, [origin], { days }),
      seasonal_naive: seasonalNaive(series, [origin], days),
      mean_4w: mean4Weeks(series, [origin], days),
    };
    if (opts.scheme !== 'warm') model.net.dispose();
    const accuracy = {} as Record<ModelName, Map<string, Accuracy>>;
    for (const name of MODEL_NAMES) {
      accuracy[name] = new Map(
        forecasts[name].map((f, i) => [f.branchId, scoreForecast(f, series[i]!, until)]),
      );
    }
    perOrigin.push({ origin, forecasts, accuracy, trainSeconds });
  }
  warm?.net.dispose();

  const summarizeModels = (
    pick: (o: OriginResult, m: ModelName) => Accuracy[],
  ): Omit<BacktestSummary, 'origins'> => {
    const s = {} as Omit<BacktestSummary, 'origins'>;
    for (const m of MODEL_NAMES) {
      const per = perOrigin.map((o) =>
        summarize(pick(o, m).reduce(addAccuracy, emptyAccuracy()), m === 'neural'),
      );
      s[m] = meanSummary(per, m === 'neural');
    }
    return s;
  };
  const summary: BacktestSummary = {
    origins: origins.map((o) => new Date(o).toISOString()),
    ...summarizeModels((o, m) => [...o.accuracy[m].values()]),
  };
  const branches: BacktestResult['branches'] = {};
  for (const s of series) branches[s.branchId] = summarizeModels((o, m) => [o.accuracy[m].get(s.branchId)!]);
  const pooled = {} as Omit<BacktestSummary, 'origins'>;
  for (const m of MODEL_NAMES) {
    const acc = emptyAccuracy();
    for (const o of perOrigin) for (const a of o.accuracy[m].values()) addAccuracy(acc, a);
    pooled[m] = summarize(acc, m === 'neural');
  }
  return { summary, branches, pooled, perOrigin, series, horizonDays, trainSecondsTotal };
}

/** The acceptance check of the product brief, as data (tests and the report use it). */
export function acceptance(summary: BacktestSummary): {
  ok: boolean;
  checks: Array<{ check: string; ok: boolean }>;
} {
  const checks: Array<{ check: string; ok: boolean }> = [];
  for (const q of ['sales', 'orders'] as const) {
    for (const g of ['hourly', 'daily', 'weekly'] as const) {
      const n = summary.neural[q][g];
      const best = Math.min(summary.seasonal_naive[q][g], summary.mean_4w[q][g]);
      checks.push({
        check: `${q} ${g}: neural ${n.toFixed(3)} < best baseline ${best.toFixed(3)}`,
        ok: n < best,
      });
      if (g === 'hourly')
        checks.push({
          check: `${q} hourly: neural ≤ 0.9 × best baseline (${(0.9 * best).toFixed(3)})`,
          ok: n <= 0.9 * best,
        });
    }
  }
  const cov = summary.neural.coverage_p10_p90 ?? NaN;
  checks.push({
    check: `p10–p90 coverage ${(100 * cov).toFixed(1)}% within 70–90%`,
    ok: cov >= 0.7 && cov <= 0.9,
  });
  return { ok: checks.every((c) => c.ok), checks };
}
