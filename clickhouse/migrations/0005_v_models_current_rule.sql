-- v_models follows the current-model rule of 0004 (consumers/forecaster/forecast-store.ts
-- PROMOTION_RANK): is_current is the promotion of greatest (data watermark, manual, time if
-- manual, version), not the latest promotion row, which a trainer finishing late on older data
-- may have written. Same columns as before.
CREATE OR REPLACE VIEW {{database}}.v_models
(
    version          String COMMENT 'Model version (see forecast model_version)',
    created_at       DateTime64(3, 'UTC') COMMENT 'When it was trained (UTC)',
    kind             LowCardinality(String) COMMENT 'full | finetune',
    parent_version   String COMMENT 'Warm-start parent of a finetune, empty for a full training',
    train_from       DateTime('UTC') COMMENT 'First training hour (UTC)',
    train_through    DateTime('UTC') COMMENT 'Last training hour (UTC)',
    backend          LowCardinality(String) COMMENT 'tfjs backend it trained on (tensorflow | wasm)',
    metrics          String COMMENT 'JSON: backtest / holdout metrics (WAPE, coverage), read with JSONExtract*',
    hyperparams      String COMMENT 'JSON: hyperparameters',
    features         String COMMENT 'JSON: feature set description',
    is_current       UInt8 COMMENT '1 for the model serving forecasts now: the promotion of greatest (data watermark, manual, time if manual, version)',
    promoted_at      Nullable(DateTime64(3, 'UTC')) COMMENT 'Latest promotion (or rollback) to this version (UTC), NULL if never promoted',
    promotion_action Nullable(String) COMMENT 'Action of that latest promotion: promote | rollback | initial',
    promotions       UInt64 COMMENT 'Times this version was promoted or rolled back to'
)
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    m.version AS version,
    m.created_at AS created_at,
    m.kind AS kind,
    m.parent_version AS parent_version,
    m.train_from AS train_from,
    m.train_through AS train_through,
    m.backend AS backend,
    m.metrics AS metrics,
    m.hyperparams AS hyperparams,
    m.features AS features,
    toUInt8(ifNull(m.version = (SELECT argMax(cur.version, (cur.data_watermark, cur.manual, if(cur.manual = 1, cur.promoted_at, toDateTime64(0, 3, 'UTC')), cur.version)) FROM {{database}}.model_promotions AS cur), 0)) AS is_current,
    CAST(if(p.promotions > 0, p.last_promoted_at, NULL) AS Nullable(DateTime64(3, 'UTC'))) AS promoted_at,
    CAST(if(p.promotions > 0, p.last_action, NULL) AS Nullable(String)) AS promotion_action,
    toUInt64(ifNull(p.promotions, 0)) AS promotions
FROM {{database}}.models AS m FINAL
LEFT JOIN
(
    SELECT mp.version AS version, max(mp.promoted_at) AS last_promoted_at, argMax(mp.action, mp.promoted_at) AS last_action, count() AS promotions
    FROM {{database}}.model_promotions AS mp
    GROUP BY mp.version
) AS p ON p.version = m.version;
