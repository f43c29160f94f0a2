/**
 * Human-readable outputs: the backtest report (markdown + one SVG chart per branch) and the
 * exploratory charts of a data set (hour-of-week profiles, weekly totals with regimes marked,
 * closed days) used by docs/model.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dateToDayNumber, formatCivilDate, weekdayOfDayNumber } from '../lib/time/civil-date';
import { DAY_MS, HOUR_MS } from '../lib/time/units';
import { localSlotOf } from '../lib/time/wall-clock';
import { acceptance, MODEL_NAMES, type BacktestResult, type ModelSummaries } from './backtest';
import { toLocalGrid } from './local-grid';
import { GRAINS, QUANTITIES, type WapeSummary } from './metrics';
import type { HourlySeries } from './series';
import { chartSvg, type Shade } from './svg';

const COLORS = {
  actual: '#222',
  neural: '#1f6fd1',
  band: '#8fb8ee',
  naive: '#d1721f',
  mean4w: '#2a9d4a',
  structural: '#8a3fc2',
  holtWinters: '#b8860b',
};
const pct = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`;

/** Markdown table: one row per model, WAPE (and skill vs seasonal naive) per quantity and grain. */
export function summaryTable(s: ModelSummaries): string {
  const head = `| model | ${QUANTITIES.flatMap((q) => GRAINS.map((g) => `${q} ${g}`)).join(' | ')} |`;
  const sep = `|---|${QUANTITIES.flatMap(() => GRAINS.map(() => '---:')).join('|')}|`;
  const row = (name: (typeof MODEL_NAMES)[number], m: WapeSummary): string =>
    `| ${name} | ${QUANTITIES.flatMap((q) =>
      GRAINS.map((g) =>
        name === 'seasonal_naive' ? pct(m[q][g]) : `${pct(m[q][g])} (${signed(s.skill[name][q][g])})`,
      ),
    ).join(' | ')} |`;
  return [head, sep, ...MODEL_NAMES.map((m) => row(m, s[m]))].join('\n');
}

