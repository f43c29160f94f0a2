/**
 * Synthetic data for API tests and the API bench: closed hourly actuals
 * (`sales_hourly`), branch watermarks and forecast runs (`forecasts` rows, then
 * the `forecast_runs` row — or not, to simulate a half-written run), written
 * with the same column conventions as ingest and the forecaster.
 * Lives in bench/ (not test/) because the compiled bench uses it; the tests import it from here.
 */
import type { Branch } from '../lib/branches';
import type { ClickHouse } from '../clickhouse/client';
import { toDateTime, toDateTime64 } from '../clickhouse/datetime-text';
import { HOUR_MS } from '../lib/time/units';
import { localWallClock, utcToLocal } from '../lib/time/wall-clock';

export interface ActualValues {
  sales_minor: number;
  orders: number;
}

export interface ForecastValues {
  sales_p10: number;
  sales_p50: number;
  sales_p90: number;
  orders_p10: number;
  orders_p50: number;
  orders_p90: number;
}

/** A plausible restaurant day: closed at night, lunch and dinner peaks (local time). */
export function syntheticActual(branch: Branch, hourStart: number, seed = 1): ActualValues {
  const local = utcToLocal(branch.timezone, hourStart);
  const h = local.hour;
  const shape = h < 11 || h > 22 ? 0 : h === 12 || h === 13 ? 1 : h >= 18 && h <= 20 ? 1.3 : 0.5;
  const weekend = local.weekday >= 5 ? 1.25 : 1;
  const noise = 0.85 + 0.3 * (((Math.sin(hourStart / HOUR_MS + seed * 7.1) + 1) / 2) % 1);
  const orders = Math.round(12 * shape * weekend * noise);
  return { sales_minor: orders * (1850 + ((hourStart / HOUR_MS + seed) % 7) * 37), orders };
}

export function syntheticForecast(branch: Branch, hourStart: number, seed = 1): ForecastValues {
  const a = syntheticActual(branch, hourStart, seed + 100);
  const p50 = a.sales_minor / 100;
  const o50 = a.orders + 0.25;
  return {
    sales_p10: round(p50 * 0.8, 2),
    sales_p50: round(p50, 2),
    sales_p90: round(p50 * 1.2 + 5, 2),
    orders_p10: round(o50 * 0.8, 3),
    orders_p50: round(o50, 3),
    orders_p90: round(o50 * 1.2 + 1, 3),
  };
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

let versionCounter = 0;
/** Monotonic write versions (later writes win in ReplacingMergeTree). */
export const nextVersion = (): number => Date.now() * 1000 + (versionCounter++ % 1000);

const localColumns = (hourStart: number, zone: string) => {
  const local = localWallClock(zone, hourStart);
  return {
    hour_start: toDateTime(hourStart),
    hour_start_local: local.text,
    local_date: local.date,
    utc_offset_min: local.offsetMin,
  };
};

export class Fixtures {
  constructor(private readonly ch: ClickHouse) {}

  /** Closed (by default) hours [from, to) of a branch; `values` defaults to syntheticActual. */
  async actuals(
    branch: Branch,
    from: number,
    to: number,
    opts: { values?: (hourStart: number) => ActualValues; closed?: boolean; revision?: number } = {},
  ): Promise<void> {
    const rows: object[] = [];
    const closed = opts.closed ?? true;
    for (let h = from; h < to; h += HOUR_MS) {
      const v = (opts.values ?? ((x) => syntheticActual(branch, x)))(h);
      rows.push({
        branch_id: branch.id,
        ...localColumns(h, branch.timezone),
        timezone: branch.timezone,
        sales_minor: v.sales_minor,
        orders: v.orders,
        refunds: 0,
        voids: 0,
        sales_by_channel: { in_store: v.sales_minor },
        orders_by_channel: { in_store: v.orders },
        closed: closed ? 1 : 0,
        revision: opts.revision ?? (closed ? 1 : 0),
        version: nextVersion(),
      });
    }
    await this.insert('sales_hourly', rows);
  }

  /** The branch's ingest clock: every hour starting before `closedThrough` is closed. */
  async watermark(branchId: string, closedThrough: number): Promise<void> {
    await this.insert('branch_watermarks', [
      {
        branch_id: branchId,
        watermark: toDateTime64(closedThrough + 10 * 60_000),
        closed_through: toDateTime(closedThrough),
        version: nextVersion(),
      },
    ]);
  }

  /**
   * A forecast run of `hours` points from `origin`: its forecasts rows, then (unless
   * `writeRunRow` is false) its forecast_runs row. Returns the run id.
   */
  async forecastRun(
    branch: Branch,
    opts: {
      origin: number;
      hours: number;
      runId?: string;
      modelVersion?: string;
      generatedAt?: number;
      values?: (hourStart: number, i: number) => ForecastValues;
      writeRunRow?: boolean;
      /** Announced point count (defaults to `hours`). */
      points?: number;
    },
  ): Promise<string> {
    const runId = opts.runId ?? `r${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const generatedAt = opts.generatedAt ?? Date.now();
    const rows: object[] = [];
    for (let i = 0; i < opts.hours; i++) {
      const h = opts.origin + i * HOUR_MS;
      rows.push({
        run_id: runId,
        branch_id: branch.id,
        ...localColumns(h, branch.timezone),
        horizon_h: i + 1,
        ...(opts.values ?? ((x) => syntheticForecast(branch, x)))(h, i),
        generated_at: toDateTime64(generatedAt),
      });
    }
    await this.insert('forecasts', rows);
    if (opts.writeRunRow !== false) {
      await this.runRow(branch.id, {
        runId,
        origin: opts.origin,
        hours: opts.hours,
        points: opts.points,
        generatedAt,
        modelVersion: opts.modelVersion,
      });
    }
    return runId;
  }

  async runRow(
    branchId: string,
    r: {
      runId: string;
      origin: number;
      hours: number;
      generatedAt: number;
      points?: number;
      modelVersion?: string;
    },
  ): Promise<void> {
    await this.insert('forecast_runs', [
      {
        run_id: r.runId,
        branch_id: branchId,
        model_version: r.modelVersion ?? 'm-synthetic-1',
        origin: toDateTime(r.origin),
        data_through: toDateTime(r.origin - HOUR_MS),
        horizon_end: toDateTime(r.origin + r.hours * HOUR_MS),
        points: r.points ?? r.hours,
        generated_at: toDateTime64(r.generatedAt),
      },
    ]);
  }

  private async insert(table: string, values: object[]): Promise<void> {
    if (values.length === 0) return;
    await this.ch.client.insert({ table: this.ch.table(table), values, format: 'JSONEachRow' });
  }
}
