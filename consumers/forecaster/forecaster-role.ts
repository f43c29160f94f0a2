/**
 * The forecaster role: consumes HourClosed events and keeps every branch's
 * forecast fresh.
 *
 * - Coalescing: a batch of events is folded into "latest closed hour per branch";
 *   each branch is refreshed once, from its newest origin, in one batched
 *   inference and one bulk write. A replay that closes thousands of hours per
 *   second therefore costs one refresh per branch per batch, never a queue.
 * - State lives in ClickHouse (closed hours, runs), so Kafka events are only
 *   triggers: at start, and when a model first becomes available, every branch
 *   whose latest closed hour is newer than its latest run is refreshed.
 * - Offsets are committed after the refreshes of the batch are written.
 * - Training runs in a child process (train-runner.ts): the first model when
 *   none exists; when a local day closes, a full retrain if a week of data has
 *   closed since the model's data ends, else a fine-tune; either is promoted
 *   only if it is not worse than the current model on a recent holdout
 *   (training.ts). A failed training is tried again at the first hour close
 *   after TRAIN_RETRY_MS (doubling per failure, at most 4 h); a process that
 *   starts with a model a week or more behind the data (e.g. it was killed
 *   mid-training) retrains at once. TRAIN_RETRY_MS=0 turns both off: trainings
 *   then only follow day closes.
 */
import type { Consumer, Kafka } from 'kafkajs';
import type { Branch, BranchDirectory } from '../../lib/branches';
import type { ClickHouse } from '../../lib/clickhouse';
import type { Config } from '../../lib/config';
import { localWallClock } from '../../lib/local-time';
import type { Logger } from '../../lib/logger';
import { topicNames } from '../../lib/topics';
import type { AvroCodec } from '../../schemas/avro-codec';
import type { EngineLoader, ForecastEngine } from './engine';
import { ForecastStore, newRunId, type ForecastRun, type ModelRecord } from './forecast-store';
import { HOUR_MS, horizonEnd } from './horizon';
import * as metrics from './metrics';
import { runTrainingChild, type TrainJob, type TrainOutcome } from './train-runner';

/** Data age at which the daily training is a full retrain instead of a fine-tune. */
const RETRAIN_AFTER_MS = 7 * 86_400_000;
/** Longest wait before a failed training is tried again. */
const MAX_RETRY_DELAY_MS = 4 * 3_600_000;

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
  /** Resolves when the in-flight training (if any) settles. */
  idle(): Promise<void>;
}

