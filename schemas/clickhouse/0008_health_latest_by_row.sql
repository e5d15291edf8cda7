-- account_health_latest picked each account's latest row with argMax over a tuple holding
-- Nullable columns. On a cluster the shards send the initiator the argMax *states*, and
-- ClickHouse 18.16 serialises a Nullable inside such a state wrongly: a NULL component came
-- back as a number. Picking the latest row with ORDER BY … LIMIT 1 BY sends rows instead of
-- states, and returns the same rows on one server: the highest (rev, ver) is the row argMax
-- picked.
DROP TABLE IF EXISTS account_health_latest;

CREATE VIEW IF NOT EXISTS account_health_latest AS
SELECT account_id, scored_at, score, band, usage, nps, tickets, billing, coverage, model_version, reasons
FROM account_health_raw
ORDER BY account_id, rev DESC, ver DESC
LIMIT 1 BY account_id;
