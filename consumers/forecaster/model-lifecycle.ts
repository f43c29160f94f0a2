/**
 * The model lifecycle, in one place: when the forecaster trains, what it trains, and what becomes
 * of the result. The registry's SQL is the store's; the Kafka coordination of who trains is
 * trainer.ts; how a training runs is training-job.ts (in a child process: train-runner.ts).
 *
 * - Deciding: a member that sees a reason publishes a training decision ("train full | finetune on
 *   the data closed up to `watermark`") to the one-partition training topic, and the member of the
 *   trainer group that owns that partition carries it out. Reasons: no model yet (at most once per
 *   day of new data from a member); a local day closed (once per day: a full retrain if a week of
 *   data has closed since the model's data ends, else a fine-tune); at start, a model a week or
 *   more behind the data (a crash may have interrupted a training; off with TRAIN_RETRY_MS=0); a
 *   week of data closed while training.
 * - The decision's id is its kind and watermark, and it is the message key: two members that saw
 *   the same day close publish the same id. Ids need not be unique, though: a decision is satisfied
 *   once the registry has a model registered for it or trained on data up to its watermark
 *   (modelSatisfying), so duplicates with other ids are skipped as well, before training and again
 *   before registering (a stale owner may have raced this one).
 * - Carrying out: the registry's current model decides the kind (a fine-tune needs one, and one a
 *   week behind gets a full retrain); a first model needs `minTrainingHours` of closed history.
 * - Promoting: the new model is registered, and promoted only if it is not worse than the current
 *   model on a recent holdout (shouldPromote). Which promoted model is current is the registry's
 *   rank, so every member adopts the same one (model-in-use.ts polls it); a promotion is followed
 *   by a retrain when a week of data closed while training. Manual promotions and rollbacks are
 *   the registry's (`tillcast models`).
 */
import fs from 'node:fs';
import type { Kafka, Producer } from 'kafkajs';
import { z } from 'zod';
import type { BranchDirectory } from '../../lib/branches';
import type { Config } from '../../lib/config';
import { DAY_MS, HOUR_MS } from '../../lib/time/units';
import { localWallClock } from '../../lib/time/wall-clock';
import type { Logger } from '../../lib/logger';
import { topicNames } from '../../lib/topics';
import { seriesEnd, type HourlySeries } from '../../model/series';
import type { ForecastStore, ModelRecord } from '../../clickhouse/store/forecast-store';
import * as metrics from './metrics';
import type { TrainJob } from './train-runner';
import type { TrainOutcome } from './training-job';

/** Data age at which the daily training is a full retrain instead of a fine-tune. */
export const RETRAIN_AFTER_MS = 7 * DAY_MS;

// ---------------------------------------------------------------- training decisions

export type TrainingKind = 'full' | 'finetune';

export interface TrainingDecision {
  id: string;
  kind: TrainingKind;
  /** End of the newest closed hour the decision is about (UTC ms). */
  watermark: number;
  reason: string;
  /** The member that published it (host:pid). */
  decidedBy: string;
  decidedAt: number;
}

const decisionSchema = z.object({
  v: z.literal(1),
  id: z.string().min(1),
  kind: z.enum(['full', 'finetune']),
  watermark: z.number().int(),
  reason: z.string(),
  decidedBy: z.string(),
  decidedAt: z.number().int(),
});

export const decisionId = (kind: TrainingKind, watermark: number): string =>
  `${kind}:${new Date(watermark).toISOString()}`;

export function newDecision(
  kind: TrainingKind,
  watermark: number,
  reason: string,
  decidedBy: string,
): TrainingDecision {
  return { id: decisionId(kind, watermark), kind, watermark, reason, decidedBy, decidedAt: Date.now() };
}

export function encodeDecision(d: TrainingDecision): { key: string; value: string } {
  return { key: d.id, value: JSON.stringify({ v: 1, ...d }) };
}

/** Throws on anything that is not a decision of this version (the caller logs and skips it). */
export function decodeDecision(value: Buffer): TrainingDecision {
  const { v: _v, ...d } = decisionSchema.parse(JSON.parse(value.toString('utf8')));
  return d;
}

/**
 * The decisions of one fetched batch as one: the newest data, full if any asks for full. Training
 * once on the newest data answers all of them (they pile up while a training runs).
 */
export function coalesceDecisions(decisions: TrainingDecision[]): TrainingDecision | undefined {
  if (decisions.length <= 1) return decisions[0];
  const newest = decisions.reduce((a, b) => (b.watermark > a.watermark ? b : a));
  const kind: TrainingKind = decisions.some((d) => d.kind === 'full') ? 'full' : newest.kind;
  return {
    ...newest,
    kind,
    id: decisionId(kind, newest.watermark),
    reason: [...new Set(decisions.map((d) => d.reason))].join('; '),
  };
}

// ---------------------------------------------------------------- promotion

