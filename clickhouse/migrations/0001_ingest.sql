-- Raw POS events and hourly aggregates. `{{database}}` is replaced by the
-- migrator with CLICKHOUSE_DATABASE (a validated identifier).

-- One row per accepted POS receipt. (branch_id, event_id) identifies an event:
-- ingest writes an id only once (first write wins, later copies are duplicates);
-- ReplacingMergeTree also collapses an identical batch re-written after a crash.
CREATE TABLE IF NOT EXISTS {{database}}.sales_events
(
    branch_id       LowCardinality(String),
    event_id        String,
    occurred_at     DateTime64(3, 'UTC') COMMENT 'when the order was opened (UTC)',
    status          Enum8('SALE' = 1, 'REFUND' = 2, 'VOID' = 3),
    channel         LowCardinality(String),
    currency        LowCardinality(String),
    total_minor     Int64 COMMENT 'gross total incl. tax, minor units (cents)',
    net_minor       Int64,
    tax_minor       Int64,
    tip_minor       Int64,
    covers          Nullable(Int32),
    pos             Map(String, String) COMMENT 'POS metadata',
    too_late        UInt8 DEFAULT 0 COMMENT '1: arrived after the correction window; stored, not aggregated',
    kafka_partition UInt32,
    kafka_offset    UInt64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (branch_id, event_id);

-- Hourly aggregates per branch, recomputed from sales_events for every hour a
-- batch touches or closes (so redelivery never double counts). Read with FINAL
-- (or argMax by version) to see the latest revision of each hour.
CREATE TABLE IF NOT EXISTS {{database}}.sales_hourly
(
    branch_id          LowCardinality(String),
    hour_start         DateTime('UTC') COMMENT 'hour start, UTC',
    hour_start_local   DateTime('UTC') COMMENT 'hour start as branch wall-clock time (naive; at DST fall-back two hours share a value)',
    local_date         Date COMMENT 'branch-local calendar date',
    utc_offset_min     Int16 COMMENT 'branch UTC offset during this hour, minutes',
    timezone           LowCardinality(String),
    sales_minor        Int64 COMMENT 'sum of totals of SALE and REFUND receipts, minor units',
    orders             UInt32 COMMENT 'count of SALE receipts (total >= 0)',
    refunds            UInt32,
    voids              UInt32 COMMENT 'VOID rows (cancelled receipts and their reversals), excluded above',
    sales_by_channel   Map(String, Int64),
    orders_by_channel  Map(String, UInt32),
    closed             UInt8 COMMENT '1 once the branch watermark passed the hour end',
    revision           UInt32 COMMENT '0 while open, 1 on close, +1 per late correction',
    version            UInt64 COMMENT 'monotonic write version (ReplacingMergeTree)',
    updated_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour_start)
ORDER BY (branch_id, hour_start);

-- Event-time progress per branch, so a restarted consumer closes hours where it left off.
CREATE TABLE IF NOT EXISTS {{database}}.branch_watermarks
(
    branch_id      LowCardinality(String),
    watermark      DateTime64(3, 'UTC') COMMENT 'latest event time seen (sale or heartbeat)',
    closed_through DateTime('UTC') COMMENT 'every hour starting before this is closed',
    version        UInt64,
    updated_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY branch_id;

-- Every message ingest refused (it also went to the dead-letter topic) or counted
-- as a duplicate, for the DLQ summary and audits.
CREATE TABLE IF NOT EXISTS {{database}}.ingest_rejections
(
    topic           LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    code            LowCardinality(String),
    reason          String,
    branch_id       String,
    event_id        String,
    payload_size    UInt32,
    rejected_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(rejected_at)
ORDER BY (topic, kafka_partition, kafka_offset, code)
TTL toDateTime(rejected_at) + INTERVAL 90 DAY;
