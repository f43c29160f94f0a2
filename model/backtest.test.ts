/**
 * The acceptance backtest on the real shared export (../shared/data, data through 2021-01-31),
 * in the full configuration of `npm run backtest`: every Monday local midnight from 2020-09-07
 * to 2021-01-18 (20 origins, each with a complete 14-day horizon), the network retrained before
 * each origin on data before it only, production hyper-parameters. Needs the shared export and
 * the native backend; ~5 minutes on 2 busy cores (~15 s of training per origin).
 */
import './testing/node-realm';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  acceptance,
  ABLATION_NAMES,
  BASELINE_NAMES,
  backtestLine,
  backtestOrigins,
  runBacktest,
  type BacktestResult,
} from './backtest';
import { GRAINS, QUANTITIES } from './metrics';
import { writeBacktestReport } from './report';
import { loadSharedExportSeries } from './testing/shared-series';

jest.setTimeout(1_200_000);

const series = loadSharedExportSeries();
let result: BacktestResult;

beforeAll(async () => {
  result = await runBacktest(series);
  // Printed so that a failure shows the whole table.
  console.log(
    JSON.stringify(backtestLine(result)),
    '\n',
    acceptance(result.summary)
      .checks.map((c) => `${c.ok ? 'ok ' : 'NO '} ${c.check}`)
      .join('\n'),
  );
});

const checksMatching = (re: RegExp): Array<{ check: string; ok: boolean }> =>
  acceptance(result.summary).checks.filter((c) => re.test(c.check));

describe('backtest on the shared export', () => {
  test('origins: every Monday from September 2020 whose whole 14-day horizon is in the data', () => {
    const want = Array.from({ length: 20 }, (_, i) => {
      const d = new Date(Date.UTC(2020, 8, 7 + 7 * i));
      return d.toISOString().slice(0, 10);
    });
    expect(want.at(-1)).toBe('2021-01-18');
    expect(result.summary.originDates).toEqual(want);
    // Local midnight: 23:00Z under Irish summer time, 00:00Z after 2020-10-25.
    expect(backtestOrigins(series)[0]).toBe(Date.UTC(2020, 8, 6, 23));
    expect(backtestOrigins(series)[19]).toBe(Date.UTC(2021, 0, 18));
    expect(backtestOrigins(series, { weeks: 8 })).toEqual(backtestOrigins(series).slice(12));
  });

  test('the JSON line: WAPE of every model per quantity and grain, the network coverage, 20 origins', () => {
    const line = backtestLine(result);
    expect(line.origins).toBe(20);
    for (const m of ['neural', ...BASELINE_NAMES, ...ABLATION_NAMES]) {
      const w = line[m] as Record<string, Record<string, number>>;
      for (const q of QUANTITIES) for (const g of GRAINS) expect(w[q]![g]).toBeGreaterThan(0);
    }
    const cov = (line.neural as { coverage: Record<string, Record<string, number>> }).coverage;
    for (const q of QUANTITIES) for (const g of GRAINS) expect(cov[q]![g]).toBeGreaterThan(0);
  });

  test('neural beats every baseline, its own structural base included, at every grain for sales and orders', () => {
    const checks = checksMatching(/neural .* < (seasonal_naive|mean_4w|structural_base|holt_winters) /);
    expect(checks).toHaveLength(4 * 2 * 3);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(acceptance(result.summary).ok).toBe(true);
  });

  test('calibrated at every grain: p10–p90 holds 75–85% of hours, days and 7-day blocks, sales and orders', () => {
    const coverage = checksMatching(/p10–p90 coverage/);
    expect(coverage).toHaveLength(3 * 2);
    expect(coverage.filter((c) => !c.ok)).toEqual([]);
  });

  test('groups of branches (issue 16): the Nory group’s calibrated p10–p90 holds 75–85% of its hours, days and weeks', () => {
    const g = backtestLine(result).group_coverage as Record<string, Record<string, number | null>>;
    // Every origin scores the group: 14 × 24 hours, 14 days and 2 weeks each.
    expect(result.groupCoverage.sales.week.n).toBe(2 * 20);
    const outside = QUANTITIES.flatMap((q) =>
      GRAINS.map((grain) => ({ q, grain, coverage: g[q]![grain] ?? null })),
    ).filter((c) => c.coverage === null || c.coverage < 0.75 || c.coverage > 0.85);
    expect(outside).toEqual([]);
  });

  test('per-branch detail and the report (markdown with the per-horizon-day table + one SVG per branch)', async () => {
    expect(Object.keys(result.branches).sort()).toEqual(series.map((s) => s.branchId).sort());
    const dir = await mkdtemp(join(tmpdir(), 'tillcast-backtest-'));
    try {
      await writeBacktestReport(result, dir);
      const files = (await readdir(dir)).sort();
      expect(files).toEqual([
        'backtest.json',
        'backtest.md',
        ...series.map((s) => `chart-${s.branchId}.svg`).sort(),
      ]);
      const md = await readFile(join(dir, 'backtest.md'), 'utf8');
      for (const m of ['neural', ...BASELINE_NAMES, ...ABLATION_NAMES]) expect(md).toContain(`| ${m} |`);
      expect(md).toContain('### Per horizon day');
      expect(md).toContain('| 14 |');
      expect(md).toMatch(/Acceptance: \*\*(met|NOT met)\*\*/);
      const svg = await readFile(join(dir, `chart-${series[0]!.branchId}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('p10–p90');
      expect(svg).toContain('Holt-Winters');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
