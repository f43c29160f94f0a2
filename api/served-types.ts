/**
 * What the API serves, shared by the caches, the answer assembly and the routes: a forecast run
 * in integer units, closed-hour actuals, the branch fields an answer shows, and the conversions
 * to integer units (sums of integers are exact, so a day equals the sum of its hours).
 */
import type { GrainFactors } from '../model/interval-factors';

/** Integer cents of an amount in major units, rounding half away from zero (1.005 -> 101). */
export function toCents(major: number): number {
  return Math.round(Number((major * 100).toPrecision(12)));
}

/** Integer thousandths of an order count. */
export function toMilli(count: number): number {
  return Math.round(Number((count * 1000).toPrecision(12)));
}

/** One forecast run's hourly points in integer units; NaN where the run has no point. */
export interface ForecastSeries {
  /** UTC ms of the first point (the run origin). */
  readonly firstHour: number;
  readonly hours: number;
  readonly salesP10: Float64Array;
  readonly salesP50: Float64Array;
  readonly salesP90: Float64Array;
  readonly ordersP10: Float64Array;
  readonly ordersP50: Float64Array;
  readonly ordersP90: Float64Array;
}

/**
 * The p50 parts of a run's points (model/forecast-types.ts HourParts) in the same integer units;
 * the network's part of a bucket is its p50 minus these.
 */
export interface RunParts {
  readonly salesLevel: Float64Array;
  readonly salesShape: Float64Array;
  readonly salesCalendar: Float64Array;
  readonly ordersLevel: Float64Array;
  readonly ordersShape: Float64Array;
  readonly ordersCalendar: Float64Array;
}

export interface RunInfo {
  readonly runId: string;
  readonly modelVersion: string;
  readonly generatedAt: number;
  readonly dataThrough: number;
  readonly horizonEnd: number;
  /** A new branch forecast from its group's prior, with wider ranges (model/cold-start.ts). */
  readonly coldStart?: boolean;
}

/**
 * A served run: its identity, its points and the model's day/week p10–p90 factors
 * (model/grain-intervals.ts; undefined for a run written without them: buckets then sum the
 * hourly quantiles).
 */
export type ServedRun = RunInfo &
  ForecastSeries & {
    readonly grainFactors?: GrainFactors | undefined;
    /** Undefined for a run written without parts (before migration 0008): nothing to explain with. */
    readonly parts?: RunParts | undefined;
  };

/** A run as the forecast cache holds it: served as a whole, never mixed with another. */
export interface LoadedRun extends ServedRun {
  readonly branchId: string;
  readonly origin: number;
  /** Points announced by the run row (= points loaded). */
  readonly points: number;
  /** Wall-clock ms when this process installed the run. */
  readonly loadedAt: number;
}

/** A closed hour: sales in integer cents (minor units), orders a count. */
export interface ActualHour {
  readonly salesCents: number;
  readonly orders: number;
}

/** Closed-hour actuals of a range of local days, with what they were read at. */
export interface ActualsRange {
  readonly actuals: Map<number, ActualHour>;
  /** Branch epoch the answer belongs to. */
  readonly epoch: number;
  /** Wall-clock ms after which the answer may be stale (Infinity: until the epoch changes). */
  readonly validUntil: number;
  /** Identifies the content (closed-through point and every day's numbers): equal fingerprints, equal actuals. */
  readonly fingerprint: string;
}

export interface BranchInfo {
  readonly id: string;
  readonly name: string;
  readonly timezone: string;
  readonly currency: string;
  /** ISO 3166 country (its special-days calendar names the days an explanation mentions). */
  readonly country?: string;
}
