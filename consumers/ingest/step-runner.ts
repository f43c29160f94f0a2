/**
 * Runs the named steps of a batch in order over one context, timing each in
 * `tillcast_ingest_step_duration_seconds{step}` (in the style of PostHog's event-pipeline runner).
 * A step that throws ends the batch: the error goes to the caller as it is (the consumer tells a
 * refused commit by its type, kafkajs a retriable error by its own), and the batch is not committed.
 */
import * as metrics from './metrics';

export interface Step<C> {
  /** The metric label: what the step does, in words (e.g. 'store events'). */
  readonly name: string;
  readonly run: (ctx: C) => Promise<void> | void;
}

export async function runSteps<C>(ctx: C, steps: readonly Step<C>[]): Promise<void> {
  for (const step of steps) {
    const done = metrics.stepSeconds.startTimer({ step: step.name });
    await step.run(ctx);
    done();
  }
}
