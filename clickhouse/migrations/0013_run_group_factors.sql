-- The p10–p90 factors of groups of branches a run's model measured (model/group-intervals.ts):
-- GET /v1/groups/{id}/predict builds a group's hour, day, week and range-total p10/p90 from its
-- branches' with them, per grain: k × (sum | rss) of the branches' half-widths. A run written
-- before this migration, or by a model trained without them (or on no group of two branches),
-- has group_spread_* '' and factors 0 ("unknown"): the group's p10/p90 are then its branches' sums.
ALTER TABLE {{database}}.forecast_runs
    ADD COLUMN IF NOT EXISTS group_spread_hour LowCardinality(String) DEFAULT '' COMMENT 'sum | rss: how branch half-widths add up in a group hour; empty: unknown',
    ADD COLUMN IF NOT EXISTS group_spread_day LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS group_spread_week LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS k_group_hour_sales Float64 DEFAULT 0 COMMENT 'group hour p10-p90 stretch of the sales spread; 0: unknown',
    ADD COLUMN IF NOT EXISTS k_group_hour_orders Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS k_group_day_sales Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS k_group_day_orders Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS k_group_week_sales Float64 DEFAULT 0 COMMENT 'group week (and range total) p10-p90 stretch; 0: unknown',
    ADD COLUMN IF NOT EXISTS k_group_week_orders Float64 DEFAULT 0;
