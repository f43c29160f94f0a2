/**
 * Training and fine-tuning of the global quantile network (one model for all branches).
 *
 * Deterministic by seed: seeded initialisers (network.ts), seeded window sampling and shuffling
 * (rng.ts), dropout seeded per layer. The native backend may still differ in the last bits
 * between runs (multi-threaded reductions); backtest.test.ts measures how much.
 */
import type { LayersModel, Scalar, Tensor } from '@tensorflow/tfjs';
import { DAY_MS } from '../lib/time/units';
import { backendName, loadTf, type Tf } from './backend';
import { applyCalibration, calibrationOrigins, measureCalibration } from './calibration';
import { forecast } from './forecast';
import {
  DEFAULT_HORIZON_DAYS,
  MODEL_FORMAT_VERSION,
  type ForecastModel,
  type HyperParameters,
  type IntervalCalibration,
  type ModelMeta,
} from './forecast-types';
import { FEATURE_COUNT, FEATURE_NAMES } from './features';
import { measureGrainFactors } from './grain-intervals';
import { measureGroupFactors } from './group-intervals';
import { buildNetwork, isKernel, type NetworkConfig } from './network';
import { dailyTotalLoss, OUTPUTS, pinballLoss, QUANTILES } from './quantile-loss';
import { Rng } from './rng';
import { seriesEnd, type HourlySeries } from './series';
import { buildTrainingRows, type TrainingRows } from './windows';

export interface TrainProgress {
  epoch: number;
  epochs: number;
  /** Mean pinball loss of the epoch (scale-free units). */
  loss: number;
  /** Estimated seconds left. */
  etaS: number;
}

export const DEFAULT_HYPER_PARAMETERS: Readonly<HyperParameters> = Object.freeze({
  seed: 42,
  epochs: 3,
  batchSize: 2048,
  learningRate: 0.005,
  members: 2,
  hidden: [64, 32],
  dropout: 0.1,
  l2: 0.1,
  halfLifeDays: 1000,
  intraday: true,
  minHistoryDays: 7,
  rowSampling: 0.5,
  dailyTotalWeight: 0,
  levelWeighting: true,
  dayTotals: 'combined',
  calibrationDays: 28,
});

/** The shortest calibration window a young history falls back to (see train). */
const MIN_CALIBRATION_DAYS = 7;

export interface TrainOptions extends Partial<HyperParameters> {
  /** Only data before this UTC instant is used (backtests). Default: all of it. */
  cutoff?: number;
  onProgress?: (p: TrainProgress) => void;
}

export function networkConfig(hp: HyperParameters): NetworkConfig {
  return {
    inputs: FEATURE_COUNT,
    members: hp.members,
    hidden: hp.hidden,
    dropout: hp.dropout,
    seed: hp.seed,
  };
}

/**
 * Trains a new model on `series` (all branches together): with calibration on (the default), a
 * first model on the data before the last `calibrationDays` days measures how much the
 * intervals must be stretched out of sample, then the production model trains on everything.
 * Progress counts the epochs of both.
 */
