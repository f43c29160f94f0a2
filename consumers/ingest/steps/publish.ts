/** The steps of a batch that publish what must not be lost: dead letters, then HourClosed events. */
import type { BatchContext } from '../batch-context';

/** Step dead letters: the rejected messages to the dead-letter topic, then to the rejections table. */
export async function publishDeadLetters(ctx: BatchContext): Promise<void> {
  const { deps, letters } = ctx;
  if (letters.length > 0) {
    await deps.deadLetter(letters);
    await deps.store.insertRejections(ctx.rejections);
  }
  ctx.result.rejected = letters.length;
}

/** Step hour-close events: at least once (a trigger; readers such as the forecaster take the hour from sales_hourly). */
export async function publishHourCloses(ctx: BatchContext): Promise<void> {
  if (ctx.result.hoursClosed.length > 0) await ctx.deps.publishHoursClosed(ctx.result.hoursClosed);
}
