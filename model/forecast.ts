/**
 * Batched inference: many branches (each with its own origin) in one forward pass.
 *
 * Per branch: the local grid of the last 5 weeks before the origin, one feature row per
 * possibly-open target hour (features.ts), one `predict` for all rows of all branches, then per
 * row and member the three quantiles are sorted (no crossing) and floored at 0, the members are
 * averaged, and the result is scaled back by the branch's level. Hours at which the branch sold
 * nothing in the last 28 days, and every hour of a branch with no sales in 28 days, are 0.
 * With `explain`, every hour also carries the parts of its p50 (HourParts in forecast-types.ts):
 * a second forward pass over the same rows without their calendar flags separates what the
 * calendar does from the network's own correction.
 * The branch's operator calendar (calendar-plan.ts) is honoured: closed days are 0 with a 0–0
 * range, event days move by their learned or expected effect (or are special days for the
 * network), and the forecast carries a note per such day (`BranchForecast.calendar`).
 */
import type { Tensor } from '@tensorflow/tfjs';
import { loadTf } from './backend';
import { DAY_MS } from '../lib/time/units';
import { combinedDayTotal, horizonDays } from './day-totals';
import {
  HOLT_WINTERS_LOOKBACK_DAYS,
  holtWintersDailyTotals,
  originAt,
  type EtsDailyTotals,
} from './baselines';
import { applyCalibration } from './calibration';
import { specialDayIndex } from './calendar';
import {
  calendarHistoryStart as historyStartOf,
  calendarPlan,
  withClosedDays,
  type CalendarPlan,
  type DayPlan,
} from './calendar-plan';
import { DEFAULT_HORIZON_DAYS, type BranchForecast, type ForecastModel } from './forecast-types';
import {
  FEATURE_COUNT,
  MAX_HORIZON_DAYS,
  originRows,
  CALENDAR_FEATURES,
  structuralBase,
  withoutCalendar,
  type OriginRows,
} from './features';
import { historyGrid, slotsToHours, type HistoryGrid } from './horizon';
import { OUTPUTS } from './quantile-loss';
import { assertValidSeries, type HourlySeries } from './series';

/** Days of history before the origin's day that the features read (4 lag weeks + margin). */
export const LOOKBACK_DAYS = 36;

/**
 * Days of history before the origin's day that a forecast reads: the features' LOOKBACK_DAYS and
 * the 16 weeks Holt-Winters fits on for the combined day totals (combineDayTotals).
 */
export const HISTORY_DAYS = Math.max(LOOKBACK_DAYS, HOLT_WINTERS_LOOKBACK_DAYS);

export interface ForecastOptions {
  /** Full local days after the origin's day (default 14, at most 14). */
  days?: number;
  /**
   * Also give each hour the parts of its p50 (HourParts: level, shape, calendar; the network's
   * correction is the rest). Costs a second pass over the rows without their calendar flags.
   */
  explain?: boolean;
}

type Six = [number, number, number, number, number, number];
const ZERO: Six = [0, 0, 0, 0, 0, 0];

interface Prepared {
  hg: HistoryGrid;
  rows: OriginRows | null;
  /** First row of this history in the batch. */
  offset: number;
  /** The operators' calendar over this horizon, if the series has one. */
  plan: CalendarPlan | undefined;
  /** Holt-Winters' day totals of the horizon (combined day totals only; null: too little history). */
  ets: EtsDailyTotals | null;
}

/**
 * The earliest instant a forecast from `origin` reads: HISTORY_DAYS (+ 2 days of slack) before
 * it, or earlier when the series' calendar has events whose effect is learned from past days of
 * the same name (calendar-plan.ts), with the features' lookback before each of those days.
 */
export function calendarHistoryStart(
  series: Pick<HourlySeries, 'timezone' | 'calendar'>,
  origin: number,
  days: number = DEFAULT_HORIZON_DAYS,
): number {
  return Math.min(origin - (HISTORY_DAYS + 2) * DAY_MS, historyStartOf(series, origin, days, LOOKBACK_DAYS));
}

/**
 * Forecasts for each history from its origin (`origins[i]`, or `origins[0]` for all): hourly
 * sales and orders p10/p50/p90 from the origin to the end of local day (origin day + days).
 * Only history strictly before the origin is used.
 */
