/**
 * Simulated closed hours for tests and benchmarks that need a history in sales_hourly without
 * ingesting events (forecaster tests, bench:refresh, bench:scale, bench:costs).
 */
import { emptyAggregate, type HourRow } from '../clickhouse/store/sales-hourly';

/** A closed first-revision hour that has only sales (major units) and orders. */
export function closedHourRow(
  branch: { id: string; timezone: string },
  hourStart: number,
  salesEur: number,
  orders: number,
  version: number,
): HourRow {
  return {
    ...emptyAggregate(),
    branch_id: branch.id,
    hour_start: hourStart,
    timezone: branch.timezone,
    sales_minor: Math.round(salesEur * 100),
    orders,
    closed: true,
    revision: 1,
    version,
  };
}
