/**
 * The forecaster role: consumes HourClosed events and keeps every branch's
 * forecast fresh. N processes (members) share the work through Kafka.
 *
 * - Refreshes: the members form one consumer group (KAFKA_FORECASTER_GROUP) on the
 *   hours-closed topic, keyed by branch, so each branch is refreshed by the member
 *   that owns its partition. Refreshes without an event (at start, with a new model)
 *   cover only the member's own branches (partition-ownership.ts).
 * - Coalescing: a batch of events is folded into "latest closed hour per branch";
 *   each branch is refreshed once, from its newest origin, in one batched
 *   inference and one bulk write. A replay that closes thousands of hours per
 *   second therefore costs one refresh per branch per batch, never a queue.
 * - State lives in ClickHouse (closed hours, runs, the model registry), so Kafka
 *   events are only triggers. Offsets are committed after the refreshes of the
 *   batch are written.
 * - Trainings are decided by any member and carried out by one: a member that sees a
 *   reason publishes a training decision (training-decision.ts) on the one-partition
 *   training topic, and the member of the trainer group that owns that partition
 *   trains (trainer.ts), in a child process (train-runner.ts). Reasons: no model yet;
 *   a local day closed (a full retrain if a week of data has closed since the model's
 *   data ends, else a fine-tune); at start, a model a week or more behind the data (a
 *   crash may have interrupted a training; off with TRAIN_RETRY_MS=0); a week of data
 *   closed while training. A decision already satisfied by the registry is skipped.
 *   A new model is promoted only if it is not worse than the current model on a recent
 *   holdout (training.ts); which promoted model is current is the registry's rank
 *   (forecast-store.ts), and every member polls it (FORECASTER_MODEL_POLL_MS), so all
 *   use the same model within one poll period.
 */
import os from 'node:os';
import fs from 'node:fs';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Branch, BranchDirectory } from '../../lib/branches';
import type { ClickHouse } from '../../clickhouse/client';
import type { Config } from '../../lib/config';
import { commitBatch } from '../../lib/kafka-client';
import { localWallClock } from '../../lib/local-time';
import type { Logger } from '../../lib/logger';
import { topicNames } from '../../lib/topics';
import { seriesEnd, type HourlySeries } from '../../model/series';
import type { AvroCodec } from '../../schemas/avro-codec';
import type { EngineLoader, ForecastEngine } from './engine';
import {
  ForecastStore,
  newRunId,
  type ForecastRun,
  type ModelRecord,
} from '../../clickhouse/store/forecast-store';
import { HOUR_MS, horizonEnd } from './horizon';
import * as metrics from './metrics';
import { PartitionOwnership } from './partition-ownership';
import { runTrainingChild, type TrainJob, type TrainOutcome } from './train-runner';
import { createTrainer } from './trainer';
import { encodeDecision, newDecision, type TrainingDecision, type TrainingKind } from './training-decision';

/** Data age at which the daily training is a full retrain instead of a fine-tune. */
const RETRAIN_AFTER_MS = 7 * 86_400_000;
const DAY_MS = 86_400_000;

export interface ForecasterOptions {
  config: Config;
  kafka: Kafka;
  ch: ClickHouse;
  codec: AvroCodec;
  branches: BranchDirectory;
  logger: Logger;
  loadEngine: EngineLoader;
  /** Injected so tests and benchmarks can train in-process; defaults to the child process. */
  train?: (job: TrainJob) => Promise<TrainOutcome>;
  /** Called after runs are written (the in-process API swaps its cache at once). */
  onRunsWritten?: (branchIds: string[]) => void;
  /** Minimum closed history (hours, any branch) before a first model is trained. */
  minTrainingHours?: number;
}

export interface ForecasterRole {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Refreshes the given branches at the given origins now (also used by benchmarks). */
  refresh(origins: Map<string, number>): Promise<ForecastRun[]>;
  currentModel(): ModelRecord | undefined;
  /** Resolves when the training this member is carrying out (if any) settles. */
  idle(): Promise<void>;
}

/** End of the newest closed hour of a set of histories (-Infinity: none). */
const dataWatermark = (histories: HourlySeries[]) =>
  Math.max(-Infinity, ...histories.filter((h) => h.sales.length > 0).map(seriesEnd));