/**
 * The promotion rule (the forecaster's trainer and `tillcast train`): a first model is promoted;
 * after that, a challenger only if it was scored on the holdout and is not worse there than the
 * current model (or the current model could not be scored).
 */
export function shouldPromote(holdout: TrainOutcome['holdout'], current: ModelRecord | undefined): boolean {
  const { challenger, champion } = holdout;
  return !current || (challenger !== null && (champion === null || challenger <= champion));
}

/** End of the newest closed hour of a set of histories (-Infinity: none). */
const dataWatermark = (histories: HourlySeries[]) =>
  Math.max(-Infinity, ...histories.filter((h) => h.sales.length > 0).map(seriesEnd));

/** What the lifecycle needs of the registry and the closed data. */
export type LifecycleStore = Pick<
  ForecastStore,
  'currentModel' | 'closedHistories' | 'lastClosedHours' | 'modelSatisfying' | 'registerModel' | 'promote'
>;

/** End of the newest closed hour of any branch (-Infinity: none closed yet). */
export async function newestClosedEnd(store: Pick<ForecastStore, 'lastClosedHours'>): Promise<number> {
  return Math.max(-Infinity, ...(await store.lastClosedHours()).values()) + HOUR_MS;
}

export interface ModelLifecycleOptions {
  config: Config;
  kafka: Kafka;
  store: LifecycleStore;
  branches: BranchDirectory;
  logger: Logger;
  /** This process (host:pid), in logs and as a decision's publisher. */
  member: string;
  /** Runs a training (the child process, or a test's seam). */
  train: (job: TrainJob, signal: AbortSignal) => Promise<TrainOutcome>;
  /** Minimum closed history (hours, any branch) before a first model is trained. */
  minTrainingHours: number;
  /** The model this member serves with (undefined: none yet). */
  modelInUse: () => ModelRecord | undefined;
  /** Switches to the registry's current model (after a promotion). */
  adoptCurrentModel: () => Promise<void>;
}

// ---------------------------------------------------------------- the lifecycle

export class ModelLifecycle {
  private readonly log: Logger;
  private readonly producer: Producer;
  private readonly topic: string;
  /** The decision this member is carrying out as the trainer, until the new model is in use. */
  private training: Promise<void> | undefined;
  private lastTrainingDay = '';
  /** Watermark of the last "no model yet" decision this member published (one per day of data). */
  private lastNoModelWatermark = -Infinity;
  /** Data watermark of the last training this member gave up (TRAIN_RETRY_MS=0) or had too little data for. */
  private givenUpThrough = -Infinity;

  constructor(private readonly opts: ModelLifecycleOptions) {
    this.log = opts.logger.child({ module: 'forecaster' });
    this.producer = opts.kafka.producer({ allowAutoTopicCreation: false });
    this.topic = topicNames(opts.config).training;
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }

  /** Resolves when the training this member is carrying out (if any) settles. */
  async idle(): Promise<void> {
    while (this.training) await this.training.catch(() => undefined);
  }

  private async publish(kind: TrainingKind, watermark: number, reason: string): Promise<void> {
    const { member } = this.opts;
    const d = newDecision(kind, watermark, reason, member);
    await this.producer.send({ topic: this.topic, messages: [encodeDecision(d)] });
    this.log.info({ decision: d.id, kind, reason, member }, 'training decision published');
  }

  /**
   * At start, with `newest` the end of the newest closed hour: daily trainings follow day closes,
   * so one that a crash interrupted would wait for the next; without a model, ask for one.
   */
  async decideAtStart(newest: number): Promise<void> {
    const model = this.opts.modelInUse();
    if (model) {
      if (this.opts.config.TRAIN_RETRY_MS > 0 && newest - model.train_through >= RETRAIN_AFTER_MS)
        await this.publish('full', newest, 'the model is a week or more behind the closed data');
    } else if (Number.isFinite(newest)) {
      this.lastNoModelWatermark = newest;
      await this.publish('full', newest, 'no model yet');
    }
  }

  /** After a batch of closed hours (`latest`: the newest origin per branch). */
  async decideOnHoursClosed(latest: Map<string, number>): Promise<void> {
    const model = this.opts.modelInUse();
    if (model) {
      // A local day closed for some branch: once per day, a training decision — a full retrain
      // when a week of data has closed since the model's data ends, else a fine-tune. Every
      // member whose branches saw the midnight publishes the same decision id.
      for (const [branchId, origin] of latest) {
        const zone = this.opts.branches.get(branchId)?.timezone ?? 'UTC';
        const local = localWallClock(zone, origin);
        if (local.text.endsWith('00:00:00') && local.date > this.lastTrainingDay) {
          this.lastTrainingDay = local.date;
          const stale = origin - model.train_through >= RETRAIN_AFTER_MS;
          await this.publish(stale ? 'full' : 'finetune', origin, `local day before ${local.date} closed`);
          break;
        }
      }
    } else if (latest.size > 0) {
      // No model yet: ask for one, at most once per day of new data from this member.
      const newest = Math.max(...latest.values());
      if (newest >= this.lastNoModelWatermark + DAY_MS) {
        this.lastNoModelWatermark = newest;
        await this.publish('full', newest, 'no model yet');
      }
    }
  }

