/**
 * `forecasts` and `forecast_runs`: the forecaster writes each run's points, then its run row (a
 * run is visible once its row exists, so never half-written); the API reads the latest run of
 * every branch and its points; `tillcast forecast show` reads one branch's latest run.
 * "Latest" = greatest (generated_at, run_id).
 */
import crypto from 'node:crypto';
import type { Branch } from '../../lib/branches';
import type { HourlyForecast, HourParts } from '../../model/forecast-types';
import type { GrainFactors, GroupFactors } from '../../model/interval-factors';
import { HOUR_MS } from '../../lib/time/units';
import { localWallClock } from '../../lib/time/wall-clock';
import type { ClickHouse } from '../client';
import { toDateTime, toDateTime64 } from '../datetime-text';
import { QueryRunner } from '../query-runner';

/** One forecast hour (UTC hour start, sales and orders p10/p50/p90): exactly the model's output. */
export type ForecastPoint = HourlyForecast;

export interface ForecastRun {
  runId: string;
  branchId: string;
  modelVersion: string;
  /** First forecast hour start (= end of the last closed hour). */
  origin: number;
  generatedAt: number;
  points: ForecastPoint[];
  /** A new branch forecast from its group's prior (model/cold-start.ts; migration 0014). */
  coldStart?: boolean;
  /** The model's day/week (and group) p10–p90 factors; absent: unknown (the API sums hourly quantiles). */
  grainFactors?: GrainFactors;
}

/** A run row as stored: what the API decides by before it loads the points. */
export interface StoredRun {
  branchId: string;
  runId: string;
  modelVersion: string;
  origin: number;
  dataThrough: number;
  horizonEnd: number;
  /** Points the run announces (a run with fewer stored is incomplete). */
  points: number;
  generatedAt: number;
  /** Undefined when the run row has none (written before migration 0006 or by an older model). */
  grainFactors?: GrainFactors;
  /** Every point carries its p50 parts (migration 0008); false: the parts are unknown. */
  explained: boolean;
  /** A new branch forecast from its group's prior, with wider ranges (migration 0014). */
  coldStart: boolean;
}

/** A stored forecast point of a run (sales in major units, as written). */
export interface StoredPoint extends ForecastPoint {
  branchId: string;
  runId: string;
}

/** A point as both point reads select it: `h` = hour start in seconds, then the six quantiles. */
interface PointRow {
  h: number | string;
  s10: number;
  s50: number;
  s90: number;
  o10: number;
  o50: number;
  o90: number;
}

/** The point columns of a `forecasts` row aliased `f`, named as in PointRow. */
const POINT_COLUMNS =
  'toUnixTimestamp(f.hour_start) AS h, f.sales_p10 AS s10, f.sales_p50 AS s50, f.sales_p90 AS s90, f.orders_p10 AS o10, f.orders_p50 AS o50, f.orders_p90 AS o90';

/** The parts of p50 (migration 0008), read only by the API's run loads. */
interface PartsRow {
  sl: number;
  ss: number;
  sc: number;
  ol: number;
  os: number;
  oc: number;
}
const PARTS_COLUMNS =
  'f.sales_level AS sl, f.sales_shape AS ss, f.sales_calendar AS sc, f.orders_level AS ol, f.orders_shape AS os, f.orders_calendar AS oc';

const pointOf = (p: PointRow): ForecastPoint => ({
  hourStart: Number(p.h) * 1000,
  salesP10: Number(p.s10),
  salesP50: Number(p.s50),
  salesP90: Number(p.s90),
  ordersP10: Number(p.o10),
  ordersP50: Number(p.o50),
  ordersP90: Number(p.o90),
});

const partsOf = (p: PartsRow): HourParts => ({
  salesLevel: Number(p.sl),
  salesShape: Number(p.ss),
  salesCalendar: Number(p.sc),
  ordersLevel: Number(p.ol),
  ordersShape: Number(p.os),
  ordersCalendar: Number(p.oc),
});