const signed = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(2)}` : '–');

/** Markdown table: the network's p10–p90 coverage and relative Winkler score per quantity and grain. */
export function intervalTable(s: WapeSummary): string {
  const head = `| measure | ${QUANTITIES.flatMap((q) => GRAINS.map((g) => `${q} ${g}`)).join(' | ')} |`;
  const sep = `|---|${QUANTITIES.flatMap(() => GRAINS.map(() => '---:')).join('|')}|`;
  const row = (
    name: string,
    v: Record<string, Record<string, number>> | undefined,
    f: (x: number) => string,
  ): string =>
    `| ${name} | ${QUANTITIES.flatMap((q) => GRAINS.map((g) => f(v?.[q]?.[g] ?? NaN))).join(' | ')} |`;
  return [
    head,
    sep,
    row('p10–p90 coverage', s.coverage, pct),
    row('Winkler / Σ actual', s.winkler, (x) => (Number.isFinite(x) ? x.toFixed(3) : '–')),
  ].join('\n');
}

/**
 * Markdown table: per horizon day (1 = the origin's day), pooled over origins and branches, daily
 * sales WAPE of every model and the network's hourly coverage.
 */
export function horizonDayTable(s: ModelSummaries): string {
  const days = s.neural.byHorizonDay ?? [];
  const head = `| day | ${MODEL_NAMES.map((m) => `${m} sales daily`).join(' | ')} | neural sales hourly | neural orders daily | neural hourly coverage |`;
  const sep = `|---:|${MODEL_NAMES.map(() => '---:').join('|')}|---:|---:|---:|`;
  const rows = days.map(
    (d, k) =>
      `| ${k + 1} | ${MODEL_NAMES.map((m) => pct(s[m].byHorizonDay?.[k]?.sales.daily)).join(' | ')} | ${pct(d.sales.hourly)} | ${pct(d.orders.daily)} | ${pct(d.coverage)} |`,
  );
  return [head, sep, ...rows].join('\n');
}

/** Writes `backtest.md`, `backtest.json` and `chart-<branch>.svg` into `outDir`; returns the file paths. */
export async function writeBacktestReport(result: BacktestResult, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  const acc = acceptance(result.summary);
  const md: string[] = [
    '# Backtest',
    '',
    `Rolling origin, weekly, local midnight; horizon ${result.horizonDays} days; the network is retrained before each origin on data before it only.`,
    `Origins (${result.summary.originDates.length}, Mondays, local midnight): ${result.summary.originDates.join(', ')}.`,
    '',
    "WAPE = Σ|p50 − actual| / Σ|actual|: hourly per UTC hour, daily per local date, weekly per 7-day block from the origin (days 1–7, 8–14). Each number is the mean over origins of the WAPE pooled over branches; in brackets the skill against seasonal naive, 1 − WAPE / WAPE of seasonal naive. Baselines: seasonal naive (last week repeated), mean of 4 weeks (same hour of week), structural base (the network's own level × shape, no network), Holt-Winters (damped additive ETS, weekly seasonality, on daily totals spread by the recent hour-of-day shape of the weekday); baselines give p50 only.",
    '',
    'Coverage: share of buckets with p10 ≤ actual ≤ p90; hourly over open hours (actual ≠ 0 or p90 > 0) with the hourly quantiles, daily and weekly with the calibrated bucket intervals (– where none). Winkler score of the 80% interval, Σ score / Σ|actual| (lower is better).',
    '',
    '## All branches',
    '',
    summaryTable(result.summary),
    '',
    "### The network's ranges",
    '',
    intervalTable(result.summary.neural),
    '',
    '### Per horizon day',
    '',
    "Day 1 is the origin's day (a Monday). Pooled over origins and branches (Σ|error| / Σ|actual| of that horizon day), so days every branch was closed (Christmas) count without dividing by zero.",
    '',
    horizonDayTable(result.summary),
    '',
    `Acceptance: **${acc.ok ? 'met' : 'NOT met'}**`,
    '',
    ...acc.checks.map((c) => `- ${c.ok ? '✅' : '❌'} ${c.check}`),
    '',
  ];
  for (const [branch, s] of Object.entries(result.branches)) {
    md.push(`## Branch ${branch}`, '', summaryTable(s), '', `![forecast vs actual](chart-${branch}.svg)`, '');
  }
  md.push(
    '## Per origin (sales, hourly WAPE)',
    '',
    `| origin | ${MODEL_NAMES.join(' | ')} | training s |`,
    `|---|${MODEL_NAMES.map(() => '---:').join('|')}|---:|`,
  );
  for (const [i, o] of result.perOrigin.entries()) {
    const w = (m: (typeof MODEL_NAMES)[number]): string => {
      let e = 0;
      let a = 0;
      for (const x of o.accuracy[m].values()) {
        e += x.sales.hourly.absErr;
        a += x.sales.hourly.actual;
      }
      return pct(a > 0 ? e / a : NaN);
    };
    md.push(
      `| ${result.summary.originDates[i]} | ${MODEL_NAMES.map(w).join(' | ')} | ${o.trainSeconds.toFixed(1)} |`,
    );
  }
  md.push('', `Training time, all origins: ${result.trainSecondsTotal.toFixed(1)} s.`, '');
  const mdFile = join(outDir, 'backtest.md');
  await writeFile(mdFile, md.join('\n'), 'utf8');
  files.push(mdFile);
  const jsonFile = join(outDir, 'backtest.json');
  await writeFile(
    jsonFile,
    `${JSON.stringify({ ...result.summary, branches: result.branches, pooled: result.pooled }, null, 2)}\n`,
    'utf8',
  );
  files.push(jsonFile);
  for (const s of result.series) {
    const file = join(outDir, `chart-${s.branchId}.svg`);
    await writeFile(file, backtestChart(result, s), 'utf8');
    files.push(file);
  }
  return files;
}

