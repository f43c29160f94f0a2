-- Manager overrides of a day's forecast and the ledger that scores them (issue 16; api/README.md
-- "Overrides", docs/analysts.md). clickhouse/store/overrides.ts is the only SQL of the table.

-- The ledger: one row per change, never updated. A PUT that changes a day's override writes a
-- row with the manager's numbers; a DELETE writes a row with cleared = 1. The override in force
-- on a day is its latest row (greatest set_at, then override_id) unless that row is a clear.
-- Every row keeps the model's forecast of the day as the API served it at that moment (the run,
-- the day's p50 and its calibrated p10/p90), so the override can be scored against the forecast
-- it replaced, whatever later runs say. ReplacingMergeTree on a key that ends with the row's own
-- id only folds an insert sent twice (a retried request); distinct rows are never merged.
CREATE TABLE IF NOT EXISTS {{database}}.forecast_overrides
(
    branch_id              LowCardinality(String),
    local_date             Date COMMENT 'branch-local calendar date overridden',
    set_at                 DateTime64(3, 'UTC') COMMENT 'when the row was written',
    override_id            String COMMENT 'uuid of this ledger row',
    cleared                UInt8 COMMENT '1: the override of the day was cleared (DELETE); numbers NULL',
    sales_minor            Nullable(Int64) COMMENT 'manager expected sales of the day, minor units (cents); NULL: sales not overridden',
    orders                 Nullable(UInt32) COMMENT 'manager expected orders of the day; NULL: orders not overridden',
    reason                 String COMMENT 'free text given with the override',
    key_id                 String COMMENT 'API key id that wrote the row; auth-none when the API runs without keys',
    key_name               String COMMENT 'name of that key (who holds it); auth-none without keys',
    day_hours              UInt8 COMMENT 'hours of the local date (24, or 23/25 on DST days): the day has closed once all have',
    run_id                 String COMMENT 'forecast run the API served for the branch at that moment',
    model_version          String COMMENT 'model of that run',
    model_source           LowCardinality(String) COMMENT 'forecast: every hour of the day forecast; mixed: some already closed (their actuals count)',
    model_sales_p10_minor  Int64 COMMENT 'the day as /predict served it then: sales p10, minor units',
    model_sales_p50_minor  Int64,
    model_sales_p90_minor  Int64,
    model_orders_p10_milli Int64 COMMENT 'orders p10 of the day, thousandths',
    model_orders_p50_milli Int64,
    model_orders_p90_milli Int64
)
ENGINE = ReplacingMergeTree
ORDER BY (branch_id, local_date, set_at, override_id);