export function createForecasterRole(opts: ForecasterOptions): ForecasterRole {
  const { config, kafka, ch, codec, branches } = opts;
  const log = opts.logger.child({ module: 'forecaster' });
  const store = new ForecastStore(ch);
  const abort = new AbortController();
  const train = opts.train ?? ((job: TrainJob) => runTrainingChild(job, log, { signal: abort.signal }));
  const minTrainingHours = opts.minTrainingHours ?? 28 * 24;
  const refreshedOrigin = new Map<string, number>();
  let engine: ForecastEngine | undefined;
  let model: ModelRecord | undefined;
  let training: Promise<void> | undefined;
  let lastTrainingDay = '';
  /** After a failed training: what to try again, and when (wall clock). Cleared by a training that completes. */
  let retry: { kind: 'full' | 'finetune'; attempt: number; notBefore: number } | undefined;
  let stopped = false;

  const consumer: Consumer = kafka.consumer({
    groupId: config.KAFKA_FORECASTER_GROUP,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 200,
    sessionTimeout: 30_000,
  });

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
    log.info({ version: record.version, backend: record.backend }, 'model in use');
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

  /** Refreshes every branch whose latest closed hour is newer than its latest run (all of them with a new model). */
  async function catchUp(newModel = false): Promise<void> {
    const [closed, latest] = await Promise.all([store.lastClosedHours(), store.latestOrigins()]);
    const due = new Map<string, number>();
    for (const [branchId, hour] of closed) {
      const origin = hour + HOUR_MS;
      const have = Math.max(latest.get(branchId) ?? -Infinity, refreshedOrigin.get(branchId) ?? -Infinity);
      if (newModel || origin > have) due.set(branchId, origin);
    }
    if (due.size > 0) {
      const runs = await refresh(due);
      log.info({ branches: runs.length }, 'caught up with closed hours');
    }
  }

  const allHistories = () => store.closedHistories(branches);

  function startTraining(kind: 'full' | 'finetune', why: string): void {
    if (training || stopped) return;
    let again: string | undefined;
    training = (async () => {
      const histories = await allHistories();
      const longest = Math.max(0, ...histories.map((h) => h.sales.length));
      if (kind === 'full' && longest < minTrainingHours) {
        log.info(
          { longest, needed: minTrainingHours },
          'not enough closed history to train a first model yet',
        );
        return;
      }
      log.info({ kind, why, branches: histories.length }, 'training started');
      const outcome = await train({
        kind,
        histories,
        modelsDir: config.MODELS_DIR,
        seed: config.TRAIN_SEED,
        parent: kind === 'finetune' ? model : undefined,
        champion: model,
      });
      await store.registerModel(outcome.record);
      retry = undefined;
      const { challenger, champion } = outcome.holdout;
      const promote = !model || (challenger !== null && (champion === null || challenger <= champion));
      metrics.trainingsTotal.inc({ kind, outcome: promote ? 'promoted' : 'rejected' });
      if (promote) {
        await store.promote(
          outcome.record.version,
          model ? 'promote' : 'initial',
          `${kind}: holdout ${challenger?.toFixed(4) ?? 'not scored'} vs champion ${champion?.toFixed(4) ?? 'none'}`,
        );
        await useModel(outcome.record);
        refreshedOrigin.clear(); // the new model should serve every branch at once
        await catchUp(true);
        // Hours kept closing while it trained (a replay closes months in minutes): retrain on them.
        const newest = Math.max(...(await store.lastClosedHours()).values());
        if (newest + HOUR_MS - outcome.record.train_through >= RETRAIN_AFTER_MS)
          again = 'a week of data closed while training';
      } else {
        log.info(
          { version: outcome.record.version, challenger, champion },
          'challenger not promoted: worse on the holdout',
        );
      }
    })()
      .catch((err: unknown) => {
        metrics.trainingsTotal.inc({ kind, outcome: 'failed' });
        const attempt = (retry?.attempt ?? 0) + 1;
        const delayMs = Math.min(MAX_RETRY_DELAY_MS, config.TRAIN_RETRY_MS * 2 ** (attempt - 1));
        if (config.TRAIN_RETRY_MS > 0) retry = { kind, attempt, notBefore: Date.now() + delayMs };
        log.error(
          { err, kind, retryInS: config.TRAIN_RETRY_MS > 0 ? Math.round(delayMs / 1000) : null },
          'training failed; the current model keeps serving',
        );
      })
      .finally(() => {
        training = undefined;
        if (again && !stopped) startTraining('full', again);
      });
  }

  return {
    async start() {
      const current = await store.currentModel();
      if (current) {
        try {
          await useModel(current);
        } catch (err) {
          log.error({ err, version: current.version }, 'cannot load the current model; training a new one');
        }
      }
      await consumer.connect();
      await consumer.subscribe({ topics: [topicNames(config).hoursClosed], fromBeginning: true });
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
            // A local day closed for some branch: once per day, in the background, a full retrain
            // when a week of data has closed since the model's data ends, else a fine-tune.
            for (const [branchId, origin] of latest) {
              const zone = branches.get(branchId)?.timezone ?? 'UTC';
              const local = localWallClock(zone, origin);
              if (local.text.endsWith('00:00:00') && local.date > lastTrainingDay && !training) {
                lastTrainingDay = local.date;
                const stale = model !== undefined && origin - model.train_through >= RETRAIN_AFTER_MS;
                startTraining(stale ? 'full' : 'finetune', `local day before ${local.date} closed`);
                break;
              }
            }
            if (retry && !training && Date.now() >= retry.notBefore) {
              startTraining(retry.kind, `try ${retry.attempt + 1} after a failed training`);
            }
          } else {
            startTraining('full', 'no model yet');
          }
          const last = batch.lastOffset();
          await consumer.commitOffsets([
            { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
          ]);
          payload.resolveOffset(last);
          await payload.heartbeat();
        },
      });
      if (engine) {
        await catchUp();
        // Daily trainings follow day closes; one that a crash interrupted would wait for the next.
        const newest = Math.max(-Infinity, ...(await store.lastClosedHours()).values());
        if (config.TRAIN_RETRY_MS > 0 && model && newest + HOUR_MS - model.train_through >= RETRAIN_AFTER_MS)
          startTraining('full', 'the model is a week or more behind the closed data');
      } else startTraining('full', 'no model yet');
      log.info({ model: model?.version ?? null }, 'forecaster consuming');
    },
    async stop() {
      stopped = true;
      await consumer.disconnect();
      // An unfinished training is abandoned (its child is stopped); the current model keeps serving.
      abort.abort();
      await training?.catch(() => undefined);
      engine?.dispose();
      log.info('forecaster stopped');
    },
    refresh,
    currentModel: () => model,
    idle: async () => {
      while (training) await training;
    },
  };
}
