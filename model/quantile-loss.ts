/**
 * Pinball (quantile) loss: for quantile q and error e = y − ŷ, max(q·e, (q − 1)·e). Its minimiser
 * is the q-quantile of y, so one network output per quantile learns p10, p50 and p90.
 */
import type { Scalar, Tensor, Tensor1D } from '@tensorflow/tfjs';
import type { Tf } from './backend';

/** The quantiles of every output group, in output order. */
export const QUANTILES = [0.1, 0.5, 0.9] as const;
/** Output columns: sales p10/p50/p90, orders p10/p50/p90. */
export const OUTPUT_QUANTILES: readonly number[] = [...QUANTILES, ...QUANTILES];
export const OUTPUTS = OUTPUT_QUANTILES.length;

/** Scalar pinball loss of one value (reference implementation, tests). */
export function pinball(q: number, actual: number, predicted: number): number {
  const e = actual - predicted;
  return Math.max(q * e, (q - 1) * e);
}

/**
 * Weighted mean pinball loss.
 * - yTrue: [batch, 6] targets (sales ×3 is the same value, etc.: see `tileTargets`);
 * - yPred: [batch, members × 6] (an ensemble's members side by side, each trained on its own
 *   loss: the sum keeps their gradients independent);
 * - weights: [batch] row weights (recency), or undefined.
 */
export function pinballLoss(tf: Tf, yTrue: Tensor, yPred: Tensor, weights?: Tensor): Scalar {
  return tf.tidy(() => {
    const members = yPred.shape[1]! / OUTPUTS;
    const q = tf.tensor1d(Array.from({ length: members }, () => OUTPUT_QUANTILES).flat());
    const target = members > 1 ? tf.tile(yTrue, [1, members]) : yTrue;
    const e = tf.sub(target, yPred);
    const loss = tf.maximum(tf.mul(q, e), tf.mul(tf.sub(q, 1), e)); // [batch, members × 6]
    const perRow = tf.sum(loss, 1);
    if (!weights) return tf.div(tf.mean(perRow), members);
    return tf.div(tf.div(tf.sum(tf.mul(perRow, weights)), tf.sum(weights)), members);
  });
}

/**
 * Daily-total term: per group of rows (one window's target hours of one local day), the absolute
 * error of the summed p50 outputs, weighted, per row. The pinball loss alone makes each hour's
 * p50 a median, and hourly medians of skewed demand add up to less than the day's total; this
 * term keeps the daily (and so weekly) sums of p50 unbiased.
 * - groups: [batch] int32 group ids in 0..numGroups-1.
 */
export function dailyTotalLoss(
  tf: Tf,
  yTrue: Tensor,
  yPred: Tensor,
  weights: Tensor,
  groups: Tensor,
  numGroups: number,
): Scalar {
  return tf.tidy(() => {
    const members = yPred.shape[1]! / OUTPUTS;
    // p50 columns of every member: sales at 1, orders at 4 (per member block of 6).
    const cols: number[] = [];
    for (let m = 0; m < members; m++) cols.push(m * OUTPUTS + 1, m * OUTPUTS + 4);
    const p50 = tf.gather(yPred, tf.tensor1d(cols, 'int32'), 1); // [batch, members × 2]
    const truth = tf.tile(tf.gather(yTrue, tf.tensor1d([1, 4], 'int32'), 1), [1, members]);
    const err = tf.mul(tf.sub(p50, truth), tf.expandDims(weights, 1));
    const perGroup = tf.unsortedSegmentSum(err, groups as Tensor1D, numGroups);
    return tf.div(tf.div(tf.sum(tf.abs(perGroup)), tf.sum(weights)), members);
  });
}
