/** Ingest metrics (prom-client default registry; served by the API role's /metrics and `tillcast ingest --metrics-port`). */
import { Counter, Gauge, Histogram } from 'prom-client';

export const eventsTotal = new Counter({
  name: 'tillcast_ingest_events_total',
  help: 'Sale events by outcome (accepted, duplicate, too_late, rejected)',
  labelNames: ['outcome'] as const,
});
export const rejectionsTotal = new Counter({
  name: 'tillcast_ingest_rejections_total',
  help: 'Messages sent to the dead-letter topic, by reason code',
  labelNames: ['code'] as const,
});
export const heartbeatsTotal = new Counter({
  name: 'tillcast_ingest_heartbeats_total',
  help: 'Heartbeats accepted',
});
export const hoursClosedTotal = new Counter({
  name: 'tillcast_ingest_hours_closed_total',
  help: 'HourClosed events published (first closes and corrections)',
  labelNames: ['kind'] as const,
});
export const batchSeconds = new Histogram({
  name: 'tillcast_ingest_batch_seconds',
  help: 'Time to process and commit one Kafka batch',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});
export const consumerLag = new Gauge({
  name: 'tillcast_ingest_consumer_lag',
  help: 'Messages behind the partition high watermark after the last batch',
  labelNames: ['partition'] as const,
});
export const hourCloseDelaySeconds = new Histogram({
  name: 'tillcast_ingest_hour_close_delay_seconds',
  help: 'Wall-clock delay between an hour ending and its close being published (live traffic only)',
  buckets: [1, 5, 15, 60, 300, 600, 1800, 3600],
});
export const commitsRefusedTotal = new Counter({
  name: 'tillcast_ingest_commits_refused_total',
  help: 'Batches written whose offset commit the group refused (the member had lost the partition; its owner redoes them)',
});
export const stepSeconds = new Histogram({
  name: 'tillcast_ingest_step_duration_seconds',
  help: 'Time of one step of a batch (step-runner.ts), by step; a step that fails is not observed',
  labelNames: ['step'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});
