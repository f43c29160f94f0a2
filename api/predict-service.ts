/**
 * Pure assembly of a /predict answer: hourly -> daily -> weekly -> totals, from
 * the served forecast run and the closed-hour actuals. No I/O, no clock: every
 * input is explicit, so the rules are unit-tested without HTTP or ClickHouse.
 *
 * Rules (also in the OpenAPI description):
 * - An hour is `actual` when it is closed (an actual exists), else `forecast` when
 *   the run covers it, else `missing` (all values null).
 * - Sums are exact: sales in integer cents, orders in integer thousandths, so a
 *   day equals the sum of its rounded hours and the totals the sum of the days.
 * - A day, week or total with any missing hour is null with source `missing`;
 *   otherwise `actual`, `forecast`, or `mixed` when it has both.
 * - p50 of a day/week/total is the sum of its hours. Its p10/p90 are calibrated for the bucket
 *   (model/grain-intervals.ts bucketInterval with the run's grain factors): the actual hours'
 *   sum exactly, plus the interval of its forecast hours at the grain their number calls for
 *   (grainForHours: fewer than 5 forecast hours 'hour', up to 63 'day', 64 or more 'week'; so a
 *   partial week or a total of 3+ days takes the week's factors). 'hour', and every bucket of a
 *   run without factors (written before them), is the former rule: sums of the hourly quantiles.
 *   Bucket p10/p90 are rounded to whole cents and thousandths.
 * - With `explain`, a day, week or total also says where its p50 comes from: its actual hours
 *   plus the forecast hours' level, shape and calendar parts (as stored with the run, in the same
 *   integer units) and the network's part, the rest, so the five add up to the value exactly; and
 *   the special days behind the calendar part (model/features.ts calendarNotes, from the run's
 *   origin). null for a null value, and for every bucket with forecast hours of a run stored
 *   without parts.
 * - Overrides (issue 16, api/plan.ts): when a day of the range has a manager's override in force,
 *   every hour, day, week and the totals also carry `plan` (the override spread over the day's
 *   hours by the model's hourly values; days without one plan the model's value; weeks and totals
 *   sum their days' plans), and every day its `override` (null when none). Without an override in
 *   the range the answer is exactly what it was before overrides existed.
 */
import type { Granularity, PredictResponse, Source, DayRow, HourRow, WeekRow, Totals } from './schemas';
import { GRANULARITIES } from './schemas';
import type { CalendarNoteJson, Explanation } from './explain-schema';
import type { ActualHour, BranchInfo, RunInfo, ServedRun } from './served-types';
import { formatCivilDate, isoWeekLabel, isoWeekMonday } from '../lib/time/civil-date';
import { dayLayouts, type DayLayout } from '../lib/time/local-days';
import { HOUR_MS } from '../lib/time/units';
import { isoUtc } from '../lib/time/wall-clock';
import type { HourlyForecast } from '../model/forecast-types';
import { bucketInterval, grainForHours } from '../model/grain-intervals';
import type { GrainFactors } from '../model/interval-factors';
import { specialDayIndex } from '../model/calendar';
import { calendarNotes } from '../model/features';
import { localSlotOf } from '../lib/time/wall-clock';
import { spread, type PlannedOverride } from './plan';
import type { DayCalendar } from './calendar-cache';

export interface AssembleInput {
  branch: BranchInfo;
  /** Epoch days (see time.ts), inclusive, startDay <= endDay. */
  startDay: number;
  endDay: number;
  granularity: ReadonlySet<Granularity>;
  run: ServedRun;
  /** Closed-hour actuals by hour start (UTC ms). */
  actuals: ReadonlyMap<number, ActualHour>;
  lastClosedHour: number | null;
  /** Add each bucket's explanation (`explain=true`). */
  explain?: boolean;
  /** Managers' overrides in force, by epoch day (any days; those in the range add the plan). */
  overrides?: ReadonlyMap<number, PlannedOverride>;
  /**
   * The branch calendar's entries in force, by epoch day: a day of the range with one carries
   * `calendar` (what it is, so the answer says why the day is 0 or moved; the values are the
   * model's, from the run made after the entry).
   */
  branchCalendar?: ReadonlyMap<number, DayCalendar>;
}

/** A bucket's plan in integer units (null: neither an override nor a model value). */
interface PlanAcc {
  sales: number | null;
  orders: number | null;
  overriddenDays: number;
}

const cents = (v: number | null): number | null => (v === null ? null : Math.round(v * 100));
const milli = (v: number | null): number | null => (v === null ? null : Math.round(v * 1000));
const sumOrNull = (a: number | null, b: number | null): number | null =>
  a === null || b === null ? null : a + b;

