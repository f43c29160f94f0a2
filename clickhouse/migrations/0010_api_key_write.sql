-- The `write` scope of API keys (issue 16; api/keys.ts): a key with it may write operators' data
-- (branch calendar entries, forecast overrides) of the branches it may read. Keys made before
-- this migration have 0: they read, they never write.
ALTER TABLE {{database}}.api_keys
    ADD COLUMN IF NOT EXISTS write UInt8 DEFAULT 0 COMMENT '1: may write calendar entries and overrides of its branches';
