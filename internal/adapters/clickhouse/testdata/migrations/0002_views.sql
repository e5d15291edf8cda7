-- Views whose sources are unqualified: they must bind to the migrated database.
CREATE VIEW IF NOT EXISTS visits_by_plan AS
SELECT plan, count() AS visits
FROM visits
ANY LEFT JOIN accounts USING account_id
WHERE account_id IN (SELECT account_id FROM accounts)
GROUP BY plan;

CREATE TABLE IF NOT EXISTS visit_counts
(
    account_id String,
    visits     UInt64
)
ENGINE = SummingMergeTree
ORDER BY account_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS visit_counts_mv TO visit_counts AS
SELECT account_id, count() AS visits
FROM visits
GROUP BY account_id