export async function forecast(
  model: ForecastModel,
  histories: HourlySeries[],
  origins: number[],
  options: ForecastOptions = {},
): Promise<BranchForecast[]> {
  const days = options.days ?? DEFAULT_HORIZON_DAYS;
  if (days < 0 || days > MAX_HORIZON_DAYS || !Number.isInteger(days))
    throw new Error(`forecast: days must be an integer in 0..${MAX_HORIZON_DAYS}`);
  const prepared: Prepared[] = [];
  const combined = model.meta.hyperParameters.dayTotals === 'combined';
  let total = 0;
  histories.forEach((s, i) => {
    assertValidSeries(s);
    const plan = calendarPlan(s, originAt(origins, i), days, LOOKBACK_DAYS);
    const raw = historyGrid(s, originAt(origins, i), days, LOOKBACK_DAYS);
    const hg = plan ? { ...raw, grid: withClosedDays(raw.grid, plan.closed) } : raw;
    const rows = originRows(hg.grid, plan?.index ?? specialDayIndex(s.country), hg.originSlot, days);
    const ets = combined && rows ? holtWintersDailyTotals(s, originAt(origins, i), days) : null;
    prepared.push({ hg, rows, offset: total, plan, ets });
    total += rows?.slots.length ?? 0;
  });

  const x = new Float32Array(total * FEATURE_COUNT);
  for (const p of prepared) if (p.rows) x.set(p.rows.rows, p.offset * FEATURE_COUNT);
  const out = await quantilesOf(model, x, total);
  const plain = options.explain ? await withoutCalendarQuantiles(model, x, total, out) : undefined;
  if (combined) {
    // The same factor on the explanation's counterfactual keeps its calendar part exact.
    const factors = combineDayTotals(out, x, prepared);
    scaleRows(out, factors);
    if (plain) scaleRows(plain, factors);
  }

  return histories.map((s, i) => {
    const p = prepared[i]!;
    const bySlot = new Map<number, Six>();
    const partsBySlot = new Map<number, Six>();
    if (p.rows) {
      const r = p.rows;
      const ss = r.scaleSales;
      const so = r.scaleOrders;
      for (let j = 0; j < r.slots.length; j++) {
        const row = p.offset + j;
        const o = row * OUTPUTS;
        const v: Six = [
          out[o]! * ss,
          out[o + 1]! * ss,
          out[o + 2]! * ss,
          out[o + 3]! * so,
          out[o + 4]! * so,
          out[o + 5]! * so,
        ];
        const day = p.plan?.days.get(p.hg.grid.day0 + Math.floor(r.slots[j]! / 24));
        if (day) applyDayPlan(v, day);
        bySlot.set(r.slots[j]!, v);
        if (plain) {
          // Scale-free: level 1, shape = base without the calendar − 1, calendar = p50 − p50 without
          // it (on an operator's day the closure or the event's effect is in it: v is after the plan).
          const plainRows = withoutCalendar(r.rows.subarray(j * FEATURE_COUNT, (j + 1) * FEATURE_COUNT));
          partsBySlot.set(r.slots[j]!, [
            ss,
            (structuralBase(plainRows, 0, 0) - 1) * ss,
            day ? v[1] - plain[o + 1]! * ss : (out[o + 1]! - plain[o + 1]!) * ss,
            so,
            (structuralBase(plainRows, 0, 1) - 1) * so,
            day ? v[4] - plain[o + 4]! * so : (out[o + 4]! - plain[o + 4]!) * so,
          ]);
        }
      }
    }
    const f = slotsToHours(
      s.branchId,
      p.hg.grid,
      originAt(origins, i),
      days,
      (slot) => bySlot.get(slot) ?? ZERO,
      plain ? (slot) => partsBySlot.get(slot) ?? ZERO : undefined,
    );
    if (p.plan && p.plan.notes.length > 0) f.calendar = p.plan.notes;
    return model.meta.calibration ? applyCalibration(f, model.meta.calibration) : f;
  });
}

/**
 * Per row and quantity [n × 2], the factor that moves the network's p50 total of the row's local
 * day to the mean of the day totals of the network, the structural base and Holt-Winters (a
 * forecast combination, equal weights); the network's hours keep their shares of the day.
 * Where Holt-Winters has no say (day-totals.ts `horizonDays`: special days, the rest of an intraday
 * origin's day, fewer than 14 known days) the mean is of the other two.
 * Why (docs/model.md §3, backtest): the network's hours beat the base's, but its day totals are
 * no better than the base's; the three day totals err differently, and their plain mean beats
 * each of them at day and week grain for sales and orders. Equal weights, not weights fitted on
 * recent errors: fitted ones jumped from one origin to the next and lost. Days the network puts
 * at 0 stay 0.
 */
function combineDayTotals(out: Float32Array, x: Float32Array, prepared: Prepared[]): Float64Array {
  const factors = new Float64Array((out.length / OUTPUTS) * 2).fill(1);
  for (const p of prepared) {
    if (!p.rows) continue;
    const scale = [p.rows.scaleSales, p.rows.scaleOrders] as const;
    for (const day of horizonDays(p.rows, p.hg.grid.day0, p.hg.originSlot, p.ets)) {
      const rows = day.rows.map((j) => p.offset + j);
      for (const q of [0, 1] as const) {
        let network = 0;
        let base = 0;
        for (const r of rows) {
          network += out[r * OUTPUTS + q * 3 + 1]!;
          base += Math.max(0, structuralBase(x, r, q));
        }
        if (network <= 0) continue;
        // Holt-Winters' totals are in sales and orders; the network's and the base's are scale-free.
        const ets = day.ets === undefined ? undefined : day.ets[q] / scale[q];
        for (const r of rows) factors[r * 2 + q] = combinedDayTotal(network, base, ets) / network;
      }
    }
  }
  return factors;
}