-- v_override_accuracy: every overridden day that has closed, scored. One row per branch and
-- local date whose override in force (the latest ledger row, not a clear) is compared with the
-- actual of the day once all its hours have closed (the day's closed hours in sales_hourly
-- number day_hours: the rule by which /predict shows a day as actual), and with the model's p50
-- the override replaced (from that same latest row). Money is Decimal in major units (0003's
-- contract); who was closer compares absolute errors exactly (cents, thousandths of an order).
CREATE OR REPLACE VIEW {{database}}.v_override_accuracy
(
    branch_id                 LowCardinality(String) COMMENT 'Branch id',
    local_date                Date COMMENT 'Branch-local calendar date overridden (closed: every hour final)',
    currency                  LowCardinality(String) COMMENT 'ISO 4217 currency of the money columns (empty if the branch has no stored receipt)',
    set_at                    DateTime64(3, 'UTC') COMMENT 'When the override in force was set (UTC)',
    key_id                    String COMMENT 'API key that set it (auth-none without keys): the manager',
    key_name                  String COMMENT 'Name of that key',
    reason                    String COMMENT 'Reason given with the override',
    revisions                 UInt64 COMMENT 'Ledger rows of the day (sets and clears) up to now',
    run_id                    String COMMENT 'Forecast run the override replaced',
    model_version             String COMMENT 'Model of that run',
    model_source              LowCardinality(String) COMMENT 'forecast: the whole day was forecast when overridden; mixed: some hours had already closed (their actuals were part of the model value)',
    actual_sales              Decimal(18, 2) COMMENT 'Actual sales of the day, major units',
    model_sales               Decimal(18, 2) COMMENT 'Model sales p50 of the day when the override was set, major units',
    model_sales_p10           Decimal(18, 2) COMMENT 'Model sales p10 of the day then (calibrated day range)',
    model_sales_p90           Decimal(18, 2) COMMENT 'Model sales p90 of the day then',
    override_sales            Nullable(Decimal(18, 2)) COMMENT 'Manager sales, major units; NULL when sales were not overridden',
    model_sales_abs_error     Decimal(18, 2) COMMENT '|model_sales - actual_sales|',
    override_sales_abs_error  Nullable(Decimal(18, 2)) COMMENT '|override_sales - actual_sales|, NULL without a sales override',
    sales_closer              Nullable(String) COMMENT 'override | model | tie: whose sales were closer to the actual; NULL without a sales override',
    actual_orders             UInt64 COMMENT 'Actual orders of the day',
    model_orders              Decimal(18, 3) COMMENT 'Model orders p50 of the day when the override was set',
    model_orders_p10          Decimal(18, 3) COMMENT 'Model orders p10 of the day then',
    model_orders_p90          Decimal(18, 3) COMMENT 'Model orders p90 of the day then',
    override_orders           Nullable(UInt32) COMMENT 'Manager orders; NULL when orders were not overridden',
    model_orders_abs_error    Decimal(18, 3) COMMENT '|model_orders - actual_orders|',
    override_orders_abs_error Nullable(Decimal(18, 3)) COMMENT '|override_orders - actual_orders|, NULL without an orders override',
    orders_closer             Nullable(String) COMMENT 'override | model | tie: whose orders were closer; NULL without an orders override'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    o.branch_id AS branch_id,
    o.local_date AS local_date,
    CAST(ifNull(c.currency, '') AS LowCardinality(String)) AS currency,
    o.set_at AS set_at,
    o.key_id AS key_id,
    o.key_name AS key_name,
    o.reason AS reason,
    n.revisions AS revisions,
    o.run_id AS run_id,
    o.model_version AS model_version,
    o.model_source AS model_source,
    toDecimal64(a.sales_minor, 2) / 100 AS actual_sales,
    toDecimal64(o.model_sales_p50_minor, 2) / 100 AS model_sales,
    toDecimal64(o.model_sales_p10_minor, 2) / 100 AS model_sales_p10,
    toDecimal64(o.model_sales_p90_minor, 2) / 100 AS model_sales_p90,
    CAST(if(o.sales_minor IS NULL, NULL, toDecimal64(assumeNotNull(o.sales_minor), 2) / 100) AS Nullable(Decimal(18, 2))) AS override_sales,
    toDecimal64(abs(o.model_sales_p50_minor - a.sales_minor), 2) / 100 AS model_sales_abs_error,
    CAST(if(o.sales_minor IS NULL, NULL, toDecimal64(abs(assumeNotNull(o.sales_minor) - a.sales_minor), 2) / 100) AS Nullable(Decimal(18, 2))) AS override_sales_abs_error,
    CAST(if(o.sales_minor IS NULL, NULL, multiIf(abs(assumeNotNull(o.sales_minor) - a.sales_minor) < abs(o.model_sales_p50_minor - a.sales_minor), 'override', abs(assumeNotNull(o.sales_minor) - a.sales_minor) > abs(o.model_sales_p50_minor - a.sales_minor), 'model', 'tie')) AS Nullable(String)) AS sales_closer,
    a.orders AS actual_orders,
    toDecimal64(o.model_orders_p50_milli, 3) / 1000 AS model_orders,
    toDecimal64(o.model_orders_p10_milli, 3) / 1000 AS model_orders_p10,
    toDecimal64(o.model_orders_p90_milli, 3) / 1000 AS model_orders_p90,
    o.orders AS override_orders,
    toDecimal64(abs(o.model_orders_p50_milli - toInt64(a.orders) * 1000), 3) / 1000 AS model_orders_abs_error,
    CAST(if(o.orders IS NULL, NULL, toDecimal64(abs(toInt64(assumeNotNull(o.orders)) - toInt64(a.orders)), 3)) AS Nullable(Decimal(18, 3))) AS override_orders_abs_error,
    CAST(if(o.orders IS NULL, NULL, multiIf(abs(toInt64(assumeNotNull(o.orders)) - toInt64(a.orders)) * 1000 < abs(o.model_orders_p50_milli - toInt64(a.orders) * 1000), 'override', abs(toInt64(assumeNotNull(o.orders)) - toInt64(a.orders)) * 1000 > abs(o.model_orders_p50_milli - toInt64(a.orders) * 1000), 'model', 'tie')) AS Nullable(String)) AS orders_closer
FROM
(
    SELECT *
    FROM {{database}}.forecast_overrides FINAL
    ORDER BY branch_id, local_date, set_at DESC, override_id DESC
    LIMIT 1 BY branch_id, local_date
) AS o
INNER JOIN
(
    SELECT r.branch_id AS branch_id, r.local_date AS local_date, count() AS revisions
    FROM {{database}}.forecast_overrides AS r FINAL
    GROUP BY r.branch_id, r.local_date
) AS n ON n.branch_id = o.branch_id AND n.local_date = o.local_date
INNER JOIN
(
    SELECT
        h.branch_id AS branch_id,
        h.local_date AS local_date,
        sum(h.sales_minor) AS sales_minor,
        sum(toUInt64(h.orders)) AS orders,
        countIf(h.closed = 1) AS closed_hours
    FROM {{database}}.sales_hourly AS h FINAL
    WHERE (h.branch_id, h.local_date) IN (SELECT branch_id, local_date FROM {{database}}.forecast_overrides)
    GROUP BY h.branch_id, h.local_date
) AS a ON a.branch_id = o.branch_id AND a.local_date = o.local_date
LEFT JOIN
(
    SELECT e.branch_id AS branch_id, any(e.currency) AS currency
    FROM {{database}}.sales_events AS e
    WHERE e.branch_id IN (SELECT branch_id FROM {{database}}.forecast_overrides)
    GROUP BY e.branch_id
) AS c ON c.branch_id = o.branch_id
WHERE o.cleared = 0 AND a.closed_hours = o.day_hours;
