-- The p10–p90 factors of days and weeks a run was made with (model/grain-intervals.ts): the API
-- builds a day's, a week's and a range total's p10/p90 from the run's hours with them. A run
-- written before this migration, or by a model trained without them, has grain_spread '' and
-- factors 0 ("unknown"): the API then sums the hourly quantiles, the former rule.
ALTER TABLE {{database}}.forecast_runs
    ADD COLUMN IF NOT EXISTS grain_spread LowCardinality(String) DEFAULT '' COMMENT 'sum | rss: how hourly half-widths add up in a bucket; empty: unknown',
    ADD COLUMN IF NOT EXISTS k_day_sales Float64 DEFAULT 0 COMMENT 'day p10-p90 stretch of the sales spread; 0: unknown',
    ADD COLUMN IF NOT EXISTS k_day_orders Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS k_week_sales Float64 DEFAULT 0 COMMENT 'week (and range total) p10-p90 stretch; 0: unknown',
    ADD COLUMN IF NOT EXISTS k_week_orders Float64 DEFAULT 0;
