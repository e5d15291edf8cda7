-- on every node
CREATE TABLE IF NOT EXISTS account_health_raw_local (
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/account_health_raw_local', '{replica}', ver)
ORDER BY (account_id, rev);

-- on every node
CREATE TABLE IF NOT EXISTS account_health_raw AS account_health_raw_local
ENGINE = Distributed(engage, engagement, account_health_raw_local, cityHash64(account_id));

-- on every node
CREATE VIEW IF NOT EXISTS account_health AS
SELECT account_id, scored_at, score, band, usage, nps, tickets, billing, coverage, model_version, reasons
FROM account_health_raw FINAL;

-- on every node
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

