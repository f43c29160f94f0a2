-- The `capture` scope of API keys (issue 18; api/keys.ts): a key with it may publish sale events
-- and heartbeats of its branches through POST /v1/events (docs/capture.md). Keys made before this
-- migration have 0: they read, they never write.
ALTER TABLE {{database}}.api_keys
    ADD COLUMN IF NOT EXISTS capture UInt8 DEFAULT 0 COMMENT '1: may publish events of its branches (POST /v1/events)';
