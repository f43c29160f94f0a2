/**
 * The analyst views (migration 0003) on the real embedded engine: small synthetic
 * rows in the base tables, exact expected rows out of every view, and the column
 * contract (names, types, comments). A second suite checks the docker compose
 * `analyst` user (clickhouse/server/users.xml) can read the views and nothing else.
 *
 * Forecasts, forecast runs and rejections carry a 90-day TTL on generated_at /
 * rejected_at, so those timestamps are recent; the hours they refer to are not.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DateTime } from 'luxon';
import { createClickHouse, type ClickHouse } from './client';
import { toDateTime, toDateTime64 } from './datetime-text';
import { createLogger } from '../lib/logger';
import { PROJECT_ROOT } from '../lib/config';
import { testConfig } from '../test/test-config';
import { migrate, readMigrations } from './migrate';
import { ModelRegistry } from './store/model-registry';

const logger = createLogger('warn');
const HOUR = 3_600_000;
const utc = (iso: string): number => Date.parse(`${iso}Z`);
const DUBLIN = 'Europe/Dublin';
const NEW_YORK = 'America/New_York';

/** The column contract: what DESCRIBE shows. Changing it needs a new view name or an added column. */
const CONTRACT: Record<string, string[]> = {
  v_sales_hourly: [
    'branch_id LowCardinality(String)',
    "hour_start_utc DateTime('UTC')",
    "hour_start_local DateTime('UTC')",
    'local_date Date',
    'utc_offset_min Int16',
    'timezone LowCardinality(String)',
    'currency LowCardinality(String)',
    'sales Decimal(18, 2)',
    'orders UInt32',
    'refunds UInt32',
    'voids UInt32',
    'closed UInt8',
    'revision UInt32',
    'sales_by_channel Map(String, Decimal(18, 2))',
    'orders_by_channel Map(String, UInt32)',
    "updated_at DateTime64(3, 'UTC')",
  ],
  v_sales_daily: [
    'branch_id LowCardinality(String)',
    'local_date Date',
    'timezone LowCardinality(String)',
    'currency LowCardinality(String)',
    'sales Decimal(18, 2)',
    'orders UInt64',
    'refunds UInt64',
    'voids UInt64',
    'hours UInt64',
    'open_hours UInt64',
    'closed_hours_count UInt64',
    'first_order_hour Nullable(UInt8)',
    'last_order_hour Nullable(UInt8)',
    'sales_by_channel Map(String, Decimal(18, 2))',
    'orders_by_channel Map(String, UInt64)',
  ],
  v_sales_daily_utc: [
    'branch_id LowCardinality(String)',
    'utc_date Date',
    'timezone LowCardinality(String)',
    'currency LowCardinality(String)',
    'sales Decimal(18, 2)',
    'orders UInt64',
    'refunds UInt64',
    'voids UInt64',
    'hours UInt64',
    'open_hours UInt64',
    'closed_hours_count UInt64',
    'first_order_hour Nullable(UInt8)',
    'last_order_hour Nullable(UInt8)',
    'sales_by_channel Map(String, Decimal(18, 2))',
    'orders_by_channel Map(String, UInt64)',
  ],
  v_latest_forecast: [
    'branch_id LowCardinality(String)',
    'run_id String',
    'model_version String',
    "origin DateTime('UTC')",
    "generated_at DateTime64(3, 'UTC')",
    "hour_start_utc DateTime('UTC')",
    "hour_start_local DateTime('UTC')",
    'local_date Date',
    'utc_offset_min Int16',
    'horizon_h UInt16',
    'currency LowCardinality(String)',
    'sales_p10 Decimal(18, 2)',
    'sales_p50 Decimal(18, 2)',
    'sales_p90 Decimal(18, 2)',
    'orders_p10 Float64',
    'orders_p50 Float64',
    'orders_p90 Float64',
  ],
  v_forecast_accuracy: [
    'branch_id LowCardinality(String)',
    'run_id String',
    'model_version String',
    "origin DateTime('UTC')",
    'origin_date Date',
    "generated_at DateTime64(3, 'UTC')",
    "hour_start_utc DateTime('UTC')",
    "hour_start_local DateTime('UTC')",
    'local_date Date',
    'horizon_h UInt16',
    'horizon_day UInt16',
    'currency LowCardinality(String)',
    'sales_p10 Decimal(18, 2)',
    'sales_p50 Decimal(18, 2)',
    'sales_p90 Decimal(18, 2)',
    'orders_p10 Float64',
    'orders_p50 Float64',
    'orders_p90 Float64',
    'actual_sales Decimal(18, 2)',
    'actual_orders UInt32',
    'actual_revision UInt32',
    'sales_error Decimal(18, 2)',
    'sales_abs_error Decimal(18, 2)',
    'orders_error Float64',
    'orders_abs_error Float64',
    'sales_inside_p10_p90 UInt8',
    'orders_inside_p10_p90 UInt8',
  ],
  v_forecast_accuracy_daily: [
    'branch_id LowCardinality(String)',
    'model_version String',
    'origin_date Date',
    'horizon_day UInt16',
    'currency LowCardinality(String)',
    'runs UInt64',
    'hours UInt64',
    'actual_sales Decimal(18, 2)',
    'forecast_sales Decimal(18, 2)',
    'sales_abs_error Decimal(18, 2)',
    'sales_wape Nullable(Float64)',
    'sales_bias Nullable(Float64)',
    'sales_coverage_p10_p90 Float64',
    'actual_orders UInt64',
    'forecast_orders Float64',
    'orders_abs_error Float64',
    'orders_wape Nullable(Float64)',
    'orders_coverage_p10_p90 Float64',
  ],
  v_dlq_summary: [
    'day Date',
    'code LowCardinality(String)',
    'rejections UInt64',
    'branches UInt64',
    'example_reason String',
    "first_seen DateTime64(3, 'UTC')",
    "last_seen DateTime64(3, 'UTC')",
  ],
  v_models: [
    'version String',
    "created_at DateTime64(3, 'UTC')",
    'kind LowCardinality(String)',
    'parent_version String',
    "train_from DateTime('UTC')",
    "train_through DateTime('UTC')",
    'backend LowCardinality(String)',
    'metrics String',
    'hyperparams String',
    'features String',
    'is_current UInt8',
    "promoted_at Nullable(DateTime64(3, 'UTC'))",
    'promotion_action Nullable(String)',
    'promotions UInt64',
  ],
  v_branch_calendar: [
    'branch_id LowCardinality(String)',
    'local_date Date',
    'kind LowCardinality(String)',
    'name String',
    'note Nullable(String)',
    'expected_effect Nullable(Float64)',
    'version UInt32',
    'changed_by String',
    'changed_by_key String',
    "changed_at DateTime64(3, 'UTC')",
  ],
  v_override_accuracy: [
    'branch_id LowCardinality(String)',
    'local_date Date',
    'currency LowCardinality(String)',
    "set_at DateTime64(3, 'UTC')",
    'key_id String',
    'key_name String',
    'reason String',
    'revisions UInt64',
    'run_id String',
    'model_version String',
    'model_source LowCardinality(String)',
    'actual_sales Decimal(18, 2)',
    'model_sales Decimal(18, 2)',
    'model_sales_p10 Decimal(18, 2)',
    'model_sales_p90 Decimal(18, 2)',
    'override_sales Nullable(Decimal(18, 2))',
    'model_sales_abs_error Decimal(18, 2)',
    'override_sales_abs_error Nullable(Decimal(18, 2))',
    'sales_closer Nullable(String)',
    'actual_orders UInt64',
    'model_orders Decimal(18, 3)',
    'model_orders_p10 Decimal(18, 3)',
    'model_orders_p90 Decimal(18, 3)',
    'override_orders Nullable(UInt32)',
    'model_orders_abs_error Decimal(18, 3)',
    'override_orders_abs_error Nullable(Decimal(18, 3))',
    'orders_closer Nullable(String)',
  ],
};

