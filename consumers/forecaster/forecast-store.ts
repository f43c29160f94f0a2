/**
 * The forecaster's ClickHouse side: histories in (closed hours of sales_hourly),
 * forecast runs and the model registry out. Values always as query parameters.
 */
import crypto from 'node:crypto';
import { DateTime } from 'luxon';
import type { Branch, BranchDirectory } from '../../lib/branches';
import type { ClickHouse } from '../../clickhouse/client';
import { storageError } from '../../clickhouse/error-classification';
import { parameterChunks } from '../../clickhouse/query-parameters';
import { toDateTime, toDateTime64 } from '../../clickhouse/datetime-text';
import type { HourlyForecast } from '../../model/forecast-types';
import type { HourlySeries } from '../../model/series';

const HOUR_MS = 3_600_000;

/**
 * Contiguous hourly history of one branch, zeros for closed hours without sales, sales in major
 * units: exactly the model's input series.
 */
export type BranchHistory = HourlySeries;

/** One forecast hour (UTC hour start, sales and orders p10/p50/p90): exactly the model's output. */
export type ForecastPoint = HourlyForecast;

export interface ForecastRun {
  runId: string;
  branchId: string;
  modelVersion: string;
  /** First forecast hour start (= end of the last closed hour). */
  origin: number;
  generatedAt: number;
  points: ForecastPoint[];
}

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

