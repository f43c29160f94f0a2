/**
 * Turns one Kafka batch (one partition, in offset order) into ClickHouse rows,
 * dead letters and hour-close events. The caller commits the batch's offsets
 * only after this resolves, so every step here is idempotent: a batch delivered
 * again (after a crash, a rebalance, a broker restart) changes no total.
 *
 * Order of effects, chosen for crash safety:
 *   1. new raw events          (a re-run finds them and treats them as duplicates)
 *   2. hourly aggregates       (recomputed from raw events: same result every time)
 *   3. dead letters + rejections, HourClosed events (at least once: a trigger, readers
 *      such as the forecaster take the hour itself from sales_hourly)
 *   4. branch watermarks       (only after the closes they imply were published)
 *
 * Several members share the partitions, and one that lost its partitions (a zombie,
 * stalled past the session timeout) learns it only when its commit is refused, after
 * all of this. Its late writes are outranked, not prevented: every hour and clock row
 * carries a version of what it knows (row-versions.ts), each batch starts from the most
 * advanced stored clock of its branches, and an hour's stored state is read before it is
 * re-aggregated (so a new row knows at least what the stored one did).
 */
import type { BranchDirectory } from '../../lib/branches';
import type { Logger } from '../../lib/logger';
import type { Heartbeat, HourClosed, SaleEvent } from '../../schemas/events';
import {
  advance,
  classify,
  hourOf,
  laterClock,
  type BranchClock,
  type HourCloseSettings,
} from './hour-close';
import { hourVersion } from './row-versions';
import {
  emptyAggregate,
  hourKey,
  type HourAggregate,
  type HourRow,
  type NewEventRow,
  type RejectionRow,
  type SalesStore,
  type StoredHour,
} from './sales-store';
import { validateHeartbeat, validateSale, type Rejection, type ValidationRules } from './validate';

export interface RawMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export type Decoded =
  | { kind: 'sale'; value: SaleEvent }
  | { kind: 'heartbeat'; value: Heartbeat }
  | { kind: string; value: unknown };

export interface DeadLetter {
  original: RawMessage;
  partition: number;
  code: string;
  reason: string;
}

export interface IngestDeps {
  store: SalesStore;
  decode: (buf: Buffer) => Decoded;
  rules: ValidationRules;
  settings: HourCloseSettings;
  branches: BranchDirectory;
  /** Branch clocks of this consumer (branches are keyed to partitions, so a batch owns its branches). */
  clocks: Map<string, BranchClock>;
  /**
   * Branches whose stored clocks this member has read since it was last given its partitions; the
   * consumer empties it at every group join. Absent: the stored clocks are read at every batch.
   */
  clocksRead?: Set<string>;
  deadLetter: (letters: DeadLetter[]) => Promise<void>;
  publishHoursClosed: (events: HourClosed[]) => Promise<void>;
  now: () => number;
  logger: Logger;
}

export interface BatchResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  tooLate: number;
  heartbeats: number;
  hoursWritten: number;
  hoursClosed: HourClosed[];
  rejectionsByCode: Record<string, number>;
}

function decodeError(err: unknown): Rejection {
  const e = err as { code?: unknown; message?: unknown };
  return {
    code: typeof e.code === 'string' ? e.code : 'undecodable',
    reason: typeof e.message === 'string' ? e.message : String(err),
  };
}

const sameEvent = (a: { occurred_at: number; status: string; total_minor: number }, b: SaleEvent) =>
  a.occurred_at === b.occurred_at && a.status === b.status && a.total_minor === b.total_minor;

/**
 * The message key must be the event's branch id: the topic is keyed by branch so that one
 * partition (one consumer, one batch at a time) owns each branch's clock. An event keyed
 * otherwise (or not at all) may sit on another partition than its branch and race its clock.
 */
function checkKey(m: RawMessage, branchId: string): Rejection | undefined {
  if (m.key?.equals(Buffer.from(branchId, 'utf8'))) return undefined;
  const key = m.key ? `key ${JSON.stringify(m.key.toString('utf8').slice(0, 80))}` : 'no key';
  return {
    code: 'key_mismatch',
    reason: `message has ${key}, but its branch_id is ${JSON.stringify(branchId)}: the topic is keyed by branch id`,
  };
}

/** The stored row already says what this aggregation says (a row of older code: its totals do). */
const sameTotals = (stored: StoredHour, agg: HourAggregate) =>
  stored.sales_minor === agg.sales_minor &&
  stored.orders === agg.orders &&
  stored.refunds === agg.refunds &&
  stored.voids === agg.voids &&
  (stored.events === null || stored.events === agg.events);

function addHour(map: Map<string, Set<number>>, branch: string, hour: number) {
  let set = map.get(branch);
  if (!set) map.set(branch, (set = new Set()));
  set.add(hour);
}

