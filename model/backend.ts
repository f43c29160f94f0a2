/**
 * The TensorFlow.js namespace the rest of model/ works with.
 *
 * Normally the native backend: `@tensorflow/tfjs-node`, whose binding is built against
 * libtensorflow by scripts/provision-tensorflow.sh (npm postinstall). When that binding is missing
 * or does not load, the model falls back to `@tensorflow/tfjs` on the WASM backend: it computes
 * the same things, much more slowly. The fallback is never silent: it is logged at error level
 * with its cause and the fix, `backendName()` reports it, and with TILLCAST_REQUIRE_NATIVE_TF=1
 * (tests, CI) there is no fallback at all: loading fails.
 *
 * Use the namespace through `Tf` (the API common to both backends, `typeof @tensorflow/tfjs`);
 * `file://` model URLs work on both (the fallback registers the same on-disk format as
 * tfjs-node: model.json + weights.bin in a directory; load from the model.json path).
 */
import { readFile, stat, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type * as tfjs from '@tensorflow/tfjs';
import { rootLogger, type Logger } from '../lib/logger';

/** The tfjs namespace (both backends provide it; tfjs-node adds `tf.node`, which model/ does not use). */
export type Tf = typeof tfjs;
export type BackendName = 'tensorflow' | 'wasm';

export interface TfBackendInfo {
  backend: BackendName;
  native: boolean;
  /** tfjs-core version. */
  tfjsVersion: string;
  /** Version reported by the loaded libtensorflow (native backend only). */
  libtensorflowVersion?: string;
  /** Why the native backend is not in use (fallback only). */
  fallbackReason?: string;
  /** Time to load and initialise the backend. */
  loadMs: number;
}

export interface InitTfOptions {
  logger?: Logger;
  /** No fallback: fail when the native backend does not load. Default: TILLCAST_REQUIRE_NATIVE_TF=1. */
  requireNative?: boolean;
  /** Loads the native module (tests inject a failing one to exercise the fallback). */
  loadNative?: () => Tf;
}

export const REQUIRE_NATIVE_ENV = 'TILLCAST_REQUIRE_NATIVE_TF';
const RETRY_HINT = 'bash scripts/provision-tensorflow.sh';

/** The native backend is required (no WASM fallback): TILLCAST_REQUIRE_NATIVE_TF=1. */
export function nativeRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[REQUIRE_NATIVE_ENV] === '1';
}

export class NativeBackendUnavailableError extends Error {
  override readonly name = 'NativeBackendUnavailableError';
}

let current: { tf: Tf; info: TfBackendInfo } | undefined;
let loading: Promise<Tf> | undefined;

/**
 * The process-wide tfjs namespace: the first call loads the backend (native, else the loud WASM
 * fallback), later calls return the same namespace. Rejects with NativeBackendUnavailableError
 * when the native backend is required (TILLCAST_REQUIRE_NATIVE_TF=1) and does not load.
 */
export function loadTf(logger?: Logger): Promise<Tf> {
  loading ??= initTf(logger ? { logger } : {}).catch((err: unknown) => {
    loading = undefined; // a later call may retry (e.g. after provisioning)
    throw err;
  });
  return loading;
}

/**
 * Loads and initialises a backend now (not memoised; `loadTf` is the normal entry point).
 * Makes it the current backend of the process.
 */
export async function initTf(options: InitTfOptions = {}): Promise<Tf> {
  const log = options.logger ?? rootLogger.child({ module: 'model/backend' });
  const requireNative = options.requireNative ?? nativeRequired();
  const t0 = performance.now();

  let nativeError: unknown;
  try {
    const tf = (options.loadNative ?? requireTfjsNode)();
    await tf.setBackend('tensorflow');
    await tf.ready();
    if (tf.getBackend() !== 'tensorflow')
      throw new Error(`tfjs-node loaded, but the backend is '${tf.getBackend()}'`);
    const info: TfBackendInfo = {
      backend: 'tensorflow',
      native: true,
      tfjsVersion: tf.version_core,
      libtensorflowVersion: libtensorflowVersion(tf),
      loadMs: Math.round(performance.now() - t0),
    };
    current = { tf, info };
    log.info(
      info,
      `tensorflow backend: native (libtensorflow ${info.libtensorflowVersion ?? '?'}), loaded in ${info.loadMs} ms`,
    );
    return tf;
  } catch (err) {
    nativeError = err;
  }

  const reason = firstLine(nativeError);
  if (requireNative) {
    log.error(
      { err: nativeError },
      `NATIVE TENSORFLOW REQUIRED (${REQUIRE_NATIVE_ENV}=1) BUT UNAVAILABLE: ${reason}. Fix: ${RETRY_HINT}`,
    );
    throw new NativeBackendUnavailableError(
      `The native TensorFlow backend (@tensorflow/tfjs-node) is required (${REQUIRE_NATIVE_ENV}=1) but does not load: ${reason}. Run: ${RETRY_HINT}`,
      { cause: nativeError },
    );
  }

  log.error(
    { err: nativeError, fallback: 'wasm' },
    `NATIVE TENSORFLOW UNAVAILABLE: FALLING BACK TO THE WASM BACKEND (much slower training and forecasts). Cause: ${reason}. Fix: ${RETRY_HINT}`,
  );
  const tf = requireTfjs();
  requireWasmBackend();
  registerFileRouters(tf);
  if (!(await tf.setBackend('wasm')))
    throw new Error('the WASM backend of TensorFlow.js failed to initialise as well');
  await tf.ready();
  const info: TfBackendInfo = {
    backend: 'wasm',
    native: false,
    tfjsVersion: tf.version_core,
    fallbackReason: reason,
    loadMs: Math.round(performance.now() - t0),
  };
  current = { tf, info };
  log.warn(info, `tensorflow backend: wasm (FALLBACK, not native), loaded in ${info.loadMs} ms`);
  return tf;
}

