/**
 * `ingest_rejections`: every message ingest refused (it also went to the dead-letter topic) or
 * counted as a duplicate, for the DLQ summary and audits. Keyed by (topic, partition, offset,
 * code), so a batch delivered again writes the same rows.
 */
import type { ClickHouse } from '../client';
import { QueryRunner } from '../query-runner';

export interface RejectionRow {
  topic: string;
  partition: number;
  offset: string;
  code: string;
  reason: string;
  branch_id: string;
  event_id: string;
  payload_size: number;
}

export class Rejections {
  private readonly q: QueryRunner;

  constructor(ch: ClickHouse) {
    this.q = new QueryRunner(ch);
  }

  async insert(rows: RejectionRow[]): Promise<void> {
    await this.q.insert(
      'ingest_rejections.insert',
      'ingest_rejections',
      rows.map((r) => ({
        topic: r.topic,
        kafka_partition: r.partition,
        kafka_offset: r.offset,
        code: r.code,
        reason: r.reason,
        branch_id: r.branch_id,
        event_id: r.event_id,
        payload_size: r.payload_size,
      })),
      { idempotent: true },
    );
  }
}
