-- Analyst views: stable, documented names and columns over the ingest and
-- forecast tables (docs/analysts.md is the guide). Every column carries a
-- COMMENT, so `DESCRIBE TABLE {{database}}.v_…` explains it.
--
-- Contract
-- - Names and types are declared explicitly in each view's column list and only
--   ever change by adding columns in a later migration (CREATE OR REPLACE VIEW),
--   a column is never renamed, retyped or removed without a new v_ name.
-- - Money is Decimal(18, 2) in the currency's major units (EUR, not cents), next
--   to a `currency` column. Stored minor units are divided by 100 exactly; float
--   forecasts are rounded to the cent (round(x * 100) / 100, not truncated).
-- - sales  = sum of totals of non-void receipts (SALE and REFUND, refunds are negative).
--   orders = count of non-void receipts with total >= 0 (SALE).
-- - Hours are UTC hours. hour_start_local is the branch wall-clock start stored as a
--   naive DateTime (shown as is, no conversion). local_date is the branch calendar date.
-- - An hour is closed once the branch watermark passes its end + allowed lateness
--   (INGEST_ALLOWED_LATENESS_S). A late correction writes a new revision of the
--   hour. The views always show the latest revision (FINAL on the version column).
-- - currency comes from the branch receipts (sales_events, one currency per branch,
--   enforced by ingest). It is empty for a branch with no stored receipt.
--
-- Security (ClickHouse 24.2+): a normal view runs with the INVOKER's rights by
-- default, so a user allowed to read only the views (the docker compose `analyst`,
-- GRANT SELECT ON tillcast.v_*) would be refused on the base tables. These views
-- are SQL SECURITY DEFINER with DEFINER = CURRENT_USER, the user that runs the
-- migrations (`admin` in docker compose, `default` in the embedded engine), so a
-- SELECT on a view is all a reader needs.
--
-- Statements end with a semicolon at the end of a line (the migrator splits there),
-- so no comment line or string below ends with one.

