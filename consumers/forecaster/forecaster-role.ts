/**
 * The forecaster role: consumes HourClosed events and keeps every branch's forecast fresh. N
 * processes (members) share the work through Kafka. This module only composes its parts:
 *
 * - hours-closed-consumer.ts: the members' consumer group on the hours-closed topic and the
 *   branch calendar's changes (co-partitioned: a branch's partitions of both are one member's); each
 *   batch, folded into "latest closed hour per branch" and its corrected hours, or into the
 *   branches whose calendar changed, is refreshed and then committed.
 * - partition-ownership.ts: which branches are this member's (for refreshes without an event).
 * - forecast-refresher.ts: the run writer (one batched inference and one bulk write per batch; at
 *   start and with a new model, a catch-up of this member's branches).
 * - model-in-use.ts: the model this member serves with, loaded from the registry at start and
 *   polled for (FORECASTER_MODEL_POLL_MS), so all members use the same model within one poll period.
 * - model-lifecycle.ts: when to train (training decisions), and registering and promoting what was
 *   trained; trainer.ts: the one member of the trainer group that carries the decisions out, in a
 *   child process (train-runner.ts) unless a `train` seam is given.
 */
import os from 'node:os';
import type { Kafka } from 'kafkajs';
import type { BranchDirectory } from '../../lib/branches';
import type { ClickHouse } from '../../clickhouse/client';
import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import { topicNames } from '../../lib/topics';
import type { AvroCodec } from '../../schemas/avro-codec';
import type { EngineLoader } from './engine';
import { ForecastStore, type ForecastRun, type ModelRecord } from '../../clickhouse/store/forecast-store';
import { ForecastRefresher } from './forecast-refresher';
import { HoursClosedConsumer } from './hours-closed-consumer';
import { ModelInUse } from './model-in-use';
import { ModelLifecycle, newestClosedEnd } from './model-lifecycle';
import { PartitionOwnership } from './partition-ownership';
import { runTrainingChild, type TrainJob } from './train-runner';
import { createTrainer } from './trainer';
import type { TrainOutcome } from './training-job';

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

/** The role's parts, wired to each other. */
function forecasterParts(opts: ForecasterOptions, member: string) {
  const { config, kafka, branches, logger } = opts;
  const log = logger.child({ module: 'forecaster' });
  const store = new ForecastStore(opts.ch);
  let ownership: PartitionOwnership | undefined;
  const inUse: ModelInUse = new ModelInUse({
    store,
    loadEngine: opts.loadEngine,
    logger,
    member,
    onSwitched: () => refresher.refreshAllWithNewModel(),
  });
  const refresher: ForecastRefresher = new ForecastRefresher({
    config,
    store,
    branches,
    logger,
    inUse,
    owns: (branchId) => !ownership || ownership.owns(branchId),
    onRunsWritten: opts.onRunsWritten,
  });
  const train = opts.train;
  const lifecycle = new ModelLifecycle({
    config,
    kafka,
    store,
    branches,
    logger,
    member,
    train: train ? (job) => train(job) : (job, signal) => runTrainingChild(job, log, { signal }),
    minTrainingHours: opts.minTrainingHours ?? 28 * 24,
    modelInUse: () => inUse.model,
    adoptCurrentModel: () => inUse.adoptCurrent(),
  });
  const hoursClosed = new HoursClosedConsumer({
    config,
    kafka,
    codec: opts.codec,
    logger,
    member,
    onHoursClosed: async (batch) => {
      if (inUse.engine) await refresher.refreshClosedHours(batch);
      await lifecycle.decideOnHoursClosed(batch.newest);
    },
    onCalendarChanged: async (branchIds) => {
      if (inUse.engine) await refresher.refreshCalendarChanges(branchIds);
    },
  });
  const trainer = createTrainer({
    config,
    kafka,
    logger,
    carryOut: (d, signal) => lifecycle.carryOut(d, signal),
  });
  const ownPartitions = async () => {
    const topic = topicNames(config).hoursClosed;
    ownership = await PartitionOwnership.ofTopic(kafka, topic, config.KAFKA_SALES_PARTITIONS);
    return ownership;
  };
  return { log, store, inUse, refresher, lifecycle, hoursClosed, trainer, ownPartitions };
}

export function createForecasterRole(opts: ForecasterOptions): ForecasterRole {
  const member = `${os.hostname()}:${process.pid}`;
  const { log, store, inUse, refresher, lifecycle, hoursClosed, trainer, ownPartitions } = forecasterParts(
    opts,
    member,
  );
  return {
    async start() {
      const ownership = await ownPartitions();
      await lifecycle.connect();
      await inUse.loadCurrent();
      await hoursClosed.start(ownership);
      await trainer.start();
      const newest = await newestClosedEnd(store);
      if (inUse.engine) await refresher.catchUp();
      await lifecycle.decideAtStart(newest);
      inUse.startPolling(opts.config.FORECASTER_MODEL_POLL_MS);
      log.info({ model: inUse.model?.version ?? null, member }, 'forecaster consuming');
    },
    async stop() {
      inUse.stopPolling();
      // An unfinished training is abandoned (its child is stopped) and its decision left
      // uncommitted for the next owner; the current model keeps serving.
      await trainer.stop();
      await hoursClosed.disconnect();
      await lifecycle.disconnect();
      await lifecycle.idle();
      await inUse.close();
      log.info('forecaster stopped');
    },
    refresh: (origins) => refresher.refresh(origins),
    currentModel: () => inUse.model,
    idle: () => lifecycle.idle(),
  };
}
