-- API keys scoped to branches (api/README.md "Keys"; clickhouse/store/api-keys.ts). The key itself
-- is never stored: only its SHA-256, which is enough to look a presented key up and useless to
-- present (a key carries 256 random bits, so its hash cannot be reversed by guessing).

-- One row per key; revoking writes the same key again with revoked_at set and a higher version,
-- so a revoked key stays revoked whatever order the rows merge in (readers take FINAL).
CREATE TABLE IF NOT EXISTS {{database}}.api_keys
(
    key_id     String COMMENT 'public id, shown in listings and in the key itself (tc_<key_id>_<secret>)',
    key_hash   String COMMENT 'hex SHA-256 of the whole key',
    name       String COMMENT 'what the key is for (who holds it)',
    branches   Array(String) COMMENT 'branch ids the key may read',
    groups     Array(String) COMMENT 'restaurant groups / POS companies: every branch of the directory in one',
    admin      UInt8 COMMENT '1: every branch, and managing keys',
    metrics    UInt8 COMMENT '1: may scrape /metrics',
    created_at DateTime64(3, 'UTC'),
    created_by String COMMENT 'who made it (OS user of tillcast keys create, or start for the demo key)',
    revoked_at Nullable(DateTime64(3, 'UTC')),
    version    UInt8 COMMENT '0 active, 1 revoked: revocation outranks the creation row'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY key_id;

-- When each key was last used, written by the API at most once per flush period
-- (API_KEY_USAGE_FLUSH_MS) for all keys used since. Its own table, so the API's writer may insert
-- here and nowhere else: it can neither make keys nor undo a revocation.
CREATE TABLE IF NOT EXISTS {{database}}.api_key_usage
(
    key_id       String,
    last_used_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(last_used_at)
ORDER BY key_id
TTL toDateTime(last_used_at) + INTERVAL 400 DAY;