export const newRunId = (): string => `r${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;

export class ForecastStore {
  constructor(private readonly ch: ClickHouse) {}

  private async rows<T>(what: string, query: string, params: Record<string, unknown>): Promise<T[]> {
    try {
      const rs = await this.ch.client.query({ query, query_params: params, format: 'JSONEachRow' });
      return await rs.json<T>();
    } catch (err) {
      throw storageError(what, err);
    }
  }

  /**
   * Closed-hour histories ending at each branch's origin (exclusive), at most `hours` long,
   * starting no earlier than the branch's first recorded hour.
   */
  async histories(requests: { branch: Branch; origin: number }[], hours: number): Promise<BranchHistory[]> {
    // In chunks of branch ids a server accepts as one parameter (clickhouse/query-parameters.ts): a
    // refresh burst or a retraining of thousands of branches would exceed its URL field limit.
    const out: BranchHistory[] = [];
    for (const chunk of parameterChunks(requests, (r) => r.branch.id, Number.POSITIVE_INFINITY))
      out.push(...(await this.historyChunk(chunk, hours)));
    return out;
  }

  private async historyChunk(
    requests: { branch: Branch; origin: number }[],
    hours: number,
  ): Promise<BranchHistory[]> {
    if (requests.length === 0) return [];
    const minFrom = Math.min(...requests.map((r) => r.origin)) - hours * HOUR_MS;
    const maxTo = Math.max(...requests.map((r) => r.origin));
    const rows = await this.rows<{ b: string; h: number; s: string; o: number }>(
      'cannot read hourly history',
      `SELECT branch_id AS b, toUnixTimestamp(hour_start) AS h, argMax(sales_minor, version) AS s, argMax(orders, version) AS o
       FROM ${this.ch.table('sales_hourly')}
       WHERE branch_id IN {branches:Array(String)} AND hour_start >= {from:DateTime('UTC')} AND hour_start < {to:DateTime('UTC')}
       GROUP BY b, h
       HAVING argMax(closed, version) = 1
       ORDER BY b, h`,
      { branches: requests.map((r) => r.branch.id), from: toDateTime(minFrom), to: toDateTime(maxTo) },
    );
    const byBranch = new Map<string, { h: number; s: number; o: number }[]>();
    for (const r of rows) {
      let list = byBranch.get(r.b);
      if (!list) byBranch.set(r.b, (list = []));
      list.push({ h: Number(r.h) * 1000, s: Number(r.s) / 100, o: Number(r.o) });
    }
    return requests.map(({ branch, origin }) => {
      const list = (byBranch.get(branch.id) ?? []).filter(
        (x) => x.h < origin && x.h >= origin - hours * HOUR_MS,
      );
      const start = list.length > 0 ? list[0]!.h : origin;
      const n = Math.max(0, (origin - start) / HOUR_MS);
      const sales = new Float64Array(n);
      const orders = new Float64Array(n);
      for (const x of list) {
        const i = (x.h - start) / HOUR_MS;
        sales[i] = x.s;
        orders[i] = x.o;
      }
      return {
        branchId: branch.id,
        timezone: branch.timezone,
        country: branch.country,
        start,
        sales,
        orders,
      };
    });
  }

  /** All closed history (up to `maxDays`) of every branch of the directory that has some, for (re)training. */
  async closedHistories(branches: BranchDirectory, maxDays = 400): Promise<BranchHistory[]> {
    const closed = await this.lastClosedHours();
    const requests = [...closed]
      .map(([id, hour]) => ({ branch: branches.get(id), origin: hour + HOUR_MS }))
      .filter((r): r is { branch: Branch; origin: number } => r.branch !== undefined);
    return this.histories(requests, maxDays * 24);
  }

  /** Writes the points first, then the run row: a run is never visible half-written. */
  async writeRuns(runs: ForecastRun[], branches: Map<string, Branch>): Promise<void> {
    if (runs.length === 0) return;
    const points = runs.flatMap((run) => {
      const zone = branches.get(run.branchId)?.timezone ?? 'UTC';
      return run.points.map((p) => {
        const local = DateTime.fromMillis(p.hourStart, { zone });
        return {
          run_id: run.runId,
          branch_id: run.branchId,
          hour_start: toDateTime(p.hourStart),
          hour_start_local: local.toFormat('yyyy-MM-dd HH:mm:ss'),
          local_date: local.toISODate(),
          utc_offset_min: local.offset,
          horizon_h: Math.round((p.hourStart - run.origin) / HOUR_MS) + 1,
          sales_p10: round2(p.salesP10),
          sales_p50: round2(p.salesP50),
          sales_p90: round2(p.salesP90),
          orders_p10: round3(p.ordersP10),
          orders_p50: round3(p.ordersP50),
          orders_p90: round3(p.ordersP90),
          generated_at: toDateTime64(run.generatedAt),
        };
      });
    });
    try {
      await this.ch.client.insert({
        table: this.ch.table('forecasts'),
        values: points,
        format: 'JSONEachRow',
      });
      await this.ch.client.insert({
        table: this.ch.table('forecast_runs'),
        values: runs.map((run) => ({
          run_id: run.runId,
          branch_id: run.branchId,
          model_version: run.modelVersion,
          origin: toDateTime(run.origin),
          data_through: toDateTime(run.origin - HOUR_MS),
          horizon_end: toDateTime((run.points.at(-1)?.hourStart ?? run.origin - HOUR_MS) + HOUR_MS),
          points: run.points.length,
          generated_at: toDateTime64(run.generatedAt),
        })),
        format: 'JSONEachRow',
      });
    } catch (err) {
      throw storageError('cannot write forecast runs', err);
    }
  }

  /** Latest closed hour per branch (for resuming after a restart). */
  async lastClosedHours(): Promise<Map<string, number>> {
    const rows = await this.rows<{ b: string; h: number }>(
      'cannot read last closed hours',
      `SELECT branch_id AS b, toUnixTimestamp(max(hour_start)) AS h FROM ${this.ch.table('sales_hourly')} WHERE closed = 1 GROUP BY b`,
      {},
    );
    return new Map(rows.map((r) => [r.b, Number(r.h) * 1000]));
  }

  /** Origin of the latest run per branch. */
  async latestOrigins(): Promise<Map<string, number>> {
    const rows = await this.rows<{ b: string; o: number }>(
      'cannot read latest forecast runs',
      `SELECT branch_id AS b, toUnixTimestamp(max(origin)) AS o FROM ${this.ch.table('forecast_runs')} GROUP BY b`,
      {},
    );
    return new Map(rows.map((r) => [r.b, Number(r.o) * 1000]));
  }

  /** Registers a model; without `provenance` its data watermark is the end of its training data. */
  async registerModel(m: ModelRecord, provenance?: ModelProvenance): Promise<void> {
    try {
      await this.ch.client.insert({
        table: this.ch.table('models'),
        values: [
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
        ],
        format: 'JSONEachRow',
      });
    } catch (err) {
      throw storageError('cannot register model', err);
    }
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
    const [found] = await this.rows<{ wm: string }>(
      'cannot read the model to promote',
      manual
        ? `SELECT toUnixTimestamp(greatest(
             (SELECT max(hour_start) FROM ${this.ch.table('sales_hourly')} WHERE closed = 1) + INTERVAL 1 HOUR,
             (SELECT max(data_watermark) FROM ${this.ch.table('model_promotions')}),
             (SELECT max(data_watermark) FROM ${this.ch.table('models')}))) AS wm
           FROM ${this.ch.table('models')} WHERE version = {version:String} LIMIT 1`
        : `SELECT toUnixTimestamp(data_watermark) AS wm FROM ${this.ch.table('models')} WHERE version = {version:String} LIMIT 1`,
      { version },
    );
    if (!found) throw new UnknownModelError(version);
    try {
      await this.ch.client.insert({
        table: this.ch.table('model_promotions'),
        values: [
          {
            version,
            promoted_at: toDateTime64(Date.now()),
            action,
            reason,
            data_watermark: toDateTime(Number(found.wm) * 1000),
            manual: manual ? 1 : 0,
          },
        ],
        format: 'JSONEachRow',
      });
    } catch (err) {
      throw storageError('cannot record model promotion', err);
    }
  }

  /**
   * Makes the model that ranked before the current one current again (a manual action, so it wins
   * over trainers on the data known now). Returns the versions, or undefined when fewer than two
   * models were ever promoted.
   */
  async rollback(): Promise<{ from: string; to: string } | undefined> {
    const ranked = await this.rows<{ version: string }>(
      'cannot read promotions',
      `SELECT version FROM ${this.ch.table('model_promotions')} ORDER BY ${PROMOTION_RANK} DESC`,
      {},
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
    const rows = await this.rows<{ version: string }>(
      'cannot look up models for a training decision',
      `SELECT version FROM ${this.ch.table('models')} FINAL
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
    const rows = await this.rows<{ version: string }>(
      'cannot look up models for a training decision',
      `SELECT version FROM ${this.ch.table('models')} FINAL WHERE decision_id = {id:String} ORDER BY version`,
      { id: decisionId },
    );
    return rows.map((r) => r.version);
  }

  async currentModel(): Promise<ModelRecord | undefined> {
    const rows = await this.rows<Record<string, string>>(
      'cannot read the current model',
      `SELECT ${MODEL_COLUMNS}
       FROM ${this.ch.table('models')} AS m FINAL
       WHERE m.version = (SELECT argMax(version, ${PROMOTION_RANK}) FROM ${this.ch.table('model_promotions')})`,
      {},
    );
    const r = rows[0];
    return r ? parseModel(r) : undefined;
  }

  async listModels(): Promise<(ModelRecord & { promoted_at: number | null; current: boolean })[]> {
    const rows = await this.rows<Record<string, string>>(
      'cannot list models',
      `SELECT ${MODEL_COLUMNS},
              p.last_promoted AS promoted_at, m.version = (SELECT argMax(version, ${PROMOTION_RANK}) FROM ${this.ch.table('model_promotions')}) AS current
       FROM ${this.ch.table('models')} AS m FINAL
       LEFT JOIN (SELECT version, toUnixTimestamp64Milli(max(promoted_at)) AS last_promoted FROM ${this.ch.table('model_promotions')} GROUP BY version) AS p
         ON p.version = m.version
       ORDER BY m.created_at`,
      {},
    );
    return rows.map((r) => ({
      ...parseModel(r),
      promoted_at: r.promoted_at && Number(r.promoted_at) > 0 ? Number(r.promoted_at) : null,
      current: Number(r.current) === 1,
    }));
  }

  /** Promotion history, newest first. */
  async promotions(): Promise<
    { version: string; promoted_at: number; action: string; data_watermark: number; manual: boolean }[]
  > {
    const rows = await this.rows<{ version: string; t: string; action: string; wm: string; manual: number }>(
      'cannot read promotions',
      `SELECT version, toUnixTimestamp64Milli(promoted_at) AS t, action, toUnixTimestamp(data_watermark) * 1000 AS wm, manual
       FROM ${this.ch.table('model_promotions')} ORDER BY promoted_at DESC`,
      {},
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

/** A promotion names a version the registry does not have. */
export class UnknownModelError extends Error {
  constructor(readonly version: string) {
    super(`no model ${version} in the registry; see tillcast models list`);
    this.name = 'UnknownModelError';
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

const round2 = (x: number) => Math.round(Math.max(0, x) * 100) / 100;
const round3 = (x: number) => Math.round(Math.max(0, x) * 1000) / 1000;
