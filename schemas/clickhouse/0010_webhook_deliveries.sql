-- The notifier's delivery log (services/notifier): one row per attempt to deliver a health
-- change to a destination. id is the CloudEvent id, sent as webhook-id, so a row joins the
-- event on engagement.health.changes; attempt counts from 1 for each delivery of a change
-- (a redelivery after a restart counts again from 1); status_code is 0 when no answer came
-- (timeout, connection error); outcome is delivered, retry (failed, tried again), rejected
-- (a status that is not retried) or dead_lettered (the last attempt failed: the change is
-- on engagement.health.changes.dlq). delivered_at is when the attempt was made.
--
-- A retried insert of the same rows collapses (ReplacingMergeTree on the whole identity of
-- an attempt), so the log counts each attempt once.
CREATE TABLE IF NOT EXISTS webhook_deliveries
(
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
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(delivered_at)
ORDER BY (destination, delivered_at, id, attempt);
