// Package kafka holds the franz-go client set-up that every service shares (topic names are
// in internal/topics): producer settings that make an acknowledgement mean "durable on every in-sync
// replica", and topic creation for a fresh cluster.
package kafka

import "github.com/engage-oss/engage/internal/topics"

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
//
// engagement.accounts.changed is kept one day: a notification is acted upon within seconds,
// and a scorer that takes partitions over rescores all their accounts anyway.
var TopicConfigs = map[string]map[string]string{
	topics.HealthChanges:   {"cleanup.policy": "compact"},
	topics.AccountsChanged: {"retention.ms": "86400000"},
}
