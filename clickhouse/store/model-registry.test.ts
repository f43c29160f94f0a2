/**
 * The registry's current-model rule under races, on the real engine (a fresh embedded database):
 * promotions carry the data watermark of their model, and the current model is the promotion with
 * the greatest (data watermark, manual, time if manual, version) — so the order in which racing
 * promotions land does not matter, a trainer that finishes late on older data cannot demote a newer
 * model, and an operator's rollback outranks every trainer on the data known when it was made.
 */
import { createClickHouse, type ClickHouse } from '../client';
import { createLogger } from '../../lib/logger';
import { migrate } from '../migrate';
import { testConfig } from '../../test/test-config';
import { ModelRegistry, UnknownModelError, type ModelRecord } from './model-registry';

jest.setTimeout(60_000);

const HOUR = 3_600_000;
const D1 = Date.UTC(2024, 1, 10);
const D2 = Date.UTC(2024, 1, 17);
const D3 = Date.UTC(2024, 1, 18);
const logger = createLogger('silent');
let ch: ClickHouse;

const record = (version: string, kind = 'full'): ModelRecord => ({
  version,
  created_at: Date.UTC(2024, 1, 20),
  kind,
  parent_version: '',
  train_from: Date.UTC(2024, 0, 1),
  train_through: D1 - HOUR,
  features: {},
  hyperparams: {},
  metrics: {},
  backend: 'tensorflow',
  artifact_path: `/registry-only/${version}`,
});

/** A store on a database of its own, with `models` registered as (version, data watermark). */
async function registry(models: [string, number][]): Promise<ModelRegistry> {
  const config = testConfig();
  ch = createClickHouse(config, logger);
  await migrate(ch, logger);
  const store = new ModelRegistry(ch);
  for (const [version, wm] of models)
    await store.registerModel(record(version), {
      decisionId: `full:${new Date(wm).toISOString()}`,
      dataWatermark: wm,
    });
  return store;
}

afterEach(async () => {
  await ch.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
  await ch.close();
});

const current = async (store: ModelRegistry) => (await store.currentModel())?.version;

describe('model registry: promotion races', () => {
  it('a trainer on older data that promotes last does not demote the model on newer data', async () => {
    const store = await registry([
      ['m-old', D1],
      ['m-new', D2],
    ]);
    await store.promote('m-new', 'initial', 'fresh trainer');
    await store.promote('m-old', 'promote', 'stale trainer, landing last');
    expect(await current(store)).toBe('m-new');
    // Every member reads the same answer, through its own client.
    const other = createClickHouse({ ...testConfig(), CLICKHOUSE_DATABASE: ch.database }, logger);
    try {
      expect((await new ModelRegistry(other).currentModel())?.version).toBe('m-new');
    } finally {
      await other.close();
    }
    expect((await store.listModels()).filter((m) => m.current).map((m) => m.version)).toEqual(['m-new']);
  });

  it('two promotions sent at once end the same whichever lands first; equal data: the greater version', async () => {
    const store = await registry([
      ['m-a', D2],
      ['m-b', D2],
      ['m-old', D1],
    ]);
    await Promise.all([
      store.promote('m-b', 'promote', 'trainer 1'),
      store.promote('m-old', 'promote', 'zombie'),
      store.promote('m-a', 'promote', 'trainer 2'),
    ]);
    expect(await current(store)).toBe('m-b');
    await store.promote('m-a', 'promote', 'trainer 2 again, later');
    expect(await current(store)).toBe('m-b');
    expect((await store.promotions()).map((p) => p.data_watermark).sort()).toEqual([D1, D2, D2, D2]);
  });

  it('a manual rollback wins over trainers on the data known then; a model on newer data takes over again', async () => {
    const store = await registry([
      ['m-1', D1],
      ['m-2', D2],
      ['m-2b', D2],
      ['m-3', D3],
    ]);
    await store.promote('m-1', 'initial', 'first');
    await store.promote('m-2', 'promote', 'daily');
    expect(await current(store)).toBe('m-2');

    // m-3 (on D3 data) is registered but not promoted yet: the rollback outranks it too.
    expect(await store.rollback()).toEqual({ from: 'm-2', to: 'm-1' });
    expect(await current(store)).toBe('m-1');
    const [rb] = await store.promotions();
    expect(rb).toMatchObject({ version: 'm-1', action: 'rollback', manual: true, data_watermark: D3 });

    // Racing trainers that finish after the rollback, on data up to then: m-1 stays current.
    await Promise.all([
      store.promote('m-2', 'promote', 'zombie'),
      store.promote('m-2b', 'promote', 'same decision'),
      store.promote('m-3', 'promote', 'in flight'),
    ]);
    expect(await current(store)).toBe('m-1');

    // A model trained on data that closed after the rollback wins as usual.
    await store.registerModel(record('m-4'), { decisionId: 'finetune:x', dataWatermark: D3 + HOUR });
    await store.promote('m-4', 'promote', 'next day');
    expect(await current(store)).toBe('m-4');

    // A later manual promote beats everything so far, including an earlier manual action.
    await store.promote('m-2', 'promote', 'manual', { manual: true });
    expect(await current(store)).toBe('m-2');
    await expect(store.promote('m-none', 'promote', 'manual', { manual: true })).rejects.toBeInstanceOf(
      UnknownModelError,
    );
  });

  it('a decision is satisfied by a model registered for it or trained on data up to its watermark', async () => {
    const store = await registry([['m-1', D2]]);
    await store.registerModel(record('m-ft', 'finetune'), { decisionId: 'finetune:y', dataWatermark: D3 });
    expect(await store.modelSatisfying({ id: 'full:z', kind: 'full', watermark: D2 })).toBe('m-1');
    expect(await store.modelSatisfying({ id: 'finetune:w', kind: 'finetune', watermark: D3 })).toBe('m-ft');
    // A full decision is not answered by a fine-tune on the same data...
    expect(await store.modelSatisfying({ id: 'full:v', kind: 'full', watermark: D3 })).toBeUndefined();
    // ...unless it is the model registered for it.
    expect(await store.modelSatisfying({ id: 'finetune:y', kind: 'full', watermark: D3 + HOUR })).toBe(
      'm-ft',
    );
    expect(await store.modelsForDecision('finetune:y')).toEqual(['m-ft']);
  });
});
