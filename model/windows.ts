/**
 * Training windows: every local midnight of every branch's history is a forecast origin (plus,
 * optionally, one seeded intraday origin per day for the "rest of today" refreshes), and each
 * target hour of its horizon that is known and before the cutoff is one training row.
 *
 * Honesty: rows are built from the history strictly before `cutoff` only (the grid is cut there),
 * features read only slots before their own origin (features.ts), and targets at or after the
 * cutoff do not exist. A window whose horizon crosses the cutoff keeps its earlier days, so the
 * freshest regime (e.g. a lockdown that started last week) is in the training data.
 *
 * Operators' calendar (model/branch-calendar.ts): days marked closed are closed days for the
 * features (their slots 0, whatever was sold) and give no targets, so a refit week does not teach
 * the network a false low; event days are special (trading) days of the rows, as in forecasts.
 */
import { localSlotOf } from '../lib/time/wall-clock';
import { branchDays } from './branch-calendar';
import { specialDayIndex, withBranchEvents } from './calendar';
import { withClosedDays } from './calendar-plan';
import { FEATURE_COUNT, MAX_HORIZON_DAYS, originRows, structuralBase } from './features';
import { toLocalGrid } from './local-grid';
import { Rng } from './rng';
import { seriesEnd, sliceSeries, type HourlySeries } from './series';

export interface WindowOptions {
  /** Only data before this UTC instant is used (default: everything). */
  cutoff?: number;
  /** Only origins at or after this instant (e.g. recent data for fine-tuning). */
  from?: number;
  /** Recency weighting: a window this many days older weighs half as much. */
  halfLifeDays: number;
  /**
   * Also weigh each window's rows by the branch's sales level at that window (its scale). The
   * targets are scale-free, so without it an hour of a quiet branch in lockdown counts as much as
   * one of a busy branch on a Saturday; with it the loss counts euros, as WAPE does.
   */
  levelWeighting?: boolean;
  /** Add one intraday origin per day (horizon: rest of that day and the next). */
  intraday: boolean;
  /** Minimum days of history before the first origin. */
  minHistoryDays: number;
  /** Share of target hours kept (seeded sample; windows overlap heavily, so little is lost). */
  rowSampling: number;
  seed: number;
}

export interface TrainingRows {
  x: Float32Array;
  /** n × 6: sales ×3, orders ×3 (scale-free residuals around the structural base), one per quantile output. */
  y: Float32Array;
  weight: Float32Array;
  /** Training window of each row (rows of a window are contiguous). */
  window: Int32Array;
  /** Local day of each row's target within its window (0 = origin day). */
  horizonDay: Int32Array;
  n: number;
  windows: number;
  /** UTC range of the data used. */
  dataFrom: number;
  dataTo: number;
}

export function buildTrainingRows(series: HourlySeries[], opts: WindowOptions): TrainingRows {
  const rng = new Rng(opts.seed);
  const xs: Float32Array[] = [];
  const ys: number[] = [];
  const ws: number[] = [];
  const win: number[] = [];
  const hday: number[] = [];
  let windows = 0;
  let dataFrom = Infinity;
  let dataTo = -Infinity;
  for (const full of series) {
    const s = opts.cutoff === undefined ? full : sliceSeries(full, full.start, opts.cutoff);
    if (s.sales.length === 0) continue;
    dataFrom = Math.min(dataFrom, s.start);
    dataTo = Math.max(dataTo, seriesEnd(s));
    const marked = branchDays(s.calendar);
    const closed: ReadonlySet<number> = marked?.closed ?? new Set<number>();
    const grid = marked ? withClosedDays(toLocalGrid(s), closed) : toLocalGrid(s);
    const cal = marked
      ? withBranchEvents(specialDayIndex(s.country), marked.events.keys())
      : specialDayIndex(s.country);
    // Slot of the first hour at or after the cutoff: nothing there or later is a target.
    const lastDay = grid.days - 1;
    const fromDay = opts.from === undefined ? 0 : localSlotOf(s.timezone, opts.from).day - grid.day0;
    const endDay = localSlotOf(s.timezone, seriesEnd(s) - 1).day - grid.day0;
    for (let g = Math.max(opts.minHistoryDays, fromDay); g <= lastDay; g++) {
      const origins: number[] = [g * 24];
      if (opts.intraday) origins.push(g * 24 + 11 + rng.int(9));
      for (const originSlot of origins) {
        const intraday = originSlot % 24 !== 0;
        const maxDay = Math.min(intraday ? 1 : MAX_HORIZON_DAYS, endDay - g);
        const r = originRows(grid, cal, originSlot, MAX_HORIZON_DAYS, maxDay);
        if (!r || r.slots.length === 0) continue;
        const age = lastDay - g;
        const w = Math.pow(0.5, age / opts.halfLifeDays) * (opts.levelWeighting ? r.scaleSales : 1);
        const keep: number[] = [];
        for (let i = 0; i < r.slots.length; i++) {
          const slot = r.slots[i]!;
          const sv = grid.sales[slot]!;
          const ov = grid.orders[slot]!;
          if (Number.isNaN(sv) || Number.isNaN(ov)) continue;
          if (opts.rowSampling < 1 && rng.next() >= opts.rowSampling) continue;
          // After the sampling draw: marking a closure leaves every other row's sample as it was.
          if (closed.has(grid.day0 + Math.floor(slot / 24))) continue;
          keep.push(i);
          // Targets: the residual around the structural base (scale-free).
          const a = Math.min(sv / r.scaleSales, 30) - structuralBase(r.rows, i, 0);
          const b = Math.min(ov / r.scaleOrders, 30) - structuralBase(r.rows, i, 1);
          ys.push(a, a, a, b, b, b);
          ws.push(w);
          win.push(windows);
          hday.push(r.horizonDay[i]!);
        }
        if (keep.length === 0) continue;
        windows++;
        if (keep.length === r.slots.length) xs.push(r.rows);
        else {
          const sub = new Float32Array(keep.length * FEATURE_COUNT);
          keep.forEach((i, j) =>
            sub.set(r.rows.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT), j * FEATURE_COUNT),
          );
          xs.push(sub);
        }
      }
    }
  }
  const n = ws.length;
  const x = new Float32Array(n * FEATURE_COUNT);
  let off = 0;
  for (const a of xs) {
    x.set(a, off);
    off += a.length;
  }
  const weight = Float32Array.from(ws);
  const meanW = n > 0 ? weight.reduce((a, b) => a + b, 0) / n : 1;
  for (let i = 0; i < n; i++) weight[i] = weight[i]! / meanW;
  return {
    x,
    y: Float32Array.from(ys),
    weight,
    window: Int32Array.from(win),
    horizonDay: Int32Array.from(hday),
    n,
    windows,
    dataFrom,
    dataTo,
  };
}
