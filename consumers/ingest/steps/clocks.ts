/** The steps of a batch that read, move and save its branches' clocks (hour-close.ts). */
import { addHour, type BatchContext } from '../batch-context';
import { advance, laterClock } from '../hour-close';

/**
 * Step load clocks: each branch starts from the most advanced clock: this member's, or a later one
 * another member saved while the partition was theirs (read once per assignment: while this member
 * owns the partition, only a zombie of an earlier owner can save a clock, and that one is behind
 * this member's, which has seen the zombie's batch again).
 */
export async function loadStoredClocks(ctx: BatchContext): Promise<void> {
  const { deps } = ctx;
  const batchBranches = new Set([...ctx.sales.map((s) => s.e.branch_id), ...ctx.progress.keys()]);
  const unread = [...batchBranches].filter((b) => !deps.clocksRead?.has(b));
  if (unread.length === 0) return;
  for (const [b, c] of await deps.store.loadClocks(unread))
    deps.clocks.set(b, laterClock(deps.clocks.get(b), c));
  for (const b of unread) deps.clocksRead?.add(b);
  // What the batch believes from here on (post-mortems of members racing over a partition).
  if (deps.logger.isLevelEnabled('debug'))
    deps.logger.debug(
      {
        partition: ctx.partition,
        clocks: Object.fromEntries(unread.map((b) => [b, deps.clocks.get(b) ?? null])),
      },
      'batch clocks loaded',
    );
}

/** Step advance clocks: each branch's clock after this batch, and the hours that close with it (to recompute). */
export function advanceClocks(ctx: BatchContext): void {
  const { deps } = ctx;
  for (const [branch, p] of ctx.progress) {
    const { next, closing } = advance(deps.clocks.get(branch), p, deps.settings);
    ctx.nextClocks.set(branch, next);
    for (const h of closing) addHour(ctx.touched, branch, h);
  }
}

/** Step save clocks, the last write: only after the closes they imply were published. */
export async function saveClocks(ctx: BatchContext): Promise<void> {
  const { deps, nextClocks } = ctx;
  if (nextClocks.size === 0) return;
  await deps.store.saveClocks(nextClocks);
  for (const [b, c] of nextClocks) deps.clocks.set(b, c);
}