export function createForecasterRole(opts: ForecasterOptions): ForecasterRole {
  const { config, kafka, ch, codec, branches } = opts;
  const log = opts.logger.child({ module: 'forecaster' });
  const store = new ForecastStore(ch);
  const topics = topicNames(config);
  const member = `${os.hostname()}:${process.pid}`;
  const minTrainingHours = opts.minTrainingHours ?? 28 * 24;
  const refreshedOrigin = new Map<string, number>();
  let engine: ForecastEngine | undefined;
  let model: ModelRecord | undefined;
  /** The decision this member is carrying out as the trainer, until the new model is in use. */
  let training: Promise<void> | undefined;
  let lastTrainingDay = '';
  /** Watermark of the last "no model yet" decision this member published (one per day of data). */
  let lastNoModelWatermark = -Infinity;
  /** Data watermark of the last training this member gave up (TRAIN_RETRY_MS=0) or had too little data for. */
  let givenUpThrough = -Infinity;
  let ownership: PartitionOwnership | undefined;
  let adopting: Promise<void> = Promise.resolve();
  let unloadable = '';
  let poll: NodeJS.Timeout | undefined;
  let stopped = false;

  const consumer: Consumer = kafka.consumer({
    groupId: config.KAFKA_FORECASTER_GROUP,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 200,
    sessionTimeout: 30_000,
  });
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: false });

  async function useModel(record: ModelRecord): Promise<void> {
    const next = await opts.loadEngine(record);
    const previous = engine;
    engine = next;
    model = record;
    previous?.dispose();
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
    log.info({ version: record.version, backend: record.backend, member }, 'model in use');
  }

  async function refresh(origins: Map<string, number>): Promise<ForecastRun[]> {
    if (!engine || !model) return [];
    const requests: { branch: Branch; origin: number }[] = [];
    for (const [branchId, origin] of origins) {
      const branch = branches.get(branchId);
      if (!branch) continue;
      if ((refreshedOrigin.get(branchId) ?? -Infinity) > origin) continue; // a newer run exists
      requests.push({ branch, origin });
    }
    if (requests.length === 0) return [];
    const timer = metrics.refreshSeconds.startTimer();
    const histories = await store.histories(requests, engine.historyHours);
    const points = await engine.forecast(
      requests.map((r, i) => ({
        history: histories[i]!,
        origin: r.origin,
        end: horizonEnd(r.origin, r.branch.timezone, config.FORECAST_HORIZON_DAYS),
      })),
    );
    const generatedAt = Date.now();
    const runs: ForecastRun[] = requests.map((r, i) => ({
      runId: newRunId(),
      branchId: r.branch.id,
      modelVersion: model!.version,
      origin: r.origin,
      generatedAt,
      points: points[i] ?? [],
    }));
    await store.writeRuns(runs, new Map(requests.map((r) => [r.branch.id, r.branch])));
    for (const r of runs) refreshedOrigin.set(r.branchId, r.origin);
    timer();
    metrics.refreshedBranches.inc(runs.length);
    if (log.isLevelEnabled('debug'))
      for (const r of runs)
        log.debug(
          {
            run_id: r.runId,
            branch_id: r.branchId,
            origin: new Date(r.origin).toISOString(),
            model: r.modelVersion,
          },
          'run written',
        );
    opts.onRunsWritten?.(runs.map((r) => r.branchId));
    return runs;
  }

  /**
   * Refreshes every branch of this member's partitions whose latest closed hour is newer than its
   * latest run (all of them with a new model). Another member's branches are its business.
   */
  async function catchUp(newModel = false): Promise<void> {
    const [closed, latest] = await Promise.all([store.lastClosedHours(), store.latestOrigins()]);
    const due = new Map<string, number>();
    for (const [branchId, hour] of closed) {
      if (ownership && !ownership.owns(branchId)) continue;
      const origin = hour + HOUR_MS;
      const have = Math.max(latest.get(branchId) ?? -Infinity, refreshedOrigin.get(branchId) ?? -Infinity);
      if (newModel || origin > have) due.set(branchId, origin);
    }
    if (due.size > 0) {
      const runs = await refresh(due);
      log.info({ branches: runs.length }, 'caught up with closed hours');
    }
  }

  /** Switches to the registry's current model if it is not the one in use (serialised). */
  function adoptCurrentModel(): Promise<void> {
    adopting = adopting
      .then(async () => {
        if (stopped) return;
        const current = await store.currentModel();
        if (!current || current.version === model?.version) return;
        try {
          await useModel(current);
        } catch (err) {
          // E.g. MODELS_DIR is not shared with the member that trained it: tried again at every poll.
          if (unloadable !== current.version)
            log.error(
              { err, version: current.version },
              'cannot load the current model; keeping the one in use',
            );
          unloadable = current.version;
          return;
        }
        refreshedOrigin.clear(); // the new model should serve every branch at once
        await catchUp(true);
      })
      .catch((err: unknown) => log.error({ err }, 'cannot check the registry for a new model'));
    return adopting;
  }

  async function publish(kind: TrainingKind, watermark: number, reason: string): Promise<void> {
    const d = newDecision(kind, watermark, reason, member);
    await producer.send({ topic: topics.training, messages: [encodeDecision(d)] });
    log.info({ decision: d.id, kind, reason, member }, 'training decision published');
  }

  const newestClosedEnd = async () =>
    Math.max(-Infinity, ...(await store.lastClosedHours()).values()) + HOUR_MS;

  /**
   * Carries out a training decision as the trainer (the owner of the training partition). The
   * registry is the judge of what is done: a decision satisfied by a registered model is skipped,
   * before training and again before registering (a stale owner may have raced this one).
   */
  async function carryOut(decision: TrainingDecision, signal: AbortSignal): Promise<void> {
    if (decision.watermark <= givenUpThrough) {
      log.info({ decision: decision.id }, 'training decision skipped: its data was tried already');
      return;
    }
    const done = await store.modelSatisfying(decision);
    if (done) {
      log.info({ decision: decision.id, model: done }, 'training decision already satisfied');
      return;
    }
    const work = (async () => {
      const current = await store.currentModel();
      const histories = await store.closedHistories(branches);
      const watermark = dataWatermark(histories);
      const longest = Math.max(0, ...histories.map((h) => h.sales.length));
      // The registry's current model decides: a fine-tune needs one, and one a week behind gets a full retrain.
      const kind: TrainingKind =
        !current || watermark - current.train_through >= RETRAIN_AFTER_MS ? 'full' : decision.kind;
      if (kind === 'full' && longest < minTrainingHours) {
        log.info(
          { longest, needed: minTrainingHours, decision: decision.id },
          'not enough closed history to train a first model yet',
        );
        givenUpThrough = Math.max(givenUpThrough, watermark);
        return;
      }
      log.info(
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
        outcome = await (opts.train ? opts.train(job) : runTrainingChild(job, log, { signal }));
      } catch (err) {
        metrics.trainingsTotal.inc({ kind, outcome: 'failed' });
        if (config.TRAIN_RETRY_MS === 0) givenUpThrough = Math.max(givenUpThrough, watermark);
        throw err;
      }
      const raced = await store.modelSatisfying(decision);
      if (raced) {
        log.warn(
          { decision: decision.id, model: raced, discarded: outcome.record.version },
          'another trainer satisfied the decision meanwhile; this model is discarded',
        );
        fs.rmSync(outcome.record.artifact_path, { recursive: true, force: true });
        return;
      }
      await store.registerModel(outcome.record, { decisionId: decision.id, dataWatermark: watermark });
      log.info({ version: outcome.record.version, decision: decision.id, kind, member }, 'model registered');
      const { challenger, champion } = outcome.holdout;
      const promote = !current || (challenger !== null && (champion === null || challenger <= champion));
      metrics.trainingsTotal.inc({ kind, outcome: promote ? 'promoted' : 'rejected' });
      if (promote) {
        await store.promote(
          outcome.record.version,
          current ? 'promote' : 'initial',
          `${kind}: holdout ${challenger?.toFixed(4) ?? 'not scored'} vs champion ${champion?.toFixed(4) ?? 'none'}`,
        );
        await adoptCurrentModel();
        // Hours kept closing while it trained (a replay closes months in minutes): retrain on them.
        const newest = await newestClosedEnd();
        if (newest - outcome.record.train_through >= RETRAIN_AFTER_MS)
          await publish('full', newest, 'a week of data closed while training');
      } else {
        log.info(
          { version: outcome.record.version, challenger, champion },
          'challenger not promoted: worse on the holdout',
        );
      }
    })();
    training = work;
    try {
      await work;
    } finally {
      training = undefined;
    }
  }

  const trainer = createTrainer({ config, kafka, logger: opts.logger, carryOut });

  return {
    async start() {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const { topics: meta } = await admin.fetchTopicMetadata({ topics: [topics.hoursClosed] });
        ownership = new PartitionOwnership(
          topics.hoursClosed,
          meta[0]?.partitions.length ?? config.KAFKA_SALES_PARTITIONS,
        );
      } finally {
        await admin.disconnect();
      }
      await producer.connect();
      const current = await store.currentModel();
      if (current) {
        try {
          await useModel(current);
        } catch (err) {
          log.error({ err, version: current.version }, 'cannot load the current model; training a new one');
        }
      }
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        ownership?.assign(e.payload.memberAssignment[topics.hoursClosed] ?? []);
        log.info({ partitions: ownership?.partitions, member }, 'hours-closed partitions assigned');
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [topics.hoursClosed], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async (payload) => {
          const { batch } = payload;
          if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
          const latest = new Map<string, number>();
          let seen = 0;
          for (const m of batch.messages) {
            if (!m.value) continue;
            try {
              const d = codec.decode(m.value);
              if (d.kind !== 'hourClosed') continue;
              seen++;
              const origin = d.value.hour_start + HOUR_MS;
              latest.set(d.value.branch_id, Math.max(latest.get(d.value.branch_id) ?? -Infinity, origin));
            } catch (err) {
              // Our own ingest writes this topic; a bad message is a bug worth a loud log, not a stuck partition.
              log.error({ err, offset: m.offset }, 'undecodable HourClosed message skipped');
            }
          }
          metrics.coalescedEvents.inc(Math.max(0, seen - latest.size));
          if (engine) {
            await refresh(latest);
            // A local day closed for some branch: once per day, a training decision — a full
            // retrain when a week of data has closed since the model's data ends, else a fine-tune.
            // Every member whose branches saw the midnight publishes the same decision id.
            for (const [branchId, origin] of latest) {
              const zone = branches.get(branchId)?.timezone ?? 'UTC';
              const local = localWallClock(zone, origin);
              if (local.text.endsWith('00:00:00') && local.date > lastTrainingDay) {
                lastTrainingDay = local.date;
                const stale = model !== undefined && origin - model.train_through >= RETRAIN_AFTER_MS;
                await publish(stale ? 'full' : 'finetune', origin, `local day before ${local.date} closed`);
                break;
              }
            }
          } else if (latest.size > 0) {
            // No model yet: ask for one, at most once per day of new data from this member.
            const newest = Math.max(...latest.values());
            if (newest >= lastNoModelWatermark + DAY_MS) {
              lastNoModelWatermark = newest;
              await publish('full', newest, 'no model yet');
            }
          }
          const last = batch.lastOffset();
          await commitBatch(consumer, payload, (BigInt(last) + 1n).toString());
          payload.resolveOffset(last);
          await payload.heartbeat();
        },
      });
      await trainer.start();
      const newest = await newestClosedEnd();
      if (engine) {
        await catchUp();
        // Daily trainings follow day closes; one that a crash interrupted would wait for the next.
        if (config.TRAIN_RETRY_MS > 0 && model && newest - model.train_through >= RETRAIN_AFTER_MS)
          await publish('full', newest, 'the model is a week or more behind the closed data');
      } else if (Number.isFinite(newest)) {
        lastNoModelWatermark = newest;
        await publish('full', newest, 'no model yet');
      }
      // A model promoted by another member (or by an operator) is picked up within one poll.
      poll = setInterval(() => void adoptCurrentModel(), config.FORECASTER_MODEL_POLL_MS);
      poll.unref();
      log.info({ model: model?.version ?? null, member }, 'forecaster consuming');
    },
    async stop() {
      stopped = true;
      clearInterval(poll);
      // An unfinished training is abandoned (its child is stopped) and its decision left
      // uncommitted for the next owner; the current model keeps serving.
      await trainer.stop();
      await consumer.disconnect();
      await producer.disconnect();
      await training?.catch(() => undefined);
      await adopting;
      engine?.dispose();
      log.info('forecaster stopped');
    },
    refresh,
    currentModel: () => model,
    idle: async () => {
      while (training) await training.catch(() => undefined);
    },
  };
}