/** Scale-free quantiles [n × 6] × each row's day factors [n × 2] (combineDayTotals), in place. */
function scaleRows(quantiles: Float32Array, factors: Float64Array): void {
  for (let r = 0; r < factors.length / 2; r++)
    for (let q = 0; q < 2; q++)
      for (let k = 0; k < 3; k++) quantiles[r * OUTPUTS + q * 3 + k]! *= factors[r * 2 + q]!;
}

/**
 * A horizon day's calendar on one slot's six values (in place): 0 on a closed day; else p10/p50/p90
 * × the day's multiplier, then the half-widths around p50 × its widening (p10 floored at 0).
 */
function applyDayPlan(v: Six, day: DayPlan): void {
  for (let q = 0; q < 2; q++) {
    const m = day.closed ? 0 : q === 0 ? day.sales : day.orders;
    const lo = v[q * 3]! * m;
    const mid = v[q * 3 + 1]! * m;
    const hi = v[q * 3 + 2]! * m;
    v[q * 3] = Math.max(0, mid - day.widening * (mid - lo));
    v[q * 3 + 1] = mid;
    v[q * 3 + 2] = mid + day.widening * (hi - mid);
  }
}

/**
 * The network's quantiles [n × 6] of feature rows `x` [n × FEATURE_COUNT] (scale-free, members
 * combined around each row's structural base): one forward pass for all rows of all branches.
 */
async function quantilesOf(model: ForecastModel, x: Float32Array, n: number): Promise<Float32Array> {
  const out = new Float32Array(n * OUTPUTS);
  if (n === 0) return out;
  const tf = await loadTf();
  const base = new Float32Array(n * 2);
  for (let j = 0; j < n; j++) {
    base[j * 2] = structuralBase(x, j, 0);
    base[j * 2 + 1] = structuralBase(x, j, 1);
  }
  const members = model.meta.hyperParameters.members;
  // One big batch (predict defaults to batches of 32, ~100x slower here).
  const raw = tf.tidy(
    () => model.net.predict(tf.tensor2d(x, [n, FEATURE_COUNT]), { batchSize: 16_384 }) as Tensor,
  );
  const data = await raw.data();
  raw.dispose();
  combineMembers(data, base, n, members, out);
  return out;
}

/**
 * The explanation's counterfactual: the quantiles of the same rows with no special day. Only the
 * rows with a calendar flag go through the network again (a few per fortnight); every other row's
 * counterfactual is its forecast itself, so its calendar part is exactly 0.
 */
async function withoutCalendarQuantiles(
  model: ForecastModel,
  x: Float32Array,
  n: number,
  forecastQuantiles: Float32Array,
): Promise<Float32Array> {
  const flagged: number[] = [];
  for (let j = 0; j < n; j++)
    if (CALENDAR_FEATURES.some((c) => x[j * FEATURE_COUNT + c] !== 0)) flagged.push(j);
  const plain = forecastQuantiles.slice();
  if (flagged.length === 0) return plain;
  const sub = new Float32Array(flagged.length * FEATURE_COUNT);
  flagged.forEach((j, k) =>
    sub.set(x.subarray(j * FEATURE_COUNT, (j + 1) * FEATURE_COUNT), k * FEATURE_COUNT),
  );
  const q = await quantilesOf(model, withoutCalendar(sub), flagged.length);
  flagged.forEach((j, k) => plain.set(q.subarray(k * OUTPUTS, (k + 1) * OUTPUTS), j * OUTPUTS));
  return plain;
}

/**
 * Raw network outputs [rows, members × 6] (residuals) + the structural base [rows, 2] ->
 * [rows, 6]: per member and quantity the three quantiles sorted and floored at 0, then the mean
 * over members.
 */
export function combineMembers(
  raw: ArrayLike<number>,
  base: ArrayLike<number>,
  rows: number,
  members: number,
  out: Float32Array,
): void {
  const width = members * OUTPUTS;
  for (let r = 0; r < rows; r++) {
    for (let q = 0; q < 2; q++) {
      let a = 0;
      let b = 0;
      let c = 0;
      const b0 = base[r * 2 + q]!;
      for (let m = 0; m < members; m++) {
        const at = r * width + m * OUTPUTS + q * 3;
        const v0 = Math.max(0, b0 + raw[at]!);
        const v1 = Math.max(0, b0 + raw[at + 1]!);
        const v2 = Math.max(0, b0 + raw[at + 2]!);
        a += Math.min(v0, v1, v2);
        c += Math.max(v0, v1, v2);
        b += v0 + v1 + v2 - Math.min(v0, v1, v2) - Math.max(v0, v1, v2);
      }
      out[r * OUTPUTS + q * 3] = a / members;
      out[r * OUTPUTS + q * 3 + 1] = b / members;
      out[r * OUTPUTS + q * 3 + 2] = c / members;
    }
  }
}
