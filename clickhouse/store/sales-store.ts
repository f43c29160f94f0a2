/**
 * The ingest's view of storage: the statements one batch makes, over the four tables it writes
 * (sales-events.ts, sales-hourly.ts, branch-clocks.ts, rejections.ts). One object, so a batch's
 * steps take one dependency and a test can hold a member just before any of its statements.
 * Every statement here is idempotent (rows are replaced by key, or outranked by version), which
 * is what makes a redelivered batch harmless. Also exports the types the batch exchanges with it.
 */
import type { ClickHouse } from '../client';
import { BranchClocks, type StoredClock } from './branch-clocks';
import { Rejections, type RejectionRow } from './rejections';
import { MAX_IDS_PER_LOOKUP, SalesEvents, type NewEventRow, type StoredEventKey } from './sales-events';
import { SalesHourly, type HourAggregate, type HourRow, type StoredHour } from './sales-hourly';

export type { StoredClock } from './branch-clocks';
export type { RejectionRow } from './rejections';
export { MAX_IDS_PER_LOOKUP, type NewEventRow, type StoredEventKey } from './sales-events';
export { emptyAggregate, hourKey, type HourAggregate, type HourRow, type StoredHour } from './sales-hourly';

export class SalesStore {
  private readonly events: SalesEvents;
  private readonly hourly: SalesHourly;
  private readonly clocks: BranchClocks;
  private readonly rejections: Rejections;

  /** The bounds default to the client's mode (a server's URL limits; none embedded). */
  constructor(
    ch: ClickHouse,
    maxIdsPerLookup = MAX_IDS_PER_LOOKUP,
    maxParamChars?: number,
    maxHoursPerQuery?: number,
  ) {
    this.events = new SalesEvents(ch, maxIdsPerLookup, maxParamChars);
    this.hourly = new SalesHourly(ch, { maxParamChars, maxHoursPerQuery });
    this.clocks = new BranchClocks(ch);
    this.rejections = new Rejections(ch);
  }

  /** Stored copies of the given (branch, event id)s, for duplicate detection. */
  findEvents(branchIds: string[], eventIds: string[]): Promise<StoredEventKey[]> {
    return this.events.find(branchIds, eventIds);
  }

  insertEvents(rows: NewEventRow[]): Promise<void> {
    return this.events.insert(rows);
  }

  /** The hours' aggregates recomputed from the raw events (hours without events are absent). */
  aggregateHours(hours: Map<string, Set<number>>): Promise<Map<string, HourAggregate>> {
    return this.hourly.aggregateHours(hours);
  }

  /** Stored state of the hours; read before they are aggregated (sales-hourly.ts). */
  storedHours(hours: Map<string, Set<number>>): Promise<Map<string, StoredHour>> {
    return this.hourly.storedHours(hours);
  }

  insertHours(rows: HourRow[]): Promise<void> {
    return this.hourly.insertHours(rows);
  }

  loadClocks(branchIds?: string[]): Promise<Map<string, { watermark: number; closedThrough: number }>> {
    return this.clocks.loadClocks(branchIds);
  }

  saveClocks(clocks: ReadonlyMap<string, StoredClock>): Promise<void> {
    return this.clocks.saveClocks(clocks);
  }

  insertRejections(rows: RejectionRow[]): Promise<void> {
    return this.rejections.insert(rows);
  }
}