  /**
   * Carries out a training decision as the trainer (the owner of the training partition): resolves
   * when it is done (a model registered, or nothing to do), rejects when the training failed.
   */
  async carryOut(decision: TrainingDecision, signal: AbortSignal): Promise<void> {
    if (decision.watermark <= this.givenUpThrough) {
      this.log.info({ decision: decision.id }, 'training decision skipped: its data was tried already');
      return;
    }
    const done = await this.opts.store.modelSatisfying(decision);
    if (done) {
      this.log.info({ decision: decision.id, model: done }, 'training decision already satisfied');
      return;
    }
    const work = this.train(decision, signal);
    this.training = work;
    try {
      await work;
    } finally {
      this.training = undefined;
    }
  }

  /** Trains for `decision` on all closed data, then registers the model and maybe promotes it. */
  private async train(decision: TrainingDecision, signal: AbortSignal): Promise<void> {
    const { store, config, member } = this.opts;
    const current = await store.currentModel();
    const histories = await store.closedHistories(this.opts.branches);
    const watermark = dataWatermark(histories);
    const longest = Math.max(0, ...histories.map((h) => h.sales.length));
    // The registry's current model decides: a fine-tune needs one, and one a week behind gets a full retrain.
    const kind: TrainingKind =
      !current || watermark - current.train_through >= RETRAIN_AFTER_MS ? 'full' : decision.kind;
    if (kind === 'full' && longest < this.opts.minTrainingHours) {
      this.log.info(
        { longest, needed: this.opts.minTrainingHours, decision: decision.id },
        'not enough closed history to train a first model yet',
      );
      this.givenUpThrough = Math.max(this.givenUpThrough, watermark);
      return;
    }
    this.log.info(
      {
        kind,
        why: decision.reason,
        decision: decision.id,
        branches: histories.length,
        dataThrough: new Date(watermark).toISOString(),
        member,
      },
      'training started',
    );
    let outcome: TrainOutcome;
    try {
      const job: TrainJob = {
        kind,
        histories,
        modelsDir: config.MODELS_DIR,
        seed: config.TRAIN_SEED,
        parent: kind === 'finetune' ? current : undefined,
        champion: current,
      };
      outcome = await this.opts.train(job, signal);
    } catch (err) {
      metrics.trainingsTotal.inc({ kind, outcome: 'failed' });
      if (config.TRAIN_RETRY_MS === 0) this.givenUpThrough = Math.max(this.givenUpThrough, watermark);
      throw err;
    }
    await this.settle(decision, outcome, { kind, current, watermark });
  }

  /** Registers a trained model unless another trainer satisfied the decision meanwhile, then promotes it or keeps the current one. */
  private async settle(
    decision: TrainingDecision,
    outcome: TrainOutcome,
    trained: { kind: TrainingKind; current: ModelRecord | undefined; watermark: number },
  ): Promise<void> {
    const { store, member } = this.opts;
    const { kind, current, watermark } = trained;
    const raced = await store.modelSatisfying(decision);
    if (raced) {
      this.log.warn(
        { decision: decision.id, model: raced, discarded: outcome.record.version },
        'another trainer satisfied the decision meanwhile; this model is discarded',
      );
      fs.rmSync(outcome.record.artifact_path, { recursive: true, force: true });
      return;
    }
    await store.registerModel(outcome.record, { decisionId: decision.id, dataWatermark: watermark });
    this.log.info(
      { version: outcome.record.version, decision: decision.id, kind, member },
      'model registered',
    );
    const { challenger, champion } = outcome.holdout;
    const promote = shouldPromote(outcome.holdout, current);
    metrics.trainingsTotal.inc({ kind, outcome: promote ? 'promoted' : 'rejected' });
    if (!promote) {
      this.log.info(
        { version: outcome.record.version, challenger, champion },
        'challenger not promoted: worse on the holdout',
      );
      return;
    }
    await store.promote(
      outcome.record.version,
      current ? 'promote' : 'initial',
      `${kind}: holdout ${challenger?.toFixed(4) ?? 'not scored'} vs champion ${champion?.toFixed(4) ?? 'none'}`,
    );
    await this.opts.adoptCurrentModel();
    // Hours kept closing while it trained (a replay closes months in minutes): retrain on them.
    const newest = await newestClosedEnd(store);
    if (newest - outcome.record.train_through >= RETRAIN_AFTER_MS)
      await this.publish('full', newest, 'a week of data closed while training');
  }
}