/** The override's fields as a day row shows them. */
function overrideJson(o: PlannedOverride): NonNullable<DayRow['override']> {
  return {
    sales: o.salesCents === null ? null : o.salesCents / 100,
    orders: o.orders,
    reason: o.reason,
    set_at: isoUtc(o.setAt),
    set_by: { key_id: o.keyId, key_name: o.keyName },
  };
}

/** A measure's hours in a plan: the day's override spread by the hours' model values, or those values. */
const planHours = (total: number | null, model: readonly (number | null)[]): readonly (number | null)[] =>
  total === null
    ? model
    : spread(
        total,
        model.map((x) => x ?? 0),
      );

/**
 * A day's plan (api/plan.ts): the override of each measure, or the model's day value, and its hours:
 * the override spread by the hours' model values, or the hours' own values.
 */
function dayPlan(
  day: Values,
  hours: readonly Values[],
  o: PlannedOverride | undefined,
): { day: PlanAcc; hours: { sales: number | null; orders: number | null }[] } {
  const hs = hours.map((h) => cents(h.sales));
  const ho = hours.map((h) => milli(h.orders));
  const sales = o?.salesCents ?? null;
  const orders = o?.orders === null || o?.orders === undefined ? null : o.orders * 1000;
  const hourSales = planHours(sales, hs);
  const hourOrders = planHours(orders, ho);
  return {
    day: {
      sales: sales ?? cents(day.sales),
      orders: orders ?? milli(day.orders),
      overriddenDays: o ? 1 : 0,
    },
    hours: hourSales.map((s, i) => ({
      sales: s === null ? null : s / 100,
      orders: hourOrders[i] === null ? null : (hourOrders[i] as number) / 1000,
    })),
  };
}

const planJson = (p: PlanAcc) => ({
  sales: p.sales === null ? null : p.sales / 100,
  orders: p.orders === null ? null : p.orders / 1000,
  overridden_days: p.overriddenDays,
});

/** A bucket's hours so far: the actual sums exactly, the forecast hours as they are. */
interface Acc {
  /** Sums of the actual hours (integer cents, thousandths). */
  sales: number;
  orders: number;
  /** The forecast hours, in integer units (their count is the bucket's forecast hours). */
  forecastHours: HourlyForecast[];
  actual: number;
  missing: number;
  /**
   * Sums of the forecast hours' p50 parts (integer units, RunParts order: sales level, shape,
   * calendar, orders level, shape, calendar); undefined once a forecast hour has none.
   */
  parts: number[] | undefined;
  /** The special days behind the forecast hours' calendar part (explain only). */
  notes: CalendarNoteJson[];
}

const newAcc = (): Acc => ({
  sales: 0,
  orders: 0,
  forecastHours: [],
  actual: 0,
  missing: 0,
  parts: [0, 0, 0, 0, 0, 0],
  notes: [],
});

function addAcc(into: Acc, a: Acc): void {
  into.sales += a.sales;
  into.orders += a.orders;
  for (const h of a.forecastHours) into.forecastHours.push(h);
  into.actual += a.actual;
  into.missing += a.missing;
  if (into.parts && a.parts) for (let k = 0; k < 6; k++) into.parts[k]! += a.parts[k]!;
  else into.parts = undefined;
  // Once each: two days can read the same holiday as their reference day.
  for (const n of a.notes)
    if (!into.notes.some((m) => m.date === n.date && m.name === n.name && m.kind === n.kind))
      into.notes.push(n);
}

/** The values of an hour or bucket row of an answer (a branch's, or a group's: group-predict-service.ts). */
export type Values = Pick<
  HourRow,
  'sales' | 'sales_p10' | 'sales_p90' | 'orders' | 'orders_p10' | 'orders_p90' | 'source'
>;

/** A row without values: every value null, source `missing`. */
export const NULL_VALUES: Values = Object.freeze({
  sales: null,
  sales_p10: null,
  sales_p90: null,
  orders: null,
  orders_p10: null,
  orders_p90: null,
  source: 'missing',
});

/**
 * A bucket's values: the actual sums plus the interval of its forecast hours, at the grain their
 * number calls for (grainForHours), rounded to whole cents and thousandths.
 */
function values(acc: Acc, factors: GrainFactors | undefined): Values {
  const forecast = acc.forecastHours.length;
  if (acc.missing > 0 || acc.actual + forecast === 0) return NULL_VALUES;
  const source: Source = acc.actual > 0 && forecast > 0 ? 'mixed' : acc.actual > 0 ? 'actual' : 'forecast';
  const f = bucketInterval(acc.forecastHours, factors, grainForHours(forecast));
  return {
    sales: (acc.sales + f.salesP50) / 100,
    sales_p10: (acc.sales + Math.round(f.salesP10)) / 100,
    sales_p90: (acc.sales + Math.round(f.salesP90)) / 100,
    orders: (acc.orders + f.ordersP50) / 1000,
    orders_p10: (acc.orders + Math.round(f.ordersP10)) / 1000,
    orders_p90: (acc.orders + Math.round(f.ordersP90)) / 1000,
    source,
  };
}

