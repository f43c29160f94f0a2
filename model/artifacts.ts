/**
 * Model artifacts: a folder with the network in tfjs's `file://` format (model.json +
 * weights.bin, written by the backend's handler) and `meta.json` (format version, training data
 * range, features, hyper-parameters, backend, metrics).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadTf } from './backend';
import { FEATURE_NAMES } from './features';
import { MODEL_FORMAT_VERSION, type ForecastModel, type ModelMeta } from './forecast-types';

export const META_FILE = 'meta.json';

export async function saveModel(model: ForecastModel, dir: string): Promise<void> {
  const abs = resolve(dir);
  await mkdir(abs, { recursive: true });
  await model.net.save(`file://${abs}`);
  await writeFile(join(abs, META_FILE), `${JSON.stringify(model.meta, null, 2)}\n`, 'utf8');
}

/** Loads a saved model; refuses one whose format or feature list differs from this code's. */
export async function loadModel(dir: string): Promise<ForecastModel> {
  const abs = resolve(dir);
  const meta = JSON.parse(await readFile(join(abs, META_FILE), 'utf8')) as ModelMeta;
  if (meta.formatVersion !== MODEL_FORMAT_VERSION)
    throw new Error(`model at ${abs}: format ${meta.formatVersion}, this code reads ${MODEL_FORMAT_VERSION}`);
  if (JSON.stringify(meta.features) !== JSON.stringify(FEATURE_NAMES))
    throw new Error(`model at ${abs}: its features differ from this code's (retrain it)`);
  const tf = await loadTf();
  const net = await tf.loadLayersModel(`file://${join(abs, 'model.json')}`);
  return { net, meta };
}

/** Attaches accuracy figures (e.g. a backtest summary) to the model's meta. */
export function withMetrics(model: ForecastModel, metrics: unknown): ForecastModel {
  return { net: model.net, meta: { ...model.meta, metrics } };
}
