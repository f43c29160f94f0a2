/**
 * The forecaster group's consumer of HourClosed events and of branch calendar changes
 * (CalendarChanged, from the API). The members form one consumer group (KAFKA_FORECASTER_GROUP) on
 * the hours-closed and calendar topics, both keyed by branch and partitioned alike, and the
 * co-partitioned assigner (co-partitioned-assigner.ts) gives partition p of both to one member: a
 * branch's hour closes and calendar changes reach the one member that owns it. A batch is folded into "latest closed hour per branch" (a
 * replay that closes thousands of hours per second costs one refresh per branch per batch, never a
 * queue) plus the corrections it carries (revision above 1: the highest revision per corrected
 * hour), and handed on; its offsets are committed after the handler is done. A batch of calendar
 * changes is folded into the branches it names (a burst of edits costs one refresh per branch).
 * State lives in ClickHouse, so events are only triggers: the refresher reads the hours and the
 * calendar themselves.
 */
import { PartitionAssigners, type Consumer, type EachBatchPayload, type Kafka } from 'kafkajs';
import type { Config } from '../../lib/config';
import { commitBatch } from '../../lib/kafka-client';
import type { Logger } from '../../lib/logger';
import { HOUR_MS } from '../../lib/time/units';
import { topicNames } from '../../lib/topics';
import type { AvroCodec } from '../../schemas/avro-codec';
import { coPartitionedAssigner } from './co-partitioned-assigner';
import * as metrics from './metrics';
import type { PartitionOwnership } from './partition-ownership';

export interface HoursClosedConsumerOptions {
  config: Config;
  kafka: Kafka;
  codec: AvroCodec;
  logger: Logger;
  member: string;
  /** Handles a batch, folded per branch. */
  onHoursClosed: (batch: ClosedHoursBatch) => Promise<void>;
  /** Handles a batch of calendar changes: the branches whose calendar changed. */
  onCalendarChanged: (branchIds: ReadonlySet<string>) => Promise<void>;
}

/** A batch of HourClosed events, folded per branch. */
export interface ClosedHoursBatch {
  /** The newest origin (end of the closed or corrected hour) per branch. */
  newest: Map<string, number>;
  /** Per branch, its corrected hours (revision above 1): hour start → highest revision seen. */
  corrections: Map<string, Map<number, number>>;
}

export class HoursClosedConsumer {
  private readonly consumer: Consumer;
  private readonly topic: string;
  private readonly calendarTopic: string;
  private readonly log: Logger;

  constructor(private readonly opts: HoursClosedConsumerOptions) {
    this.topic = topicNames(opts.config).hoursClosed;
    this.calendarTopic = topicNames(opts.config).calendar;
    this.log = opts.logger.child({ module: 'forecaster' });
    this.consumer = opts.kafka.consumer({
      groupId: opts.config.KAFKA_FORECASTER_GROUP,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 200,
      sessionTimeout: 30_000,
      // Partition p of hours-closed and of the calendar to one member (RoundRobin while older members remain).
      partitionAssigners: [coPartitionedAssigner, PartitionAssigners.roundRobin],
    });
  }

  /** Joins the group and consumes; each join's assignment goes to `ownership`. */
  async start(ownership: PartitionOwnership): Promise<void> {
    const { consumer, topic } = this;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      ownership.assign(e.payload.memberAssignment[topic] ?? []);
      this.log.info(
        { partitions: ownership.partitions, member: this.opts.member },
        'hours-closed partitions assigned',
      );
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic, this.calendarTopic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.handleBatch(payload),
    });
  }

  async disconnect(): Promise<void> {
    await this.consumer.disconnect();
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
    if (batch.topic === this.calendarTopic) await this.opts.onCalendarChanged(this.changedBranches(payload));
    else await this.opts.onHoursClosed(this.fold(payload));
    const last = batch.lastOffset();
    await commitBatch(this.consumer, payload, (BigInt(last) + 1n).toString());
    payload.resolveOffset(last);
    await payload.heartbeat();
  }

  /** The branches a batch of CalendarChanged messages names. */
  private changedBranches({ batch }: EachBatchPayload): Set<string> {
    const branches = new Set<string>();
    for (const m of batch.messages) {
      if (!m.value) continue;
      try {
        const d = this.opts.codec.decode(m.value);
        if (d.kind === 'calendarChanged') branches.add(d.value.branch_id);
      } catch (err) {
        // Our own API writes this topic: a bad message is a bug worth a loud log, not a stuck partition.
        this.log.error({ err, offset: m.offset }, 'undecodable CalendarChanged message skipped');
      }
    }
    metrics.calendarChanges.inc(batch.messages.length);
    return branches;
  }

  /**
   * The newest origin per branch of a batch (the events folded into a newer one are counted) and
   * its corrections.
   */
  private fold({ batch }: EachBatchPayload): ClosedHoursBatch {
    const latest = new Map<string, number>();
    const corrections = new Map<string, Map<number, number>>();
    let seen = 0;
    for (const m of batch.messages) {
      if (!m.value) continue;
      try {
        const d = this.opts.codec.decode(m.value);
        if (d.kind !== 'hourClosed') continue;
        seen++;
        const origin = d.value.hour_start + HOUR_MS;
        latest.set(d.value.branch_id, Math.max(latest.get(d.value.branch_id) ?? -Infinity, origin));
        if (d.value.revision > 1) {
          const hours = corrections.get(d.value.branch_id) ?? new Map<number, number>();
          hours.set(d.value.hour_start, Math.max(hours.get(d.value.hour_start) ?? 0, d.value.revision));
          corrections.set(d.value.branch_id, hours);
        }
      } catch (err) {
        // Our own ingest writes this topic; a bad message is a bug worth a loud log, not a stuck partition.
        this.log.error({ err, offset: m.offset }, 'undecodable HourClosed message skipped');
      }
    }
    metrics.coalescedEvents.inc(Math.max(0, seen - latest.size));
    return { newest: latest, corrections };
  }
}