// ---------------------------------------------------------------- fixtures

interface Hour {
  branch: string;
  zone: string;
  start: number;
  sales_minor: number;
  orders: number;
  refunds?: number;
  voids?: number;
  closed: boolean;
  revision: number;
  version: number;
  channels?: Record<string, [number, number]>;
}

const local = (ms: number, zone: string) => {
  const l = DateTime.fromMillis(ms, { zone });
  return {
    hour_start_local: l.toFormat('yyyy-MM-dd HH:mm:ss'),
    local_date: l.toISODate(),
    utc_offset_min: l.offset,
  };
};

function hourRow(h: Hour) {
  const channels = h.channels ?? { in_store: [h.sales_minor, h.orders] };
  return {
    branch_id: h.branch,
    hour_start: toDateTime(h.start),
    ...local(h.start, h.zone),
    timezone: h.zone,
    sales_minor: h.sales_minor,
    orders: h.orders,
    refunds: h.refunds ?? 0,
    voids: h.voids ?? 0,
    sales_by_channel: Object.fromEntries(Object.entries(channels).map(([k, v]) => [k, v[0]])),
    orders_by_channel: Object.fromEntries(Object.entries(channels).map(([k, v]) => [k, v[1]])),
    closed: h.closed ? 1 : 0,
    revision: h.revision,
    version: h.version,
  };
}

/**
 * Dublin branch `dub`: every UTC hour from 2020-10-24 23:00Z (local 00:00 IST on
 * Sunday 25 October, the fall-back day) through 2020-10-26 11:00Z. Local date
 * 2020-10-25 has 25 hours: 01:00 local happens twice (00:00Z at +60, 01:00Z at +0).
 */
const DUB_FIRST = utc('2020-10-24T23:00:00');
const DUB_LAST = utc('2020-10-26T11:00:00'); // open (closed = 0)
/** Hour values by UTC hour: a few hand-picked ones, a simple pattern elsewhere. */
const DUB_OVERRIDES: Record<string, Partial<Hour>> = {
  '2020-10-25T00:00:00': { sales_minor: 2000, orders: 2 }, // 01:00 IST
  '2020-10-25T01:00:00': { sales_minor: 3000, orders: 3 }, // 01:00 GMT (repeated local hour)
  '2020-10-25T05:00:00': { sales_minor: -500, orders: 0, refunds: 1 }, // refund only
  '2020-10-25T10:00:00': {
    sales_minor: 8000,
    orders: 3,
    channels: { in_store: [5000, 2], delivery: [3000, 1] },
  },
  '2020-10-25T11:00:00': { sales_minor: 10000, orders: 4 },
  '2020-10-25T12:00:00': { sales_minor: 10000, orders: 4 }, // revision 1; corrected below
  '2020-10-26T10:00:00': { sales_minor: 5000, orders: 2 },
};

function dubHours(): Hour[] {
  const out: Hour[] = [];
  let version = 1000;
  for (let t = DUB_FIRST; t <= DUB_LAST; t += HOUR) {
    const key = new Date(t).toISOString().slice(0, 19);
    const localHour = DateTime.fromMillis(t, { zone: DUBLIN }).hour;
    // Pattern: open 11:00-22:59 local, 1 order of 15.00 per hour, voids at 13:00.
    const open = localHour >= 11 && localHour <= 22;
    const base: Hour = {
      branch: 'dub',
      zone: DUBLIN,
      start: t,
      sales_minor: open ? 1500 : 0,
      orders: open ? 1 : 0,
      voids: localHour === 13 ? 2 : 0,
      closed: t < DUB_LAST,
      revision: t < DUB_LAST ? 1 : 0,
      version: version++,
    };
    out.push({ ...base, ...DUB_OVERRIDES[key] });
  }
  return out;
}

/** The late correction of 2020-10-25 12:00Z: revision 2 with a higher version. */
const DUB_CORRECTION: Hour = {
  branch: 'dub',
  zone: DUBLIN,
  start: utc('2020-10-25T12:00:00'),
  sales_minor: 11250,
  orders: 5,
  closed: true,
  revision: 2,
  version: 5000,
};

/** New York branch `nyc` (EDT, UTC-4 until 1 November 2020): two closed hours. */
const NYC_HOURS: Hour[] = [
  {
    branch: 'nyc',
    zone: NEW_YORK,
    start: utc('2020-10-25T02:00:00'),
    sales_minor: 0,
    orders: 0,
    closed: true,
    revision: 1,
    version: 1,
  },
  {
    branch: 'nyc',
    zone: NEW_YORK,
    start: utc('2020-10-25T03:00:00'),
    sales_minor: 2000,
    orders: 1,
    closed: true,
    revision: 1,
    version: 2,
  },
];

interface Point {
  at: string;
  s: [number, number, number];
  o: [number, number, number];
}

