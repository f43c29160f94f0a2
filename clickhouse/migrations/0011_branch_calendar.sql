-- The branch calendar (issue 16; clickhouse/store/branch-calendar.ts): days an operator knows in
-- advance, a closure (a refit) or an event (a match day), entered through
-- PUT/DELETE /v1/branches/{id}/calendar/{date} and handed to the model with the branch's series.
--
-- Append-only and versioned: every change (a new entry, an edit, a deletion) is a new row with
-- the next version of its (branch_id, local_date), and nothing is ever replaced or merged away,
-- so the table is the entry's whole history with who changed it and when. The current entry of a
-- (branch, date) is its row of greatest version (argMax), unless that row is a deletion.
-- Two writers racing for the same (branch, date) may both write version N: written_at breaks the
-- tie, the later write wins, as it would have one moment later.
CREATE TABLE IF NOT EXISTS {{database}}.branch_calendar
(
    branch_id       LowCardinality(String),
    local_date      Date COMMENT 'date in the branch time zone',
    kind            Enum8('closed' = 1, 'event' = 2),
    name            String COMMENT 'the operator''s name of the day (Refit, Match day)',
    note            Nullable(String),
    expected_effect Nullable(Float64) COMMENT 'events only: expected change of the day''s sales as a fraction (0.3 = +30 %)',
    deleted         UInt8 COMMENT '1: this version removes the entry',
    key_id          String COMMENT 'API key that wrote this version (auth-none without keys)',
    key_name        String COMMENT 'that key''s name when it wrote',
    written_at      DateTime64(3, 'UTC'),
    version         UInt32 COMMENT '1 for the first row of a (branch_id, local_date), +1 per change'
)
ENGINE = MergeTree
ORDER BY (branch_id, local_date, version);

-- v_branch_calendar: the current entries (docs/analysts.md), one per branch and date, deleted
-- ones left out. SQL SECURITY DEFINER like the views of 0003.
CREATE OR REPLACE VIEW {{database}}.v_branch_calendar
(
    branch_id       LowCardinality(String) COMMENT 'Branch id (POS location)',
    local_date      Date COMMENT 'Branch-local calendar date of the entry',
    kind            LowCardinality(String) COMMENT 'closed (the branch does not trade that day) | event (a special day)',
    name            String COMMENT 'Operator name of the day, e.g. Refit, Match day',
    note            Nullable(String) COMMENT 'Free text of the operator, NULL if none',
    expected_effect Nullable(Float64) COMMENT 'Events: expected change of the day sales as a fraction (0.3 = +30 %), NULL if not given',
    version         UInt32 COMMENT 'Changes of this branch and date so far (1 = never edited)',
    changed_by      String COMMENT 'Name of the API key of the latest change (auth-none without keys)',
    changed_by_key  String COMMENT 'Public id of that API key',
    changed_at      DateTime64(3, 'UTC') COMMENT 'When the latest change was written (UTC)'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    branch_id,
    local_date,
    CAST(toString(c.1) AS LowCardinality(String)) AS kind,
    c.2 AS name,
    c.3 AS note,
    c.4 AS expected_effect,
    c.6 AS version,
    c.7 AS changed_by,
    c.8 AS changed_by_key,
    c.9 AS changed_at
FROM
(
    SELECT
        b.branch_id AS branch_id,
        b.local_date AS local_date,
        argMax(
            tuple(b.kind, b.name, b.note, b.expected_effect, b.deleted, b.version, b.key_name, b.key_id, b.written_at),
            tuple(b.version, b.written_at)
        ) AS c
    FROM {{database}}.branch_calendar AS b
    GROUP BY b.branch_id, b.local_date
)
WHERE c.5 = 0;
