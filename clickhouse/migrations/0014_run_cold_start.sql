-- Whether a run forecast a new branch from its group's prior (model/cold-start.ts, issue 16): a
-- branch with less than 28 days of own history, its level and shape borrowed from the other
-- branches of its group (or its expected weekly sales), handing over to its own history, with
-- wider ranges. /predict answers it as `cold_start`. Runs written before this migration have 0.
ALTER TABLE {{database}}.forecast_runs
    ADD COLUMN IF NOT EXISTS cold_start UInt8 DEFAULT 0 COMMENT '1: a new branch forecast from its group prior (wider ranges)';