/** Where a bucket's p50 comes from (see the file comment); null without a value or without parts. */
function explanation(acc: Acc, v: Values): Explanation {
  if (v.sales === null || v.orders === null) return null;
  const p = acc.forecastHours.length === 0 ? [0, 0, 0, 0, 0, 0] : acc.parts;
  if (!p) return null;
  let s50 = 0;
  let o50 = 0;
  for (const h of acc.forecastHours) {
    s50 += h.salesP50;
    o50 += h.ordersP50;
  }
  const [sl, ss, sc, ol, os, oc] = p as [number, number, number, number, number, number];
  return {
    sales: {
      actual: acc.sales / 100,
      level: sl / 100,
      shape: ss / 100,
      calendar: sc / 100,
      network: (s50 - sl - ss - sc) / 100,
    },
    orders: {
      actual: acc.orders / 1000,
      level: ol / 1000,
      shape: os / 1000,
      calendar: oc / 1000,
      network: (o50 - ol - os - oc) / 1000,
    },
    special_days: acc.notes,
  };
}

/** Adds hour `h` to `acc`; returns the hour's own values for the hourly row. */
function addHour(acc: Acc, h: number, run: ServedRun, actuals: ReadonlyMap<number, ActualHour>): Values {
  const a = actuals.get(h);
  if (a !== undefined) {
    acc.sales += a.salesCents;
    acc.orders += a.orders * 1000;
    acc.actual++;
    const sales = a.salesCents / 100;
    return {
      sales,
      sales_p10: sales,
      sales_p90: sales,
      orders: a.orders,
      orders_p10: a.orders,
      orders_p90: a.orders,
      source: 'actual',
    };
  }
  const i = (h - run.firstHour) / HOUR_MS;
  if (i >= 0 && i < run.hours && Number.isInteger(i)) {
    const s50 = run.salesP50[i] as number;
    if (!Number.isNaN(s50)) {
      const p: HourlyForecast = {
        hourStart: h,
        salesP10: run.salesP10[i] as number,
        salesP50: s50,
        salesP90: run.salesP90[i] as number,
        ordersP10: run.ordersP10[i] as number,
        ordersP50: run.ordersP50[i] as number,
        ordersP90: run.ordersP90[i] as number,
      };
      acc.forecastHours.push(p);
      const parts = run.parts;
      if (acc.parts && parts) {
        acc.parts[0]! += parts.salesLevel[i]!;
        acc.parts[1]! += parts.salesShape[i]!;
        acc.parts[2]! += parts.salesCalendar[i]!;
        acc.parts[3]! += parts.ordersLevel[i]!;
        acc.parts[4]! += parts.ordersShape[i]!;
        acc.parts[5]! += parts.ordersCalendar[i]!;
      } else acc.parts = undefined;
      return {
        sales: p.salesP50 / 100,
        sales_p10: p.salesP10 / 100,
        sales_p90: p.salesP90 / 100,
        orders: p.ordersP50 / 1000,
        orders_p10: p.ordersP10 / 1000,
        orders_p90: p.ordersP90 / 1000,
        source: 'forecast',
      };
    }
  }
  acc.missing++;
  return NULL_VALUES;
}

export function runInfoJson(run: RunInfo): PredictResponse['forecast'] {
  return {
    run_id: run.runId,
    model_version: run.modelVersion,
    generated_at: isoUtc(run.generatedAt),
    data_through: isoUtc(run.dataThrough),
    horizon_end: isoUtc(run.horizonEnd),
    // Only said of a new branch's run: the answers of every other run stay as they were.
    ...(run.coldStart === true ? { cold_start: true } : {}),
  };
}