export async function processBatch(
  deps: IngestDeps,
  topic: string,
  partition: number,
  messages: RawMessage[],
): Promise<BatchResult> {
  const result: BatchResult = {
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    tooLate: 0,
    heartbeats: 0,
    hoursWritten: 0,
    hoursClosed: [],
    rejectionsByCode: {},
  };
  const letters: DeadLetter[] = [];
  const rejections: RejectionRow[] = [];
  const reject = (m: RawMessage, r: Rejection, branchId = '', eventId = '') => {
    letters.push({ original: m, partition, code: r.code, reason: r.reason });
    rejections.push({
      topic,
      partition,
      offset: m.offset,
      code: r.code,
      reason: r.reason,
      branch_id: branchId,
      event_id: eventId,
      payload_size: m.value?.length ?? 0,
    });
    result.rejectionsByCode[r.code] = (result.rejectionsByCode[r.code] ?? 0) + 1;
  };

  // 1. Decode and validate. Sales keep their message for dead-lettering conflicts later.
  const sales: { m: RawMessage; e: SaleEvent }[] = [];
  const progress = new Map<string, { maxEventTime: number; minSaleTime: number | null }>();
  const seen = (branch: string) => {
    let p = progress.get(branch);
    if (!p) progress.set(branch, (p = { maxEventTime: -Infinity, minSaleTime: null }));
    return p;
  };
  const sawSale = (branch: string, occurredAt: number) => {
    const p = seen(branch);
    p.maxEventTime = Math.max(p.maxEventTime, occurredAt);
    p.minSaleTime = p.minSaleTime === null ? occurredAt : Math.min(p.minSaleTime, occurredAt);
  };
  for (const m of messages) {
    if (!m.value || m.value.length === 0) {
      reject(m, { code: 'empty_message', reason: 'message has no value (tombstone or empty payload)' });
      continue;
    }
    let decoded: Decoded;
    try {
      decoded = deps.decode(m.value);
    } catch (err) {
      reject(m, decodeError(err));
      continue;
    }
    if (decoded.kind === 'sale') {
      const e = decoded.value as SaleEvent;
      const bad = validateSale(e, deps.rules) ?? checkKey(m, e.branch_id);
      if (bad) reject(m, bad, e.branch_id, e.event_id);
      else sales.push({ m, e });
    } else if (decoded.kind === 'heartbeat') {
      const h = decoded.value as Heartbeat;
      const bad = validateHeartbeat(h, deps.rules) ?? checkKey(m, h.branch_id);
      if (bad) reject(m, bad, h.branch_id);
      else {
        result.heartbeats++;
        const p = seen(h.branch_id);
        p.maxEventTime = Math.max(p.maxEventTime, h.at);
      }
    } else {
      reject(m, {
        code: 'wrong_topic_type',
        reason: `a ${decoded.kind} message does not belong on ${topic}`,
      });
    }
  }

  // 1b. Each branch starts from the most advanced clock: this member's, or a later one another member
  // saved while the partition was theirs (read once per assignment: while this member owns the
  // partition, only a zombie of an earlier owner can save a clock, and that one is behind this
  // member's, which has seen the zombie's batch again).
  const batchBranches = new Set([...sales.map((s) => s.e.branch_id), ...progress.keys()]);
  const unread = [...batchBranches].filter((b) => !deps.clocksRead?.has(b));
  if (unread.length > 0) {
    for (const [b, c] of await deps.store.loadClocks(unread))
      deps.clocks.set(b, laterClock(deps.clocks.get(b), c));
    for (const b of unread) deps.clocksRead?.add(b);
    // What the batch believes from here on (post-mortems of members racing over a partition).
    if (deps.logger.isLevelEnabled('debug'))
      deps.logger.debug(
        { partition, clocks: Object.fromEntries(unread.map((b) => [b, deps.clocks.get(b) ?? null])) },
        'batch clocks loaded',
      );
  }

  // 2. Duplicates: within the batch, and against what is already stored (first write wins).
  const stored = await deps.store.findEvents(
    [...new Set(sales.map((s) => s.e.branch_id))],
    [...new Set(sales.map((s) => s.e.event_id))],
  );
  const known = new Map<string, { occurred_at: number; status: string; total_minor: number }>(
    stored.map((s) => [`${s.branch_id}\u0000${s.event_id}`, s]),
  );
  const touched = new Map<string, Set<number>>();
  const newRows: NewEventRow[] = [];
  for (const { m, e } of sales) {
    const id = `${e.branch_id}\u0000${e.event_id}`;
    const prior = known.get(id);
    const hour = hourOf(e.occurred_at);
    if (prior) {
      if (sameEvent(prior, e)) {
        result.duplicates++;
        // The stored copy still counts for the branch's clock: a crash may have stored it before
        // the clock it implies was saved, and the redelivery must close the same hours a clean run did.
        sawSale(e.branch_id, prior.occurred_at);
        // Harmless: recomputing its hour fixes an aggregate a crash may have left behind. Unless the
        // stored copy was too late: its hour is beyond correction and must not be touched.
        if (classify(deps.clocks.get(e.branch_id), prior.occurred_at, deps.settings) !== 'too_late') {
          addHour(touched, e.branch_id, hourOf(prior.occurred_at));
        }
      } else {
        reject(
          m,
          {
            code: 'conflicting_duplicate',
            reason: `event ${e.event_id} of ${e.branch_id} was already recorded with different content (first write wins)`,
          },
          e.branch_id,
          e.event_id,
        );
      }
      continue;
    }
    known.set(id, e);
    const lateness = classify(deps.clocks.get(e.branch_id), e.occurred_at, deps.settings);
    const tooLate = lateness === 'too_late';
    newRows.push({ event: e, tooLate, partition, offset: m.offset });
    sawSale(e.branch_id, e.occurred_at);
    if (tooLate) {
      result.tooLate++;
      deps.logger.warn(
        { branch_id: e.branch_id, event_id: e.event_id, occurred_at: new Date(e.occurred_at).toISOString() },
        'event beyond the correction window: stored raw, not aggregated',
      );
    } else {
      result.accepted++;
      addHour(touched, e.branch_id, hour);
    }
  }
  await deps.store.insertEvents(newRows);

  // 3. Advance the clocks and work out which hours close now.
  const nextClocks = new Map<string, BranchClock>();
  for (const [branch, p] of progress) {
    const { next, closing } = advance(deps.clocks.get(branch), p, deps.settings);
    nextClocks.set(branch, next);
    for (const h of closing) addHour(touched, branch, h);
  }

  // 4. Recompute every touched hour from raw events and write the ones that say something new.
  if (touched.size > 0) {
    // Stored state first, aggregation second: whatever a stored row counted, this one counts too.
    // Only of the hours closed after this batch (their revision and HourClosed depend on it): an
    // hour still open here is written as an open row, which a closed row of a member with a later
    // clock outranks anyway (row-versions.ts), so reading it would buy nothing (measured: the read
    // of every touched hour cost bench:ingest about 15%).
    const closedHours = new Map<string, Set<number>>();
    for (const [branch, set] of touched) {
      const through = nextClocks.get(branch)?.closedThrough ?? deps.clocks.get(branch)?.closedThrough ?? null;
      for (const h of set) if (through !== null && h < through) addHour(closedHours, branch, h);
    }
    const storedHours = await deps.store.storedHours(closedHours);
    const aggregates = await deps.store.aggregateHours(touched);
    const rows: HourRow[] = [];
    for (const [branch, set] of touched) {
      const timezone = deps.branches.get(branch)?.timezone ?? 'UTC';
      const closedBefore = deps.clocks.get(branch)?.closedThrough ?? null;
      const closedThrough = nextClocks.get(branch)?.closedThrough ?? closedBefore;
      for (const h of [...set].sort((a, b) => a - b)) {
        const key = hourKey(branch, h);
        const agg = aggregates.get(key) ?? emptyAggregate();
        const stored = storedHours.get(key);
        const closed = closedThrough !== null && h < closedThrough;
        if (!closed) {
          // If a member with a later clock closed it already, its closed row outranks this one.
          rows.push({
            branch_id: branch,
            hour_start: h,
            timezone,
            closed,
            revision: 0,
            version: hourVersion({ closed, events: agg.events, revision: 0 }),
            ...agg,
          });
          continue;
        }
        if (stored?.closed && sameTotals(stored, agg) && stored.revision === stored.topRevision) {
          // Nothing new to write. But the HourClosed of the stored row may have been lost: a crash
          // between writing it and publishing (the batch is redelivered: its hours close again, or
          // its events are duplicates now). Publish the stored revision again (at least once; the
          // event is a trigger, readers take the hour itself from sales_hourly).
          const closesNow = closedBefore === null || h >= closedBefore;
          if (closesNow || stored.revision > 1) {
            result.hoursClosed.push({
              branch_id: branch,
              hour_start: h,
              sales_minor: stored.sales_minor,
              orders: stored.orders,
              revision: stored.revision,
              closed_at: deps.now(),
            });
          }
          continue;
        }
        // The first close (1), or a correction: above every revision stored, a stale one of a zombie included.
        const revision = (stored?.topRevision ?? 0) + 1;
        rows.push({
          branch_id: branch,
          hour_start: h,
          timezone,
          closed,
          revision,
          version: hourVersion({ closed, events: agg.events, revision }),
          ...agg,
        });
        result.hoursClosed.push({
          branch_id: branch,
          hour_start: h,
          sales_minor: agg.sales_minor,
          orders: agg.orders,
          revision,
          closed_at: deps.now(),
        });
      }
    }
    await deps.store.insertHours(rows);
    result.hoursWritten = rows.length;
  }

  // 5. Side effects that must not be lost, then the clocks.
  if (letters.length > 0) {
    await deps.deadLetter(letters);
    await deps.store.insertRejections(rejections);
  }
  result.rejected = letters.length;
  if (result.hoursClosed.length > 0) await deps.publishHoursClosed(result.hoursClosed);
  if (nextClocks.size > 0) {
    await deps.store.saveClocks(nextClocks);
    for (const [b, c] of nextClocks) deps.clocks.set(b, c);
  }
  return result;
}