async function forecastRun(
  ch: ClickHouse,
  r: {
    runId: string;
    branch: string;
    zone: string;
    model: string;
    origin: number;
    generatedAt: number;
    points: Point[];
    writeRunRow?: boolean;
  },
) {
  await ch.client.insert({
    table: ch.table('forecasts'),
    format: 'JSONEachRow',
    values: r.points.map((p) => {
      const h = utc(p.at);
      return {
        run_id: r.runId,
        branch_id: r.branch,
        hour_start: toDateTime(h),
        ...local(h, r.zone),
        horizon_h: Math.round((h - r.origin) / HOUR) + 1,
        sales_p10: p.s[0],
        sales_p50: p.s[1],
        sales_p90: p.s[2],
        orders_p10: p.o[0],
        orders_p50: p.o[1],
        orders_p90: p.o[2],
        generated_at: toDateTime64(r.generatedAt),
      };
    }),
  });
  if (r.writeRunRow === false) return;
  await ch.client.insert({
    table: ch.table('forecast_runs'),
    format: 'JSONEachRow',
    values: [
      {
        run_id: r.runId,
        branch_id: r.branch,
        model_version: r.model,
        origin: toDateTime(r.origin),
        data_through: toDateTime(r.origin - HOUR),
        horizon_end: toDateTime(utc(r.points.at(-1)!.at) + HOUR),
        points: r.points.length,
        generated_at: toDateTime64(r.generatedAt),
      },
    ],
  });
}

const NOW = Date.now();
const GEN_A = Math.floor(NOW / 1000) * 1000 - 3 * HOUR;
const GEN_B = GEN_A + HOUR;
const GEN_C = GEN_A - HOUR;
const GEN_PARTIAL = GEN_A + 2 * HOUR;
/** UTC midnight two days ago: the rejections' first day. */
const DAY0 = Math.floor(NOW / 86_400_000) * 86_400_000 - 2 * 86_400_000;

async function seed(ch: ClickHouse): Promise<void> {
  const insert = (table: string, values: object[]) =>
    ch.client.insert({ table: ch.table(table), values, format: 'JSONEachRow' });

  // Receipts only matter for the branch currency here.
  await insert(
    'sales_events',
    [
      ['dub', 'e1', 'EUR'],
      ['dub', 'e2', 'EUR'],
      ['nyc', 'e3', 'USD'],
    ].map(([branch_id, event_id, currency], i) => ({
      branch_id,
      event_id,
      occurred_at: '2020-10-25 12:10:00.000',
      status: 'SALE',
      channel: 'in_store',
      currency,
      total_minor: 100,
      net_minor: 80,
      tax_minor: 20,
      tip_minor: 0,
      covers: null,
      pos: {},
      kafka_partition: 0,
      kafka_offset: i,
    })),
  );
  // Separate inserts: separate parts, so FINAL really has two revisions to choose from.
  await insert('sales_hourly', [...dubHours(), ...NYC_HOURS].map(hourRow));
  await insert('sales_hourly', [hourRow(DUB_CORRECTION)]);

  // Run A (model m-a), origin 2020-10-25 10:00Z: hours 1-3 and 25 have closed actuals.
  await forecastRun(ch, {
    runId: 'run-a',
    branch: 'dub',
    zone: DUBLIN,
    model: 'm-a',
    origin: utc('2020-10-25T10:00:00'),
    generatedAt: GEN_A,
    points: [
      { at: '2020-10-25T10:00:00', s: [70, 90, 110], o: [2, 3.5, 5] },
      { at: '2020-10-25T11:00:00', s: [90, 95, 99], o: [3, 4.25, 6] },
      { at: '2020-10-25T12:00:00', s: [100, 120, 130], o: [3.5, 4, 4.5] },
      { at: '2020-10-26T10:00:00', s: [30, 40, 45], o: [1, 2.5, 3] },
    ],
  });
  // Run B (model m-b), one hour later: the latest run of dub. Its hour 25 is still open.
  await forecastRun(ch, {
    runId: 'run-b',
    branch: 'dub',
    zone: DUBLIN,
    model: 'm-b',
    origin: utc('2020-10-25T11:00:00'),
    generatedAt: GEN_B,
    points: [
      { at: '2020-10-25T11:00:00', s: [90, 101, 110], o: [3, 4, 5] },
      { at: '2020-10-25T12:00:00', s: [100, 110, 115], o: [4, 5.5, 6] },
      { at: '2020-10-26T11:00:00', s: [10.004, 20.5, 30.29], o: [0.5, 1, 1.5] },
    ],
  });
  // Run C (model m-c) for nyc, origin 2020-10-25 02:00Z = 24 October 22:00 EDT. Hour 3 has no actual.
  await forecastRun(ch, {
    runId: 'run-c',
    branch: 'nyc',
    zone: NEW_YORK,
    model: 'm-c',
    origin: utc('2020-10-25T02:00:00'),
    generatedAt: GEN_C,
    points: [
      { at: '2020-10-25T02:00:00', s: [0, 5, 10], o: [0, 0.5, 1] },
      { at: '2020-10-25T03:00:00', s: [10, 18, 25], o: [0.5, 1.2, 2] },
      { at: '2020-10-25T04:00:00', s: [10, 18, 25], o: [0.5, 1.2, 2] },
    ],
  });
  // A newer nyc run whose run row was never written (crashed mid-write): invisible everywhere.
  await forecastRun(ch, {
    runId: 'run-partial',
    branch: 'nyc',
    zone: NEW_YORK,
    model: 'm-c',
    origin: utc('2020-10-25T03:00:00'),
    generatedAt: GEN_PARTIAL,
    points: [{ at: '2020-10-25T03:00:00', s: [0, 99, 100], o: [0, 9, 10] }],
    writeRunRow: false,
  });

  const rej = (offset: number, at: number, code: string, branch_id: string, reason: string) => ({
    topic: 'pos.sales.v1',
    kafka_partition: 0,
    kafka_offset: offset,
    code,
    reason,
    branch_id,
    event_id: `ev${offset}`,
    payload_size: 100,
    rejected_at: toDateTime64(at),
  });
  const rejections = [
    rej(1, DAY0 + 10 * HOUR, 'unknown_branch', 'x1', 'unknown branch x1'),
    rej(2, DAY0 + 11 * HOUR, 'unknown_branch', 'x2', 'unknown branch x2'),
    rej(3, DAY0 + 12 * HOUR, 'unknown_branch', 'x1', 'unknown branch x1 (again)'),
    rej(4, DAY0 + 13 * HOUR, 'empty_message', '', 'empty message'),
    rej(5, DAY0 + 33 * HOUR, 'unknown_branch', 'x3', 'unknown branch x3'),
  ];
  await insert('ingest_rejections', rejections);
  await insert('ingest_rejections', [rejections[0]!]); // recorded again after a crash: one rejection

  const model = (version: string, kind: string, parent: string, createdAt: number) => ({
    version,
    created_at: toDateTime64(createdAt),
    kind,
    parent_version: parent,
    train_from: '2020-06-23 00:00:00',
    train_through: '2021-01-24 00:00:00',
    features: '{"lags":[24,168]}',
    hyperparams: '{"units":32}',
    metrics: '{"wape":0.21}',
    backend: 'tensorflow',
    artifact_path: `file:///models/${version}`,
  });
  const T = utc('2021-02-01T00:00:00');
  await insert('models', [
    model('m-a', 'full', '', T),
    model('m-b', 'finetune', 'm-a', T + HOUR),
    model('m-c', 'full', '', T + 2 * HOUR),
  ]);
  await insert('models', [model('m-b', 'finetune', 'm-a', T + HOUR)]); // registered twice: one row
  await insert('model_promotions', [
    { version: 'm-a', promoted_at: toDateTime64(T + 10 * 60_000), action: 'initial', reason: 'first model' },
    {
      version: 'm-b',
      promoted_at: toDateTime64(T + HOUR + 10 * 60_000),
      action: 'promote',
      reason: 'better WAPE',
    },
    { version: 'm-a', promoted_at: toDateTime64(T + 3 * HOUR), action: 'rollback', reason: 'm-b regressed' },
  ]);
}

