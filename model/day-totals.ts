/**
 * The combined day totals (forecast.ts `combineDayTotals`, HyperParameters.dayTotals 'combined'):
 * a horizon's rows by local day, with Holt-Winters' totals where it has a say, and the plain mean
 * of the day totals that have one. The backtest's `base_and_holt_winters` ablation
 * (structural-baseline.ts) uses the same two without the network.
 */
import type { EtsDailyTotals } from './baselines';
import { ordinaryDay, type OriginRows } from './features';

/** One local day of a horizon: its rows (indices into `OriginRows`) and Holt-Winters' totals, if they count. */
export interface HorizonDay {
  rows: number[];
  /** Sales and orders; undefined where Holt-Winters has no say. */
  ets: readonly [number, number] | undefined;
}

/**
 * The rows of `rows` grouped by local day. Holt-Winters knows no calendar, so it has no say on
 * special days (holidays, eves, trading days, closure-prone days, operators' events), nor on the
 * rest of an intraday origin's day (its total is a whole day's), nor without a fit (`ets` null).
 */
export function horizonDays(
  rows: OriginRows,
  day0: number,
  originSlot: number,
  ets: EtsDailyTotals | null,
): HorizonDay[] {
  const byDay = new Map<number, number[]>();
  rows.slots.forEach((slot, j) => {
    const day = Math.floor(slot / 24);
    const list = byDay.get(day);
    if (list) list.push(j);
    else byDay.set(day, [j]);
  });
  const partialDay = originSlot % 24 === 0 ? -1 : Math.floor(originSlot / 24);
  return [...byDay].map(([day, list]) => {
    const k = day0 + day - (ets?.firstDay ?? 0);
    const says = ets !== null && day !== partialDay && ordinaryDay(rows.rows, list[0]!);
    return { rows: list, ets: says ? ([ets.sales[k]!, ets.orders[k]!] as const) : undefined };
  });
}

/** The combined day total: the plain mean of the day totals that have a say (network null: left out). */
export function combinedDayTotal(network: number | null, base: number, ets: number | undefined): number {
  const members = [network, base, ets].filter((v): v is number => v !== null && v !== undefined);
  return members.reduce((a, b) => a + b, 0) / members.length;
}
