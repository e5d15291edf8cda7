-- on every node
CREATE TABLE IF NOT EXISTS webhook_deliveries_local (
    id           String,
    destination  String,
    account_id   String,
    attempt      UInt32,
    status_code  UInt16,
    latency_ms   UInt32,
    error        String,
    outcome      String,
    delivered_at DateTime
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/webhook_deliveries_local', '{replica}')
PARTITION BY toYYYYMM(delivered_at)
ORDER BY (destination, delivered_at, id, attempt);

-- on every node
CREATE TABLE IF NOT EXISTS webhook_deliveries AS webhook_deliveries_local
ENGINE = Distributed(engage, engagement, webhook_deliveries_local, cityHash64(account_id));

