/**
 * `sales_events`: one row per accepted POS receipt, keyed by (branch_id, event_id). Ingest looks
 * up which of a batch's events are stored already (first write wins) and inserts the new ones.
 * The hourly aggregation of these rows is sales-hourly.ts's (it is how sales_hourly is made).
 */
import type { SaleEvent } from '../../schemas/events';
import type { ClickHouse } from '../client';
import { toDateTime64 } from '../datetime-text';
import { parameterChunks } from '../query-parameters';
import { QueryRunner } from '../query-runner';

export interface StoredEventKey {
  branch_id: string;
  event_id: string;
  occurred_at: number;
  status: string;
  total_minor: number;
}

export interface NewEventRow {
  event: SaleEvent;
  tooLate: boolean;
  partition: number;
  offset: string;
}

/** Event ids per duplicate-lookup query (an upper bound; the URL bound of a server usually bounds first). */
export const MAX_IDS_PER_LOOKUP = 2_000;

const EVENT_COLUMNS: [string, ...string[]] = [
  'branch_id',
  'event_id',
  'occurred_at',
  'status',
  'channel',
  'currency',
  'total_minor',
  'net_minor',
  'tax_minor',
  'tip_minor',
  'covers',
  'pos',
  'too_late',
  'kafka_partition',
  'kafka_offset',
];

export class SalesEvents {
  private readonly q: QueryRunner;
  private readonly maxParamChars: number;

  constructor(
    ch: ClickHouse,
    private readonly maxIdsPerLookup = MAX_IDS_PER_LOOKUP,
    maxParamChars?: number,
  ) {
    this.q = new QueryRunner(ch);
    this.maxParamChars = maxParamChars ?? this.q.maxParamChars;
  }

  /** Stored copies of the given (branch, event id)s, for duplicate detection (looked up in chunks of ids). */
  async find(branchIds: string[], eventIds: string[]): Promise<StoredEventKey[]> {
    const found: StoredEventKey[] = [];
    for (const ids of parameterChunks(eventIds, (id) => id, this.maxIdsPerLookup, this.maxParamChars)) {
      found.push(...(await this.findChunk(branchIds, ids)));
    }
    return found;
  }

  private async findChunk(branchIds: string[], eventIds: string[]): Promise<StoredEventKey[]> {
    const rows = await this.q.rows<{
      branch_id: string;
      event_id: string;
      t: string;
      status: string;
      total_minor: string;
    }>(
      'sales_events.find',
      `SELECT branch_id, event_id, toUnixTimestamp64Milli(occurred_at) AS t, toString(status) AS status, total_minor
       FROM ${this.q.table('sales_events')}
       WHERE branch_id IN {branches:Array(String)} AND event_id IN {ids:Array(String)}`,
      { branches: branchIds, ids: eventIds },
    );
    return rows.map((r) => ({
      branch_id: r.branch_id,
      event_id: r.event_id,
      occurred_at: Number(r.t),
      status: r.status,
      total_minor: Number(r.total_minor),
    }));
  }

  /** Idempotent: a row written again (same key) is collapsed by the ReplacingMergeTree. */
  async insert(rows: NewEventRow[]): Promise<void> {
    // JSONCompactEachRow (positional arrays): the hot path of ingest, half the bytes of JSONEachRow.
    await this.q.insert(
      'sales_events.insert',
      'sales_events',
      rows.map(({ event: e, tooLate, partition, offset }) => [
        e.branch_id,
        e.event_id,
        toDateTime64(e.occurred_at),
        e.status,
        e.channel,
        e.currency,
        e.total_minor,
        e.net_minor,
        e.tax_minor,
        e.tip_minor,
        e.covers,
        e.pos,
        tooLate ? 1 : 0,
        partition,
        offset,
      ]),
      { columns: EVENT_COLUMNS, idempotent: true },
    );
  }
}