export async function train(series: HourlySeries[], options: TrainOptions = {}): Promise<ForecastModel> {
  const tf = await loadTf();
  const hp = hyperParameters(options);
  const t0 = performance.now();
  let end = -Infinity;
  for (const s of series) end = Math.max(end, seriesEnd(s));
  if (options.cutoff !== undefined) end = Math.min(end, options.cutoff);

  const phases = hp.calibrationDays > 0 ? 2 : 1;
  const progressOf =
    (phase: number) =>
    (p: TrainProgress): void => {
      const done = phase * hp.epochs + p.epoch;
      const total = phases * hp.epochs;
      const elapsed = (performance.now() - t0) / 1000;
      options.onProgress?.({
        epoch: done,
        epochs: total,
        loss: p.loss,
        etaS: (elapsed / done) * (total - done),
      });
    };

  let calibration: IntervalCalibration | undefined;
  if (hp.calibrationDays > 0) {
    // A young history (a new deployment) may hold no training window before the full window:
    // then a shorter one, halved down to a week, rather than no calibration at all.
    let calDays = hp.calibrationDays;
    let rows = buildRows(series, hp, end - calDays * DAY_MS);
    while (rows.n === 0 && calDays > MIN_CALIBRATION_DAYS) {
      calDays = Math.max(MIN_CALIBRATION_DAYS, Math.floor(calDays / 2));
      rows = buildRows(series, hp, end - calDays * DAY_MS);
    }
    if (rows.n > 0) {
      const net = buildNetwork(tf, networkConfig(hp));
      await fit(tf, net, rows, hp, hp.epochs, hp.learningRate, progressOf(0));
      const origins = calibrationOrigins(series, end, calDays);
      const histories = origins.flatMap(() => series);
      const perHistory = origins.flatMap((o) => series.map(() => o));
      const probe: ForecastModel = { net, meta: { hyperParameters: hp } as ModelMeta };
      // Each origin's whole horizon (as far as the window goes): late horizon days and the
      // second week are scored too, not only what a short window leaves of them.
      const forecasts = await forecast(probe, histories, perHistory, {
        days: Math.min(DEFAULT_HORIZON_DAYS, calDays),
      });
      calibration = measureCalibration(forecasts, histories, end);
      // Day and week factors on the hourly intervals as the production model will serve them.
      const c = calibration;
      const calibrated = forecasts.map((f) => applyCalibration(f, c));
      calibration.grains = measureGrainFactors(calibrated, histories, end);
      // Groups of branches: their summed buckets, with those day and week factors.
      const group = measureGroupFactors(calibrated, histories, end, calibration.grains);
      if (group) calibration.grains.group = group;
      net.dispose();
    }
  }

  const rows = buildRows(series, hp, options.cutoff);
  if (rows.n === 0) throw new Error('train: no training rows (too little history?)');
  const net = buildNetwork(tf, networkConfig(hp));
  const finalLoss = await fit(tf, net, rows, hp, hp.epochs, hp.learningRate, progressOf(phases - 1));
  const meta: ModelMeta = {
    formatVersion: MODEL_FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    trainingData: {
      from: new Date(rows.dataFrom).toISOString(),
      to: new Date(rows.dataTo).toISOString(),
      branches: series.map((s) => s.branchId),
      rows: rows.n,
      windows: rows.windows,
    },
    features: [...FEATURE_NAMES],
    quantiles: [...QUANTILES],
    horizonDays: DEFAULT_HORIZON_DAYS,
    hyperParameters: hp,
    backend: backendName() ?? 'unknown',
    training: { seconds: (performance.now() - t0) / 1000, finalLoss, fineTunes: 0 },
  };
  if (calibration) meta.calibration = calibration;
  return { net, meta };
}

function buildRows(series: HourlySeries[], hp: HyperParameters, cutoff: number | undefined): TrainingRows {
  return buildTrainingRows(series, {
    halfLifeDays: hp.halfLifeDays,
    intraday: hp.intraday,
    minHistoryDays: hp.minHistoryDays,
    rowSampling: hp.rowSampling,
    levelWeighting: hp.levelWeighting ?? false,
    seed: hp.seed,
    ...(cutoff === undefined ? {} : { cutoff }),
  });
}

export interface FineTuneOptions {
  /** Default 3. */
  epochs?: number;
  /** Default: a third of the training learning rate. */
  learningRate?: number;
  /** Train on windows whose origin is at or after this instant (default: the last 42 days of data). */
  from?: number;
  cutoff?: number;
  seed?: number;
  onProgress?: (p: TrainProgress) => void;
}

/**
 * Warm start: a copy of `model` trained a few more epochs on recent data (all of the history
 * still feeds the features; only the recent origins are training windows). `model` is unchanged.
 */
export async function fineTune(
  model: ForecastModel,
  series: HourlySeries[],
  options: FineTuneOptions = {},
): Promise<ForecastModel> {
  const tf = await loadTf();
  const hp: HyperParameters = {
    ...model.meta.hyperParameters,
    seed: options.seed ?? model.meta.hyperParameters.seed,
  };
  const t0 = performance.now();
  let end = -Infinity;
  for (const s of series) end = Math.max(end, seriesEnd(s));
  if (options.cutoff !== undefined) end = Math.min(end, options.cutoff);
  const from = options.from ?? end - 42 * DAY_MS;
  const rows = buildTrainingRows(series, {
    halfLifeDays: hp.halfLifeDays,
    intraday: hp.intraday,
    minHistoryDays: hp.minHistoryDays,
    rowSampling: hp.rowSampling,
    levelWeighting: hp.levelWeighting ?? false,
    seed: hp.seed + 1 + model.meta.training.fineTunes,
    from,
    ...(options.cutoff === undefined ? {} : { cutoff: options.cutoff }),
  });
  if (rows.n === 0) throw new Error('fineTune: no training rows in the recent data');
  const net = copyNetwork(tf, model);
  const epochs = options.epochs ?? 3;
  const finalLoss = await fit(
    tf,
    net,
    rows,
    { ...hp, seed: hp.seed + 7919 * (model.meta.training.fineTunes + 1) },
    epochs,
    options.learningRate ?? hp.learningRate / 3,
    options.onProgress,
  );
  return {
    net,
    meta: {
      ...model.meta,
      createdAt: new Date().toISOString(),
      trainingData: {
        ...model.meta.trainingData,
        to: new Date(Math.max(rows.dataTo, Date.parse(model.meta.trainingData.to))).toISOString(),
        branches: [...new Set([...model.meta.trainingData.branches, ...series.map((s) => s.branchId)])],
      },
      backend: backendName() ?? model.meta.backend,
      training: {
        seconds: model.meta.training.seconds + (performance.now() - t0) / 1000,
        finalLoss,
        fineTunes: model.meta.training.fineTunes + 1,
      },
    },
  };
}

