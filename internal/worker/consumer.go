package worker

import (
	"context"
	"errors"
)

// Record is one Kafka record as the worker sees it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Fetch is what one Poll returns.
type Fetch struct {
	Records []Record
	// Errors are fetch errors that did not stop the poll (a broker away, a partition moving);
	// the consumer retries them by itself. They are logged and counted.
	Errors []error
}

// ErrClosed is returned by Poll once the consumer is closed.
var ErrClosed = errors.New("kafka consumer closed")

// ErrLostGeneration is wrapped by a Commit or CheckMembership error that means the group
// moved on without this member (its session expired, for example while the broker was away
// or the process was frozen): the partitions are revoked and their uncommitted records
// redelivered to their next owner.
var ErrLostGeneration = errors.New("consumer group generation lost")

// Consumer is a member of the worker's consumer group. Rebalances are blocked from the moment
// Poll returns records until AllowRebalance, so a partition never moves with work in flight;
// when one is assigned or revoked the consumer calls the worker's Assigned and Revoked (see
// PartitionListener).
type Consumer interface {
	// Poll waits for records, at most max, until some arrive or ctx ends. Its error is
	// ErrClosed or nil; fetch errors are in Fetch.Errors.
	Poll(ctx context.Context, max int) (Fetch, error)
	// CommitPolled commits the offsets of every record polled so far.
	CommitPolled(ctx context.Context) error
	// AllowRebalance lets a pending rebalance proceed.
	AllowRebalance()
	// Buffered is the number of records fetched and not yet polled.
	Buffered() int64
	// Lag returns, for each of the given partitions, the records not yet committed: the
	// partition's high watermark, asked of the brokers now, minus the group's committed
	// offset (the partition's log start when the group has none). It is called from a
	// goroutine of its own, concurrently with the other methods.
	Lag(ctx context.Context, partitions []int32) (map[int32]int64, error)
	// CheckMembership asks the group coordinator, now, whether this member still holds the
	// partitions it polled from: nil when it does (a rebalance may be under way, but none
	// has completed without it), an error wrapping ErrLostGeneration when the group moved on
	// without it, any other error when the coordinator could not answer. The worker calls it
	// before every write (see fence.go).
	CheckMembership(ctx context.Context) error
}

// PartitionListener is told about partition moves; *Worker implements it, and a Consumer
// calls it from inside Poll or AllowRebalance, never concurrently with a batch.
type PartitionListener interface {
	Assigned(ctx context.Context, partitions []int32)
	Revoked(ctx context.Context, partitions []int32)
}

// DeadLetter is a record the worker gives up on, with the reason.
type DeadLetter struct {
	Record Record
	Reason string
	// Worker names the worker instance (Config.Name).
	Worker string
}

// DeadLetterProducer sends records to the dead-letter topic. ProduceDeadLetters returns nil
// only when the broker has every one of them.
type DeadLetterProducer interface {
	ProduceDeadLetters(ctx context.Context, dls []DeadLetter) error
}