// ---------------------------------------------------------------- the views

describe('analyst views on the embedded engine', () => {
  let ch: ClickHouse;
  const rows = async <T = Record<string, unknown>>(query: string): Promise<T[]> => {
    const rs = await ch.client.query({
      query: query.replaceAll('{db}', ch.database),
      format: 'JSONEachRow',
      // 64-bit integers as JSON numbers whatever the engine's default (it changed across versions).
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    });
    return rs.json<T>();
  };

  beforeAll(async () => {
    ch = createClickHouse(testConfig(), logger);
    await migrate(ch, logger);
    await seed(ch);
  });
  afterAll(async () => {
    await ch.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
    await ch.close();
  });

  it('declares every column with its type and a comment, exactly as the query produces it', async () => {
    const views = await rows<{ name: string; as_select: string; create_table_query: string }>(
      "SELECT name, as_select, create_table_query FROM system.tables WHERE database = '{db}' AND name LIKE 'v\\_%' ORDER BY name",
    );
    expect(views.map((v) => v.name)).toEqual(Object.keys(CONTRACT).sort());
    for (const v of views) {
      const declared = await rows<{ name: string; type: string; comment: string }>(
        `DESCRIBE TABLE {db}.${v.name}`,
      );
      expect({ view: v.name, columns: declared.map((c) => `${c.name} ${c.type}`) }).toEqual({
        view: v.name,
        columns: CONTRACT[v.name],
      });
      expect({
        view: v.name,
        uncommented: declared.filter((c) => c.comment.trim() === '').map((c) => c.name),
      }).toEqual({ view: v.name, uncommented: [] });
      // The SELECT itself yields these types: nothing relies on the view's implicit conversion.
      const produced = await rows<{ name: string; type: string }>(`DESCRIBE (${v.as_select})`);
      expect({ view: v.name, columns: produced.map((c) => `${c.name} ${c.type}`) }).toEqual({
        view: v.name,
        columns: CONTRACT[v.name],
      });
      // Readers need SELECT on the view only (see docs/analysts.md).
      expect({ view: v.name, sql: v.create_table_query }).toEqual({
        view: v.name,
        sql: expect.stringMatching(/DEFINER = \S+ SQL SECURITY DEFINER/),
      });
    }
  });

  it('v_sales_hourly: the latest revision of every hour, money in major units next to the currency', async () => {
    const all = await rows<{ branch_id: string; n: string; closed: string }>(
      'SELECT branch_id, count() AS n, sum(closed) AS closed FROM {db}.v_sales_hourly GROUP BY branch_id ORDER BY branch_id',
    );
    // 2020-10-24 23:00Z .. 2020-10-26 11:00Z = 37 hours, one row each (the correction replaced its hour).
    expect(all).toEqual([
      { branch_id: 'dub', n: 37, closed: 36 },
      { branch_id: 'nyc', n: 2, closed: 2 },
    ]);

    const corrected = await rows(
      `SELECT toString(hour_start_utc) AS utc, toString(hour_start_local) AS local, toString(local_date) AS date, utc_offset_min, timezone,
              currency, toString(sales) AS sales, orders, closed, revision
       FROM {db}.v_sales_hourly WHERE branch_id = 'dub' AND hour_start_utc = '2020-10-25 12:00:00'`,
    );
    expect(corrected).toEqual([
      {
        utc: '2020-10-25 12:00:00',
        local: '2020-10-25 12:00:00',
        date: '2020-10-25',
        utc_offset_min: 0,
        timezone: DUBLIN,
        currency: 'EUR',
        sales: '112.5',
        orders: 5,
        closed: 1,
        revision: 2,
      },
    ]);
    // Filters on non-key columns see only the latest revision (no stale revision 1 leaks through).
    expect(
      await rows(
        "SELECT revision FROM {db}.v_sales_hourly WHERE branch_id = 'dub' AND sales = 100 AND hour_start_utc = '2020-10-25 12:00:00'",
      ),
    ).toEqual([]);

    // The repeated local hour of the fall-back: two rows with the same naive local time.
    const repeated = await rows(
      `SELECT toString(hour_start_utc) AS utc, utc_offset_min, toString(sales) AS sales, orders
       FROM {db}.v_sales_hourly WHERE branch_id = 'dub' AND hour_start_local = '2020-10-25 01:00:00' ORDER BY hour_start_utc`,
    );
    expect(repeated).toEqual([
      { utc: '2020-10-25 00:00:00', utc_offset_min: 60, sales: '20', orders: 2 },
      { utc: '2020-10-25 01:00:00', utc_offset_min: 0, sales: '30', orders: 3 },
    ]);

    const channels = await rows(
      "SELECT mapApply((k, v) -> (k, toString(v)), sales_by_channel) AS s, orders_by_channel AS o FROM {db}.v_sales_hourly WHERE branch_id = 'dub' AND hour_start_utc = '2020-10-25 10:00:00'",
    );
    expect(channels).toEqual([{ s: { in_store: '50', delivery: '30' }, o: { in_store: 2, delivery: 1 } }]);

    const open = await rows(
      "SELECT closed, revision FROM {db}.v_sales_hourly WHERE branch_id = 'dub' AND hour_start_utc = '2020-10-26 11:00:00'",
    );
    expect(open).toEqual([{ closed: 0, revision: 0 }]);
    expect(await rows("SELECT DISTINCT currency FROM {db}.v_sales_hourly WHERE branch_id = 'nyc'")).toEqual([
      { currency: 'USD' },
    ]);
  });

  it('v_sales_daily: a 25-hour Dublin fall-back date aggregates every hour once, latest revisions', async () => {
    // Expected values straight from the fixture: every dub hour whose local date is 2020-10-25.
    const hours = [...dubHours().filter((h) => h.start !== DUB_CORRECTION.start), DUB_CORRECTION].filter(
      (h) => DateTime.fromMillis(h.start, { zone: DUBLIN }).toISODate() === '2020-10-25',
    );
    expect(hours).toHaveLength(25);
    const cents = hours.reduce((a, h) => a + h.sales_minor, 0);
    const orders = hours.reduce((a, h) => a + h.orders, 0);
    // By hand: 13:00-22:00 local at 15.00 / 1 order (10 hours), 10:00, 11:00 and 12:00 (after the fall-back local = UTC)
    // at 80.00 / 3, 100.00 / 4 and 112.50 / 5 (revision 2), 20.00 / 2 and 30.00 / 3 at the two 01:00 hours, a -5.00 refund.
    expect(cents).toBe(10 * 1500 + 8000 + 10000 + 11250 + 2000 + 3000 - 500);
    expect(orders).toBe(10 + 3 + 4 + 5 + 2 + 3);

    const day = await rows(
      `SELECT toString(local_date) AS date, timezone, currency, toString(sales) AS sales, orders, refunds, voids, hours, open_hours,
              closed_hours_count, first_order_hour, last_order_hour,
              mapApply((k, v) -> (k, toString(v)), sales_by_channel) AS sbc, orders_by_channel AS obc
       FROM {db}.v_sales_daily WHERE branch_id = 'dub' AND local_date = '2020-10-25'`,
    );
    expect(day).toEqual([
      {
        date: '2020-10-25',
        timezone: DUBLIN,
        currency: 'EUR',
        sales: '487.5',
        orders,
        refunds: 1,
        voids: 2,
        hours: 25,
        open_hours: 15, // 10:00-22:00 local and both 01:00 hours
        closed_hours_count: 25,
        first_order_hour: 1,
        last_order_hour: 22,
        sbc: { in_store: '457.5', delivery: '30' },
        obc: { in_store: 26, delivery: 1 },
      },
    ]);

    // The next local date so far: 00:00-11:00 local recorded, 11:00 still open.
    const next = await rows(
      "SELECT hours, closed_hours_count, first_order_hour, last_order_hour FROM {db}.v_sales_daily WHERE branch_id = 'dub' AND local_date = '2020-10-26'",
    );
    expect(next).toEqual([{ hours: 12, closed_hours_count: 11, first_order_hour: 10, last_order_hour: 11 }]);
    // New York (UTC-4): 02:00Z and 03:00Z are 22:00 and 23:00 on the 24th.
    expect(
      await rows(
        "SELECT toString(local_date) AS d, hours, open_hours, first_order_hour, last_order_hour FROM {db}.v_sales_daily WHERE branch_id = 'nyc'",
      ),
    ).toEqual([{ d: '2020-10-24', hours: 2, open_hours: 1, first_order_hour: 23, last_order_hour: 23 }]);
    // Branch totals equal the hourly view's: no hour lost or counted twice.
    const totals = await rows(
      `SELECT (SELECT toString(sum(sales)) FROM {db}.v_sales_daily WHERE branch_id = 'dub') AS daily,
              (SELECT toString(sum(sales)) FROM {db}.v_sales_daily_utc WHERE branch_id = 'dub') AS daily_utc,
              (SELECT toString(sum(sales)) FROM {db}.v_sales_hourly WHERE branch_id = 'dub') AS hourly`,
    );
    expect(totals[0]!.daily).toBe(totals[0]!.hourly);
    expect(totals[0]!.daily_utc).toBe(totals[0]!.hourly);
  });

  it('v_sales_daily_utc: per UTC date, hours of day in UTC', async () => {
    const days = await rows(
      `SELECT toString(utc_date) AS date, hours, closed_hours_count, first_order_hour, last_order_hour
       FROM {db}.v_sales_daily_utc WHERE branch_id = 'dub' ORDER BY utc_date`,
    );
    expect(days).toEqual([
      { date: '2020-10-24', hours: 1, closed_hours_count: 1, first_order_hour: null, last_order_hour: null },
      { date: '2020-10-25', hours: 24, closed_hours_count: 24, first_order_hour: 0, last_order_hour: 22 },
      { date: '2020-10-26', hours: 12, closed_hours_count: 11, first_order_hour: 10, last_order_hour: 11 },
    ]);
  });

  it('v_latest_forecast: the latest complete run per branch, all its points', async () => {
    const latest = await rows(
      `SELECT branch_id, run_id, model_version, toString(origin) AS origin, toUnixTimestamp64Milli(generated_at) AS gen, toString(hour_start_utc) AS utc,
              toString(hour_start_local) AS local, toString(local_date) AS date, utc_offset_min, horizon_h, currency,
              toString(sales_p10) AS s10, toString(sales_p50) AS s50, toString(sales_p90) AS s90, orders_p10, orders_p50, orders_p90
       FROM {db}.v_latest_forecast ORDER BY branch_id, hour_start_utc`,
    );
    const common = {
      branch_id: 'dub',
      run_id: 'run-b',
      model_version: 'm-b',
      origin: '2020-10-25 11:00:00',
      gen: GEN_B,
      currency: 'EUR',
    };
    expect(latest).toEqual([
      {
        ...common,
        utc: '2020-10-25 11:00:00',
        local: '2020-10-25 11:00:00',
        date: '2020-10-25',
        utc_offset_min: 0,
        horizon_h: 1,
        s10: '90',
        s50: '101',
        s90: '110',
        orders_p10: 3,
        orders_p50: 4,
        orders_p90: 5,
      },
      {
        ...common,
        utc: '2020-10-25 12:00:00',
        local: '2020-10-25 12:00:00',
        date: '2020-10-25',
        utc_offset_min: 0,
        horizon_h: 2,
        s10: '100',
        s50: '110',
        s90: '115',
        orders_p10: 4,
        orders_p50: 5.5,
        orders_p90: 6,
      },
      // Floats are rounded to the cent, not truncated: 30.29 is stored as 30.2899..., 10.004 becomes 10.00.
      {
        ...common,
        utc: '2020-10-26 11:00:00',
        local: '2020-10-26 11:00:00',
        date: '2020-10-26',
        utc_offset_min: 0,
        horizon_h: 25,
        s10: '10',
        s50: '20.5',
        s90: '30.29',
        orders_p10: 0.5,
        orders_p50: 1,
        orders_p90: 1.5,
      },
      // nyc: run-partial is newer but has no run row, so run-c is served.
      ...[
        ['2020-10-25 02:00:00', '2020-10-24 22:00:00', '2020-10-24'],
        ['2020-10-25 03:00:00', '2020-10-24 23:00:00', '2020-10-24'],
        ['2020-10-25 04:00:00', '2020-10-25 00:00:00', '2020-10-25'],
      ].map(([utcHour, localHour, date], i) => ({
        branch_id: 'nyc',
        run_id: 'run-c',
        model_version: 'm-c',
        origin: '2020-10-25 02:00:00',
        gen: GEN_C,
        utc: utcHour,
        local: localHour,
        date,
        utc_offset_min: -240,
        horizon_h: i + 1,
        currency: 'USD',
        s10: i === 0 ? '0' : '10',
        s50: i === 0 ? '5' : '18',
        s90: i === 0 ? '10' : '25',
        orders_p10: i === 0 ? 0 : 0.5,
        orders_p50: i === 0 ? 0.5 : 1.2,
        orders_p90: i === 0 ? 1 : 2,
      })),
    ]);
  });

  it('v_forecast_accuracy: every complete run and forecast hour with a closed actual, errors by hand', async () => {
    const acc = await rows<Record<string, unknown>>(
      `SELECT branch_id, run_id, model_version, toString(origin_date) AS origin_date, toString(hour_start_utc) AS utc, horizon_h, horizon_day,
              currency, toString(sales_p50) AS p50, toString(actual_sales) AS actual, actual_orders, actual_revision,
              toString(sales_error) AS err, toString(sales_abs_error) AS abs_err, orders_error, orders_abs_error,
              sales_inside_p10_p90 AS s_in, orders_inside_p10_p90 AS o_in
       FROM {db}.v_forecast_accuracy ORDER BY branch_id, run_id, hour_start_utc`,
    );
    const approx = (x: number): unknown => expect.closeTo(x, 9);
    const row = (
      branch: string,
      run: string,
      model: string,
      originDate: string,
      at: string,
      h: number,
      day: number,
      currency: string,
      p50: string,
      actual: string,
      orders: number,
      revision: number,
      err: string,
      absErr: string,
      oErr: number,
      sIn: number,
      oIn: number,
    ) => ({
      branch_id: branch,
      run_id: run,
      model_version: model,
      origin_date: originDate,
      utc: at,
      horizon_h: h,
      horizon_day: day,
      currency,
      p50,
      actual,
      actual_orders: orders,
      actual_revision: revision,
      err,
      abs_err: absErr,
      orders_error: approx(oErr),
      orders_abs_error: approx(Math.abs(oErr)),
      s_in: sIn,
      o_in: oIn,
    });
    expect(acc).toEqual([
      // run-a vs actuals 80.00/3, 100.00/4, 112.50/5 (revision 2), 50.00/2 (hour 25 -> day 2)
      row(
        'dub',
        'run-a',
        'm-a',
        '2020-10-25',
        '2020-10-25 10:00:00',
        1,
        1,
        'EUR',
        '90',
        '80',
        3,
        1,
        '10',
        '10',
        0.5,
        1,
        1,
      ),
      row(
        'dub',
        'run-a',
        'm-a',
        '2020-10-25',
        '2020-10-25 11:00:00',
        2,
        1,
        'EUR',
        '95',
        '100',
        4,
        1,
        '-5',
        '5',
        0.25,
        0,
        1,
      ),
      row(
        'dub',
        'run-a',
        'm-a',
        '2020-10-25',
        '2020-10-25 12:00:00',
        3,
        1,
        'EUR',
        '120',
        '112.5',
        5,
        2,
        '7.5',
        '7.5',
        -1,
        1,
        0,
      ),
      row(
        'dub',
        'run-a',
        'm-a',
        '2020-10-25',
        '2020-10-26 10:00:00',
        25,
        2,
        'EUR',
        '40',
        '50',
        2,
        1,
        '-10',
        '10',
        0.5,
        0,
        1,
      ),
      // run-b: its hour 25 (2020-10-26 11:00Z) is still open, so not compared
      row(
        'dub',
        'run-b',
        'm-b',
        '2020-10-25',
        '2020-10-25 11:00:00',
        1,
        1,
        'EUR',
        '101',
        '100',
        4,
        1,
        '1',
        '1',
        0,
        1,
        1,
      ),
      row(
        'dub',
        'run-b',
        'm-b',
        '2020-10-25',
        '2020-10-25 12:00:00',
        2,
        1,
        'EUR',
        '110',
        '112.5',
        5,
        2,
        '-2.5',
        '2.5',
        0.5,
        1,
        1,
      ),
      // run-c: origin 02:00Z is 22:00 EDT on the 24th (local origin date); 04:00Z has no actual; run-partial never appears
      row(
        'nyc',
        'run-c',
        'm-c',
        '2020-10-24',
        '2020-10-25 02:00:00',
        1,
        1,
        'USD',
        '5',
        '0',
        0,
        1,
        '5',
        '5',
        0.5,
        1,
        1,
      ),
      row(
        'nyc',
        'run-c',
        'm-c',
        '2020-10-24',
        '2020-10-25 03:00:00',
        2,
        1,
        'USD',
        '18',
        '20',
        1,
        1,
        '-2',
        '2',
        0.2,
        1,
        1,
      ),
    ]);
  });

  it('v_forecast_accuracy_daily: WAPE, bias and coverage by branch, model, origin date and horizon day', async () => {
    const daily = await rows<Record<string, unknown>>(
      `SELECT branch_id, model_version, toString(origin_date) AS origin_date, horizon_day, currency, runs, hours,
              toString(actual_sales) AS actual, toString(forecast_sales) AS forecast, toString(sales_abs_error) AS abs_err,
              sales_wape, sales_bias, sales_coverage_p10_p90 AS s_cov,
              actual_orders, forecast_orders, orders_abs_error, orders_wape, orders_coverage_p10_p90 AS o_cov
       FROM {db}.v_forecast_accuracy_daily ORDER BY branch_id, model_version, horizon_day`,
    );
    const c = (x: number): unknown => expect.closeTo(x, 9);
    expect(daily).toEqual([
      {
        // 80 + 100 + 112.5 actual, 90 + 95 + 120 forecast, |10| + |-5| + |7.5| error
        branch_id: 'dub',
        model_version: 'm-a',
        origin_date: '2020-10-25',
        horizon_day: 1,
        currency: 'EUR',
        runs: 1,
        hours: 3,
        actual: '292.5',
        forecast: '305',
        abs_err: '22.5',
        sales_wape: c(22.5 / 292.5),
        sales_bias: c(12.5 / 292.5),
        s_cov: c(2 / 3),
        actual_orders: 12,
        forecast_orders: c(11.75),
        orders_abs_error: c(1.75),
        orders_wape: c(1.75 / 12),
        o_cov: c(2 / 3),
      },
      {
        branch_id: 'dub',
        model_version: 'm-a',
        origin_date: '2020-10-25',
        horizon_day: 2,
        currency: 'EUR',
        runs: 1,
        hours: 1,
        actual: '50',
        forecast: '40',
        abs_err: '10',
        sales_wape: c(0.2),
        sales_bias: c(-0.2),
        s_cov: 0,
        actual_orders: 2,
        forecast_orders: c(2.5),
        orders_abs_error: c(0.5),
        orders_wape: c(0.25),
        o_cov: 1,
      },
      {
        branch_id: 'dub',
        model_version: 'm-b',
        origin_date: '2020-10-25',
        horizon_day: 1,
        currency: 'EUR',
        runs: 1,
        hours: 2,
        actual: '212.5',
        forecast: '211',
        abs_err: '3.5',
        sales_wape: c(3.5 / 212.5),
        sales_bias: c(-1.5 / 212.5),
        s_cov: 1,
        actual_orders: 9,
        forecast_orders: c(9.5),
        orders_abs_error: c(0.5),
        orders_wape: c(0.5 / 9),
        o_cov: 1,
      },
      {
        branch_id: 'nyc',
        model_version: 'm-c',
        origin_date: '2020-10-24',
        horizon_day: 1,
        currency: 'USD',
        runs: 1,
        hours: 2,
        actual: '20',
        forecast: '23',
        abs_err: '7',
        sales_wape: c(0.35),
        sales_bias: c(0.15),
        s_cov: 1,
        actual_orders: 1,
        forecast_orders: c(1.7),
        orders_abs_error: c(0.7),
        orders_wape: c(0.7),
        o_cov: 1,
      },
    ]);
  });

  it('v_dlq_summary: per UTC day and code, re-recorded rejections counted once', async () => {
    const day = (offsetDays: number) => new Date(DAY0 + offsetDays * 86_400_000).toISOString().slice(0, 10);
    const at = (ms: number) => toDateTime64(ms);
    const summary = await rows(
      'SELECT toString(day) AS day, code, rejections, branches, example_reason, toString(first_seen) AS first, toString(last_seen) AS last FROM {db}.v_dlq_summary ORDER BY day, code',
    );
    expect(summary).toEqual([
      {
        day: day(0),
        code: 'empty_message',
        rejections: 1,
        branches: 0,
        example_reason: 'empty message',
        first: at(DAY0 + 13 * HOUR),
        last: at(DAY0 + 13 * HOUR),
      },
      {
        day: day(0),
        code: 'unknown_branch',
        rejections: 3,
        branches: 2,
        example_reason: 'unknown branch x1 (again)',
        first: at(DAY0 + 10 * HOUR),
        last: at(DAY0 + 12 * HOUR),
      },
      {
        day: day(1),
        code: 'unknown_branch',
        rejections: 1,
        branches: 1,
        example_reason: 'unknown branch x3',
        first: at(DAY0 + 33 * HOUR),
        last: at(DAY0 + 33 * HOUR),
      },
    ]);
  });

  it('v_models: one row per model with its promotion status', async () => {
    const T = utc('2021-02-01T00:00:00');
    const models = await rows(
      `SELECT version, kind, parent_version, is_current, if(isNull(promoted_at), NULL, toUnixTimestamp64Milli(promoted_at)) AS promoted,
              promotion_action, promotions, JSONExtractFloat(metrics, 'wape') AS wape
       FROM {db}.v_models ORDER BY version`,
    );
    expect(models).toEqual([
      {
        version: 'm-a',
        kind: 'full',
        parent_version: '',
        is_current: 1,
        promoted: T + 3 * HOUR,
        promotion_action: 'rollback',
        promotions: 2,
        wape: 0.21,
      },
      {
        version: 'm-b',
        kind: 'finetune',
        parent_version: 'm-a',
        is_current: 0,
        promoted: T + HOUR + 10 * 60_000,
        promotion_action: 'promote',
        promotions: 1,
        wape: 0.21,
      },
      {
        version: 'm-c',
        kind: 'full',
        parent_version: '',
        is_current: 0,
        promoted: null,
        promotion_action: null,
        promotions: 0,
        wape: 0.21,
      },
    ]);
  });
  it('v_models: is_current is the registry rule, so a trainer finishing late on older data demotes nothing', async () => {
    const T = utc('2021-02-01T00:00:00');
    // Trainers (manual 0) rank by their data: m-c on data through T, then m-b on data a day older
    // lands last, as a slow trainer's would. The manual rows of the fixture rank at watermark 0.
    await ch.client.insert({
      table: ch.table('model_promotions'),
      values: [
        {
          version: 'm-c',
          promoted_at: toDateTime64(T + 5 * HOUR),
          action: 'promote',
          reason: 'trainer',
          data_watermark: toDateTime(T),
          manual: 0,
        },
        {
          version: 'm-b',
          promoted_at: toDateTime64(T + 6 * HOUR),
          action: 'promote',
          reason: 'late trainer',
          data_watermark: toDateTime(T - 24 * HOUR),
          manual: 0,
        },
      ],
      format: 'JSONEachRow',
    });
    expect(await rows('SELECT version FROM {db}.v_models WHERE is_current = 1')).toEqual([
      { version: 'm-c' },
    ]);
    // The forecaster members read the same answer.
    expect((await new ModelRegistry(ch).currentModel())?.version).toBe('m-c');
  });
});

