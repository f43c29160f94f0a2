/**
 * The combined day total (forecast.ts `combineDayTotals`, HyperParameters.dayTotals 'combined'):
 * the plain mean of the day totals that have a say on that day. Holt-Winters (`ets`) has none on
 * special days, on the rest of an intraday origin's day, or without a fit (undefined then). The
 * backtest's `base_and_holt_winters` ablation combines the same way without the network (null).
 */
export function combinedDayTotal(network: number | null, base: number, ets: number | undefined): number {
  const members = [network, base, ets].filter((v): v is number => v !== null && v !== undefined);
  return members.reduce((a, b) => a + b, 0) / members.length;
}