/**
 * Two panels for one branch: hourly sales over the last origin's horizon (actual, p50, p10–p90
 * band, seasonal naive), and daily sales over the first week of every origin (consecutive
 * weeks, never overlapping) with the daily sums of the hourly forecasts of every model.
 */
export function backtestChart(result: BacktestResult, s: HourlySeries): string {
  const last = result.perOrigin[result.perOrigin.length - 1]!;
  const bi = result.series.indexOf(s);
  const fc = last.forecasts.neural[bi]!;
  const naive = last.forecasts.seasonal_naive[bi]!;
  const until = last.origin + result.horizonDays * DAY_MS + 2 * HOUR_MS;
  const hours = fc.hours.filter(
    (h) => h.hourStart < until && (h.hourStart - s.start) / HOUR_MS < s.sales.length,
  );
  const actual = hours.map((h) => s.sales[(h.hourStart - s.start) / HOUR_MS] ?? NaN);
  const ticks = hours
    .map((h, i) => ({ h, i }))
    .filter(({ h }) => localSlotOf(s.timezone, h.hourStart).hour === 0)
    .map(({ h, i }) => ({
      at: i,
      label: formatCivilDate(localSlotOf(s.timezone, h.hourStart).day).slice(5),
    }));
  const hourly = chartSvg({
    title: `${s.branchId}: hourly sales from ${result.summary.originDates.at(-1)} (last origin)`,
    n: hours.length,
    xTicks: ticks,
    yLabel: 'sales per hour',
    bands: [
      {
        name: 'neural p10–p90',
        color: COLORS.band,
        lo: hours.map((h) => h.salesP10),
        hi: hours.map((h) => h.salesP90),
      },
    ],
    lines: [
      { name: 'actual', color: COLORS.actual, values: actual, width: 1.2 },
      { name: 'neural p50', color: COLORS.neural, values: hours.map((h) => h.salesP50) },
      {
        name: 'seasonal naive',
        color: COLORS.naive,
        values: naive.hours.slice(0, hours.length).map((h) => h.salesP50),
        dashed: true,
        width: 1,
      },
    ],
  });

  const days: Array<{
    label: string;
    a: number;
    p10: number;
    p50: number;
    p90: number;
    naive: number;
    mean4w: number;
    structural: number;
    holtWinters: number;
  }> = [];
  const markers: Array<{ at: number; label: string }> = [];
  for (const o of result.perOrigin) {
    const f = o.forecasts.neural[bi]!;
    const n = o.forecasts.seasonal_naive[bi]!;
    const m = o.forecasts.mean_4w[bi]!;
    const sb = o.forecasts.structural_base[bi]!;
    const hw = o.forecasts.holt_winters[bi]!;
    const originDay = localSlotOf(s.timezone, o.origin).day;
    markers.push({ at: days.length, label: formatCivilDate(originDay).slice(5) });
    for (let d = 0; d < 7; d++) {
      const row = {
        label: formatCivilDate(originDay + d),
        a: 0,
        p10: 0,
        p50: 0,
        p90: 0,
        naive: 0,
        mean4w: 0,
        structural: 0,
        holtWinters: 0,
      };
      f.hours.forEach((h, j) => {
        if (localSlotOf(s.timezone, h.hourStart).day !== originDay + d) return;
        row.a += s.sales[(h.hourStart - s.start) / HOUR_MS] ?? 0;
        row.p10 += h.salesP10;
        row.p50 += h.salesP50;
        row.p90 += h.salesP90;
        row.naive += n.hours[j]?.salesP50 ?? 0;
        row.mean4w += m.hours[j]?.salesP50 ?? 0;
        row.structural += sb.hours[j]?.salesP50 ?? 0;
        row.holtWinters += hw.hours[j]?.salesP50 ?? 0;
      });
      days.push(row);
    }
  }
  const daily = chartSvg({
    title: `${s.branchId}: daily sales, first week after each weekly origin`,
    n: days.length,
    xTicks: [],
    markers,
    yLabel: 'sales per day',
    bands: [
      {
        name: 'Σ hourly p10 … Σ hourly p90',
        color: COLORS.band,
        lo: days.map((d) => d.p10),
        hi: days.map((d) => d.p90),
      },
    ],
    lines: [
      { name: 'actual', color: COLORS.actual, values: days.map((d) => d.a), width: 2 },
      { name: 'neural p50', color: COLORS.neural, values: days.map((d) => d.p50), width: 2 },
      { name: 'seasonal naive', color: COLORS.naive, values: days.map((d) => d.naive), dashed: true },
      { name: 'mean 4w', color: COLORS.mean4w, values: days.map((d) => d.mean4w), dashed: true },
      {
        name: 'structural base',
        color: COLORS.structural,
        values: days.map((d) => d.structural),
        dashed: true,
      },
      {
        name: 'Holt-Winters',
        color: COLORS.holtWinters,
        values: days.map((d) => d.holtWinters),
        dashed: true,
      },
    ],
  });
  return stack([hourly, daily], 960, 320);
}

