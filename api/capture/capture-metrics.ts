/** Capture metrics (prom-client default registry, module scope: shared by every server of the process). */
import { Counter, Histogram } from 'prom-client';

export const captureEvents = new Counter({
  name: 'tillcast_capture_events_total',
  help: 'Events posted to the capture routes, by source (events, square) and outcome (accepted, or the rejection code)',
  labelNames: ['source', 'outcome'] as const,
});

export const capturePublishSeconds = new Histogram({
  name: 'tillcast_capture_publish_seconds',
  help: 'Time from a capture produce request to Kafka acknowledging it (acks=all), by outcome (acked, failed)',
  labelNames: ['outcome'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});