/** The parts columns of a point as written: rounded like the quantity they split (0: none). */
function partsColumns(p: HourParts | undefined): Record<string, number> {
  return {
    sales_level: round2s(p?.salesLevel ?? 0),
    sales_shape: round2s(p?.salesShape ?? 0),
    sales_calendar: round2s(p?.salesCalendar ?? 0),
    orders_level: round3s(p?.ordersLevel ?? 0),
    orders_shape: round3s(p?.ordersShape ?? 0),
    orders_calendar: round3s(p?.ordersCalendar ?? 0),
  };
}

export const newRunId = (): string => `r${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;

/** The run row's grain columns (with the group ones of migration 0013): '' and 0 ("unknown") without factors. */
function grainColumns(f: GrainFactors | undefined): Record<string, string | number> {
  const g = f?.group;
  return {
    grain_spread: f?.spread ?? '',
    k_day_sales: f?.day.sales ?? 0,
    k_day_orders: f?.day.orders ?? 0,
    k_week_sales: f?.week.sales ?? 0,
    k_week_orders: f?.week.orders ?? 0,
    group_spread_hour: g?.hour.spread ?? '',
    group_spread_day: g?.day.spread ?? '',
    group_spread_week: g?.week.spread ?? '',
    k_group_hour_sales: g?.hour.sales ?? 0,
    k_group_hour_orders: g?.hour.orders ?? 0,
    k_group_day_sales: g?.day.sales ?? 0,
    k_group_day_orders: g?.day.orders ?? 0,
    k_group_week_sales: g?.week.sales ?? 0,
    k_group_week_orders: g?.week.orders ?? 0,
  };
}

const isSpread = (s: string): s is 'sum' | 'rss' => s === 'sum' || s === 'rss';
const known = (ks: number[]): boolean => ks.every((k) => Number.isFinite(k) && k > 0);

/** The factors of a run row, or undefined when any is unknown (the group's alone may be unknown). */
function grainFactorsOf(
  spread: string,
  ks: number[],
  groupSpreads: string[],
  groupKs: number[],
): GrainFactors | undefined {
  if (!isSpread(spread) || !known(ks)) return undefined;
  const [daySales, dayOrders, weekSales, weekOrders] = ks as [number, number, number, number];
  const f: GrainFactors = {
    spread,
    day: { sales: daySales, orders: dayOrders },
    week: { sales: weekSales, orders: weekOrders },
  };
  const [sh, sd, sw] = groupSpreads as [string, string, string];
  if (isSpread(sh) && isSpread(sd) && isSpread(sw) && known(groupKs)) {
    const [hs, ho, ds, dO, ws, wo] = groupKs as [number, number, number, number, number, number];
    const group: GroupFactors = {
      hour: { spread: sh, sales: hs, orders: ho },
      day: { spread: sd, sales: ds, orders: dO },
      week: { spread: sw, sales: ws, orders: wo },
    };
    f.group = group;
  }
  return f;
}

const round2 = (x: number) => Math.round(Math.max(0, x) * 100) / 100;
const round3 = (x: number) => Math.round(Math.max(0, x) * 1000) / 1000;
/** Signed: a part may be negative (a quiet hour's shape, a closure's calendar effect). */
const round2s = (x: number) => Math.round(x * 100) / 100;
const round3s = (x: number) => Math.round(x * 1000) / 1000;

export class ForecastRuns {
  private readonly q: QueryRunner;

  constructor(ch: ClickHouse) {
    this.q = new QueryRunner(ch);
  }

  /** Writes the points first, then the run row: a run is never visible half-written. */
  async writeRuns(runs: ForecastRun[], branches: Map<string, Branch>): Promise<void> {
    if (runs.length === 0) return;
    const points = runs.flatMap((run) => {
      const zone = branches.get(run.branchId)?.timezone ?? 'UTC';
      return run.points.map((p) => {
        const local = localWallClock(zone, p.hourStart);
        return {
          run_id: run.runId,
          branch_id: run.branchId,
          hour_start: toDateTime(p.hourStart),
          hour_start_local: local.text,
          local_date: local.date,
          utc_offset_min: local.offsetMin,
          horizon_h: Math.round((p.hourStart - run.origin) / HOUR_MS) + 1,
          sales_p10: round2(p.salesP10),
          sales_p50: round2(p.salesP50),
          sales_p90: round2(p.salesP90),
          orders_p10: round3(p.ordersP10),
          orders_p50: round3(p.ordersP50),
          orders_p90: round3(p.ordersP90),
          ...partsColumns(p.parts),
          generated_at: toDateTime64(run.generatedAt),
        };
      });
    });
    await this.q.insert('forecasts.insert', 'forecasts', points);
    await this.q.insert(
      'forecast_runs.insert',
      'forecast_runs',
      runs.map((run) => ({
        run_id: run.runId,
        branch_id: run.branchId,
        model_version: run.modelVersion,
        origin: toDateTime(run.origin),
        data_through: toDateTime(run.origin - HOUR_MS),
        horizon_end: toDateTime((run.points.at(-1)?.hourStart ?? run.origin - HOUR_MS) + HOUR_MS),
        points: run.points.length,
        generated_at: toDateTime64(run.generatedAt),
        ...grainColumns(run.grainFactors),
        explained: run.points.length > 0 && run.points.every((p) => p.parts !== undefined) ? 1 : 0,
        cold_start: run.coldStart ? 1 : 0,
      })),
    );
  }

  /** Origin of the latest run per branch. */
  async latestOrigins(): Promise<Map<string, number>> {
    const rows = await this.q.rows<{ b: string; o: number }>(
      'forecast_runs.latest_origins',
      `SELECT branch_id AS b, toUnixTimestamp(max(origin)) AS o FROM ${this.q.table('forecast_runs')} GROUP BY b`,
    );
    return new Map(rows.map((r) => [r.b, Number(r.o) * 1000]));
  }

  /**
   * The latest run row of every branch, or of one, among the rows generated since `since`
   * (epoch ms; a small, partition-pruned read) or among all.
   */
  async latestRuns(filter: { since?: number; branchId?: string } = {}): Promise<StoredRun[]> {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (filter.since !== undefined) {
      where.push("generated_at >= {since:DateTime64(3, 'UTC')}");
      params.since = toDateTime64(Math.max(0, filter.since));
    }
    if (filter.branchId !== undefined) {
      where.push('branch_id = {branch:String}');
      params.branch = filter.branchId;
    }
    // Output aliases differ from column names: ClickHouse would resolve the columns in
    // the ordering tuple to same-named aliases.
    const k = '(generated_at, run_id)';
    const rows = await this.q.rows<{
      b: string;
      rid: string;
      mv: string;
      o: number | string;
      dt: number | string;
      he: number | string;
      pts: number | string;
      gen: number | string;
      gs: string;
      kds: number | string;
      kdo: number | string;
      kws: number | string;
      kwo: number | string;
      gsh: string;
      gsd: string;
      gsw: string;
      kghs: number | string;
      kgho: number | string;
      kgds: number | string;
      kgdo: number | string;
      kgws: number | string;
      kgwo: number | string;
      ex: number | string;
      cs: number | string;
    }>(
      'forecast_runs.latest',
      `SELECT branch_id AS b,
              argMax(run_id, ${k}) AS rid,
              argMax(model_version, ${k}) AS mv,
              toUnixTimestamp(argMax(origin, ${k})) AS o,
              toUnixTimestamp(argMax(data_through, ${k})) AS dt,
              toUnixTimestamp(argMax(horizon_end, ${k})) AS he,
              argMax(points, ${k}) AS pts,
              argMax(grain_spread, ${k}) AS gs,
              argMax(k_day_sales, ${k}) AS kds,
              argMax(k_day_orders, ${k}) AS kdo,
              argMax(k_week_sales, ${k}) AS kws,
              argMax(k_week_orders, ${k}) AS kwo,
              argMax(group_spread_hour, ${k}) AS gsh,
              argMax(group_spread_day, ${k}) AS gsd,
              argMax(group_spread_week, ${k}) AS gsw,
              argMax(k_group_hour_sales, ${k}) AS kghs,
              argMax(k_group_hour_orders, ${k}) AS kgho,
              argMax(k_group_day_sales, ${k}) AS kgds,
              argMax(k_group_day_orders, ${k}) AS kgdo,
              argMax(k_group_week_sales, ${k}) AS kgws,
              argMax(k_group_week_orders, ${k}) AS kgwo,
              argMax(explained, ${k}) AS ex,
              argMax(cold_start, ${k}) AS cs,
              toUnixTimestamp64Milli(max(generated_at)) AS gen
       FROM ${this.q.table('forecast_runs')}
       ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       GROUP BY branch_id`,
      params,
    );
    return rows.map((r) => {
      const run: StoredRun = {
        branchId: r.b,
        runId: r.rid,
        modelVersion: r.mv,
        origin: Number(r.o) * 1000,
        dataThrough: Number(r.dt) * 1000,
        horizonEnd: Number(r.he) * 1000,
        points: Number(r.pts),
        generatedAt: Number(r.gen),
        explained: Number(r.ex) === 1,
        coldStart: Number(r.cs) === 1,
      };
      const factors = grainFactorsOf(
        r.gs,
        [r.kds, r.kdo, r.kws, r.kwo].map(Number),
        [r.gsh, r.gsd, r.gsw],
        [r.kghs, r.kgho, r.kgds, r.kgdo, r.kgws, r.kgwo].map(Number),
      );
      if (factors) run.grainFactors = factors;
      return run;
    });
  }

  /** The stored points of the given runs (any order), with their p50 parts (0 where a run has none). */
  async runPoints(runs: readonly { branchId: string; runId: string }[]): Promise<StoredPoint[]> {
    if (runs.length === 0) return [];
    const rows = await this.q.rows<PointRow & PartsRow & { branch_id: string; run_id: string }>(
      'forecasts.run_points',
      `SELECT branch_id AS branch_id, run_id AS run_id, ${POINT_COLUMNS}, ${PARTS_COLUMNS}
       FROM ${this.q.table('forecasts')} AS f
       WHERE branch_id IN {branches:Array(String)} AND run_id IN {runs:Array(String)}`,
      { branches: runs.map((r) => r.branchId), runs: runs.map((r) => r.runId) },
    );
    return rows.map((p) => ({ branchId: p.branch_id, runId: p.run_id, ...pointOf(p), parts: partsOf(p) }));
  }

  /** The latest run of one branch (greatest generated_at) with its points by hour, or undefined. */
  async latestRunOf(
    branchId: string,
  ): Promise<{ runId: string; modelVersion: string; origin: number; points: ForecastPoint[] } | undefined> {
    const rows = await this.q.rows<PointRow & { run_id: string; model_version: string; origin: number }>(
      'forecasts.latest_run_of',
      `SELECT r.run_id AS run_id, r.model_version AS model_version, toUnixTimestamp(r.origin) * 1000 AS origin,
              ${POINT_COLUMNS}
       FROM ${this.q.table('forecasts')} AS f
       INNER JOIN (SELECT argMax(run_id, generated_at) AS run_id, argMax(model_version, generated_at) AS model_version,
                          argMax(origin, generated_at) AS origin
                   FROM ${this.q.table('forecast_runs')} WHERE branch_id = {b:String}) AS r ON f.run_id = r.run_id
       WHERE f.branch_id = {b:String}
       ORDER BY f.hour_start`,
      { b: branchId },
    );
    const first = rows[0];
    if (!first) return undefined;
    return {
      runId: first.run_id,
      modelVersion: first.model_version,
      origin: Number(first.origin),
      points: rows.map(pointOf),
    };
  }
}
