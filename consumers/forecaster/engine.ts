/**
 * What the forecaster needs from a model, independent of how the model is
 * built (model/ stays pure; this adapter is the seam). An engine is a loaded,
 * promoted model that turns histories into hourly quantile forecasts.
 */
import type { BranchHistory, ForecastPoint, ModelRecord } from '../../clickhouse/store/forecast-store';
import type { ColdStartInput } from '../../model/cold-start';
import type { GrainFactors } from '../../model/interval-factors';
import type { HourlySeries } from '../../model/series';

export interface ForecastRequest {
  history: BranchHistory;
  /** First forecast hour (UTC ms) = end of the last closed hour. */
  origin: number;
  /** End of the last forecast hour (exclusive). */
  end: number;
  /** What is known of a young branch (model/cold-start.ts): opening date, expected sales, its group's other branches. */
  coldStart?: ColdStartInput;
}

/** One request's forecast hours, and whether they come from a new branch's group prior. */
export interface EngineForecast {
  points: ForecastPoint[];
  coldStart: boolean;
}

export interface ForecastEngine {
  readonly version: string;
  readonly backend: string;
  /** Hours of history the model reads before an origin. */
  readonly historyHours: number;
  /**
   * The earliest instant a forecast of [origin, end) reads, given the branch's calendar: earlier
   * than `historyHours` before the origin when an event of the horizon learns from past days of
   * its name. Absent: `historyHours` before the origin.
   */
  historyStart?(series: Pick<HourlySeries, 'timezone' | 'calendar'>, origin: number, end: number): number;
  /** The model's day/week p10–p90 factors, written with each run (undefined: a model without them). */
  readonly grainFactors?: GrainFactors | undefined;
  /** Batched inference: one result per request, in order. */
  forecast(requests: ForecastRequest[]): Promise<EngineForecast[]>;
  dispose(): void;
}

export type EngineLoader = (record: ModelRecord) => Promise<ForecastEngine>;
