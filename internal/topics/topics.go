// Package topics names engage's Kafka topics and the headers of dead-lettered records: part
// of the public contract (docs/API.md, "Kafka topics"). It is its own package so that the use
// cases (the worker's defaults) and the Kafka adapters share the names without the use cases
// importing an adapter.
package topics

// Topic names.
const (
	Events        = "engagement.events"
	EventsDLQ     = "engagement.events.dlq"
	HealthChanges = "engagement.health.changes"
	// AccountsChanged is internal: after each stored batch the workers name the accounts
	// whose inputs changed, partitioned like HealthChanges (AccountPartition), and the
	// scorers' consumer group shares its partitions, which is how scorer instances share
	// the accounts and rescore only those that changed.
	AccountsChanged = "engagement.accounts.changed"
	// HealthChangesDLQ holds the health changes the notifier gave up delivering, with the
	// destination and the last error in headers.
	HealthChangesDLQ = "engagement.health.changes.dlq"
)

// Header names written on dead-lettered records.
const (
	HeaderDLQReason = "engage-dlq-reason"
	HeaderDLQSource = "engage-dlq-source" // topic/partition@offset of the original record
	HeaderDLQWorker = "engage-dlq-worker" // which worker gave up on it
	// HeaderDLQDestination names the notifier destination that gave up on a health change.
	HeaderDLQDestination = "engage-dlq-destination"
)

// All lists every topic engage creates on a fresh cluster.
var All = []string{Events, EventsDLQ, HealthChanges, AccountsChanged, HealthChangesDLQ}
