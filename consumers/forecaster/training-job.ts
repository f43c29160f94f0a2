/**
 * One training job, as the forecaster's training child (app/training-child.ts) and
 * `tillcast train` run it: train or fine-tune with model/, score on a recent
 * holdout next to the champion, save the artifacts, describe the result as a
 * registry record.
 *
 * Holdout (champion/challenger): the last `holdoutDays` local days of the data,
 * but never hours the champion was trained on — so right after a full training
 * the next day's holdout is just the new day. The challenger that is scored is
 * trained on the data before the holdout, so both are scored out of sample on
 * the same hours; the score is the mean of the hourly and daily WAPE of sales
 * and orders over all branches (lower is better). Less than a day of unseen
 * data: nothing is scored (null) and a challenger is not promoted.
 * - full: with a champion to beat, a first model trained before the holdout is
 *   scored and the production model is then trained on all of the data; with
 *   none (the first model) there is nothing to compare and it trains once.
 * - finetune: the parent fine-tuned (recent windows, few epochs) on the data
 *   before the holdout is both the scored challenger and the model promoted, so
 *   a fine-tuned model's data lags the newest hours by up to `holdoutDays`
 *   (its inputs still read the latest hours at every refresh).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadModel, saveModel, withMetrics } from '../../model/artifacts';
import { forecast } from '../../model/forecast';
import { localMidnightUtc } from '../../lib/time/local-days';
import { DAY_MS } from '../../lib/time/units';
import { localSlotOf } from '../../lib/time/wall-clock';
import { addAccuracy, emptyAccuracy, scoreForecast, summarize, type WapeSummary } from '../../model/metrics';
import { seriesEnd, type HourlySeries } from '../../model/series';
import type { ForecastModel } from '../../model/forecast-types';
import { fineTune, train, type TrainProgress } from '../../model/train';
import type { ModelRecord } from '../../clickhouse/store/forecast-store';

export interface TrainingJob {
  kind: 'full' | 'finetune';
  series: HourlySeries[];
  modelsDir: string;
  seed: number;
  /** Artifact folder of the model to fine-tune (finetune). */
  warmStart?: string;
  parentVersion?: string;
  /** Artifact folder of the current model, scored on the same holdout. */
  champion?: string;
  holdoutDays?: number;
  onProgress?: (p: TrainProgress & { stage: string }) => void;
}

/** A trained model as the registry records it, with its holdout score next to the champion's. */
export interface TrainOutcome {
  record: ModelRecord;
  /** Holdout score of the new model and, if given, the champion on the same window (lower is better; null: not scored). */
  holdout: { challenger: number | null; champion: number | null };
}

export interface HoldoutScore {
  score: number;
  summary: WapeSummary;
  from: string;
  through: string;
}

/** Scores `model` forecasting every series from `origin` on the hours from there to the data's end. */
export async function holdoutScore(
  model: ForecastModel,
  series: HourlySeries[],
  origin: number,
): Promise<HoldoutScore> {
  const end = Math.min(...series.map(seriesEnd));
  const days = Math.min(14, Math.ceil((end - origin) / DAY_MS));
  const forecasts = await forecast(model, series, [origin], { days });
  const acc = emptyAccuracy();
  forecasts.forEach((f, i) => addAccuracy(acc, scoreForecast(f, series[i]!, end)));
  const s = summarize(acc, true);
  const parts = [s.sales.hourly, s.sales.daily, s.orders.hourly, s.orders.daily].filter(Number.isFinite);
  return {
    score: parts.length ? parts.reduce((a, b) => a + b, 0) / parts.length : Number.POSITIVE_INFINITY,
    summary: s,
    from: new Date(origin).toISOString(),
    through: new Date(end).toISOString(),
  };
}

/**
 * The local midnight `days` local days before the end of the data, or the first local midnight
 * at or after `notBefore` (what the champion was trained through) if that is later.
 */
export function holdoutOrigin(series: HourlySeries[], days: number, notBefore = -Infinity): number {
  const zone = series[0]!.timezone;
  const end = Math.min(...series.map(seriesEnd));
  const byDays = localMidnightUtc(zone, localSlotOf(zone, end - 1).day + 1 - days);
  if (!(notBefore > byDays)) return byDays;
  const slot = localSlotOf(zone, notBefore);
  const midnight = localMidnightUtc(zone, slot.day);
  return midnight >= notBefore ? midnight : localMidnightUtc(zone, slot.day + 1);
}