export function assemblePrediction(input: AssembleInput): PredictResponse {
  const { branch, startDay, endDay, run, actuals } = input;
  const factors = run.grainFactors;
  const wantHourly = input.granularity.has('hourly');
  const days: DayLayout[] = dayLayouts(branch.timezone, startDay, endDay);

  const explain = input.explain === true;
  // The bucket's values, and with `explain` where they come from.
  const valuesOf = (acc: Acc) => {
    const v = values(acc, factors);
    return explain ? { ...v, explain: explanation(acc, v) } : v;
  };
  const calendar = explain && branch.country ? specialDayIndex(branch.country) : undefined;
  const originDay = localSlotOf(branch.timezone, run.firstHour).day;
  const overrides = input.overrides;
  const withPlan = overrides !== undefined && days.some((d) => overrides.has(d.epochDay));

  const hourly: HourRow[] = [];
  const daily: DayRow[] = [];
  const dayAccs: Acc[] = [];
  const dayPlans: PlanAcc[] = [];
  for (const day of days) {
    const acc = newAcc();
    const firstRow = hourly.length;
    const hourValues: Values[] = [];
    for (let i = 0; i < day.hours; i++) {
      const v = addHour(acc, day.firstHour + i * HOUR_MS, run, actuals);
      if (wantHourly) hourly.push({ start: day.labels[i] as string, ...v });
      if (withPlan) hourValues.push(v);
    }
    if (calendar && acc.forecastHours.length > 0) {
      // The operators' entry of the day (if any) first: why a day is 0 or moved.
      const own = input.branchCalendar?.get(day.epochDay);
      const entries = own ? [{ date: day.date, kind: own.kind, name: own.name }] : undefined;
      acc.notes.push(...calendarNotes(calendar, originDay, day.epochDay, entries));
    }
    dayAccs.push(acc);
    const row: DayRow = { date: day.date, hours: day.hours, missing_hours: acc.missing, ...valuesOf(acc) };
    const entry = input.branchCalendar?.get(day.epochDay);
    if (entry) row.calendar = { ...entry };
    if (withPlan) {
      const o = overrides.get(day.epochDay);
      const p = dayPlan(row, hourValues, o);
      dayPlans.push(p.day);
      if (wantHourly) p.hours.forEach((h, i) => ((hourly[firstRow + i] as HourRow).plan = h));
      row.plan = {
        sales: p.day.sales === null ? null : p.day.sales / 100,
        orders: p.day.orders === null ? null : p.day.orders / 1000,
      };
      row.override = o ? overrideJson(o) : null;
    }
    daily.push(row);
  }

  const weekly: WeekRow[] = [];
  const total = newAcc();
  const newPlan = (): PlanAcc => ({ sales: 0, orders: 0, overriddenDays: 0 });
  const addPlan = (into: PlanAcc, p: PlanAcc) => {
    into.sales = sumOrNull(into.sales, p.sales);
    into.orders = sumOrNull(into.orders, p.orders);
    into.overriddenDays += p.overriddenDays;
  };
  const totalPlan = newPlan();
  let week: { monday: number; first: number; last: number; acc: Acc; plan: PlanAcc } | undefined;
  const flushWeek = () => {
    if (!week) return;
    const row: WeekRow = {
      week_start: formatCivilDate(week.monday),
      iso_week: isoWeekLabel(week.monday),
      first_date: formatCivilDate(week.first),
      last_date: formatCivilDate(week.last),
      days: week.last - week.first + 1,
      ...valuesOf(week.acc),
    };
    if (withPlan) row.plan = planJson(week.plan);
    weekly.push(row);
  };
  days.forEach((day, i) => {
    const acc = dayAccs[i] as Acc;
    addAcc(total, acc);
    const monday = isoWeekMonday(day.epochDay);
    if (!week || week.monday !== monday) {
      flushWeek();
      week = { monday, first: day.epochDay, last: day.epochDay, acc: newAcc(), plan: newPlan() };
    }
    week.last = day.epochDay;
    addAcc(week.acc, acc);
    if (withPlan) {
      addPlan(week.plan, dayPlans[i] as PlanAcc);
      addPlan(totalPlan, dayPlans[i] as PlanAcc);
    }
  });
  flushWeek();

  const missing = daily.filter((d) => d.missing_hours > 0).map((d) => d.date);
  const totals: Totals = { days: days.length, ...valuesOf(total) };
  if (withPlan) totals.plan = planJson(totalPlan);
  const granularity = GRANULARITIES.filter((g) => input.granularity.has(g));
  const out: PredictResponse = {
    branch: { id: branch.id, name: branch.name, timezone: branch.timezone, currency: branch.currency },
    range: { start: formatCivilDate(startDay), end: formatCivilDate(endDay), days: days.length },
    granularity,
    forecast: runInfoJson(run),
    last_closed_hour: input.lastClosedHour === null ? null : isoUtc(input.lastClosedHour),
    totals,
    coverage: { complete: total.missing === 0, missing, missing_hours: total.missing },
  };
  if (explain) out.explained = run.parts !== undefined;
  if (input.granularity.has('weekly')) out.weekly = weekly;
  if (input.granularity.has('daily')) out.daily = daily;
  if (wantHourly) out.hourly = hourly;
  return out;
}
