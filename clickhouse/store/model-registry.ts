/**
 * `models` and `model_promotions`: the model registry. Trainers register the models they made
 * (with the training decision and data they answer) and promote them; operators promote and roll
 * back by hand (`tillcast models`); every forecaster polls the current model.
 *
 * The current model is the promotion with the greatest rank (PROMOTION_RANK), not the latest
 * insert, so racing trainers and a late zombie end with the same answer on every member.
 */
import type { ClickHouse } from '../client';
import { toDateTime, toDateTime64 } from '../datetime-text';
import { QueryRunner } from '../query-runner';
import { SalesHourly } from './sales-hourly';

export interface ModelRecord {
  version: string;
  created_at: number;
  kind: string;
  parent_version: string;
  train_from: number;
  train_through: number;
  features: unknown;
  hyperparams: unknown;
  metrics: unknown;
  backend: string;
  artifact_path: string;
  /** The training decision it answers (0004_model_provenance.sql); set when registered. */
  decision_id?: string;
  /** End of the newest closed hour it was trained on; set when registered. */
  data_watermark?: number;
}

/** What a registered model was trained for and on: the key of training idempotency. */
export interface ModelProvenance {
  decisionId: string;
  dataWatermark: number;
}

export type PromotionAction = 'promote' | 'rollback' | 'initial';

export interface Promotion {
  version: string;
  promoted_at: number;
  action: string;
  data_watermark: number;
  manual: boolean;
}

/** A promotion names a version the registry does not have. */
export class UnknownModelError extends Error {
  constructor(readonly version: string) {
    super(`no model ${version} in the registry; see tillcast models list`);
    this.name = 'UnknownModelError';
  }
}

/**
 * The rank of a promotion: the current model is the promotion with the greatest rank. Data first,
 * so a trainer that finishes late on older data cannot demote a model trained on newer data; a
 * manual action (which carries the newest watermark known when it was made) outranks trainers at
 * the same watermark and the later of two manual actions wins; version breaks the remaining ties
 * (two trainers on the same data), so every member computes the same answer.
 */
const PROMOTION_RANK =
  "(data_watermark, manual, if(manual = 1, promoted_at, toDateTime64(0, 3, 'UTC')), version)";

const MODEL_COLUMNS = `m.version AS version, toUnixTimestamp64Milli(m.created_at) AS created_at, m.kind AS kind, m.parent_version AS parent_version,
              toUnixTimestamp(m.train_from) * 1000 AS train_from, toUnixTimestamp(m.train_through) * 1000 AS train_through,
              m.features AS features, m.hyperparams AS hyperparams, m.metrics AS metrics, m.backend AS backend, m.artifact_path AS artifact_path,
              m.decision_id AS decision_id, toUnixTimestamp(m.data_watermark) * 1000 AS data_watermark`;

export class ModelRegistry {
  private readonly q: QueryRunner;
  private readonly hourly: SalesHourly;

  constructor(ch: ClickHouse) {
    this.q = new QueryRunner(ch);
    this.hourly = new SalesHourly(ch);
  }

  /** Registers a model; without `provenance` its data watermark is the end of its training data. */
  async registerModel(m: ModelRecord, provenance?: ModelProvenance): Promise<void> {
    await this.q.insert('models.insert', 'models', [
      {
        ...m,
        created_at: toDateTime64(m.created_at),
        train_from: toDateTime(m.train_from),
        train_through: toDateTime(m.train_through),
        decision_id: provenance?.decisionId ?? m.decision_id ?? '',
        data_watermark: toDateTime(provenance?.dataWatermark ?? m.data_watermark ?? m.train_through),
        features: JSON.stringify(m.features),
        hyperparams: JSON.stringify(m.hyperparams),
        metrics: JSON.stringify(m.metrics),
      },
    ]);
  }

  /**
   * Records a promotion of a registered model. A trainer's (automatic) promotion carries the model's
   * data watermark; a manual one (`manual: true`, an operator's explicit decision) carries the newest
   * watermark known now: of the closed data, of any registered model and of any promotion, so that
   * it outranks every model trained on data up to now, including one a racing trainer is about to
   * promote. Whether it becomes current is the rank's business (PROMOTION_RANK), not the order of
   * the inserts.
   */
  async promote(
    version: string,
    action: PromotionAction,
    reason: string,
    opts: { manual?: boolean } = {},
  ): Promise<void> {
    const manual = opts.manual === true;
    // The closed data's end is sales_hourly's to read (sales-hourly.ts); the registry's own
    // watermarks are compared with it in the same statement that finds the model.
    const [found] = manual
      ? await this.q.rows<{ wm: string }>(
          'models.manual_watermark',
          `SELECT toUnixTimestamp(greatest(
             {closed:DateTime('UTC')},
             (SELECT max(data_watermark) FROM ${this.q.table('model_promotions')}),
             (SELECT max(data_watermark) FROM ${this.q.table('models')}))) AS wm
           FROM ${this.q.table('models')} WHERE version = {version:String} LIMIT 1`,
          { version, closed: toDateTime(await this.hourly.closedThrough()) },
        )
      : await this.q.rows<{ wm: string }>(
          'models.watermark',
          `SELECT toUnixTimestamp(data_watermark) AS wm FROM ${this.q.table('models')} WHERE version = {version:String} LIMIT 1`,
          { version },
        );
    if (!found) throw new UnknownModelError(version);
    await this.q.insert('model_promotions.insert', 'model_promotions', [
      {
        version,
        promoted_at: toDateTime64(Date.now()),
        action,
        reason,
        data_watermark: toDateTime(Number(found.wm) * 1000),
        manual: manual ? 1 : 0,
      },
    ]);
  }

