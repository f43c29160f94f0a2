/**
 * What the steps of one batch (batch-processor.ts) share: the consumer's dependencies, the batch's
 * messages, and what each step leaves for the next ones. Every field exists from the start (empty),
 * so a step reads what the steps before it wrote without asking whether they ran.
 */
import type { BranchDirectory } from '../../lib/branches';
import type { Logger } from '../../lib/logger';
import type { Heartbeat, HourClosed, SaleEvent } from '../../schemas/events';
import type { BranchClock, HourCloseSettings } from './hour-close';
import type { NewEventRow, RejectionRow, SalesStore } from '../../clickhouse/store/sales-store';
import type { Rejection, ValidationRules } from '../../schemas/event-rules';

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

/** A message after the decode step: its payload, or why it has none (rejected in message order by validate). */
export type DecodedMessage = { m: RawMessage; decoded: Decoded } | { m: RawMessage; undecodable: Rejection };

/** What a batch showed of a branch's event time (the input of hour-close.ts `advance`). */
export interface BranchProgress {
  maxEventTime: number;
  minSaleTime: number | null;
}

export interface BatchContext {
  readonly deps: IngestDeps;
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly RawMessage[];
  /** decode: every message, in offset order. */
  decoded: DecodedMessage[];
  /** validate: the valid sales, each with its message (a conflicting duplicate is dead-lettered by dedupe). */
  sales: { m: RawMessage; e: SaleEvent }[];
  /** validate, dedupe: each branch's event time in this batch (heartbeats, new sales, stored copies of duplicates). */
  progress: Map<string, BranchProgress>;
  /** dedupe: the sales not stored yet, for store events. */
  newRows: NewEventRow[];
  /** dedupe, advance clocks: the hours of each branch to recompute. */
  touched: Map<string, Set<number>>;
  /** advance clocks: each branch's clock after this batch (saved last, by save clocks). */
  nextClocks: Map<string, BranchClock>;
  /** validate, dedupe: what dead letters publishes and records. */
  letters: DeadLetter[];
  rejections: RejectionRow[];
  result: BatchResult;
}

export function newBatchContext(
  deps: IngestDeps,
  topic: string,
  partition: number,
  messages: readonly RawMessage[],
): BatchContext {
  return {
    deps,
    topic,
    partition,
    messages,
    decoded: [],
    sales: [],
    progress: new Map(),
    newRows: [],
    touched: new Map(),
    nextClocks: new Map(),
    letters: [],
    rejections: [],
    result: {
      accepted: 0,
      duplicates: 0,
      rejected: 0,
      tooLate: 0,
      heartbeats: 0,
      hoursWritten: 0,
      hoursClosed: [],
      rejectionsByCode: {},
    },
  };
}

/** Queues a message for the dead-letter topic and the rejections table. */
export function reject(ctx: BatchContext, m: RawMessage, r: Rejection, branchId = '', eventId = ''): void {
  const { topic, partition } = ctx;
  ctx.letters.push({ original: m, partition, code: r.code, reason: r.reason });
  ctx.rejections.push({
    topic,
    partition,
    offset: m.offset,
    code: r.code,
    reason: r.reason,
    branch_id: branchId,
    event_id: eventId,
    payload_size: m.value?.length ?? 0,
  });
  ctx.result.rejectionsByCode[r.code] = (ctx.result.rejectionsByCode[r.code] ?? 0) + 1;
}

function progressOf(ctx: BatchContext, branch: string): BranchProgress {
  let p = ctx.progress.get(branch);
  if (!p) ctx.progress.set(branch, (p = { maxEventTime: -Infinity, minSaleTime: null }));
  return p;
}

export function sawHeartbeat(ctx: BatchContext, branch: string, at: number): void {
  const p = progressOf(ctx, branch);
  p.maxEventTime = Math.max(p.maxEventTime, at);
}

export function sawSale(ctx: BatchContext, branch: string, occurredAt: number): void {
  const p = progressOf(ctx, branch);
  p.maxEventTime = Math.max(p.maxEventTime, occurredAt);
  p.minSaleTime = p.minSaleTime === null ? occurredAt : Math.min(p.minSaleTime, occurredAt);
}

export function addHour(map: Map<string, Set<number>>, branch: string, hour: number): void {
  let set = map.get(branch);
  if (!set) map.set(branch, (set = new Set()));
  set.add(hour);
}