-- v_sales_hourly: the latest revision of every recorded hour per branch.
CREATE OR REPLACE VIEW {{database}}.v_sales_hourly
(
    branch_id         LowCardinality(String) COMMENT 'Branch id (POS location)',
    hour_start_utc    DateTime('UTC') COMMENT 'Hour start, UTC (the hour is [hour_start_utc, +1h))',
    hour_start_local  DateTime('UTC') COMMENT 'Hour start as branch wall-clock time, naive (read as local time, not UTC). At the DST fall-back two hours share a value',
    local_date        Date COMMENT 'Branch-local calendar date of the hour',
    utc_offset_min    Int16 COMMENT 'Branch UTC offset during this hour, minutes (60 = UTC+1)',
    timezone          LowCardinality(String) COMMENT 'IANA time zone of the branch',
    currency          LowCardinality(String) COMMENT 'ISO 4217 currency of the money columns (empty if the branch has no stored receipt)',
    sales             Decimal(18, 2) COMMENT 'Sum of totals (incl. tax) of non-void receipts in the hour, refunds negative, major units',
    orders            UInt32 COMMENT 'Non-void receipts with total >= 0 (SALE)',
    refunds           UInt32 COMMENT 'REFUND receipts (negative totals, included in sales)',
    voids             UInt32 COMMENT 'VOID rows (cancelled receipts and their reversals), excluded from sales and orders',
    closed            UInt8 COMMENT '1 once the branch watermark passed the hour end + allowed lateness (final unless a late correction arrives), 0 while open',
    revision          UInt32 COMMENT '0 while open, 1 when closed, +1 per late correction of a closed hour',
    sales_by_channel  Map(String, Decimal(18, 2)) COMMENT 'sales split by POS channel (e.g. in_store, delivery), major units',
    orders_by_channel Map(String, UInt32) COMMENT 'orders split by POS channel',
    updated_at        DateTime64(3, 'UTC') COMMENT 'When this revision was written (UTC)'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    h.branch_id AS branch_id,
    h.hour_start AS hour_start_utc,
    h.hour_start_local AS hour_start_local,
    h.local_date AS local_date,
    h.utc_offset_min AS utc_offset_min,
    h.timezone AS timezone,
    CAST(ifNull(c.currency, '') AS LowCardinality(String)) AS currency,
    toDecimal64(h.sales_minor, 2) / 100 AS sales,
    h.orders AS orders,
    h.refunds AS refunds,
    h.voids AS voids,
    h.closed AS closed,
    h.revision AS revision,
    CAST(mapApply((k, v) -> (k, toDecimal64(v, 2) / 100), h.sales_by_channel) AS Map(String, Decimal(18, 2))) AS sales_by_channel,
    h.orders_by_channel AS orders_by_channel,
    h.updated_at AS updated_at
FROM {{database}}.sales_hourly AS h FINAL
LEFT JOIN
(
    SELECT e.branch_id AS branch_id, any(e.currency) AS currency
    FROM {{database}}.sales_events AS e
    GROUP BY e.branch_id
) AS c ON c.branch_id = h.branch_id;

-- v_sales_daily: per branch and branch-LOCAL calendar date (23, 24 or 25 hours).
CREATE OR REPLACE VIEW {{database}}.v_sales_daily
(
    branch_id          LowCardinality(String) COMMENT 'Branch id',
    local_date         Date COMMENT 'Branch-local calendar date (midnight to midnight in the branch time zone: 23 hours on a DST spring-forward day, 25 on a fall-back day)',
    timezone           LowCardinality(String) COMMENT 'IANA time zone of the branch',
    currency           LowCardinality(String) COMMENT 'ISO 4217 currency of the money columns',
    sales              Decimal(18, 2) COMMENT 'Sum of hourly sales of the date (latest revisions), major units',
    orders             UInt64 COMMENT 'Sum of hourly orders',
    refunds            UInt64 COMMENT 'Sum of hourly refunds',
    voids              UInt64 COMMENT 'Sum of hourly voids',
    hours              UInt64 COMMENT 'Hours of the date recorded so far (hours before a branch first sale are not recorded)',
    open_hours         UInt64 COMMENT 'Hours with orders > 0',
    closed_hours_count UInt64 COMMENT 'Hours of the date closed so far (the date is final when this equals its length: 24, or 23/25 on DST days)',
    first_order_hour   Nullable(UInt8) COMMENT 'Local hour of day (0-23) of the first hour with orders, NULL if none',
    last_order_hour    Nullable(UInt8) COMMENT 'Local hour of day (0-23) of the last hour with orders, NULL if none',
    sales_by_channel   Map(String, Decimal(18, 2)) COMMENT 'sales split by POS channel, major units',
    orders_by_channel  Map(String, UInt64) COMMENT 'orders split by POS channel'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    h.branch_id AS branch_id,
    h.local_date AS local_date,
    CAST(any(h.timezone) AS LowCardinality(String)) AS timezone,
    CAST(any(h.currency) AS LowCardinality(String)) AS currency,
    CAST(sum(h.sales) AS Decimal(18, 2)) AS sales,
    sum(h.orders) AS orders,
    sum(h.refunds) AS refunds,
    sum(h.voids) AS voids,
    count() AS hours,
    countIf(h.orders > 0) AS open_hours,
    countIf(h.closed = 1) AS closed_hours_count,
    toHour(minIfOrNull(h.hour_start_local, h.orders > 0)) AS first_order_hour,
    toHour(maxIfOrNull(h.hour_start_local, h.orders > 0)) AS last_order_hour,
    CAST(sumMap(h.sales_by_channel) AS Map(String, Decimal(18, 2))) AS sales_by_channel,
    CAST(sumMap(h.orders_by_channel) AS Map(String, UInt64)) AS orders_by_channel
FROM {{database}}.v_sales_hourly AS h
GROUP BY h.branch_id, h.local_date;

-- v_sales_daily_utc: the same per branch and UTC calendar date (always 24 hours).
CREATE OR REPLACE VIEW {{database}}.v_sales_daily_utc
(
    branch_id          LowCardinality(String) COMMENT 'Branch id',
    utc_date           Date COMMENT 'UTC calendar date',
    timezone           LowCardinality(String) COMMENT 'IANA time zone of the branch',
    currency           LowCardinality(String) COMMENT 'ISO 4217 currency of the money columns',
    sales              Decimal(18, 2) COMMENT 'Sum of hourly sales of the UTC date (latest revisions), major units',
    orders             UInt64 COMMENT 'Sum of hourly orders',
    refunds            UInt64 COMMENT 'Sum of hourly refunds',
    voids              UInt64 COMMENT 'Sum of hourly voids',
    hours              UInt64 COMMENT 'Hours of the UTC date recorded so far',
    open_hours         UInt64 COMMENT 'Hours with orders > 0',
    closed_hours_count UInt64 COMMENT 'Hours of the UTC date closed so far (final at 24)',
    first_order_hour   Nullable(UInt8) COMMENT 'UTC hour of day (0-23) of the first hour with orders, NULL if none',
    last_order_hour    Nullable(UInt8) COMMENT 'UTC hour of day (0-23) of the last hour with orders, NULL if none',
    sales_by_channel   Map(String, Decimal(18, 2)) COMMENT 'sales split by POS channel, major units',
    orders_by_channel  Map(String, UInt64) COMMENT 'orders split by POS channel'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    h.branch_id AS branch_id,
    toDate(h.hour_start_utc) AS utc_date,
    CAST(any(h.timezone) AS LowCardinality(String)) AS timezone,
    CAST(any(h.currency) AS LowCardinality(String)) AS currency,
    CAST(sum(h.sales) AS Decimal(18, 2)) AS sales,
    sum(h.orders) AS orders,
    sum(h.refunds) AS refunds,
    sum(h.voids) AS voids,
    count() AS hours,
    countIf(h.orders > 0) AS open_hours,
    countIf(h.closed = 1) AS closed_hours_count,
    toHour(minIfOrNull(h.hour_start_utc, h.orders > 0)) AS first_order_hour,
    toHour(maxIfOrNull(h.hour_start_utc, h.orders > 0)) AS last_order_hour,
    CAST(sumMap(h.sales_by_channel) AS Map(String, Decimal(18, 2))) AS sales_by_channel,
    CAST(sumMap(h.orders_by_channel) AS Map(String, UInt64)) AS orders_by_channel
FROM {{database}}.v_sales_hourly AS h
GROUP BY h.branch_id, utc_date;

-- v_latest_forecast: every point of the latest complete run per branch, the run
-- the API serves ("latest" = greatest (generated_at, run_id) in forecast_runs, a
-- run row is written after all its points). The IN on (branch_id, run_id), a
-- prefix of the forecasts sorting key, reads only those runs' granules.
CREATE OR REPLACE VIEW {{database}}.v_latest_forecast
(
    branch_id        LowCardinality(String) COMMENT 'Branch id',
    run_id           String COMMENT 'Forecast run id',
    model_version    String COMMENT 'Model that produced the run (see v_models)',
    origin           DateTime('UTC') COMMENT 'Run origin, UTC: end of the last closed hour it saw = start of its first forecast hour',
    generated_at     DateTime64(3, 'UTC') COMMENT 'When the run was written (UTC)',
    hour_start_utc   DateTime('UTC') COMMENT 'Forecast hour start, UTC',
    hour_start_local DateTime('UTC') COMMENT 'Forecast hour start as branch wall-clock time, naive',
    local_date       Date COMMENT 'Branch-local calendar date of the forecast hour',
    utc_offset_min   Int16 COMMENT 'Branch UTC offset during the forecast hour, minutes',
    horizon_h        UInt16 COMMENT 'Hours after the origin (1 = first forecast hour)',
    currency         LowCardinality(String) COMMENT 'ISO 4217 currency of the money columns',
    sales_p10        Decimal(18, 2) COMMENT 'Sales forecast, 10th percentile, major units',
    sales_p50        Decimal(18, 2) COMMENT 'Sales forecast, median, major units',
    sales_p90        Decimal(18, 2) COMMENT 'Sales forecast, 90th percentile, major units',
    orders_p10       Float64 COMMENT 'Orders forecast, 10th percentile (expected count, fractional)',
    orders_p50       Float64 COMMENT 'Orders forecast, median',
    orders_p90       Float64 COMMENT 'Orders forecast, 90th percentile'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    f.branch_id AS branch_id,
    f.run_id AS run_id,
    r.model_version AS model_version,
    r.origin AS origin,
    r.generated_at AS generated_at,
    f.hour_start AS hour_start_utc,
    f.hour_start_local AS hour_start_local,
    f.local_date AS local_date,
    f.utc_offset_min AS utc_offset_min,
    f.horizon_h AS horizon_h,
    CAST(ifNull(c.currency, '') AS LowCardinality(String)) AS currency,
    toDecimal64(round(f.sales_p10 * 100), 2) / 100 AS sales_p10,
    toDecimal64(round(f.sales_p50 * 100), 2) / 100 AS sales_p50,
    toDecimal64(round(f.sales_p90 * 100), 2) / 100 AS sales_p90,
    f.orders_p10 AS orders_p10,
    f.orders_p50 AS orders_p50,
    f.orders_p90 AS orders_p90
FROM {{database}}.forecasts AS f
INNER JOIN
(
    SELECT
        fr.branch_id AS branch_id,
        argMax(fr.run_id, (fr.generated_at, fr.run_id)) AS run_id,
        argMax(fr.model_version, (fr.generated_at, fr.run_id)) AS model_version,
        argMax(fr.origin, (fr.generated_at, fr.run_id)) AS origin,
        max(fr.generated_at) AS generated_at
    FROM {{database}}.forecast_runs AS fr
    GROUP BY fr.branch_id
) AS r ON r.branch_id = f.branch_id AND r.run_id = f.run_id
LEFT JOIN
(
    SELECT e.branch_id AS branch_id, any(e.currency) AS currency
    FROM {{database}}.sales_events AS e
    GROUP BY e.branch_id
) AS c ON c.branch_id = f.branch_id
WHERE (f.branch_id, f.run_id) IN
(
    SELECT lr.branch_id, argMax(lr.run_id, (lr.generated_at, lr.run_id))
    FROM {{database}}.forecast_runs AS lr
    GROUP BY lr.branch_id
);

-- v_forecast_accuracy: every complete run x forecast hour whose actual is closed,
-- forecast next to the actual (latest revision). Errors are forecast - actual.
-- origin_date comes from the origin hour's own row (a run with any closed hour has a
-- closed origin hour, hours close in order). Runs are joined on run_id alone (ids are
-- unique): with branch_id too, the join reordering of recent ClickHouse versions paired
-- runs with actuals by branch first, a huge intermediate result.
CREATE OR REPLACE VIEW {{database}}.v_forecast_accuracy
(
    branch_id             LowCardinality(String) COMMENT 'Branch id',
    run_id                String COMMENT 'Forecast run id',
    model_version         String COMMENT 'Model that produced the run',
    origin                DateTime('UTC') COMMENT 'Run origin, UTC (start of its first forecast hour)',
    origin_date           Date COMMENT 'Branch-local calendar date of the origin hour (UTC date if that hour is not recorded)',
    generated_at          DateTime64(3, 'UTC') COMMENT 'When the run was written (UTC)',
    hour_start_utc        DateTime('UTC') COMMENT 'Forecast hour start, UTC',
    hour_start_local      DateTime('UTC') COMMENT 'Forecast hour start as branch wall-clock time, naive',
    local_date            Date COMMENT 'Branch-local calendar date of the forecast hour',
    horizon_h             UInt16 COMMENT 'Hours after the origin (1 = first forecast hour)',
    horizon_day           UInt16 COMMENT 'ceil(horizon_h / 24): 1 = hours 1-24 after the origin, 2 = hours 25-48, ...',
    currency              LowCardinality(String) COMMENT 'ISO 4217 currency of the money columns',
    sales_p10             Decimal(18, 2) COMMENT 'Sales forecast, 10th percentile, major units',
    sales_p50             Decimal(18, 2) COMMENT 'Sales forecast, median, major units',
    sales_p90             Decimal(18, 2) COMMENT 'Sales forecast, 90th percentile, major units',
    orders_p10            Float64 COMMENT 'Orders forecast, 10th percentile',
    orders_p50            Float64 COMMENT 'Orders forecast, median',
    orders_p90            Float64 COMMENT 'Orders forecast, 90th percentile',
    actual_sales          Decimal(18, 2) COMMENT 'Actual sales of the closed hour (latest revision), major units',
    actual_orders         UInt32 COMMENT 'Actual orders of the closed hour (latest revision)',
    actual_revision       UInt32 COMMENT 'Revision of the actual (1 = as closed, more = corrected late)',
    sales_error           Decimal(18, 2) COMMENT 'sales_p50 - actual_sales (positive = over-forecast), major units',
    sales_abs_error       Decimal(18, 2) COMMENT '|sales_p50 - actual_sales|, major units',
    orders_error          Float64 COMMENT 'orders_p50 - actual_orders',
    orders_abs_error      Float64 COMMENT '|orders_p50 - actual_orders|',
    sales_inside_p10_p90  UInt8 COMMENT '1 if sales_p10 <= actual_sales <= sales_p90',
    orders_inside_p10_p90 UInt8 COMMENT '1 if orders_p10 <= actual_orders <= orders_p90'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    f.branch_id AS branch_id,
    f.run_id AS run_id,
    r.model_version AS model_version,
    r.origin AS origin,
    r.origin_date AS origin_date,
    r.generated_at AS generated_at,
    f.hour_start AS hour_start_utc,
    f.hour_start_local AS hour_start_local,
    f.local_date AS local_date,
    f.horizon_h AS horizon_h,
    toUInt16(intDiv(f.horizon_h + 23, 24)) AS horizon_day,
    CAST(ifNull(c.currency, '') AS LowCardinality(String)) AS currency,
    toDecimal64(round(f.sales_p10 * 100), 2) / 100 AS sales_p10,
    toDecimal64(round(f.sales_p50 * 100), 2) / 100 AS sales_p50,
    toDecimal64(round(f.sales_p90 * 100), 2) / 100 AS sales_p90,
    f.orders_p10 AS orders_p10,
    f.orders_p50 AS orders_p50,
    f.orders_p90 AS orders_p90,
    a.actual_sales AS actual_sales,
    a.actual_orders AS actual_orders,
    a.actual_revision AS actual_revision,
    sales_p50 - actual_sales AS sales_error,
    abs(sales_p50 - actual_sales) AS sales_abs_error,
    f.orders_p50 - a.actual_orders AS orders_error,
    abs(f.orders_p50 - a.actual_orders) AS orders_abs_error,
    toUInt8(actual_sales >= sales_p10 AND actual_sales <= sales_p90) AS sales_inside_p10_p90,
    toUInt8(a.actual_orders >= f.orders_p10 AND a.actual_orders <= f.orders_p90) AS orders_inside_p10_p90
FROM {{database}}.forecasts AS f
INNER JOIN
(
    SELECT
        run.run_id AS run_id,
        run.branch_id AS branch_id,
        run.model_version AS model_version,
        run.origin AS origin,
        run.generated_at AS generated_at,
        if(o.hour_start = run.origin, o.local_date, toDate(run.origin)) AS origin_date
    FROM
    (
        SELECT
            fr.run_id AS run_id,
            fr.branch_id AS branch_id,
            argMax(fr.model_version, fr.generated_at) AS model_version,
            argMax(fr.origin, fr.generated_at) AS origin,
            max(fr.generated_at) AS generated_at
        FROM {{database}}.forecast_runs AS fr
        GROUP BY fr.run_id, fr.branch_id
    ) AS run
    LEFT JOIN
    (
        SELECT branch_id, hour_start, local_date
        FROM {{database}}.sales_hourly FINAL
    ) AS o ON o.branch_id = run.branch_id AND o.hour_start = run.origin
) AS r ON r.run_id = f.run_id
INNER JOIN
(
    SELECT
        branch_id,
        hour_start,
        toDecimal64(sales_minor, 2) / 100 AS actual_sales,
        orders AS actual_orders,
        revision AS actual_revision
    FROM {{database}}.sales_hourly FINAL
    WHERE closed = 1
) AS a ON a.branch_id = f.branch_id AND a.hour_start = f.hour_start
LEFT JOIN
(
    SELECT e.branch_id AS branch_id, any(e.currency) AS currency
    FROM {{database}}.sales_events AS e
    GROUP BY e.branch_id
) AS c ON c.branch_id = f.branch_id;

-- v_forecast_accuracy_daily: accuracy by branch, model, local origin date and
-- horizon day, to chart accuracy over time. WAPE = sum|error| / sum|actual|.
CREATE OR REPLACE VIEW {{database}}.v_forecast_accuracy_daily
(
    branch_id              LowCardinality(String) COMMENT 'Branch id',
    model_version          String COMMENT 'Model that produced the runs',
    origin_date            Date COMMENT 'Branch-local calendar date of the runs origins',
    horizon_day            UInt16 COMMENT 'ceil(horizon_h / 24): 1 = next 24 hours after the origin, 2 = hours 25-48, ...',
    currency               LowCardinality(String) COMMENT 'ISO 4217 currency of the money columns',
    runs                   UInt64 COMMENT 'Distinct runs compared',
    hours                  UInt64 COMMENT 'Forecast hours compared (run x hour pairs with a closed actual)',
    actual_sales           Decimal(18, 2) COMMENT 'Sum of actual sales over the compared hours, major units',
    forecast_sales         Decimal(18, 2) COMMENT 'Sum of sales_p50 over the compared hours, major units',
    sales_abs_error        Decimal(18, 2) COMMENT 'Sum of |sales_p50 - actual|, major units',
    sales_wape             Nullable(Float64) COMMENT 'sum|sales_p50 - actual| / sum|actual| (0.2 = 20%), NULL when no sales',
    sales_bias             Nullable(Float64) COMMENT '(sum sales_p50 - sum actual) / sum|actual|, positive = over-forecast, NULL when no sales',
    sales_coverage_p10_p90 Float64 COMMENT 'Share of hours with p10 <= actual sales <= p90 (about 0.8 when calibrated)',
    actual_orders          UInt64 COMMENT 'Sum of actual orders',
    forecast_orders        Float64 COMMENT 'Sum of orders_p50',
    orders_abs_error       Float64 COMMENT 'Sum of |orders_p50 - actual|',
    orders_wape            Nullable(Float64) COMMENT 'sum|orders_p50 - actual| / sum actual, NULL when no orders',
    orders_coverage_p10_p90 Float64 COMMENT 'Share of hours with p10 <= actual orders <= p90'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    a.branch_id AS branch_id,
    a.model_version AS model_version,
    a.origin_date AS origin_date,
    a.horizon_day AS horizon_day,
    CAST(any(a.currency) AS LowCardinality(String)) AS currency,
    uniqExact(a.run_id) AS runs,
    count() AS hours,
    CAST(sum(a.actual_sales) AS Decimal(18, 2)) AS actual_sales,
    CAST(sum(a.sales_p50) AS Decimal(18, 2)) AS forecast_sales,
    CAST(sum(a.sales_abs_error) AS Decimal(18, 2)) AS sales_abs_error,
    if(sum(abs(a.actual_sales)) = 0, NULL, toFloat64(sum(a.sales_abs_error)) / toFloat64(sum(abs(a.actual_sales)))) AS sales_wape,
    if(sum(abs(a.actual_sales)) = 0, NULL, toFloat64(sum(a.sales_error)) / toFloat64(sum(abs(a.actual_sales)))) AS sales_bias,
    avg(a.sales_inside_p10_p90) AS sales_coverage_p10_p90,
    sum(a.actual_orders) AS actual_orders,
    sum(a.orders_p50) AS forecast_orders,
    sum(a.orders_abs_error) AS orders_abs_error,
    if(sum(a.actual_orders) = 0, NULL, sum(a.orders_abs_error) / sum(a.actual_orders)) AS orders_wape,
    avg(a.orders_inside_p10_p90) AS orders_coverage_p10_p90
FROM {{database}}.v_forecast_accuracy AS a
GROUP BY a.branch_id, a.model_version, a.origin_date, a.horizon_day;

-- v_dlq_summary: ingest rejections (dead-lettered or conflicting duplicates) per
-- UTC day and reason code.
CREATE OR REPLACE VIEW {{database}}.v_dlq_summary
(
    day            Date COMMENT 'UTC date the messages were rejected',
    code           LowCardinality(String) COMMENT 'Rejection code (e.g. unknown_branch, currency_mismatch, future_time, conflicting_duplicate)',
    rejections     UInt64 COMMENT 'Rejected messages',
    branches       UInt64 COMMENT 'Distinct branch ids among them (messages without a readable branch id not counted)',
    example_reason String COMMENT 'Reason text of the latest rejection of the day and code',
    first_seen     DateTime64(3, 'UTC') COMMENT 'First rejection of the day and code (UTC)',
    last_seen      DateTime64(3, 'UTC') COMMENT 'Last rejection of the day and code (UTC)'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    toDate(r.rejected_at) AS day,
    r.code AS code,
    count() AS rejections,
    uniqExactIf(r.branch_id, r.branch_id != '') AS branches,
    argMax(r.reason, r.rejected_at) AS example_reason,
    min(r.rejected_at) AS first_seen,
    max(r.rejected_at) AS last_seen
FROM {{database}}.ingest_rejections AS r FINAL
GROUP BY day, r.code;

-- v_models: trained models with their promotion status.
CREATE OR REPLACE VIEW {{database}}.v_models
(
    version          String COMMENT 'Model version (see forecast model_version)',
    created_at       DateTime64(3, 'UTC') COMMENT 'When it was trained (UTC)',
    kind             LowCardinality(String) COMMENT 'full | finetune',
    parent_version   String COMMENT 'Warm-start parent of a finetune, empty for a full training',
    train_from       DateTime('UTC') COMMENT 'First training hour (UTC)',
    train_through    DateTime('UTC') COMMENT 'Last training hour (UTC)',
    backend          LowCardinality(String) COMMENT 'tfjs backend it trained on (tensorflow | wasm)',
    metrics          String COMMENT 'JSON: backtest / holdout metrics (WAPE, coverage), read with JSONExtract*',
    hyperparams      String COMMENT 'JSON: hyperparameters',
    features         String COMMENT 'JSON: feature set description',
    is_current       UInt8 COMMENT '1 for the model serving forecasts now (latest promotion row)',
    promoted_at      Nullable(DateTime64(3, 'UTC')) COMMENT 'Latest promotion (or rollback) to this version (UTC), NULL if never promoted',
    promotion_action Nullable(String) COMMENT 'Action of that latest promotion: promote | rollback | initial',
    promotions       UInt64 COMMENT 'Times this version was promoted or rolled back to'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    m.version AS version,
    m.created_at AS created_at,
    m.kind AS kind,
    m.parent_version AS parent_version,
    m.train_from AS train_from,
    m.train_through AS train_through,
    m.backend AS backend,
    m.metrics AS metrics,
    m.hyperparams AS hyperparams,
    m.features AS features,
    toUInt8(ifNull(m.version = (SELECT argMax(cur.version, cur.promoted_at) FROM {{database}}.model_promotions AS cur), 0)) AS is_current,
    CAST(if(p.promotions > 0, p.last_promoted_at, NULL) AS Nullable(DateTime64(3, 'UTC'))) AS promoted_at,
    CAST(if(p.promotions > 0, p.last_action, NULL) AS Nullable(String)) AS promotion_action,
    toUInt64(ifNull(p.promotions, 0)) AS promotions
FROM {{database}}.models AS m FINAL
LEFT JOIN
(
    SELECT mp.version AS version, max(mp.promoted_at) AS last_promoted_at, argMax(mp.action, mp.promoted_at) AS last_action, count() AS promotions
    FROM {{database}}.model_promotions AS mp
    GROUP BY mp.version
) AS p ON p.version = m.version;
