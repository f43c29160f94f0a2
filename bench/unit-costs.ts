/**
 * `npm run bench:costs`: the unit costs docs/scaling.md plans capacity from, measured on this
 * machine with the real components (embedded ClickHouse engine, native TensorFlow). One JSON line.
 *
 * - Training: wall time of one full training (`train`, the forecaster's model) on synthetic
 *   histories of B branches × W weeks, for a small grid (BENCH_TRAIN_GRID, "branches×weeks,…").
 * - Storage: bytes on disk (compressed, after OPTIMIZE FINAL) and rows per table for one branch,
 *   from the real POS export's receipts (sales_events), one closed-hour row per hour
 *   (sales_hourly) and BENCH_RUNS forecast runs of 14 days hourly (forecasts, forecast_runs);
 *   scaled to a branch-year: events at the export's own rate, 8,760 hours, and the runs kept by
 *   FORECAST_RUN_TTL_DAYS (one run per closed hour).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate } from '../clickhouse/migrate';
import { NORY_BRANCHES, BranchDirectory } from '../lib/branches';
import { createClickHouse } from '../clickhouse/client';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { DAY_MS, floorToHour, HOUR_MS } from '../lib/time/units';
import { ForecastRuns, newRunId, type ForecastRun } from '../clickhouse/store/forecast-runs';
import { SalesStore, type HourRow } from '../clickhouse/store/sales-store';
import { closedHourRow } from '../test/closed-hours';
import { train } from '../model/train';
import { syntheticSeries } from '../model/testing/synthetic';
import { loadPosExport } from '../producers/pos-export';
import { requireSharedExport } from '../test/shared-data';

const GRID = (process.env.BENCH_TRAIN_GRID ?? '3x8,3x26,12x8,12x26,48x8')
  .split(',')
  .map((s) => s.split('x').map(Number) as [number, number]);
const RUNS = Number(process.env.BENCH_RUNS ?? 200);

async function trainingCosts(): Promise<{ branches: number; weeks: number; s: number }[]> {
  const out: { branches: number; weeks: number; s: number }[] = [];
  const end = Date.UTC(2024, 5, 3);
  for (const [branches, weeks] of GRID) {
    const hours = weeks * 7 * 24;
    const series = Array.from({ length: branches }, (_, i) =>
      syntheticSeries({
        branchId: `b${i}`,
        start: end - hours * HOUR_MS,
        hours,
        level: 60 + (i % 17) * 10,
        seed: i + 1,
      }),
    );
    const t0 = performance.now();
    const model = await train(series, { seed: 1 });
    out.push({ branches, weeks, s: Math.round((performance.now() - t0) / 100) / 10 });
    model.net.dispose();
    process.stderr.write(`[bench:costs] training ${branches}×${weeks}w: ${out.at(-1)!.s} s\n`);
  }
  return out;
}

async function storageCosts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-bench-costs-'));
  const config = loadConfig({ CLICKHOUSE_DATA_DIR: path.join(dir, 'clickhouse'), LOG_LEVEL: 'warn' });
  const logger = createLogger('warn');
  const ch = createClickHouse(config, logger);
  try {
    await migrate(ch, logger);
    const branch = NORY_BRANCHES.find((b) => b.id === '352h67i328fh')!;
    const directory = new BranchDirectory([branch]);
    const { events } = await loadPosExport(requireSharedExport(), { branches: directory });
    const mine = events.filter((e) => e.branch_id === branch.id);
    const first = mine[0]!.occurred_at;
    const last = mine.at(-1)!.occurred_at;
    const sales = new SalesStore(ch);
    await sales.insertEvents(
      mine.map((event, i) => ({ event, tooLate: false, partition: 0, offset: String(i) })),
    );
    const hours: HourRow[] = [];
    for (let h = floorToHour(first), v = 1; h <= last; h += HOUR_MS, v++)
      hours.push(closedHourRow(branch, h, 120, 4, v));
    await sales.insertHours(hours);
    const store = new ForecastRuns(ch);
    const runs: ForecastRun[] = [];
    const origin0 = floorToHour(last);
    for (let r = 0; r < RUNS; r++) {
      const origin = origin0 + r * HOUR_MS;
      runs.push({
        runId: newRunId(),
        branchId: branch.id,
        modelVersion: 'bench',
        origin,
        generatedAt: Date.now(),
        points: Array.from({ length: 14 * 24 }, (_, i) => {
          const s = 50 + ((r * 7 + i * 13) % 90) + Math.sin(i / 3) * 10;
          return {
            hourStart: origin + i * HOUR_MS,
            salesP10: s * 0.7,
            salesP50: s,
            salesP90: s * 1.4,
            ordersP10: s / 40,
            ordersP50: s / 25,
            ordersP90: s / 15,
          };
        }),
      });
    }
    await store.writeRuns(runs, new Map([[branch.id, branch]]));
    for (const t of ['sales_events', 'sales_hourly', 'forecasts', 'forecast_runs'])
      await ch.client.command({ query: `OPTIMIZE TABLE ${ch.table(t)} FINAL` });
    const rs = await ch.client.query({
      query: `SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts
              WHERE database = {db:String} AND active GROUP BY table`,
      query_params: { db: config.CLICKHOUSE_DATABASE },
      format: 'JSONEachRow',
    });
    const parts = new Map(
      (await rs.json<{ table: string; rows: string; bytes: string }>()).map((r) => [r.table, r]),
    );
    const per = (t: string) => {
      const p = parts.get(t);
      return p ? Number(p.bytes) / Number(p.rows) : NaN;
    };
    const eventsPerYear = (mine.length / ((last - first) / DAY_MS)) * 365;
    const runsKept = config.FORECAST_RUN_TTL_DAYS * 24;
    const pointsPerRun = 14 * 24;
    const bytesPerYear = {
      sales_events: eventsPerYear * per('sales_events'),
      sales_hourly: 8760 * per('sales_hourly'),
      forecasts: runsKept * pointsPerRun * per('forecasts'),
      forecast_runs: runsKept * per('forecast_runs'),
    };
    return {
      events_per_branch_year: Math.round(eventsPerYear),
      bytes_per_event: Math.round(per('sales_events') * 10) / 10,
      bytes_per_hour_row: Math.round(per('sales_hourly') * 10) / 10,
      bytes_per_forecast_point: Math.round(per('forecasts') * 10) / 10,
      forecast_runs_kept: runsKept,
      mb_per_branch_year: Object.fromEntries(
        Object.entries(bytesPerYear).map(([k, v]) => [k, Math.round(v / 1e4) / 100]),
      ),
      rows_per_branch_year: {
        sales_events: Math.round(eventsPerYear),
        sales_hourly: 8760,
        forecasts: runsKept * pointsPerRun,
      },
    };
  } finally {
    await ch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const storage = await storageCosts();
  const training = await trainingCosts();
  console.log(JSON.stringify({ training_s: training, ...storage }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
