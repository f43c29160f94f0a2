/**
 * The calibration factors of ranges above the hour, as data: what training measures
 * (grain-intervals.ts for a branch's days and weeks, group-intervals.ts for groups of branches),
 * what a model's meta.json and every forecast run carry, and what the API builds ranges from.
 * Types only, imported by both measuring modules and by forecast-types.ts, so none of them
 * imports another for its types.
 */

export type Grain = 'hour' | 'day' | 'week';
export type SpreadRule = 'sum' | 'rss';

export interface QuantityFactors {
  sales: number;
  orders: number;
}

/** Per-grain p10–p90 factors of a model (ModelMeta.calibration.grains, carried by each run). */
export interface GrainFactors {
  spread: SpreadRule;
  day: QuantityFactors;
  week: QuantityFactors;
  /** Ranges of groups of branches (group-intervals.ts); absent: a group's p10/p90 are its branches' sums. */
  group?: GroupFactors;
}

/** The factors with what they were measured on. */
export interface GrainCalibration extends GrainFactors {
  /** Scored day buckets and 7-day blocks (sales and orders together). */
  days: number;
  weeks: number;
  group?: GroupCalibration;
}

export interface GroupGrainFactors {
  spread: SpreadRule;
  sales: number;
  orders: number;
}

/** Per-grain factors of group buckets (GrainFactors.group: measured with the model, carried by each run). */
export type GroupFactors = Record<Grain, GroupGrainFactors>;

/** The factors with what they were measured on: scored group buckets (sales and orders together). */
export interface GroupCalibration extends GroupFactors {
  groups: number;
  hours: number;
  days: number;
  weeks: number;
}