export function newModelVersion(kind: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${kind}-${crypto.randomBytes(2).toString('hex')}`;
}

/** The model folder cannot take the artifacts (permissions, not a folder, disk full): names the folder and the cause. */
export class ModelSaveError extends Error {
  constructor(folder: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(`cannot save the model in ${folder}: ${code && !msg.startsWith(code) ? `${code}: ` : ''}${msg}`, {
      cause,
    });
    this.name = 'ModelSaveError';
  }
}

/** Fails before training, not after, when the models folder cannot even be created or written. */
function checkModelsDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw new ModelSaveError(path.resolve(dir), err);
  }
}

export async function runTrainingJob(job: TrainingJob): Promise<TrainOutcome> {
  if (job.series.length === 0) throw new Error('no history to train on');
  checkModelsDir(job.modelsDir);
  const champion = job.champion ? await loadModel(job.champion) : undefined;
  const origin = holdoutOrigin(
    job.series,
    job.holdoutDays ?? 7,
    champion ? Date.parse(champion.meta.trainingData.to) : undefined,
  );
  const end = Math.min(...job.series.map(seriesEnd));
  // Too little unseen data to judge: train anyway (a first model needs no judge), score nothing.
  const scorable = end - origin >= DAY_MS;
  const { model, challengerScore } = await trainScored(job, origin, {
    scorable,
    champion: champion !== undefined,
  });
  const championScore =
    champion && challengerScore ? await holdoutScore(champion, job.series, origin) : undefined;
  champion?.net.dispose();
  const metrics = challengerScore
    ? {
        ...challengerScore.summary,
        holdout: {
          score: challengerScore.score,
          from: challengerScore.from,
          through: challengerScore.through,
          champion: championScore?.score ?? null,
        },
      }
    : {};
  return {
    record: await saveTrained(job, model, metrics),
    holdout: { challenger: challengerScore?.score ?? null, champion: championScore?.score ?? null },
  };
}

/**
 * The model to save and, when the holdout is scorable, the challenger's score: a fine-tune is
 * trained before the holdout and scored itself; a full training with a champion to beat scores a
 * model trained before the holdout, then trains the one to save on all of the data.
 */
async function trainScored(
  job: TrainingJob,
  origin: number,
  holdout: { scorable: boolean; champion: boolean },
): Promise<{ model: ForecastModel; challengerScore?: HoldoutScore }> {
  const progress = (stage: string) => (p: TrainProgress) => job.onProgress?.({ ...p, stage });
  const { scorable } = holdout;
  if (job.kind === 'finetune') {
    if (!job.warmStart) throw new Error('a fine-tune needs --warm-start');
    const parent = await loadModel(job.warmStart);
    const model = await fineTune(parent, job.series, {
      cutoff: origin,
      seed: job.seed,
      onProgress: progress('fine-tune'),
    });
    parent.net.dispose();
    return { model, challengerScore: scorable ? await holdoutScore(model, job.series, origin) : undefined };
  }
  let challengerScore: HoldoutScore | undefined;
  if (holdout.champion && scorable) {
    const scored = await train(job.series, {
      seed: job.seed,
      cutoff: origin,
      onProgress: progress('holdout model'),
    });
    challengerScore = await holdoutScore(scored, job.series, origin);
    scored.net.dispose();
  }
  const model = await train(job.series, { seed: job.seed, onProgress: progress('production model') });
  return { model, challengerScore };
}

/** Saves the artifacts under a new version's folder and describes them as a registry record. */
async function saveTrained(job: TrainingJob, model: ForecastModel, metrics: object): Promise<ModelRecord> {
  const version = newModelVersion(job.kind);
  const artifactPath = path.resolve(job.modelsDir, version);
  const saved = withMetrics(model, metrics);
  try {
    await saveModel(saved, artifactPath);
  } catch (err) {
    // Disk full or the folder went away meanwhile: no half-written artifact is left behind.
    fs.rmSync(artifactPath, { recursive: true, force: true });
    throw new ModelSaveError(path.resolve(job.modelsDir), err);
  } finally {
    model.net.dispose();
  }
  const meta = saved.meta;
  return {
    version,
    created_at: Date.parse(meta.createdAt),
    kind: job.kind,
    parent_version: job.parentVersion ?? '',
    train_from: Date.parse(meta.trainingData.from),
    train_through: Date.parse(meta.trainingData.to),
    features: meta.features,
    hyperparams: meta.hyperParameters,
    metrics,
    backend: meta.backend,
    artifact_path: artifactPath,
  };
}
