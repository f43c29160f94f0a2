/**
 * The trainer: one member of the trainer group (KAFKA_TRAINER_GROUP) in every forecaster process;
 * the training topic has one partition, so exactly one member owns it and carries out the
 * decisions, one batch at a time. Kafka's group membership is the coordination: when the owner
 * dies (its session times out) or leaves, the partition moves to another member, and with it
 * every decision the owner had not committed.
 *
 * - A decision's offset is committed only after it is carried out (the model registered, or
 *   nothing to do): a trainer killed mid-training hands the decision to the next owner.
 * - While a training runs in eachBatch the member heartbeats explicitly. If a rebalance starts
 *   meanwhile (a member joins), it keeps training: Kafka waits up to the rebalance timeout (longer
 *   than a training may take) for it to rejoin, and an offset commit with its generation is still
 *   accepted until then; so a joining member does not take the decision over mid-training.
 * - A failed training is retried by the owner after TRAIN_RETRY_MS (doubling per failure, at most
 *   4 h), on the data closed by then, with the decision still uncommitted: if the owner dies during
 *   the back-off the next owner retries at once. A rebalance during a back-off ends the wait the
 *   same way (the member rejoins; whoever owns the partition then retries). TRAIN_RETRY_MS=0: a
 *   failed decision is committed and given up; trainings then follow the next decisions.
 */
import type { Consumer, EachBatchPayload, Kafka, KafkaJSError } from 'kafkajs';
import type { Config } from '../../lib/config';
import { commitBatch, protocolErrorIn } from '../../lib/kafka-client';
import type { Logger } from '../../lib/logger';
import { HOUR_MS } from '../../lib/time/units';
import { topicNames } from '../../lib/topics';
import * as metrics from './metrics';
import { coalesceDecisions, decodeDecision, type TrainingDecision } from './model-lifecycle';
import { TRAINING_TIMEOUT_MS } from './train-runner';

/** Longest wait before a failed training is tried again. */
const MAX_RETRY_DELAY_MS = 4 * HOUR_MS;
const HEARTBEAT_MS = 3_000;

export interface TrainerOptions {
  config: Config;
  kafka: Kafka;
  logger: Logger;
  /**
   * Carries out a decision: resolves when it is done (a model registered, or nothing to do), rejects
   * when the training failed. `signal` aborts it (stop).
   */
  carryOut(decision: TrainingDecision, signal: AbortSignal): Promise<void>;
}

export interface Trainer {
  /** Joins the group in the background: a join waits while another member finishes a training. */
  start(): Promise<void>;
  /** Aborts a training or back-off in progress (its decision stays uncommitted) and leaves the group. */
  stop(): Promise<void>;
}

/** Resolves after `ms`, or early (false) when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Heartbeat answers that say this member is out of the group's generation: the coordinator has
 * given (or is giving) the training partition to another member, which will carry out the same
 * uncommitted decision. REBALANCE_IN_PROGRESS is not one of them: the group waits for an owner
 * that is still training (rebalance timeout).
 */
const MEMBERSHIP_LOST: ReadonlySet<string> = new Set([
  'UNKNOWN_MEMBER_ID',
  'ILLEGAL_GENERATION',
  'FENCED_INSTANCE_ID',
]);

const errorType = (err: unknown) => (err as Partial<KafkaJSError> & { type?: string }).type ?? '';

/** What the trainer's parts share. */
interface TrainerContext {
  opts: TrainerOptions;
  log: Logger;
  /** Aborted by stop. */
  stopping: AbortSignal;
}

/**
 * Runs `work` while heartbeating. `onRebalance` decides what a rebalance (or losing the
 * membership) means for it: ignored during a training, the end of a back-off.
 */
async function heartbeating<T>(
  stopping: AbortSignal,
  heartbeat: () => Promise<void>,
  work: Promise<T>,
  onRebalance: (err: unknown) => void,
): Promise<T> {
  let done = false;
  const settled = work.finally(() => (done = true));
  while (!done) {
    await Promise.race([settled.catch(() => undefined), sleep(HEARTBEAT_MS, stopping)]);
    if (done || stopping.aborted) break;
    try {
      await heartbeat();
    } catch (err) {
      onRebalance(err);
    }
  }
  return settled;
}

/**
 * One try at `decision`: true when it is carried out, false when it must stay uncommitted (this
 * member lost the partition); throws when the training failed.
 */
async function tryOnce(
  ctx: TrainerContext,
  decision: TrainingDecision,
  heartbeat: () => Promise<void>,
): Promise<boolean> {
  const { log, stopping } = ctx;
  // Aborted by a stop, or when this member learns it lost the partition: an owner that stalled
  // past its session timeout (or whose coordinator moved and lost its session) must not train
  // on beside the new owner. Its result would be discarded anyway (the registry keeps one model
  // per decision); stopping saves the CPU the new owner needs.
  const abort = new AbortController();
  const onStop = () => abort.abort();
  stopping.addEventListener('abort', onStop, { once: true });
  try {
    let rebalanced = false;
    await heartbeating(stopping, heartbeat, ctx.opts.carryOut(decision, abort.signal), (err) => {
      const lost = protocolErrorIn(err, MEMBERSHIP_LOST);
      if (lost) {
        if (!abort.signal.aborted) {
          metrics.trainingsAbandonedTotal.inc();
          log.warn(
            { decision: decision.id, type: lost.type },
            'this trainer lost the training partition; abandoning the training to its new owner',
          );
        }
        abort.abort();
        return;
      }
      if (!rebalanced)
        log.info(
          { decision: decision.id, err: (err as Error).message, type: errorType(err) },
          'the trainer group is rebalancing; finishing the training first',
        );
      rebalanced = true;
    });
    return !(abort.signal.aborted && !stopping.aborted);
  } catch (err) {
    if (abort.signal.aborted) return false; // stopped, or the partition moved on
    throw err;
  } finally {
    stopping.removeEventListener('abort', onStop);
  }
}

