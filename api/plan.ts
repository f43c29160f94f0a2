/**
 * The plan of /predict (issue 16): the manager's override of a day spread over its hours, beside
 * the model's forecast. Pure integer arithmetic (cents, thousandths of an order), so the hours of
 * a day add up to the day's plan exactly, and weeks and totals are sums of days.
 *
 * - A day with an override of a measure: its plan is the override; the hours get it in proportion
 *   to the model's hourly values of that day as /predict shows them (the p50 of forecast hours,
 *   the actual of closed ones; negative values and missing hours weigh 0). When every weight is 0
 *   (a day forecast at 0, e.g. a planned closure), the override is spread evenly over the day's
 *   hours: a manager who expects sales on such a day says the model is wrong about it, and no
 *   hour of it is more likely than another by the model's account.
 * - Largest remainder: each hour gets the floor of its exact share, and the units left go to the
 *   hours with the largest fractional parts (ties: the earlier hour), so the sum is exact.
 * - Without an override of a measure, the day's plan of that measure is the model's value (null
 *   when the model's is), and so is each hour's.
 */

/** An override in force for a day, as /predict uses it (integer units; null: not overridden). */
export interface PlannedOverride {
  readonly salesCents: number | null;
  readonly orders: number | null;
  readonly reason: string;
  /** Epoch ms. */
  readonly setAt: number;
  readonly keyId: string;
  readonly keyName: string;
}

/**
 * `total` (a non-negative integer) split over the weights in proportion, as integers adding up to
 * `total` exactly; evenly when no weight is positive. Non-positive and non-finite weights count 0.
 */
export function spread(total: number, weights: readonly number[]): number[] {
  const n = weights.length;
  if (n === 0) return [];
  const w = weights.map((x) => (Number.isFinite(x) && x > 0 ? x : 0));
  let sum = 0;
  for (const x of w) sum += x;
  const share = sum > 0 ? w.map((x) => (total * x) / sum) : w.map(() => total / n);
  const out = share.map((s) => Math.floor(s));
  let left = total;
  for (const x of out) left -= x;
  if (left > 0) {
    const order = share
      .map((s, i) => ({ i, frac: s - Math.floor(s) }))
      .sort((a, b) => b.frac - a.frac || a.i - b.i);
    for (let k = 0; k < left; k++) out[order[k % n]!.i]! += 1;
  }
  return out;
}
