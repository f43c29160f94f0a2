/**
 * The model's types, apart from the code that trains and runs it: what every forecaster in model/
 * (the network and the baselines) returns, and what a trained model is. train.ts and forecast.ts
 * both build on this file, never on each other's types.
 */
import type { LayersModel } from '@tensorflow/tfjs';
import type { GrainCalibration } from './interval-factors';
import type { BranchCalendarNote } from './branch-calendar';

export interface HourlyForecast {
  /** UTC hour start (epoch ms). */
  hourStart: number;
  salesP10: number;
  salesP50: number;
  salesP90: number;
  ordersP10: number;
  ordersP50: number;
  ordersP90: number;
  /** Where p50 comes from (forecast(…, { explain: true }) only): see HourParts. */
  parts?: HourParts;
}

/**
 * The parts of an hour's p50, in the same units, for sales and for orders:
 * p50 = level + shape + calendar + network, where
 * - level: the branch's recent level, its mean per open hour over the open days of the last 7 days
 *   (the scale of features.ts), for every hour the network forecasts (0 for hours it does not);
 * - shape: the weekday/hour shape, what the structural base (½ last week's hour + ½ the 4-week
 *   open-day shape, at that level) adds to or takes from the level;
 * - calendar: what the day's special-day flags change (public holiday, its eve, trading days such
 *   as Valentine's Day, closure-prone days, last week's holiday): p50 minus the p50 of the same
 *   row without them;
 * - network: the network's correction of the structural base, the rest (p50 − the three).
 * Only the first three are carried; the network's part is the difference, so the four add up
 * exactly whatever the rounding.
 */
export interface HourParts {
  salesLevel: number;
  salesShape: number;
  salesCalendar: number;
  ordersLevel: number;
  ordersShape: number;
  ordersCalendar: number;
}

export interface BranchForecast {
  branchId: string;
  /** UTC hour start the forecast was made at (nothing at or after it was used). */
  origin: number;
  hours: HourlyForecast[];
  /** A young branch forecast from its group's prior (model/cold-start.ts), with wider ranges. */
  coldStart?: boolean;
  /** What the forecast did with the operators' calendar days of its horizon (absent: none). */
  calendar?: BranchCalendarNote[];
}

/** Forecast horizon: the rest of the origin's local day and this many full local days. */
export const DEFAULT_HORIZON_DAYS = 14;

/** p10–p90 stretch factors measured out of sample at training time (calibration.ts). */
export interface IntervalCalibration {
  sales: number;
  orders: number;
  /** Target hours the factors were measured on, and where. */
  hours: number;
  from: string;
  to: string;
  /**
   * p10–p90 factors of days and weeks (grain-intervals.ts), measured on the same forecasts.
   * Absent (models trained before them): a day's or week's p10/p90 are the sums of the hourly ones.
   */
  grains?: GrainCalibration;
}

export const MODEL_FORMAT_VERSION = 1;

/** Whose day totals a forecast's days add up to (HyperParameters.dayTotals). */
export type DayTotals = 'network' | 'combined';

export interface HyperParameters {
  seed: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Ensemble members (seeds). */
  members: number;
  hidden: number[];
  dropout: number;
  /** L2 penalty on every dense kernel. */
  l2: number;
  /** Recency weighting half-life of training windows, days. */
  halfLifeDays: number;
  /** Intraday training origins (rest-of-day refreshes). */
  intraday: boolean;
  minHistoryDays: number;
  /** Share of the target hours of each window kept as training rows (seeded sample). */
  rowSampling: number;
  /** Weight of the daily-total term (quantile-loss.ts) next to the pinball loss. */
  dailyTotalWeight: number;
  /**
   * Training rows weigh as the branch's sales level at their window (windows.ts). Absent in
   * models trained before it: false.
   */
  levelWeighting?: boolean;
  /**
   * Each forecast day's p50 total (forecast.ts, `combineDayTotals`): 'combined', the mean of the
   * network's, the structural base's and, on ordinary days, Holt-Winters' day totals; 'network',
   * the network's own (models trained before the option have none: 'network').
   */
  dayTotals?: DayTotals;
  /** Days held out to calibrate the p10–p90 intervals (calibration.ts); 0: no calibration. */
  calibrationDays: number;
}

export interface ModelMeta {
  formatVersion: number;
  createdAt: string;
  /** Range of the hourly data trained on (UTC ISO) and the branches. */
  trainingData: { from: string; to: string; branches: string[]; rows: number; windows: number };
  features: string[];
  quantiles: number[];
  horizonDays: number;
  hyperParameters: HyperParameters;
  backend: string;
  training: { seconds: number; finalLoss: number; fineTunes: number };
  /** p10–p90 stretch factors measured out of sample at training time (calibration.ts). */
  calibration?: IntervalCalibration;
  /** Free-form accuracy figures (e.g. the backtest summary), set by whoever measured them. */
  metrics?: unknown;
}

export interface ForecastModel {
  net: LayersModel;
  meta: ModelMeta;
}
