/**
 * `forecast_overrides` and `v_override_accuracy` (clickhouse/migrations/0012_overrides.sql): the
 * managers' overrides of a day's forecast, an append-only ledger, and their scores once the days
 * have closed. The API appends (its writer client), reads a day's latest row (idempotency), the
 * overrides in force (the /predict plan), a per-branch signature that moves on every change (so
 * another API process sees a change within its poll), and the scored days.
 */
import type { ClickHouse } from '../client';
import { toDateTime64 } from '../datetime-text';
import { QueryRunner } from '../query-runner';

/** The model's forecast of a day as /predict served it when the row was written (integer units). */
export interface ModelDay {
  runId: string;
  modelVersion: string;
  /** `forecast`: every hour forecast; `mixed`: some hours already closed (their actuals count). */
  source: 'forecast' | 'mixed';
  salesP10Cents: number;
  salesP50Cents: number;
  salesP90Cents: number;
  ordersP10Milli: number;
  ordersP50Milli: number;
  ordersP90Milli: number;
}

/** Who wrote a row: the API key's id and name (`auth-none` for both without keys). */
export interface OverrideAuthor {
  keyId: string;
  keyName: string;
}

/** One ledger row. */
export interface OverrideRow {
  branchId: string;
  /** Local date, YYYY-MM-DD. */
  date: string;
  /** Epoch ms. */
  setAt: number;
  overrideId: string;
  cleared: boolean;
  /** Null: not overridden (and always null on a clear). */
  salesCents: number | null;
  orders: number | null;
  reason: string;
  by: OverrideAuthor;
  /** Hours of the local date (23, 24 or 25). */
  dayHours: number;
  model: ModelDay;
}

/** A scored day of `v_override_accuracy` (integer units: cents, thousandths of an order). */
export interface ScoredDay {
  branchId: string;
  date: string;
  currency: string;
  setAt: number;
  by: OverrideAuthor;
  reason: string;
  revisions: number;
  runId: string;
  modelVersion: string;
  modelSource: string;
  actualSalesCents: number;
  modelSalesCents: number;
  modelSalesP10Cents: number;
  modelSalesP90Cents: number;
  overrideSalesCents: number | null;
  salesCloser: Closer | null;
  actualOrders: number;
  modelOrdersMilli: number;
  modelOrdersP10Milli: number;
  modelOrdersP90Milli: number;
  overrideOrders: number | null;
  ordersCloser: Closer | null;
}

export type Closer = 'override' | 'model' | 'tie';

interface LedgerRecord {
  branch_id: string;
  day: string;
  set_at_ms: string | number;
  override_id: string;
  cleared: number;
  sales_minor: string | number | null;
  orders: number | null;
  reason: string;
  key_id: string;
  key_name: string;
  day_hours: number;
  run_id: string;
  model_version: string;
  model_source: string;
  model_sales_p10_minor: string | number;
  model_sales_p50_minor: string | number;
  model_sales_p90_minor: string | number;
  model_orders_p10_milli: string | number;
  model_orders_p50_milli: string | number;
  model_orders_p90_milli: string | number;
}

const LEDGER_COLUMNS = `branch_id, toString(local_date) AS day, toUnixTimestamp64Milli(set_at) AS set_at_ms,
  override_id, cleared, sales_minor, orders, reason, key_id, key_name, day_hours, run_id, model_version,
  model_source, model_sales_p10_minor, model_sales_p50_minor, model_sales_p90_minor,
  model_orders_p10_milli, model_orders_p50_milli, model_orders_p90_milli`;

const num = (v: string | number): number => Number(v);
const numOrNull = (v: string | number | null): number | null => (v === null ? null : Number(v));

function fromRecord(r: LedgerRecord): OverrideRow {
  return {
    branchId: r.branch_id,
    date: r.day,
    setAt: num(r.set_at_ms),
    overrideId: r.override_id,
    cleared: Number(r.cleared) === 1,
    salesCents: numOrNull(r.sales_minor),
    orders: numOrNull(r.orders),
    reason: r.reason,
    by: { keyId: r.key_id, keyName: r.key_name },
    dayHours: Number(r.day_hours),
    model: {
      runId: r.run_id,
      modelVersion: r.model_version,
      source: r.model_source === 'mixed' ? 'mixed' : 'forecast',
      salesP10Cents: num(r.model_sales_p10_minor),
      salesP50Cents: num(r.model_sales_p50_minor),
      salesP90Cents: num(r.model_sales_p90_minor),
      ordersP10Milli: num(r.model_orders_p10_milli),
      ordersP50Milli: num(r.model_orders_p50_milli),
      ordersP90Milli: num(r.model_orders_p90_milli),
    },
  };
}

interface ScoredRecord {
  branch_id: string;
  day: string;
  currency: string;
  set_at_ms: string | number;
  key_id: string;
  key_name: string;
  reason: string;
  revisions: string | number;
  run_id: string;
  model_version: string;
  model_source: string;
  actual_sales: string | number;
  model_sales: string | number;
  model_sales_p10: string | number;
  model_sales_p90: string | number;
  override_sales: string | number | null;
  sales_closer: string | null;
  actual_orders: string | number;
  model_orders: string | number;
  model_orders_p10: string | number;
  model_orders_p90: string | number;
  override_orders: string | number | null;
  orders_closer: string | null;
}

const closer = (v: string | null): Closer | null =>
  v === 'override' || v === 'model' || v === 'tie' ? v : null;

export class Overrides {
  private readonly q: QueryRunner;

  constructor(ch: ClickHouse) {
    this.q = new QueryRunner(ch);
  }

