/**
 * Where `tillcast train` and `tillcast backtest` read hourly history from:
 * a POS export file (parsed by the replay's own parser, counted by the rule of
 * sales_hourly) or the closed hours in ClickHouse.
 */
import type { BranchDirectory } from '../lib/branches';
import type { Config } from '../lib/config';
import { createClickHouse } from '../clickhouse/client';
import type { Logger } from '../lib/logger';
import { closeOfLastDay, hourlyTotals } from '../schemas/sale-totals';
import { seriesFromHourlyBuckets, type HourlySeries } from '../model/series';
import { loadPosExport } from '../producers/pos-export';
import { ForecastStore } from '../clickhouse/store/forecast-store';

/** One series per branch of the export, from its first sale to the end of the export's last local day. */
export async function seriesFromExport(
  file: string,
  branches: BranchDirectory,
  opts: { from?: string; through?: string } = {},
): Promise<{ series: HourlySeries[]; rejectedRows: number }> {
  const loaded = await loadPosExport(file, { branches, from: opts.from, through: opts.through });
  const end = closeOfLastDay(loaded.events, branches);
  const series: HourlySeries[] = [];
  for (const [branchId, hours] of hourlyTotals(loaded.events)) {
    const b = branches.get(branchId);
    if (!b) continue;
    series.push(seriesFromHourlyBuckets(hours, b, end === undefined ? {} : { end }));
  }
  series.sort((a, b) => a.branchId.localeCompare(b.branchId));
  return { series, rejectedRows: loaded.errors.length };
}

/** Every branch's closed hours in ClickHouse, with its calendar of closures and events (the embedded data dir must not be open elsewhere). */
export async function seriesFromClickHouse(
  config: Config,
  branches: BranchDirectory,
  logger: Logger,
): Promise<HourlySeries[]> {
  const ch = createClickHouse(config, logger);
  try {
    return (await new ForecastStore(ch).closedHistories(branches)).filter((s) => s.sales.length > 0);
  } finally {
    await ch.close();
  }
}