function hyperParameters(o: TrainOptions): HyperParameters {
  const hp = { ...DEFAULT_HYPER_PARAMETERS, hidden: [...DEFAULT_HYPER_PARAMETERS.hidden] };
  for (const k of Object.keys(hp) as Array<keyof HyperParameters>) {
    const v = o[k];
    if (v !== undefined) (hp as Record<string, unknown>)[k] = v;
  }
  return hp;
}

function copyNetwork(tf: Tf, model: ForecastModel): LayersModel {
  const net = buildNetwork(tf, networkConfig(model.meta.hyperParameters));
  net.setWeights(model.net.getWeights());
  return net;
}

/** Mini-batch Adam on the weighted pinball loss + L2; returns the last epoch's mean loss. */
async function fit(
  tf: Tf,
  net: LayersModel,
  rows: TrainingRows,
  hp: HyperParameters,
  epochs: number,
  learningRate: number,
  onProgress?: (p: TrainProgress) => void,
): Promise<number> {
  const rng = new Rng(hp.seed ^ 0x5bd1e995);
  const x = tf.tensor2d(rows.x, [rows.n, FEATURE_COUNT]);
  const y = tf.tensor2d(rows.y, [rows.n, OUTPUTS]);
  const w = tf.tensor1d(rows.weight);
  const optimizer = tf.train.adam(learningRate);
  const kernels = net.trainableWeights.filter((v) => isKernel(v.originalName));
  const t0 = performance.now();
  let lastLoss = NaN;
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const perm = windowOrder(rows, rng);
      let sum: Tensor | undefined;
      let batches = 0;
      for (let b = 0; b < rows.n; b += hp.batchSize) {
        const chunk = perm.subarray(b, Math.min(rows.n, b + hp.batchSize));
        const idx = tf.tensor1d(chunk, 'int32');
        const { ids, count } = dayGroups(rows, chunk);
        const groups = tf.tensor1d(ids, 'int32');
        const cost = optimizer.minimize(() => {
          const xb = tf.gather(x, idx);
          const yb = tf.gather(y, idx);
          const wb = tf.gather(w, idx);
          const pred = net.apply(xb, { training: true }) as Tensor;
          let data: Scalar = pinballLoss(tf, yb, pred, wb);
          if (hp.dailyTotalWeight > 0)
            data = tf.add(data, tf.mul(dailyTotalLoss(tf, yb, pred, wb, groups, count), hp.dailyTotalWeight));
          if (hp.l2 <= 0) return data;
          const penalty = tf.addN(kernels.map((k) => tf.sum(tf.square(k.read()))));
          return tf.add(data, tf.mul(penalty, hp.l2));
        }, true);
        idx.dispose();
        groups.dispose();
        if (cost) {
          const next: Tensor = sum ? tf.add(sum, cost) : cost;
          if (sum) {
            sum.dispose();
            cost.dispose();
          }
          sum = next;
        }
        batches++;
      }
      lastLoss = sum ? (await sum.data())[0]! / Math.max(1, batches) : NaN;
      sum?.dispose();
      const elapsed = (performance.now() - t0) / 1000;
      onProgress?.({ epoch, epochs, loss: lastLoss, etaS: (elapsed / epoch) * (epochs - epoch) });
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    x.dispose();
    y.dispose();
    w.dispose();
    optimizer.dispose();
  }
  return lastLoss;
}

/** Rows in a seeded random order of whole windows (so a batch holds complete local days). */
function windowOrder(rows: TrainingRows, rng: Rng): Int32Array {
  const starts: number[] = [];
  for (let i = 0; i < rows.n; i++) if (i === 0 || rows.window[i] !== rows.window[i - 1]) starts.push(i);
  starts.push(rows.n);
  const order = rng.permutation(starts.length - 1);
  const out = new Int32Array(rows.n);
  let k = 0;
  for (const wi of order) for (let i = starts[wi]!; i < starts[wi + 1]!; i++) out[k++] = i;
  return out;
}

/** Group ids (window × local day) of a batch, renumbered 0..count-1. */
function dayGroups(rows: TrainingRows, chunk: Int32Array): { ids: Int32Array; count: number } {
  const map = new Map<number, number>();
  const ids = new Int32Array(chunk.length);
  chunk.forEach((row, i) => {
    const key = rows.window[row]! * 32 + rows.horizonDay[row]!;
    let id = map.get(key);
    if (id === undefined) map.set(key, (id = map.size));
    ids[i] = id;
  });
  return { ids, count: map.size };
}
