-- on every node
DROP TABLE IF EXISTS account_health_latest;

-- on every node
CREATE VIEW IF NOT EXISTS account_health_latest AS
SELECT account_id, scored_at, score, band, usage, nps, tickets, billing, coverage, model_version, reasons
FROM account_health_raw
ORDER BY account_id, rev DESC, ver DESC
LIMIT 1 BY account_id;