// ---------------------------------------------------------------- who may read them

/**
 * The docker compose server's users (clickhouse/server/users.xml) loaded into the
 * same engine: one process (full rights, like the migrating `admin`) creates the
 * schema and a few rows, a second process connects as a user with exactly the
 * `analyst` grants and profile. The embedded engine authenticates every
 * connection as `default`, so the second process's `default` IS the analyst
 * (copied from users.xml), with the real users.xml alongside so `admin` exists.
 */
describe('the analyst user of users.xml', () => {
  const usersXml = fs.readFileSync(path.join(PROJECT_ROOT, 'clickhouse', 'server', 'users.xml'), 'utf8');
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-analyst-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const CHILD = `
    const fs = require('node:fs');
    const { Session } = require(process.env.CHDB_MODULE);
    const job = JSON.parse(fs.readFileSync(process.env.JOB_FILE, 'utf8'));
    const s = new Session(job.dataDir, { connectionArgs: ['--config-file=' + job.config] });
    const out = [];
    for (const q of job.queries) {
      try { out.push({ ok: true, rows: s.query(q, 'JSONEachRow').trim().split('\\n').filter(Boolean).map((l) => JSON.parse(l)) }); }
      catch (e) { out.push({ ok: false, error: String(e.message).slice(0, 300) }); }
    }
    s.close();
    fs.writeFileSync(job.resultFile, JSON.stringify(out));
  `;

  type Outcome = { ok: true; rows: Record<string, unknown>[] } | { ok: false; error: string };

  /** Runs queries in a fresh process whose users config is `users` (plus users.xml in users.d). */
  function runAs(name: string, users: string, queries: string[]): Outcome[] {
    const cfgDir = path.join(dir, name);
    fs.mkdirSync(path.join(cfgDir, 'users.d'), { recursive: true });
    fs.writeFileSync(path.join(cfgDir, 'users.d', 'tillcast-users.xml'), usersXml);
    fs.writeFileSync(path.join(cfgDir, 'users.xml'), users);
    // Absolute users_config: a relative one resolves against the working directory.
    fs.writeFileSync(
      path.join(cfgDir, 'config.xml'),
      `<clickhouse><users_config>${path.join(cfgDir, 'users.xml')}</users_config></clickhouse>`,
    );
    const job = {
      dataDir: path.join(dir, 'data'),
      config: path.join(cfgDir, 'config.xml'),
      queries,
      resultFile: path.join(cfgDir, 'result.json'),
    };
    fs.writeFileSync(path.join(cfgDir, 'job.json'), JSON.stringify(job));
    const passwords = Object.fromEntries(
      ['ADMIN', 'INGEST', 'FORECASTER', 'API', 'ANALYST'].map((u) => [`CLICKHOUSE_${u}_PASSWORD`, `pw-${u}`]),
    );
    execFileSync(process.execPath, ['-e', CHILD], {
      env: {
        ...process.env,
        ...passwords,
        CHDB_MODULE: require.resolve('chdb'),
        JOB_FILE: path.join(cfgDir, 'job.json'),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 120_000,
    });
    return JSON.parse(fs.readFileSync(job.resultFile, 'utf8')) as Outcome[];
  }

  const usersConfig = (defaultUser: string) => `<clickhouse>
  <profiles><default/><readonly><readonly>1</readonly></readonly></profiles>
  <quotas><default/></quotas>
  <users><default>${defaultUser}</default></users>
</clickhouse>`;

  it('reads every v_ view and no base table', () => {
    const db = 'tillcast'; // users.xml grants name the database
    const statements = readMigrations(undefined, db).flatMap((m) => m.statements);
    const views = Object.keys(CONTRACT);
    const tables = [
      'sales_events',
      'sales_hourly',
      'branch_watermarks',
      'ingest_rejections',
      'models',
      'model_promotions',
      'forecasts',
      'forecast_runs',
    ];
    const h = hourRow(DUB_CORRECTION);
    const setup = runAs(
      'admin',
      usersConfig(
        '<password></password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota><access_management>1</access_management>',
      ),
      [
        `CREATE DATABASE ${db}`,
        ...statements,
        `INSERT INTO ${db}.sales_hourly FORMAT JSONEachRow ${JSON.stringify(h)}`,
        // The migration itself makes every view SQL SECURITY DEFINER ...
        `SELECT name FROM system.tables WHERE database = '${db}' AND engine = 'View' AND create_table_query NOT LIKE '%SQL SECURITY DEFINER%'`,
        // ... and docker compose runs the migrations as admin: the views' definer is admin there.
        ...views.map((v) => `ALTER TABLE ${db}.${v} MODIFY SQL SECURITY DEFINER DEFINER = admin`),
      ],
    );
    expect(setup.filter((o) => !o.ok)).toEqual([]);
    expect(setup[statements.length + 2]).toEqual({ ok: true, rows: [] }); // no view left with the invoker's rights

    const analyst = /<analyst>([\s\S]*?)<\/analyst>/.exec(usersXml)?.[1];
    expect(analyst).toMatch(/<profile>tillcast_analyst<\/profile>/); // readonly=2 with constraints
    const asAnalyst = analyst!.replace(
      /<password[^>]*\/>|<password[^>]*>[^<]*<\/password>/,
      '<password></password>',
    );
    const results = runAs('analyst', usersConfig(asAnalyst), [
      "SELECT currentUser() AS u, toString(getSetting('readonly')) AS ro",
      ...views.map((v) => `SELECT count() AS n FROM ${db}.${v}`),
      `SELECT toString(sales) AS sales, revision FROM ${db}.v_sales_hourly`,
      ...tables.map((t) => `SELECT count() FROM ${db}.${t}`),
      `INSERT INTO ${db}.sales_hourly FORMAT JSONEachRow ${JSON.stringify(h)}`,
      `SHOW TABLES FROM ${db}`,
    ]);
    let i = 0;
    expect(results[i++]).toEqual({ ok: true, rows: [{ u: 'default', ro: '2' }] });
    for (const v of views)
      expect({ view: v, ...results[i++] }).toEqual({ view: v, ok: true, rows: [expect.any(Object)] });
    expect(results[i++]).toEqual({ ok: true, rows: [{ sales: '112.5', revision: 2 }] });
    for (const t of tables)
      expect({ table: t, ...results[i++] }).toEqual({
        table: t,
        ok: false,
        error: expect.stringMatching(/ACCESS_DENIED|Not enough privileges/),
      });
    expect(results[i++]).toEqual({
      ok: false,
      error: expect.stringMatching(/ACCESS_DENIED|readonly|READONLY/i),
    });
    expect(results[i++]).toEqual({
      ok: true,
      rows: views
        .slice()
        .sort()
        .map((name) => ({ name })),
    });
  });
});
