/** The steps of a batch that sort its sales into new events and duplicates, and store the new ones. */
import type { SaleEvent } from '../../../schemas/events';
import { addHour, reject, sawSale, type BatchContext, type RawMessage } from '../batch-context';
import { floorToHour } from '../../../lib/time/units';
import { classify } from '../hour-close';

/** What dedupe compares of a stored (or earlier in the batch) copy of an event. */
interface KnownEvent {
  occurred_at: number;
  status: string;
  total_minor: number;
}

const sameEvent = (a: KnownEvent, b: SaleEvent) =>
  a.occurred_at === b.occurred_at && a.status === b.status && a.total_minor === b.total_minor;

const eventKey = (e: { branch_id: string; event_id: string }) => `${e.branch_id}\u0000${e.event_id}`;

/**
 * Step dedupe: duplicates within the batch, and against what is already stored (first write wins).
 * A new sale becomes a row to store and touches its hour, unless it is too late to aggregate.
 */
export async function dedupeSales(ctx: BatchContext): Promise<void> {
  const { deps, sales } = ctx;
  const stored = await deps.store.findEvents(
    [...new Set(sales.map((s) => s.e.branch_id))],
    [...new Set(sales.map((s) => s.e.event_id))],
  );
  const known = new Map<string, KnownEvent>(stored.map((s) => [eventKey(s), s]));
  for (const { m, e } of sales) {
    const prior = known.get(eventKey(e));
    if (prior) {
      duplicate(ctx, m, e, prior);
      continue;
    }
    known.set(eventKey(e), e);
    newSale(ctx, m, e);
  }
}

function duplicate(ctx: BatchContext, m: RawMessage, e: SaleEvent, prior: KnownEvent): void {
  const { deps } = ctx;
  if (!sameEvent(prior, e)) {
    reject(
      ctx,
      m,
      {
        code: 'conflicting_duplicate',
        reason: `event ${e.event_id} of ${e.branch_id} was already recorded with different content (first write wins)`,
      },
      e.branch_id,
      e.event_id,
    );
    return;
  }
  ctx.result.duplicates++;
  // The stored copy still counts for the branch's clock: a crash may have stored it before
  // the clock it implies was saved, and the redelivery must close the same hours a clean run did.
  sawSale(ctx, e.branch_id, prior.occurred_at);
  // Harmless: recomputing its hour fixes an aggregate a crash may have left behind. Unless the
  // stored copy was too late: its hour is beyond correction and must not be touched.
  if (classify(deps.clocks.get(e.branch_id), prior.occurred_at, deps.settings) !== 'too_late') {
    addHour(ctx.touched, e.branch_id, floorToHour(prior.occurred_at));
  }
}

function newSale(ctx: BatchContext, m: RawMessage, e: SaleEvent): void {
  const { deps } = ctx;
  const tooLate = classify(deps.clocks.get(e.branch_id), e.occurred_at, deps.settings) === 'too_late';
  ctx.newRows.push({ event: e, tooLate, partition: ctx.partition, offset: m.offset });
  sawSale(ctx, e.branch_id, e.occurred_at);
  if (tooLate) {
    ctx.result.tooLate++;
    deps.logger.warn(
      { branch_id: e.branch_id, event_id: e.event_id, occurred_at: new Date(e.occurred_at).toISOString() },
      'event beyond the correction window: stored raw, not aggregated',
    );
  } else {
    ctx.result.accepted++;
    addHour(ctx.touched, e.branch_id, floorToHour(e.occurred_at));
  }
}

/** Step store events, the first write: a re-run of the batch finds them and treats them as duplicates. */
export async function storeEvents(ctx: BatchContext): Promise<void> {
  await ctx.deps.store.insertEvents(ctx.newRows);
}