  /**
   * Makes the model that ranked before the current one current again (a manual action, so it wins
   * over trainers on the data known now). Returns the versions, or undefined when fewer than two
   * models were ever promoted.
   */
  async rollback(): Promise<{ from: string; to: string } | undefined> {
    const ranked = await this.q.rows<{ version: string }>(
      'model_promotions.ranked',
      `SELECT version FROM ${this.q.table('model_promotions')} ORDER BY ${PROMOTION_RANK} DESC`,
    );
    const from = ranked[0]?.version;
    const to = ranked.find((p) => p.version !== from)?.version;
    if (from === undefined || to === undefined) return undefined;
    await this.promote(to, 'rollback', `rollback from ${from}`, { manual: true });
    return { from, to };
  }

  /**
   * A registered model that satisfies a training decision: one registered for it, or one trained
   * on data at least up to its watermark (a full decision needs a full training).
   */
  async modelSatisfying(decision: {
    id: string;
    kind: 'full' | 'finetune';
    watermark: number;
  }): Promise<string | undefined> {
    const rows = await this.q.rows<{ version: string }>(
      'models.satisfying',
      `SELECT version FROM ${this.q.table('models')} FINAL
       WHERE decision_id = {id:String}
          OR (data_watermark >= {wm:DateTime('UTC')} AND ({kind:String} = 'finetune' OR kind = 'full'))
       ORDER BY data_watermark DESC, version DESC
       LIMIT 1`,
      { id: decision.id, wm: toDateTime(decision.watermark), kind: decision.kind },
    );
    return rows[0]?.version;
  }

  /** Registered models answering a decision (tests count them: one per decision). */
  async modelsForDecision(decisionId: string): Promise<string[]> {
    const rows = await this.q.rows<{ version: string }>(
      'models.for_decision',
      `SELECT version FROM ${this.q.table('models')} FINAL WHERE decision_id = {id:String} ORDER BY version`,
      { id: decisionId },
    );
    return rows.map((r) => r.version);
  }

  async currentModel(): Promise<ModelRecord | undefined> {
    const rows = await this.q.rows<Record<string, string>>(
      'models.current',
      `SELECT ${MODEL_COLUMNS}
       FROM ${this.q.table('models')} AS m FINAL
       WHERE m.version = (SELECT argMax(version, ${PROMOTION_RANK}) FROM ${this.q.table('model_promotions')})`,
    );
    const r = rows[0];
    return r ? parseModel(r) : undefined;
  }

  async listModels(): Promise<(ModelRecord & { promoted_at: number | null; current: boolean })[]> {
    const rows = await this.q.rows<Record<string, string>>(
      'models.list',
      `SELECT ${MODEL_COLUMNS},
              p.last_promoted AS promoted_at, m.version = (SELECT argMax(version, ${PROMOTION_RANK}) FROM ${this.q.table('model_promotions')}) AS current
       FROM ${this.q.table('models')} AS m FINAL
       LEFT JOIN (SELECT version, toUnixTimestamp64Milli(max(promoted_at)) AS last_promoted FROM ${this.q.table('model_promotions')} GROUP BY version) AS p
         ON p.version = m.version
       ORDER BY m.created_at`,
    );
    return rows.map((r) => ({
      ...parseModel(r),
      promoted_at: r.promoted_at && Number(r.promoted_at) > 0 ? Number(r.promoted_at) : null,
      current: Number(r.current) === 1,
    }));
  }

  /** Promotion history, newest first. */
  async promotions(): Promise<Promotion[]> {
    const rows = await this.q.rows<{
      version: string;
      t: string;
      action: string;
      wm: string;
      manual: number;
    }>(
      'model_promotions.list',
      `SELECT version, toUnixTimestamp64Milli(promoted_at) AS t, action, toUnixTimestamp(data_watermark) * 1000 AS wm, manual
       FROM ${this.q.table('model_promotions')} ORDER BY promoted_at DESC`,
    );
    return rows.map((r) => ({
      version: r.version,
      promoted_at: Number(r.t),
      action: r.action,
      data_watermark: Number(r.wm),
      manual: Number(r.manual) === 1,
    }));
  }
}

function parseModel(r: Record<string, string>): ModelRecord {
  const json = (s: string | undefined) => {
    try {
      return JSON.parse(s ?? 'null') as unknown;
    } catch {
      return null;
    }
  };
  return {
    version: r.version ?? '',
    created_at: Number(r.created_at),
    kind: r.kind ?? '',
    parent_version: r.parent_version ?? '',
    train_from: Number(r.train_from),
    train_through: Number(r.train_through),
    features: json(r.features),
    hyperparams: json(r.hyperparams),
    metrics: json(r.metrics),
    backend: r.backend ?? '',
    artifact_path: r.artifact_path ?? '',
    decision_id: r.decision_id ?? '',
    data_watermark: Number(r.data_watermark),
  };
}
