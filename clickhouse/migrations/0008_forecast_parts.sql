-- Where each forecast hour's p50 comes from (model/forecast-types.ts HourParts): the branch's
-- recent level, the weekday/hour shape and the calendar's effect; the network's correction is
-- p50 minus the three, so the four add up exactly. /predict?explain=true sums them per day, week
-- and range. A run written before this migration, or without parts, has explained = 0: its
-- points' parts are 0 and mean "unknown", never "nothing".
ALTER TABLE {{database}}.forecasts
    ADD COLUMN IF NOT EXISTS sales_level Float64 DEFAULT 0 COMMENT 'part of sales_p50: recent level (currency major units)',
    ADD COLUMN IF NOT EXISTS sales_shape Float64 DEFAULT 0 COMMENT 'part of sales_p50: weekday/hour shape',
    ADD COLUMN IF NOT EXISTS sales_calendar Float64 DEFAULT 0 COMMENT 'part of sales_p50: special days; the network part = p50 - level - shape - calendar',
    ADD COLUMN IF NOT EXISTS orders_level Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS orders_shape Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS orders_calendar Float64 DEFAULT 0;

ALTER TABLE {{database}}.forecast_runs
    ADD COLUMN IF NOT EXISTS explained UInt8 DEFAULT 0 COMMENT '1: every point carries its p50 parts';
