/**
 * The acceptance backtest on the real shared export (../shared/data, data through 2021-01-31):
 * 8 weekly local-midnight origins, 14-day horizon, the network retrained before each origin on
 * data before it only. Needs the shared export and the native backend; takes ~1.5-3 minutes.
 */
import './testing/node-realm';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptance, backtestOrigins, runBacktest, type BacktestResult } from './backtest';
import { writeBacktestReport } from './report';
import { loadSharedExportSeries } from './testing/shared-series';

jest.setTimeout(600_000);

const series = loadSharedExportSeries();
let result: BacktestResult;

beforeAll(async () => {
  result = await runBacktest(series);
});

describe('backtest on the shared export', () => {
  test('origins: the last 8 Mondays with a complete 14-day horizon, local midnight', () => {
    expect(backtestOrigins(series).map((o) => new Date(o).toISOString())).toEqual([
      '2020-11-30T00:00:00.000Z',
      '2020-12-07T00:00:00.000Z',
      '2020-12-14T00:00:00.000Z',
      '2020-12-21T00:00:00.000Z',
      '2020-12-28T00:00:00.000Z',
      '2021-01-04T00:00:00.000Z',
      '2021-01-11T00:00:00.000Z',
      '2021-01-18T00:00:00.000Z',
    ]);
    expect(result.summary.origins).toHaveLength(8);
  });

  test('acceptance: neural beats both baselines at every grain, ≥10% at hourly; p10–p90 coverage 70–90%', () => {
    const { ok, checks } = acceptance(result.summary);
    // Printed so that a failure shows the whole table.
    console.log(
      JSON.stringify(result.summary, null, 1),
      '\n',
      checks.map((c) => `${c.ok ? 'ok ' : 'NO '} ${c.check}`).join('\n'),
    );
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(ok).toBe(true);
  });

  test('per-branch detail and the report (markdown + one SVG per branch)', async () => {
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
      expect(md).toContain('| neural |');
      expect(md).toContain('Acceptance: **met**');
      const svg = await readFile(join(dir, `chart-${series[0]!.branchId}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('p10–p90');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