function stack(svgs: string[], width: number, height: number): string {
  const inner = svgs.map(
    (s, i) =>
      `<g transform="translate(0 ${i * height})">${s.replace(/^<svg[^>]*>/, '').replace(/<\/svg>$/, '')}</g>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height * svgs.length}" viewBox="0 0 ${width} ${height * svgs.length}" font-family="Helvetica, Arial, sans-serif" font-size="11">\n${inner.join('\n')}\n</svg>\n`;
}

// ------------------------------------------------------------------ data exploration

export interface Regime {
  from: string;
  to: string;
  label: string;
}

/** Irish restaurant restrictions in the shared export's period (public record). */
export const IE_REGIMES_2020: Regime[] = [
  { from: '2020-10-22', to: '2020-12-03', label: 'Level 5: takeaway only' },
  { from: '2020-12-24', to: '2021-01-31', label: 'Level 5 again' },
];

export interface ExplorationStats {
  branchId: string;
  firstDay: string;
  lastDay: string;
  days: number;
  closedDays: number;
  /** Closed days per weekday, Monday first. */
  closedByWeekday: number[];
  totalSales: number;
  totalOrders: number;
}

/**
 * Writes `profile-hour-of-week.svg`, `weekly-totals.svg` and `closed-days.svg` into `outDir`
 * (docs/img for docs/model.md) and returns per-branch statistics.
 */
export async function writeDataExploration(
  series: HourlySeries[],
  outDir: string,
  regimes: Regime[] = IE_REGIMES_2020,
): Promise<ExplorationStats[]> {
  await mkdir(outDir, { recursive: true });
  const palette = ['#1f6fd1', '#d1721f', '#2a9d4a', '#9d2a8a', '#555'];
  const grids = series.map((s) => toLocalGrid(s));
  const stats: ExplorationStats[] = [];

  // Hour-of-week profile: mean sales per local hour of week over open days.
  const profiles = grids.map((g) => {
    const sum = new Float64Array(168);
    const n = new Float64Array(168);
    for (let d = 0; d < g.days; d++) {
      let day = 0;
      for (let h = 0; h < 24; h++) day += g.sales[d * 24 + h] || 0;
      if (!(day > 0)) continue;
      const wd = weekdayOfDayNumber(g.day0 + d);
      for (let h = 0; h < 24; h++) {
        sum[wd * 24 + h]! += g.sales[d * 24 + h] || 0;
        n[wd * 24 + h]!++;
      }
    }
    return Array.from(sum, (v, i) => (n[i]! > 0 ? v / n[i]! : 0));
  });
  const wdNames = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  await writeFile(
    join(outDir, 'profile-hour-of-week.svg'),
    chartSvg({
      title: 'Mean sales per local hour of week (open days only)',
      n: 168,
      xTicks: wdNames.map((label, i) => ({ at: i * 24 + 12, label })),
      markers: wdNames.map((_, i) => ({ at: i * 24 })),
      yLabel: 'EUR per hour',
      lines: series.map((s, i) => ({
        name: s.branchId,
        color: palette[i % palette.length]!,
        values: profiles[i]!,
      })),
    }),
    'utf8',
  );

  // Weekly totals (ISO weeks, local time), regimes shaded.
  const day0 = Math.min(...grids.map((g) => g.day0));
  const dayEnd = Math.max(...grids.map((g) => g.day0 + g.days));
  const monday0 = day0 - weekdayOfDayNumber(day0);
  const weeks = Math.ceil((dayEnd - monday0) / 7);
  const weekly = grids.map((g) => {
    const w = new Array<number>(weeks).fill(0);
    for (let d = 0; d < g.days; d++) {
      const k = Math.floor((g.day0 + d - monday0) / 7);
      for (let h = 0; h < 24; h++) w[k]! += g.sales[d * 24 + h] || 0;
    }
    return w;
  });
  const weekOf = (date: string): number => (dateToDayNumber(date) - monday0) / 7;
  const shades: Shade[] = regimes.map((r) => ({
    from: weekOf(r.from),
    to: Math.min(weeks - 1, weekOf(r.to)),
    label: r.label,
  }));
  await writeFile(
    join(outDir, 'weekly-totals.svg'),
    chartSvg({
      title: 'Weekly sales (ISO weeks, local time); restrictions shaded',
      n: weeks,
      xTicks: Array.from({ length: weeks }, (_, k) => k)
        .filter((k) => k % 4 === 0)
        .map((k) => ({ at: k, label: formatCivilDate(monday0 + 7 * k).slice(2) })),
      yLabel: 'EUR per week',
      shades,
      lines: series.map((s, i) => ({
        name: s.branchId,
        color: palette[i % palette.length]!,
        values: weekly[i]!,
      })),
    }),
    'utf8',
  );

  // Closed days: one row per branch, one cell per day.
  const cell = 4;
  const totalDays = dayEnd - day0;
  const W = 140 + totalDays * cell + 20;
  const rowH = 26;
  const H = 60 + series.length * rowH + 30;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Open (green) and closed (red) days per branch; grey: before the first sale</text>`,
  ];
  series.forEach((s, i) => {
    const g = grids[i]!;
    const y = 40 + i * rowH;
    parts.push(`<text x="10" y="${y + 14}">${s.branchId}</text>`);
    let closed = 0;
    let first = -1;
    const closedByWeekday = new Array<number>(7).fill(0);
    for (let d = 0; d < g.days; d++) {
      let sum = 0;
      for (let h = 0; h < 24; h++) sum += g.sales[d * 24 + h] || 0;
      if (sum > 0 && first < 0) first = d;
      const state = first < 0 ? 'none' : sum > 0 ? 'open' : 'closed';
      if (state === 'closed') {
        closed++;
        closedByWeekday[weekdayOfDayNumber(g.day0 + d)]!++;
      }
      const x = 140 + (g.day0 + d - day0) * cell;
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell - 0.5}" height="18" fill="${state === 'open' ? '#7cc48a' : state === 'closed' ? '#d9534f' : '#ddd'}"/>`,
      );
    }
    stats.push({
      branchId: s.branchId,
      firstDay: formatCivilDate(g.day0 + Math.max(0, first)),
      lastDay: formatCivilDate(g.day0 + g.days - 1),
      days: g.days - Math.max(0, first),
      closedDays: closed,
      closedByWeekday,
      totalSales: s.sales.reduce((a, b) => a + b, 0),
      totalOrders: s.orders.reduce((a, b) => a + b, 0),
    });
  });
  for (let d = 0; d < totalDays; d++) {
    const date = formatCivilDate(day0 + d);
    if (date.endsWith('-01')) {
      const x = 140 + d * cell;
      parts.push(
        `<line x1="${x}" x2="${x}" y1="34" y2="${40 + series.length * rowH}" stroke="#333"/>`,
        `<text x="${x + 2}" y="${52 + series.length * rowH}">${date.slice(0, 7)}</text>`,
      );
    }
  }
  parts.push('</svg>');
  await writeFile(join(outDir, 'closed-days.svg'), parts.join('\n'), 'utf8');
  return stats;
}
