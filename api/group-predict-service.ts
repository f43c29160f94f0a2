/**
 * Pure assembly of a GET /v1/groups/{group_id}/predict answer: every branch of the group as
 * /predict answers it (api/predict-service.ts assemblePrediction, all its rules), and the group's
 * own hours, days, ISO weeks and range total built from those answers. No I/O, no clock.
 *
 * Rules (also in the OpenAPI description):
 * - The branches of a group share one time zone and one currency (the route refuses others), so
 *   their hours, days and weeks line up row for row.
 * - A group bucket is `missing` (values null) when any branch's bucket is; otherwise `actual`
 *   when every branch's is, `forecast` when every branch's is, else `mixed`.
 * - Its p50 is the exact sum of the branches' values (integer cents and thousandths, as /predict
 *   sums hours), so a group day is the sum of its branches' days to the cent, and a group week
 *   the sum of its days.
 * - Its p10/p90 are calibrated for the group (model/group-intervals.ts groupInterval): k × the
 *   sum or root-sum-of-squares of the branches' half-widths (each branch's own calibrated bucket)
 *   around that p50, with the group factors of the grain the bucket's forecast hours call for
 *   (grainForHours of the branch with the most: an hour row 'hour', a day 'day', a week or a
 *   total of 3+ forecast days 'week'), p10 never below the bucket's actual part. The factors are
 *   the model's, carried by each run; when the branches' runs come from different models, those
 *   of the newest run. A branch whose run carries none (a model trained before them, or on no
 *   group of two branches): the sums of the branches' p10s and p90s, and `ranges` says so. A
 *   group of one branch has its branch's ranges.
 * - A branch without a forecast run yet is answered like /predict would with an empty run: its
 *   closed hours are actual and the rest missing (`forecast: null` in its part).
 * - explain=true explains each branch's buckets (in `branches`); group buckets carry none.
 */
import type { BucketInterval } from '../model/grain-intervals';
import type { Grain, GroupFactors } from '../model/interval-factors';
import { grainForHours } from '../model/grain-intervals';
import { groupInterval } from '../model/group-intervals';
import { assemblePrediction, NULL_VALUES, type Values } from './predict-service';
import {
  GRANULARITIES,
  type Granularity,
  type GroupBranch,
  type GroupPredictResponse,
  type HourRow,
  type PredictResponse,
  type Source,
} from './schemas';
import { toCents, toMilli, type ActualHour, type BranchInfo, type ServedRun } from './served-types';

export interface GroupMember {
  branch: BranchInfo;
  /** The branch's served run; undefined while it has none. */
  run: ServedRun | undefined;
  /** Closed-hour actuals of the range, by hour start (UTC ms). */
  actuals: ReadonlyMap<number, ActualHour>;
  lastClosedHour: number | null;
}

export interface GroupAssembleInput {
  groupId: string;
  /** Epoch days, inclusive, startDay <= endDay. */
  startDay: number;
  endDay: number;
  granularity: ReadonlySet<Granularity>;
  /** At least one; one time zone and currency. */
  members: readonly GroupMember[];
  explain?: boolean;
}

const ALL: ReadonlySet<Granularity> = new Set(GRANULARITIES);

/** A run with no points: every hour that has not closed is missing. */
function emptyRun(): ServedRun {
  const none = new Float64Array(0);
  return {
    runId: '',
    modelVersion: '',
    generatedAt: 0,
    dataThrough: 0,
    horizonEnd: 0,
    firstHour: 0,
    hours: 0,
    salesP10: none,
    salesP50: none,
    salesP90: none,
    ordersP10: none,
    ordersP50: none,
    ordersP90: none,
  };
}

/** One branch's bucket: its values, with its forecast hours and its actual part in integer units. */
interface Part {
  v: Values;
  forecastHours: number;
  actualCents: number;
  actualMilli: number;
}

