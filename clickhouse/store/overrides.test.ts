/**
 * The override ledger and v_override_accuracy (migration 0012) on the real embedded engine:
 * rows appended and read back exactly, the override in force per day (a clear ends it), the
 * per-branch signature, and the scored days: only closed days, the latest row's model and
 * numbers, exact absolute errors and who was closer (ties included).
 */
import { NORY_BRANCHES, type Branch } from '../../lib/branches';
import { createLogger } from '../../lib/logger';
import { HOUR_MS } from '../../lib/time/units';
import { closedHourRow } from '../../test/closed-hours';
import { testConfig } from '../../test/test-config';
import { createClickHouse, type ClickHouse } from '../client';
import { migrate } from '../migrate';
import { Overrides, type ModelDay, type OverrideRow } from './overrides';
import { SalesHourly } from './sales-hourly';

jest.setTimeout(60_000);

const logger = createLogger('silent');
const [a, b] = NORY_BRANCHES.slice(0, 2) as [Branch, Branch];
let ch: ClickHouse;
let store: Overrides;

const model: ModelDay = {
  runId: 'run-1',
  modelVersion: 'm1',
  source: 'forecast',
  salesP10Cents: 80_000,
  salesP50Cents: 100_000,
  salesP90Cents: 125_050,
  ordersP10Milli: 150_000,
  ordersP50Milli: 200_500,
  ordersP90Milli: 260_000,
};
const row = (over: Partial<OverrideRow>): OverrideRow => ({
  branchId: a.id,
  date: '2021-01-11',
  setAt: Date.UTC(2021, 0, 10, 9),
  overrideId: `o-${Math.random().toString(36).slice(2)}`,
  cleared: false,
  salesCents: null,
  orders: null,
  reason: '',
  by: { keyId: 'k1', keyName: 'anna' },
  dayHours: 24,
  model,
  ...over,
});

/** Every hour of a Dublin (UTC in January) day closed, with the day's totals in the first hour. */
async function closeDay(branch: Branch, date: string, salesEur: number, orders: number, hours = 24) {
  const start = Date.parse(`${date}T00:00:00Z`);
  await new SalesHourly(ch).insertHours(
    Array.from({ length: hours }, (_, i) =>
      closedHourRow(branch, start + i * HOUR_MS, i === 0 ? salesEur : 0, i === 0 ? orders : 0, 1),
    ),
  );
}

beforeAll(async () => {
  ch = createClickHouse(testConfig(), logger);
  await migrate(ch, logger);
  store = new Overrides(ch);
});

afterAll(async () => {
  await ch.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
  await ch.close();
});

