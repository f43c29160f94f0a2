/**
 * Turns one Kafka batch (one partition, in offset order) into ClickHouse rows,
 * dead letters and hour-close events. The caller commits the batch's offsets
 * only after this resolves, so every step here is idempotent: a batch delivered
 * again (after a crash, a rebalance, a broker restart) changes no total.
 *
 * Order of effects, chosen for crash safety:
 *   1. new raw events          (a re-run finds them and treats them as duplicates)
 *   2. hourly aggregates       (recomputed from raw events: same result every time)
 *   3. dead letters + rejections, HourClosed events (at least once; consumers dedupe by revision)
 *   4. branch watermarks       (only after the closes they imply were published)
 */
import type { BranchDirectory } from '../../lib/branches';
import type { Logger } from '../../lib/logger';
import type { Heartbeat, HourClosed, SaleEvent } from '../../schemas/events';
import { advance, classify, hourOf, type BranchClock, type HourCloseSettings } from './hour-close';
import {
  emptyAggregate,
  hourKey,
  type HourRow,
  type NewEventRow,
  type RejectionRow,
  type SalesStore,
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
  deadLetter: (letters: DeadLetter[]) => Promise<void>;
  publishHoursClosed: (events: HourClosed[]) => Promise<void>;
  nextVersion: () => number;
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
  const closingNow = new Map<string, Set<number>>();
  for (const [branch, p] of progress) {
    const { next, closing } = advance(deps.clocks.get(branch), p, deps.settings);
    nextClocks.set(branch, next);
    for (const h of closing) {
      addHour(closingNow, branch, h);
      addHour(touched, branch, h);
    }
  }

  // 4. Recompute every touched hour from raw events and write it with its revision.
  if (touched.size > 0) {
    const aggregates = await deps.store.aggregateHours(touched);
    // Hours that were already closed before this batch need their stored revision.
    const previouslyClosed = new Map<string, Set<number>>();
    for (const [branch, set] of touched) {
      const ct = deps.clocks.get(branch)?.closedThrough;
      for (const h of set)
        if (ct !== null && ct !== undefined && h < ct) addHour(previouslyClosed, branch, h);
    }
    const storedHours = await deps.store.storedHours(previouslyClosed);
    const rows: HourRow[] = [];
    for (const [branch, set] of touched) {
      const timezone = deps.branches.get(branch)?.timezone ?? 'UTC';
      const closedThrough =
        nextClocks.get(branch)?.closedThrough ?? deps.clocks.get(branch)?.closedThrough ?? null;
      for (const h of [...set].sort((a, b) => a - b)) {
        const key = hourKey(branch, h);
        const agg = aggregates.get(key) ?? emptyAggregate();
        const closed = closedThrough !== null && h < closedThrough;
        let revision = 0;
        if (previouslyClosed.get(branch)?.has(h)) {
          const before = storedHours.get(key);
          const unchanged =
            before !== undefined &&
            before.sales_minor === agg.sales_minor &&
            before.orders === agg.orders &&
            before.refunds === agg.refunds &&
            before.voids === agg.voids;
          if (unchanged) {
            // A duplicate re-touched it: nothing to correct. But a correction (revision > 1) may be
            // here because a crash came between writing it and publishing its HourClosed (the
            // batch is redelivered, its event now a duplicate): publish the stored revision again
            // (at least once; the forecaster dedupes by revision).
            if (before.closed && before.revision > 1) {
              result.hoursClosed.push({
                branch_id: branch,
                hour_start: h,
                sales_minor: before.sales_minor,
                orders: before.orders,
                revision: before.revision,
                closed_at: deps.now(),
              });
            }
            continue;
          }
          revision = (before?.revision ?? 0) + 1;
        } else if (closed) {
          revision = 1;
        }
        rows.push({
          branch_id: branch,
          hour_start: h,
          timezone,
          closed,
          revision,
          version: deps.nextVersion(),
          ...agg,
        });
        if (closed) {
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
    await deps.store.saveClocks(nextClocks, deps.nextVersion());
    for (const [b, c] of nextClocks) deps.clocks.set(b, c);
  }
  return result;
}