/** Parts of each hour row of a branch answer. */
const hourParts = (rows: readonly HourRow[]): Part[] =>
  rows.map((r) => ({
    v: r,
    forecastHours: r.source === 'forecast' ? 1 : 0,
    actualCents: r.source === 'actual' && r.sales !== null ? toCents(r.sales) : 0,
    actualMilli: r.source === 'actual' && r.orders !== null ? toMilli(r.orders) : 0,
  }));

/** A bucket of a branch over hour parts [from, to): the answer's own values, counts from its hours. */
function spanPart(v: Values, hours: readonly Part[], from: number, to: number): Part {
  let forecastHours = 0;
  let actualCents = 0;
  let actualMilli = 0;
  for (let i = from; i < to; i++) {
    const h = hours[i]!;
    forecastHours += h.forecastHours;
    actualCents += h.actualCents;
    actualMilli += h.actualMilli;
  }
  return { v, forecastHours, actualCents, actualMilli };
}

/** The group's values of one bucket from its branches' parts (see the file comment). */
function groupValues(parts: readonly Part[], factors: GroupFactors | undefined): Values {
  if (parts.some((p) => p.v.source === 'missing' || p.v.sales === null || p.v.orders === null))
    return NULL_VALUES;
  const intervals: BucketInterval[] = parts.map(({ v }) => ({
    salesP10: toCents(v.sales_p10!),
    salesP50: toCents(v.sales!),
    salesP90: toCents(v.sales_p90!),
    ordersP10: toMilli(v.orders_p10!),
    ordersP50: toMilli(v.orders!),
    ordersP90: toMilli(v.orders_p90!),
  }));
  const grain: Grain = grainForHours(Math.max(...parts.map((p) => p.forecastHours)));
  const g = groupInterval(intervals, factors, grain);
  let actualCents = 0;
  let actualMilli = 0;
  for (const p of parts) {
    actualCents += p.actualCents;
    actualMilli += p.actualMilli;
  }
  const sources = new Set(parts.map((p) => p.v.source));
  const source: Source = sources.size === 1 ? [...sources][0]! : 'mixed';
  return {
    sales: g.salesP50 / 100,
    sales_p10: Math.max(actualCents, Math.round(g.salesP10)) / 100,
    sales_p90: Math.round(g.salesP90) / 100,
    orders: g.ordersP50 / 1000,
    orders_p10: Math.max(actualMilli, Math.round(g.ordersP10)) / 1000,
    orders_p90: Math.round(g.ordersP90) / 1000,
    source,
  };
}

/** Which factors the group's ranges use, and what the answer says about them. */
function rangesOf(members: readonly GroupMember[]): {
  factors: GroupFactors | undefined;
  ranges: GroupPredictResponse['ranges'];
} {
  if (members.length === 1)
    return {
      factors: undefined,
      ranges: {
        method: 'branch',
        model_version: null,
        note: "a group of one branch has its branch's ranges",
      },
    };
  const runs = members.flatMap((m) => (m.run ? [{ id: m.branch.id, run: m.run }] : []));
  const lacking = runs.filter((r) => r.run.grainFactors?.group === undefined).map((r) => r.id);
  if (runs.length === 0 || lacking.length > 0)
    return {
      factors: undefined,
      ranges: {
        method: 'summed',
        model_version: null,
        note:
          runs.length === 0
            ? 'no branch of the group has a forecast run yet'
            : `the forecast run of ${lacking.join(', ')} carries no group factors (its model was trained before them, or on no group of two branches): the group's p10/p90 are the sums of its branches'`,
      },
    };
  const newest = runs.reduce((a, b) => (b.run.generatedAt > a.run.generatedAt ? b : a));
  return {
    factors: newest.run.grainFactors!.group,
    ranges: {
      method: 'calibrated',
      model_version: newest.run.modelVersion,
      note: "calibrated for the group's hours, days and weeks when the model was trained",
    },
  };
}