/** Waits `delayMs` while heartbeating; false when a stop or a rebalance ended the wait. */
async function backOff(
  ctx: TrainerContext,
  decision: TrainingDecision,
  delayMs: number,
  heartbeat: () => Promise<void>,
): Promise<boolean> {
  const { log, stopping } = ctx;
  const wait = new AbortController();
  const onStopWaiting = () => wait.abort();
  stopping.addEventListener('abort', onStopWaiting, { once: true });
  try {
    return await heartbeating(stopping, heartbeat, sleep(delayMs, wait.signal), (hbErr) => {
      log.info(
        { decision: decision.id, type: errorType(hbErr) },
        'the trainer group is rebalancing during a back-off; the owner after it retries',
      );
      wait.abort();
    });
  } finally {
    stopping.removeEventListener('abort', onStopWaiting);
  }
}

/** Carries out `decision`, retrying after failures; false when it must stay uncommitted. */
async function carryOutWithRetries(
  ctx: TrainerContext,
  decision: TrainingDecision,
  heartbeat: () => Promise<void>,
): Promise<boolean> {
  const { config } = ctx.opts;
  for (let attempt = 1; ; attempt++) {
    try {
      return await tryOnce(ctx, decision, heartbeat);
    } catch (err) {
      const delayMs = Math.min(MAX_RETRY_DELAY_MS, config.TRAIN_RETRY_MS * 2 ** (attempt - 1));
      ctx.log.error(
        {
          err,
          kind: decision.kind,
          decision: decision.id,
          attempt,
          retryInS: config.TRAIN_RETRY_MS > 0 ? Math.round(delayMs / 1000) : null,
        },
        'training failed; the current model keeps serving',
      );
      if (config.TRAIN_RETRY_MS === 0) return true;
      if (!(await backOff(ctx, decision, delayMs, heartbeat))) return false;
    }
  }
}

/** The decodable decisions of a fetched batch (the others are logged and skipped). */
function batchDecision(ctx: TrainerContext, payload: EachBatchPayload): TrainingDecision[] {
  const decisions: TrainingDecision[] = [];
  for (const m of payload.batch.messages) {
    if (!m.value) continue;
    try {
      decisions.push(decodeDecision(m.value));
    } catch (err) {
      ctx.log.error({ err, offset: m.offset }, 'undecodable training decision skipped');
    }
  }
  return decisions;
}

/** Carries out a batch's decision and commits the batch, unless the decision must stay uncommitted. */
async function handleBatch(
  ctx: TrainerContext,
  consumer: Consumer,
  payload: EachBatchPayload,
): Promise<void> {
  const { batch } = payload;
  const heartbeat = () => payload.heartbeat();
  if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
  const decisions = batchDecision(ctx, payload);
  const decision = coalesceDecisions(decisions);
  const offsets = `${batch.firstOffset() ?? '?'}..${batch.lastOffset()}`;
  if (decision) {
    ctx.log.info(
      { decision: decision.id, decisions: decisions.map((d) => d.id), offsets },
      'training decision received',
    );
    if (!(await carryOutWithRetries(ctx, decision, heartbeat))) {
      ctx.log.info({ decision: decision.id, offsets }, 'training decision left uncommitted');
      return;
    }
  }
  const last = batch.lastOffset();
  await commitBatch(consumer, payload, (BigInt(last) + 1n).toString());
  payload.resolveOffset(last);
  ctx.log.info({ decision: decision?.id ?? null, offsets }, 'training decision committed');
}

export function createTrainer(opts: TrainerOptions): Trainer {
  const { config, kafka } = opts;
  const topic = topicNames(config).training;
  const stopping = new AbortController();
  const ctx: TrainerContext = {
    opts,
    log: opts.logger.child({ module: 'trainer' }),
    stopping: stopping.signal,
  };
  let running: Promise<void> | undefined;

  const consumer: Consumer = kafka.consumer({
    groupId: config.KAFKA_TRAINER_GROUP,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 500,
    // A dead owner's decision moves on after this long without heartbeats.
    sessionTimeout: 10_000,
    heartbeatInterval: HEARTBEAT_MS,
    // Longer than a training child may take (it is stopped then): a training owner rejoins in time.
    rebalanceTimeout: TRAINING_TIMEOUT_MS + 60_000,
  });

  return {
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        const owns = (e.payload.memberAssignment[topic] ?? []).length > 0;
        ctx.log.info(
          { owner: owns, memberId: e.payload.memberId },
          owns ? 'trainer owns the training partition' : 'trainer joined (standby)',
        );
      });
      running = consumer
        .run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: (payload) => handleBatch(ctx, consumer, payload),
        })
        .catch((err: unknown) => {
          if (!stopping.signal.aborted) ctx.log.error({ err }, 'the trainer stopped consuming');
        });
    },
    async stop() {
      stopping.abort();
      await consumer.disconnect();
      await running;
    },
  };
}
