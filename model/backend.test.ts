/**
 * The native TensorFlow backend really works: it is the one in use, it trains a tiny model and
 * a model saved with file:// loads back with identical predictions. The fallback is exercised
 * last (it switches this file's tfjs engine to WASM) with an injected native-load failure.
 */
import './testing/node-realm';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import pino from 'pino';
import {
  assertNativeBackend,
  backendInfo,
  backendName,
  initTf,
  loadTf,
  NativeBackendUnavailableError,
  type Tf,
} from './backend';

/** A pino logger whose JSON lines are kept for assertions. */
function captureLogger(): { logger: pino.Logger; lines: () => Array<{ level: number; msg: string }> } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  return {
    logger,
    lines: () =>
      out
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { level: number; msg: string }),
  };
}

/** y = 2x + 1 on a fixed grid, and a 1-unit Dense model with seeded initialisers. */
function linearModel(tf: Tf): LayersModel {
  const model = tf.sequential();
  model.add(
    tf.layers.dense({
      units: 1,
      inputShape: [1],
      kernelInitializer: tf.initializers.glorotUniform({ seed: 42 }),
      biasInitializer: 'zeros',
    }),
  );
  model.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
  return model;
}

const xs = Array.from({ length: 21 }, (_, i) => -1 + i * 0.1);
const ys = xs.map((x) => 2 * x + 1);

let tf: Tf;
const tmpDirs: string[] = [];

beforeAll(async () => {
  tf = await loadTf();
});

afterAll(async () => {
  await Promise.all(tmpDirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('native TensorFlow backend', () => {
  test('tfjs-node is loaded with the tensorflow backend', () => {
    expect(tf.getBackend()).toBe('tensorflow');
    expect(backendName()).toBe('tensorflow');
    expect(backendInfo()).toMatchObject({
      backend: 'tensorflow',
      native: true,
      libtensorflowVersion: '2.21.0',
    });
    expect(() => assertNativeBackend()).not.toThrow();
  });

  test('loadTf returns the same namespace every time', async () => {
    await expect(loadTf()).resolves.toBe(tf);
  });

  test('learns y = 2x + 1 and survives a file:// save and load', async () => {
    const model = linearModel(tf);
    const x = tf.tensor2d(xs, [xs.length, 1]);
    const y = tf.tensor2d(ys, [ys.length, 1]);
    const history = await model.fit(x, y, { epochs: 300, batchSize: xs.length, shuffle: false, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses[0]!).toBeGreaterThan(0.1);
    expect(losses[losses.length - 1]!).toBeLessThan(1e-3);

    const probe = tf.tensor2d([3, -2.5, 0.25], [3, 1]);
    const predicted = Array.from((model.predict(probe) as Tensor).dataSync());
    [7, -4, 1.5].forEach((want, i) => expect(predicted[i]!).toBeCloseTo(want, 2));

    const dir = await mkdtemp(join(tmpdir(), 'tillcast-backend-'));
    tmpDirs.push(dir);
    await model.save(`file://${dir}`);
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await tf.loadLayersModel(`file://${join(dir, 'model.json')}`);
    const reloaded = Array.from((loaded.predict(probe) as Tensor).dataSync());
    expect(reloaded).toEqual(predicted);
    tf.dispose([x, y, probe]);
  });
});

describe('fallback (injected native-load failure; runs last: it switches this file to WASM)', () => {
  const failingNative = (): Tf => {
    throw new Error(
      'The Node.js native addon module (tfjs_binding.node) can not be found (injected by the test)',
    );
  };

  test('with the native backend required, there is no fallback: loading fails', async () => {
    const { logger, lines } = captureLogger();
    await expect(initTf({ logger, requireNative: true, loadNative: failingNative })).rejects.toBeInstanceOf(
      NativeBackendUnavailableError,
    );
    expect(lines().some((l) => l.level >= 50 && l.msg.includes('REQUIRED'))).toBe(true);
    expect(tf.getBackend()).toBe('tensorflow');
  });

  test('otherwise falls back to WASM loudly, still computes and reads/writes file:// models', async () => {
    const { logger, lines } = captureLogger();
    const wasmTf = await initTf({ logger, requireNative: false, loadNative: failingNative });
    expect(wasmTf.getBackend()).toBe('wasm');
    expect(backendName()).toBe('wasm');
    expect(backendInfo()).toMatchObject({ backend: 'wasm', native: false });
    expect(backendInfo()?.fallbackReason).toContain('tfjs_binding.node');
    const logged = lines();
    expect(logged.some((l) => l.level >= 50 && l.msg.includes('FALLING BACK TO THE WASM BACKEND'))).toBe(
      true,
    );
    expect(() => assertNativeBackend()).toThrow(NativeBackendUnavailableError);

    expect(wasmTf.tensor1d([1, 2, 3]).square().sum().dataSync()[0]).toBe(14);
    const model = linearModel(wasmTf);
    const probe = wasmTf.tensor2d([3], [1, 1]);
    const before = Array.from((model.predict(probe) as Tensor).dataSync());
    const dir = await mkdtemp(join(tmpdir(), 'tillcast-backend-wasm-'));
    tmpDirs.push(dir);
    await model.save(`file://${dir}`);
    const loaded = await wasmTf.loadLayersModel(`file://${join(dir, 'model.json')}`);
    expect(Array.from((loaded.predict(probe) as Tensor).dataSync())).toEqual(before);
  });
});