/** A branch's part of the answer: its /predict answer with only the asked breakdowns. */
function branchPart(
  full: PredictResponse,
  hasRun: boolean,
  granularity: ReadonlySet<Granularity>,
): GroupBranch {
  const { weekly, daily, hourly, ...rest } = full;
  return {
    ...rest,
    granularity: GRANULARITIES.filter((g) => granularity.has(g)),
    forecast: hasRun ? rest.forecast : null,
    ...(granularity.has('weekly') ? { weekly } : {}),
    ...(granularity.has('daily') ? { daily } : {}),
    ...(granularity.has('hourly') ? { hourly } : {}),
  };
}

export function assembleGroupPrediction(input: GroupAssembleInput): GroupPredictResponse {
  const { members } = input;
  const first = members[0];
  if (!first) throw new Error('assembleGroupPrediction: a group without branches');
  // Every breakdown of every branch: the group's rows are built from them.
  const answers = members.map((m) =>
    assemblePrediction({
      branch: m.branch,
      startDay: input.startDay,
      endDay: input.endDay,
      granularity: ALL,
      run: m.run ?? emptyRun(),
      actuals: m.actuals,
      lastClosedHour: m.lastClosedHour,
      explain: input.explain === true,
    }),
  );
  const { factors, ranges } = rangesOf(members);
  const hours = answers.map((a) => hourParts(a.hourly!));
  // Each branch's day i covers hour rows [dayStart[i], dayStart[i + 1]).
  const dayStart: number[] = [0];
  for (const d of answers[0]!.daily!) dayStart.push(dayStart.at(-1)! + d.hours);
  const dayIndex = new Map(answers[0]!.daily!.map((d, i) => [d.date, i]));

  const hourly = answers[0]!.hourly!.map((row, i) => ({
    start: row.start,
    ...groupValues(
      hours.map((h) => h[i]!),
      factors,
    ),
  }));
  const daily = answers[0]!.daily!.map((row, i) => {
    let missing = 0;
    for (let h = dayStart[i]!; h < dayStart[i + 1]!; h++)
      if (hours.some((b) => b[h]!.v.source === 'missing')) missing++;
    return {
      date: row.date,
      hours: row.hours,
      missing_hours: missing,
      ...groupValues(
        answers.map((a, b) => spanPart(a.daily![i]!, hours[b]!, dayStart[i]!, dayStart[i + 1]!)),
        factors,
      ),
    };
  });
  const weekly = answers[0]!.weekly!.map((row, w) => {
    const from = dayStart[dayIndex.get(row.first_date)!]!;
    const to = dayStart[dayIndex.get(row.last_date)! + 1]!;
    const { explain: _, ...week } = row;
    return {
      ...week,
      ...groupValues(
        answers.map((a, b) => spanPart(a.weekly![w]!, hours[b]!, from, to)),
        factors,
      ),
    };
  });
  const totals = {
    days: answers[0]!.totals.days,
    ...groupValues(
      answers.map((a, b) => spanPart(a.totals, hours[b]!, 0, dayStart.at(-1)!)),
      factors,
    ),
  };
  const missingDays = daily.filter((d) => d.missing_hours > 0).map((d) => d.date);
  const out: GroupPredictResponse = {
    group: {
      id: input.groupId,
      branches: members.map((m) => m.branch.id),
      timezone: first.branch.timezone,
      currency: first.branch.currency,
    },
    range: answers[0]!.range,
    granularity: GRANULARITIES.filter((g) => input.granularity.has(g)),
    ranges,
    totals,
    coverage: {
      complete: missingDays.length === 0,
      missing: missingDays,
      missing_hours: daily.reduce((a, d) => a + d.missing_hours, 0),
    },
    ...(input.granularity.has('weekly') ? { weekly } : {}),
    ...(input.granularity.has('daily') ? { daily } : {}),
    ...(input.granularity.has('hourly') ? { hourly } : {}),
    branches: answers.map((a, i) => branchPart(a, members[i]!.run !== undefined, input.granularity)),
  };
  return out;
}
