-- Model registry and forecasts.

-- Every trained model: what it saw, how it was built, how it scored.
CREATE TABLE IF NOT EXISTS {{database}}.models
(
    version        String COMMENT 'e.g. m20210201-000000-full-1a2b',
    created_at     DateTime64(3, 'UTC'),
    kind           LowCardinality(String) COMMENT 'full | finetune',
    parent_version String COMMENT 'warm-start parent for finetunes, empty for full trainings',
    train_from     DateTime('UTC'),
    train_through  DateTime('UTC'),
    features       String COMMENT 'JSON: feature set description',
    hyperparams    String COMMENT 'JSON',
    metrics        String COMMENT 'JSON: backtest / holdout metrics (WAPE, coverage)',
    backend        LowCardinality(String) COMMENT 'tfjs backend it trained on (tensorflow | wasm)',
    artifact_path  String COMMENT 'file:// folder of the saved tfjs model'
)
ENGINE = ReplacingMergeTree
ORDER BY version;

-- Promotion history: the current model is the latest row; rollback appends an older version.
CREATE TABLE IF NOT EXISTS {{database}}.model_promotions
(
    version     String,
    promoted_at DateTime64(3, 'UTC'),
    action      LowCardinality(String) COMMENT 'promote | rollback | initial',
    reason      String
)
ENGINE = MergeTree
ORDER BY promoted_at;

-- Forecast points. Written before their run row, so a run is never visible half-written.
CREATE TABLE IF NOT EXISTS {{database}}.forecasts
(
    run_id           String,
    branch_id        LowCardinality(String),
    hour_start       DateTime('UTC'),
    hour_start_local DateTime('UTC') COMMENT 'branch wall-clock hour start (naive)',
    local_date       Date,
    utc_offset_min   Int16,
    horizon_h        UInt16 COMMENT 'hours after the run origin (1 = first forecast hour)',
    sales_p10        Float64 COMMENT 'currency major units (e.g. EUR)',
    sales_p50        Float64,
    sales_p90        Float64,
    orders_p10       Float64 COMMENT 'expected order counts (fractional)',
    orders_p50       Float64,
    orders_p90       Float64,
    generated_at     DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(generated_at)
ORDER BY (branch_id, run_id, hour_start)
TTL toDateTime(generated_at) + INTERVAL 90 DAY;

-- One row per complete forecast run; the latest per branch is what the API serves.
CREATE TABLE IF NOT EXISTS {{database}}.forecast_runs
(
    run_id        String,
    branch_id     LowCardinality(String),
    model_version String,
    origin        DateTime('UTC') COMMENT 'end of the last closed hour = first forecast hour start',
    data_through  DateTime('UTC') COMMENT 'last closed hour start included in the inputs',
    horizon_end   DateTime('UTC') COMMENT 'end of the last forecast hour (exclusive)',
    points        UInt32,
    generated_at  DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(generated_at)
ORDER BY (branch_id, generated_at, run_id)
TTL toDateTime(generated_at) + INTERVAL 90 DAY;
