// Package notify is the notifier: it delivers the health changes of
// engagement.health.changes to the webhooks of CS tools and chat tools, each destination
// from its own consumer group, signed per the Standard Webhooks specification, retried with
// exponential backoff and jitter until it is delivered or too old, then dead-lettered, and
// every attempt written to the delivery log.
//
// The use case depends on interfaces, so that it is tested without a network: a Feed of
// records per destination and DeadLetters (Kafka: package adapters/kafka/notifyfeed), a
// DeliveryLog (ClickHouse: package adapters/clickhouse/deliverylog) and a Transport
// (Sender, over net/http).
//
// Invariants:
//   - At least once, with stable ids: a destination's offsets are committed only below its
//     first change not yet delivered, dead-lettered or filtered out, so a crash redelivers
//     and never loses; webhook-id is the CloudEvent id, the same on every attempt and
//     replay, so a receiver that de-duplicates by it sees every change once.
//   - One account's changes reach a destination in order: an account's next change waits
//     for the previous one to be handled. Other accounts go on meanwhile (Concurrency).
//   - One failing destination never holds up another: each has its own consumer group,
//     queue and retries.
//   - A change is retried on timeouts, connection errors, 408, 429 and 5xx, never sooner
//     than a Retry-After asks, until MaxAge after it was published; another status is not
//     retried. Either way it then goes to engagement.health.changes.dlq with the
//     destination and the last error, and the delivery log has every attempt.
//   - A configuration file that does not load keeps the running configuration (ConfigFile).
package notify
