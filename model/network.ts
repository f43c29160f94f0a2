/**
 * The network: an ensemble of small "wide & deep" quantile regressors in one tfjs LayersModel.
 *
 * Each member maps the scale-free feature row of one target hour (features.ts) to 6 outputs
 * (sales p10/p50/p90, orders p10/p50/p90, in units of the branch's recent level) as
 *   linear(features) + MLP(features),
 * the linear ("wide") path can reproduce the structural base (the level-adjusted seasonal
 * profile, the lags) directly, the MLP learns the corrections (closed days, special days,
 * regime changes, horizon). Members differ only by their seeds; their outputs are side by side
 * ([batch, members × 6]) and averaged after training (ensembling over seeds). Every initialiser
 * is seeded: the same seed builds the same weights.
 */
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs';
import type { Tf } from './backend';
import { OUTPUTS } from './quantile-loss';

export interface NetworkConfig {
  inputs: number;
  members: number;
  hidden: number[];
  dropout: number;
  seed: number;
}

export function buildNetwork(tf: Tf, cfg: NetworkConfig): LayersModel {
  const input = tf.input({ shape: [cfg.inputs], name: 'features' });
  const outputs: SymbolicTensor[] = [];
  for (let m = 0; m < cfg.members; m++) {
    const seed = (k: number): number => cfg.seed * 1000 + m * 10 + k;
    let x: SymbolicTensor = input;
    cfg.hidden.forEach((units, k) => {
      x = tf.layers
        .dense({
          units,
          activation: 'relu',
          kernelInitializer: tf.initializers.heNormal({ seed: seed(k) }),
          name: `m${m}_hidden${k}`,
        })
        .apply(x) as SymbolicTensor;
      if (cfg.dropout > 0)
        x = tf.layers
          .dropout({ rate: cfg.dropout, seed: seed(k + 5), name: `m${m}_dropout${k}` })
          .apply(x) as SymbolicTensor;
    });
    const deep = tf.layers
      .dense({
        units: OUTPUTS,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed(8) }),
        name: `m${m}_deep_out`,
      })
      .apply(x) as SymbolicTensor;
    const wide = tf.layers
      .dense({
        units: OUTPUTS,
        kernelInitializer: tf.initializers.zeros(),
        name: `m${m}_wide_out`,
      })
      .apply(input) as SymbolicTensor;
    outputs.push(tf.layers.add({ name: `m${m}_out` }).apply([deep, wide]) as SymbolicTensor);
  }
  const output =
    outputs.length === 1
      ? outputs[0]!
      : (tf.layers.concatenate({ axis: 1, name: 'members' }).apply(outputs) as SymbolicTensor);
  return tf.model({ inputs: input, outputs: output, name: 'tillcast_quantile_ensemble' });
}

/** Names of the kernels that get L2 regularisation (all dense kernels). */
export function isKernel(name: string): boolean {
  return /kernel/.test(name);
}