describe('forecast_overrides', () => {
  it('appends rows and reads the latest of a day back exactly; a retried append folds', async () => {
    const first = row({ salesCents: 90_000, reason: 'school holiday', setAt: Date.UTC(2021, 0, 10, 9) });
    const second = row({ salesCents: 95_050, orders: 190, setAt: Date.UTC(2021, 0, 10, 10) });
    await store.append(first);
    await store.append(second);
    await store.append(second);
    expect(await store.latest(a.id, '2021-01-11')).toEqual(second);
    expect(await store.latest(a.id, '2021-01-12')).toBeUndefined();
    expect((await store.signatures()).get(a.id)).toMatch(/^\d+@1610272800000$/);
  });

  it('the override in force: the latest row per day unless it is a clear', async () => {
    await store.append(row({ date: '2021-01-12', orders: 300, setAt: Date.UTC(2021, 0, 10, 9) }));
    await store.append(row({ date: '2021-01-12', cleared: true, setAt: Date.UTC(2021, 0, 10, 11) }));
    await store.append(
      row({ branchId: b.id, date: '2021-01-12', salesCents: 1, setAt: Date.UTC(2021, 0, 9) }),
    );
    const all = await store.inForce();
    expect(all.map((r) => [r.branchId, r.date, r.salesCents, r.orders])).toEqual(
      [
        [a.id, '2021-01-11', 95_050, 190],
        [b.id, '2021-01-12', 1, null],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    expect((await store.inForce(b.id)).map((r) => r.date)).toEqual(['2021-01-12']);
  });

  it('v_override_accuracy scores closed days only, with the latest row, exactly', async () => {
    // 2021-01-11 (a): override 950.50 / 190 orders vs model 1000.00 / 200.5; actual 960.00 / 201.
    await closeDay(a, '2021-01-11', 960, 201);
    // 2021-01-13 (a): a tie on sales (both 25.00 away), orders not overridden.
    await store.append(row({ date: '2021-01-13', salesCents: 105_000, setAt: Date.UTC(2021, 0, 12) }));
    await closeDay(a, '2021-01-13', 1025, 0);
    // 2021-01-14 (a): overridden but only 23 of 24 hours closed: not scored yet.
    await store.append(row({ date: '2021-01-14', salesCents: 1, setAt: Date.UTC(2021, 0, 12) }));
    await closeDay(a, '2021-01-14', 10, 1, 23);
    // 2021-01-12 (a) was cleared: not scored even once closed.
    await closeDay(a, '2021-01-12', 10, 1);

    const scored = await store.scored(a.id, '2021-01-01', '2021-01-31');
    expect(scored.map((d) => d.date)).toEqual(['2021-01-11', '2021-01-13']);
    const [d11, d13] = scored as [(typeof scored)[0], (typeof scored)[0]];
    expect(d11).toMatchObject({
      revisions: 2,
      by: { keyId: 'k1', keyName: 'anna' },
      runId: 'run-1',
      modelVersion: 'm1',
      actualSalesCents: 96_000,
      modelSalesCents: 100_000,
      modelSalesP10Cents: 80_000,
      modelSalesP90Cents: 125_050,
      overrideSalesCents: 95_050,
      salesCloser: 'override', // 9.50 away vs 40.00
      actualOrders: 201,
      modelOrdersMilli: 200_500,
      overrideOrders: 190,
      ordersCloser: 'model', // 0.5 away vs 11
    });
    expect(d13).toMatchObject({ salesCloser: 'tie', overrideOrders: null, ordersCloser: null });

    const [v] = await (
      await ch.client.query({
        query: `SELECT toString(actual_sales) AS s, toString(model_sales_abs_error) AS me,
                       toString(override_sales_abs_error) AS oe, toString(model_orders_abs_error) AS moe,
                       toString(override_orders_abs_error) AS ooe
                FROM ${ch.table('v_override_accuracy')} WHERE local_date = '2021-01-11'`,
        format: 'JSONEachRow',
      })
    ).json<Record<string, string>>();
    expect(v).toEqual({ s: '960', me: '40', oe: '9.5', moe: '0.5', ooe: '11' });
  });

  it('the summaries of docs/analysts.md (per branch, per manager) from the view', async () => {
    // The per-manager query of docs/analysts.md, example 11 (the per-branch one groups by branch_id).
    const rs = await ch.client.query({
      query: `SELECT key_id, any(key_name) AS manager,
                     countIf(sales_closer IS NOT NULL) AS days,
                     countIf(sales_closer = 'override') AS override_closer,
                     countIf(sales_closer = 'model') AS model_closer,
                     countIf(sales_closer = 'tie') AS ties,
                     round(countIf(sales_closer = 'override') / countIf(sales_closer IS NOT NULL), 3) AS override_beat_share,
                     round(toFloat64(avgIf(model_sales_abs_error, sales_closer IS NOT NULL)), 2) AS model_mae,
                     round(toFloat64(avgIf(override_sales_abs_error, sales_closer IS NOT NULL)), 2) AS override_mae,
                     round(model_mae - override_mae, 2) AS mae_improvement
              FROM ${ch.table('v_override_accuracy')}
              WHERE local_date BETWEEN {start:Date} AND {end:Date}
              GROUP BY key_id
              ORDER BY key_id`,
      query_params: { start: '2021-01-01', end: '2021-01-31' },
      format: 'JSONEachRow',
    });
    const [r] = await rs.json<Record<string, unknown>>();
    expect({
      ...r,
      days: Number(r!.days),
      override_closer: Number(r!.override_closer),
      model_closer: Number(r!.model_closer),
      ties: Number(r!.ties),
    }).toEqual({
      key_id: 'k1',
      manager: 'anna',
      days: 2,
      override_closer: 1,
      model_closer: 0,
      ties: 1,
      override_beat_share: 0.5,
      model_mae: 32.5, // (40 + 25) / 2
      override_mae: 17.25, // (9.50 + 25) / 2
      mae_improvement: 15.25,
    });
  });
});
