-- Training coordination across forecaster processes: which decision and which data a model was
-- trained on, and what a promotion ranks by (consumers/forecaster/forecast-store.ts).

-- decision_id: the training decision (training topic) the model answers; a decision is satisfied,
-- and skipped by the next trainer, once a model with its data is registered.
-- data_watermark: end of the newest closed hour in the histories it was trained on.
ALTER TABLE {{database}}.models
    ADD COLUMN IF NOT EXISTS decision_id String DEFAULT '' COMMENT 'training decision id, e.g. full:2021-01-11T00:00:00.000Z; cli:train for tillcast train',
    ADD COLUMN IF NOT EXISTS data_watermark DateTime('UTC') DEFAULT train_through COMMENT 'end of the newest closed hour it was trained on';

-- The current model is the promotion with the greatest
-- (data_watermark, manual, promoted_at if manual, version): a trainer on older data cannot
-- demote a newer model, and two trainers racing end with the same answer everywhere.
-- A manual promote or rollback carries the newest data watermark known when it is made, so it
-- outranks every model trained on data up to then. Rows written before this migration count as
-- manual at watermark 0: among themselves they rank by time, as the rule was.
ALTER TABLE {{database}}.model_promotions
    ADD COLUMN IF NOT EXISTS data_watermark DateTime('UTC') DEFAULT toDateTime(0, 'UTC') COMMENT 'data watermark of the model, or the newest known for a manual action',
    ADD COLUMN IF NOT EXISTS manual UInt8 DEFAULT 1 COMMENT '1: an operator (tillcast models promote|rollback); 0: a trainer';
