/**
 * The model a forecaster member serves with, and its loaded engine. The registry's current model
 * is the one to use: it is loaded at start, after this member promotes one, and at every poll
 * (FORECASTER_MODEL_POLL_MS), so a model promoted by another member or by an operator is in use
 * on every member within one poll period. Switching is serialised; a model that cannot be loaded
 * (e.g. MODELS_DIR is not shared with the member that trained it) leaves the one in use serving.
 */
import type { Logger } from '../../lib/logger';
import { Poller } from '../../lib/poller';
import type { EngineLoader, ForecastEngine } from './engine';
import type { ForecastStore, ModelRecord } from '../../clickhouse/store/forecast-store';
import * as metrics from './metrics';

export interface ModelInUseOptions {
  store: Pick<ForecastStore, 'currentModel'>;
  loadEngine: EngineLoader;
  logger: Logger;
  member: string;
  /** Called after a switch to a new current model (not at start): refresh every branch with it. */
  onSwitched: () => Promise<void>;
}

/** Publishes a model's identity and holdout WAPE as metrics. */
function reportModel(record: ModelRecord): void {
  metrics.modelInfo.reset();
  metrics.modelInfo.set({ version: record.version, backend: record.backend }, 1);
  const m = record.metrics as {
    sales?: { hourly?: number; daily?: number };
    orders?: { hourly?: number; daily?: number };
  } | null;
  for (const target of ['sales', 'orders'] as const) {
    for (const grain of ['hourly', 'daily'] as const) {
      const v = m?.[target]?.[grain];
      if (typeof v === 'number') metrics.modelWape.set({ target, grain }, v);
    }
  }
}

export class ModelInUse {
  /** The engine of `model`; both undefined until a model is loaded. */
  engine: ForecastEngine | undefined;
  model: ModelRecord | undefined;
  private readonly log: Logger;
  private adopting: Promise<void> = Promise.resolve();
  private unloadable = '';
  private poller: Poller | undefined;
  private stopped = false;

  constructor(private readonly opts: ModelInUseOptions) {
    this.log = opts.logger.child({ module: 'forecaster' });
  }

  private async use(record: ModelRecord): Promise<void> {
    const next = await this.opts.loadEngine(record);
    const previous = this.engine;
    this.engine = next;
    this.model = record;
    previous?.dispose();
    reportModel(record);
    this.log.info(
      { version: record.version, backend: record.backend, member: this.opts.member },
      'model in use',
    );
  }

  /** At start: the registry's current model, if any and loadable (otherwise a new one is trained). */
  async loadCurrent(): Promise<void> {
    const current = await this.opts.store.currentModel();
    if (!current) return;
    try {
      await this.use(current);
    } catch (err) {
      this.log.error({ err, version: current.version }, 'cannot load the current model; training a new one');
    }
  }

  /** Switches to the registry's current model if it is not the one in use (serialised). */
  adoptCurrent(): Promise<void> {
    this.adopting = this.adopting
      .then(() => this.switchToCurrent())
      .catch((err: unknown) => this.log.error({ err }, 'cannot check the registry for a new model'));
    return this.adopting;
  }

  private async switchToCurrent(): Promise<void> {
    if (this.stopped) return;
    const current = await this.opts.store.currentModel();
    if (!current || current.version === this.model?.version) return;
    try {
      await this.use(current);
    } catch (err) {
      // E.g. MODELS_DIR is not shared with the member that trained it: tried again at every poll.
      if (this.unloadable !== current.version)
        this.log.error(
          { err, version: current.version },
          'cannot load the current model; keeping the one in use',
        );
      this.unloadable = current.version;
      return;
    }
    await this.opts.onSwitched();
  }

  /** Polls the registry: a model promoted by another member (or by an operator) is picked up within one poll. */
  startPolling(intervalMs: number): void {
    this.poller = new Poller(this.opts.logger);
    this.poller.add({ name: 'current model', everyMs: intervalMs, run: () => this.adoptCurrent() });
    this.poller.start();
  }

  /** No more polls or switches (a switch in progress finishes: close waits for it). */
  stopPolling(): void {
    this.stopped = true;
    void this.poller?.stop();
  }

  async close(): Promise<void> {
    await this.adopting;
    this.engine?.dispose();
  }
}