  /**
   * Appends a ledger row. Sent again after a connection reset: the same row twice folds into one
   * (the table's key ends with the row's id).
   */
  async append(row: OverrideRow): Promise<void> {
    await this.q.insert(
      'forecast_overrides.append',
      'forecast_overrides',
      [
        {
          branch_id: row.branchId,
          local_date: row.date,
          set_at: toDateTime64(row.setAt),
          override_id: row.overrideId,
          cleared: row.cleared ? 1 : 0,
          sales_minor: row.salesCents,
          orders: row.orders,
          reason: row.reason,
          key_id: row.by.keyId,
          key_name: row.by.keyName,
          day_hours: row.dayHours,
          run_id: row.model.runId,
          model_version: row.model.modelVersion,
          model_source: row.model.source,
          model_sales_p10_minor: row.model.salesP10Cents,
          model_sales_p50_minor: row.model.salesP50Cents,
          model_sales_p90_minor: row.model.salesP90Cents,
          model_orders_p10_milli: row.model.ordersP10Milli,
          model_orders_p50_milli: row.model.ordersP50Milli,
          model_orders_p90_milli: row.model.ordersP90Milli,
        },
      ],
      { idempotent: true },
    );
  }

  /** The latest ledger row of a branch's day (a clear included); undefined when never overridden. */
  async latest(branchId: string, date: string): Promise<OverrideRow | undefined> {
    const rows = await this.q.rows<LedgerRecord>(
      'forecast_overrides.latest',
      `SELECT ${LEDGER_COLUMNS}
       FROM ${this.q.table('forecast_overrides')} FINAL
       WHERE branch_id = {branch:String} AND local_date = {date:Date}
       ORDER BY set_at DESC, override_id DESC
       LIMIT 1`,
      { branch: branchId, date },
    );
    return rows[0] ? fromRecord(rows[0]) : undefined;
  }

  /** The overrides in force (latest row per day, not a clear) of one branch, or of every branch. */
  async inForce(branchId?: string): Promise<OverrideRow[]> {
    const rows = await this.q.rows<LedgerRecord>(
      'forecast_overrides.in_force',
      `SELECT * FROM (
         SELECT ${LEDGER_COLUMNS}
         FROM ${this.q.table('forecast_overrides')} FINAL
         ${branchId === undefined ? '' : 'WHERE branch_id = {branch:String}'}
         ORDER BY branch_id, local_date, set_at DESC, override_id DESC
         LIMIT 1 BY branch_id, local_date
       ) WHERE cleared = 0
       ORDER BY branch_id, day`,
      branchId === undefined ? {} : { branch: branchId },
    );
    return rows.map(fromRecord);
  }

  /**
   * A signature per branch that changes whenever a row is appended for it (its row count and the
   * latest set_at): the API polls it to learn of changes made through another process.
   */
  async signatures(): Promise<Map<string, string>> {
    const rows = await this.q.rows<{ branch_id: string; n: string | number; at: string | number }>(
      'forecast_overrides.signatures',
      `SELECT branch_id, count() AS n, toUnixTimestamp64Milli(max(set_at)) AS at
       FROM ${this.q.table('forecast_overrides')}
       GROUP BY branch_id`,
    );
    return new Map(rows.map((r) => [r.branch_id, `${Number(r.n)}@${Number(r.at)}`]));
  }

  /** The scored days (v_override_accuracy) of a branch whose local date is in [start, end]. */
  async scored(branchId: string, start: string, end: string): Promise<ScoredDay[]> {
    const rows = await this.q.rows<ScoredRecord>(
      'forecast_overrides.scored',
      `SELECT branch_id, toString(local_date) AS day, currency,
              toUnixTimestamp64Milli(set_at) AS set_at_ms, key_id, key_name, reason, revisions,
              run_id, model_version, model_source,
              toInt64(actual_sales * 100) AS actual_sales,
              toInt64(model_sales * 100) AS model_sales,
              toInt64(model_sales_p10 * 100) AS model_sales_p10,
              toInt64(model_sales_p90 * 100) AS model_sales_p90,
              if(override_sales IS NULL, NULL, toInt64(assumeNotNull(override_sales) * 100)) AS override_sales,
              sales_closer, actual_orders,
              toInt64(model_orders * 1000) AS model_orders,
              toInt64(model_orders_p10 * 1000) AS model_orders_p10,
              toInt64(model_orders_p90 * 1000) AS model_orders_p90,
              override_orders, orders_closer
       FROM ${this.q.table('v_override_accuracy')}
       WHERE branch_id = {branch:String} AND local_date >= {start:Date} AND local_date <= {end:Date}
       ORDER BY local_date`,
      { branch: branchId, start, end },
    );
    return rows.map((r) => ({
      branchId: r.branch_id,
      date: r.day,
      currency: r.currency,
      setAt: num(r.set_at_ms),
      by: { keyId: r.key_id, keyName: r.key_name },
      reason: r.reason,
      revisions: num(r.revisions),
      runId: r.run_id,
      modelVersion: r.model_version,
      modelSource: r.model_source,
      actualSalesCents: num(r.actual_sales),
      modelSalesCents: num(r.model_sales),
      modelSalesP10Cents: num(r.model_sales_p10),
      modelSalesP90Cents: num(r.model_sales_p90),
      overrideSalesCents: numOrNull(r.override_sales),
      salesCloser: closer(r.sales_closer),
      actualOrders: num(r.actual_orders),
      modelOrdersMilli: num(r.model_orders),
      modelOrdersP10Milli: num(r.model_orders_p10),
      modelOrdersP90Milli: num(r.model_orders_p90),
      overrideOrders: numOrNull(r.override_orders),
      ordersCloser: closer(r.orders_closer),
    }));
  }
}
