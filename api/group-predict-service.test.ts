import { assembleGroupPrediction, type GroupMember } from './group-predict-service';
import { GRANULARITIES, groupPredictResponseSchema } from './schemas';
import { toCents, toMilli, type ServedRun } from './served-types';
import { parseCivilDate } from '../lib/time/civil-date';
import { HOUR_MS } from '../lib/time/units';
import type { GrainFactors } from '../model/interval-factors';

const day = (s: string) => parseCivilDate(s) as number;
const ORIGIN = Date.UTC(2021, 1, 1); // Monday 2021-02-01 00:00 Europe/Dublin
const branch = (id: string) => ({ id, name: id, timezone: 'Europe/Dublin', currency: 'EUR' });

/** A run of 7 days from ORIGIN: every hour p50 `s` (p10 s − 1, p90 s + 2) and orders 2 (1.5–3). */
function run(s: number, grainFactors?: GrainFactors, generatedAt = ORIGIN): ServedRun {
  const hours = 7 * 24;
  const f = (x: number) => new Float64Array(hours).fill(x);
  return {
    runId: `run-${s}`,
    modelVersion: `m-${s}`,
    generatedAt,
    dataThrough: ORIGIN - HOUR_MS,
    horizonEnd: ORIGIN + hours * HOUR_MS,
    firstHour: ORIGIN,
    hours,
    salesP10: f(toCents(s - 1)),
    salesP50: f(toCents(s)),
    salesP90: f(toCents(s + 2)),
    ordersP10: f(toMilli(1.5)),
    ordersP50: f(toMilli(2)),
    ordersP90: f(toMilli(3)),
    ...(grainFactors ? { grainFactors } : {}),
  };
}

const member = (id: string, r: ServedRun | undefined): GroupMember => ({
  branch: branch(id),
  run: r,
  actuals: new Map(),
  lastClosedHour: null,
});

const GRAINS: GrainFactors = {
  spread: 'sum',
  day: { sales: 1, orders: 1 },
  week: { sales: 1, orders: 1 },
  group: {
    hour: { spread: 'rss', sales: 2, orders: 2 },
    day: { spread: 'sum', sales: 0.5, orders: 0.5 },
    week: { spread: 'sum', sales: 0.25, orders: 0.25 },
  },
};

const assemble = (members: GroupMember[]) =>
  assembleGroupPrediction({
    groupId: 'g',
    startDay: day('2021-02-01'),
    endDay: day('2021-02-07'),
    granularity: new Set(GRANULARITIES),
    members,
  });

describe('assembleGroupPrediction', () => {
  test('calibrated: exact sums, k × spread of the branches’ half-widths per grain', () => {
    const g = assemble([member('a', run(10, GRAINS)), member('b', run(30, GRAINS))]);
    expect(groupPredictResponseSchema.safeParse(g).success).toBe(true);
    expect(g.ranges).toEqual({
      method: 'calibrated',
      model_version: 'm-10',
      note: "calibrated for the group's hours, days and weeks when the model was trained",
    });
    // Hour: p50 40; half-widths 1 and 1 below, 2 and 2 above; rss × 2.
    expect(g.hourly![0]).toMatchObject({ sales: 40, source: 'forecast' });
    expect(g.hourly![0]!.sales_p10).toBe(Math.round(4000 - 2 * Math.SQRT2 * 100) / 100);
    expect(g.hourly![0]!.sales_p90).toBe(Math.round(4000 + 2 * Math.SQRT2 * 200) / 100);
    // Day: each branch's day is p50 ± (24, 48) (k_day 1, sum); the group's 960 − 0.5 × 48, + 0.5 × 96.
    expect(g.daily![0]).toMatchObject({
      sales: 960,
      sales_p10: 936,
      sales_p90: 1008,
      orders: 96,
      orders_p10: 84,
      orders_p90: 120,
    });
    // Week (and total): 6720 − 0.25 × 336, + 0.25 × 672.
    expect(g.weekly![0]).toMatchObject({ sales: 6720, sales_p10: 6636, sales_p90: 6888 });
    expect(g.totals).toMatchObject({
      days: 7,
      sales: 6720,
      sales_p10: 6636,
      sales_p90: 6888,
      source: 'forecast',
    });
    expect(g.branches.map((b) => b.totals.sales)).toEqual([1680, 5040]);
  });

  test('a run without group factors: the sums of the branches’ quantiles, and the answer names the branch', () => {
    const { group: _, ...noGroup } = GRAINS;
    const g = assemble([member('a', run(10, GRAINS)), member('b', run(30, noGroup)), member('c', undefined)]);
    expect(g.ranges.method).toBe('summed');
    expect(g.ranges.note).toContain('the forecast run of b carries no group factors');
    // c has no run: every group bucket is missing; a and b alone sum their quantiles.
    expect(g.totals).toMatchObject({ sales: null, source: 'missing' });
    const ab = assemble([member('a', run(10, GRAINS)), member('b', run(30, noGroup))]);
    expect(ab.daily![0]).toMatchObject({ sales: 960, sales_p10: 960 - 48, sales_p90: 960 + 96 });
    expect(ab.branches[1]!.forecast?.run_id).toBe('run-30');
    expect(g.branches[2]!.forecast).toBeNull();
  });

  test('runs of different models: the newest run’s factors; a group of one is its branch', () => {
    const older: GrainFactors = {
      ...GRAINS,
      group: { ...GRAINS.group!, day: { spread: 'sum', sales: 1, orders: 1 } },
    };
    const g = assemble([member('a', run(10, older, ORIGIN)), member('b', run(30, GRAINS, ORIGIN + 1))]);
    expect(g.ranges.model_version).toBe('m-30');
    expect(g.daily![0]).toMatchObject({ sales_p10: 936, sales_p90: 1008 });
    const one = assemble([member('a', run(10, GRAINS))]);
    expect(one.ranges.method).toBe('branch');
    const own = one.branches[0]!;
    const values = (r: { sales: number | null; sales_p10: number | null; sales_p90: number | null }) => [
      r.sales,
      r.sales_p10,
      r.sales_p90,
    ];
    expect(values(one.totals)).toEqual(values(own.totals));
    expect(one.daily!.map(values)).toEqual(own.daily!.map(values));
    expect(one.hourly!.map(values)).toEqual(own.hourly!.map(values));
  });
});