/** The backend in use ('tensorflow' native, 'wasm' fallback), or undefined before loading. */
export function backendName(): string | undefined {
  return current?.tf.getBackend();
}

/** What was loaded, or undefined before loading. */
export function backendInfo(): TfBackendInfo | undefined {
  return current && { ...current.info };
}

/**
 * Throws unless the native backend is the one in use (tests and CI call it; with
 * TILLCAST_REQUIRE_NATIVE_TF=1 `loadTf` already refuses to fall back).
 */
export function assertNativeBackend(tf: Tf | undefined = current?.tf): void {
  const backend = tf?.getBackend();
  if (backend !== 'tensorflow') {
    const why = current?.info.fallbackReason ? ` (native load failed: ${current.info.fallbackReason})` : '';
    throw new NativeBackendUnavailableError(
      `Expected the native TensorFlow backend 'tensorflow', but it is ${backend === undefined ? 'not loaded' : `'${backend}'`}${why}. Run: ${RETRY_HINT}`,
    );
  }
}

// --- module loading ---------------------------------------------------------------------------
// `require` on purpose: these modules are loaded on demand inside try/catch (a missing native
// binding must select the fallback, not fail the import of model/).

function requireTfjsNode(): Tf {
  // Fewer libtensorflow INFO lines at start-up (some are printed before it reads this); warnings stay.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@tensorflow/tfjs-node') as Tf;
}

function requireTfjs(): Tf {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@tensorflow/tfjs') as Tf;
}

function requireWasmBackend(): void {
  // Registers the 'wasm' backend with tfjs-core.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@tensorflow/tfjs-backend-wasm');
}

function libtensorflowVersion(tf: Tf): string | undefined {
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: unknown } }).binding;
  return typeof binding?.TF_Version === 'string' ? binding.TF_Version : undefined;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n', 1)[0]?.trim() || 'unknown error';
}

// --- file:// for the fallback -------------------------------------------------------------------
// tfjs-node registers `file://` save/load handlers; plain tfjs has none in Node. The fallback
// registers handlers with tfjs-node's format and semantics (save: a directory with model.json and
// weights.bin; load: the path of model.json), so models move freely between the two backends.

const FILE_SCHEME = 'file://';
let fileRoutersRegistered = false;

function registerFileRouters(tf: Tf): void {
  // Not twice, and not over tfjs-node's own (registered when it loaded far enough).
  if (fileRoutersRegistered || tf.io.getSaveHandlers(`${FILE_SCHEME}/`).length > 0) return;
  fileRoutersRegistered = true;
  const route =
    (make: (path: string) => tfjs.io.IOHandler) =>
    (url: string | string[]): tfjs.io.IOHandler =>
      (typeof url === 'string' && url.startsWith(FILE_SCHEME)
        ? make(resolve(url.slice(FILE_SCHEME.length)))
        : null) as tfjs.io.IOHandler;
  tf.io.registerSaveRouter(route((dir) => ({ save: (artifacts) => saveToDirectory(tf, dir, artifacts) })));
  tf.io.registerLoadRouter(route((modelJsonPath) => ({ load: () => loadFromFile(tf, modelJsonPath) })));
}

async function saveToDirectory(
  tf: Tf,
  dir: string,
  artifacts: tfjs.io.ModelArtifacts,
): Promise<tfjs.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer)
    throw new Error('file:// saving of a binary model topology is not supported');
  await mkdir(dir, { recursive: true });
  const modelJson: tfjs.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as object,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
  };
  if (artifacts.trainingConfig != null) modelJson.trainingConfig = artifacts.trainingConfig;
  if (artifacts.signature != null) modelJson.signature = artifacts.signature;
  if (artifacts.userDefinedMetadata != null) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
  await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson), 'utf8');
  await writeFile(
    join(dir, 'weights.bin'),
    Buffer.from(tf.io.CompositeArrayBuffer.join(artifacts.weightData)),
  );
  return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
}

async function loadFromFile(tf: Tf, modelJsonPath: string): Promise<tfjs.io.ModelArtifacts> {
  if (!(await stat(modelJsonPath)).isFile()) {
    throw new Error(`file:// loading needs the path of model.json, not a directory: ${modelJsonPath}`);
  }
  const modelJson = JSON.parse(await readFile(modelJsonPath, 'utf8')) as tfjs.io.ModelJSON;
  return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const specs: tfjs.io.WeightsManifestEntry[] = [];
    const buffers: Buffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const p of group.paths) buffers.push(await readFile(join(dirname(modelJsonPath), p)));
    }
    const all = Buffer.concat(buffers);
    return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
  });
}
