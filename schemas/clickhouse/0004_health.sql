-- Customer health as the scorer computes it (pkg/scorer, model in pkg/health).
--
-- account_health_raw holds one row per score change: the scorer writes a row for an account
-- only when its score or its band (after hysteresis, the band announced on
-- engagement.health.changes) differs from the account's previous row. rev numbers an
-- account's rows 1, 2, 3, …; the scorer restores each account's last row at start and
-- continues from it. A row written again under the same (account_id, rev) — a retry after a
-- write whose outcome was unknown, or a second scorer briefly running during a deploy — is
-- a duplicate, and the row with the highest ver (the write time in ms) wins. The views
-- de-duplicate, so they are exact whether or not ClickHouse has merged the parts yet.
--
-- No PARTITION BY: ReplacingMergeTree only collapses rows within one partition, and two
-- writes of one rev may carry different scored_at values.
--
-- The component columns are NULL when the component had no data (no NPS answer yet): no
-- data is not a score of 0. inputs is the JSON of what the score was computed from
-- (pkg/health.Inputs), for audits and for the scorer's reasons after a restart. change_seq
-- is the sequence number of the health-change event that announced the row's band (the
-- CloudEvent's sequence attribute), so a row can be matched with its event and the scorer
-- can recover its announcement state even when the topic no longer holds it.
CREATE TABLE IF NOT EXISTS account_health_raw
(
    account_id    String,
    rev           UInt64,
    scored_at     DateTime,
    score         Float64,
    band          String,
    usage         Nullable(Float64),
    nps           Nullable(Float64),
    tickets       Nullable(Float64),
    billing       Nullable(Float64),
    coverage      Float64,
    model_version String,
    reasons       Array(String),
    inputs        String,
    change_seq    UInt64,
    ver           UInt64
)
ENGINE = ReplacingMergeTree(ver)
ORDER BY (account_id, rev);

-- The score history (contract §5): one row per score change of each account.
CREATE VIEW IF NOT EXISTS account_health AS
SELECT account_id, scored_at, score, band, usage, nps, tickets, billing, coverage, model_version, reasons
FROM account_health_raw FINAL;

-- Each account's current health: its latest account_health row. The whole row is picked as
-- one tuple because argMax over a Nullable column skips NULLs and would mix rows.
CREATE VIEW IF NOT EXISTS account_health_latest AS
SELECT
    account_id,
    t.1 AS scored_at,
    t.2 AS score,
    t.3 AS band,
    t.4 AS usage,
    t.5 AS nps,
    t.6 AS tickets,
    t.7 AS billing,
    t.8 AS coverage,
    t.9 AS model_version,
    t.10 AS reasons
FROM
(
    SELECT
        account_id,
        argMax(tuple(scored_at, score, band, usage, nps, tickets, billing, coverage, model_version, reasons),
               tuple(rev, ver)) AS t
    FROM account_health_raw
    GROUP BY account_id
);
