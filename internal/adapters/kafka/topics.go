// Package kafka holds engage's topic names and the franz-go client set-up that every service
// shares: producer settings that make an acknowledgement mean "durable on every in-sync
// replica", and topic creation for a fresh cluster.
package kafka

// Topic names from the public contract (README, "Kafka topics").
const (
	TopicEvents        = "engagement.events"
	TopicEventsDLQ     = "engagement.events.dlq"
	TopicHealthChanges = "engagement.health.changes"
)

// Header names written on dead-lettered records.
const (
	HeaderDLQReason = "engage-dlq-reason"
	HeaderDLQSource = "engage-dlq-source" // topic/partition@offset of the original record
	HeaderDLQWorker = "engage-dlq-worker" // which worker gave up on it
)

// DefaultPartitions is how many partitions a fresh cluster gets per topic: enough for 8
// worker instances to share the load, few enough for a laptop.
const DefaultPartitions = 8

// Replication factors of created topics. A production cluster gets 3, so that losing one
// broker loses no acknowledged event; dev mode's single embedded broker can only hold 1.
// A single-broker cluster outside dev mode has to ask for 1 explicitly (TOPIC_REPLICATION),
// so that a real cluster never silently gets unreplicated topics.
const (
	DefaultReplication = 3
	DevReplication     = 1
)

// TopicConfigs are the topic-level settings engage creates topics with. The health-change
// topic is compacted: a CS tool joining late still finds every account's latest change, and
// the scorer rebuilds which band it last announced per account from it after a restart.
var TopicConfigs = map[string]map[string]string{
	TopicHealthChanges: {"cleanup.policy": "compact"},
}

// Topics lists every topic engage creates on a fresh cluster.
var Topics = []string{TopicEvents, TopicEventsDLQ, TopicHealthChanges}
