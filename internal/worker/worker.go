package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/session"
)

// Store is where batches go. Write must be idempotent (see Batch) and return an error
// classified by IsPermanent when retrying the same rows cannot succeed. The Loader half
// reads back sessionized events to restore state.
type Store interface {
	Write(ctx context.Context, b *Batch) error
	Loader
}

// Config configures a worker.
type Config struct {
	// Topic to consume. Default engagement.events.
	Topic string
	// DLQTopic receives records that cannot be processed. Default engagement.events.dlq.
	DLQTopic string
	// Group is the consumer group; instances with the same group share partitions. Default
	// engage-worker.
	Group string
	// MaxBatchRecords caps the records of one flush. Default 50000.
	MaxBatchRecords int
	// FlushInterval is the longest a consumed record waits before its batch is written.
	// Default 500ms: well inside the 10 s freshness promise, large enough for ClickHouse to
	// receive a few big inserts per second rather than many small ones.
	FlushInterval time.Duration
	// Name identifies this worker in DLQ headers and logs. Default "worker".
	Name string
	// GroupSessionTimeout is how long the group waits for a silent instance (crashed,
	// killed) before moving its partitions to the others. Default 10 s: a kill -9 stalls its
	// partitions for that long, while brief GC or network pauses do not cause rebalances.
	GroupSessionTimeout time.Duration
	// Session holds the sessionization rules (timeout, idle threshold, lateness).
	// Default session.DefaultConfig(): 30 min, 5 min, 1 h.
	Session session.Config
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		Topic:           kafka.TopicEvents,
		DLQTopic:        kafka.TopicEventsDLQ,
		Group:           "engage-worker",
		MaxBatchRecords: 50_000,
		FlushInterval:   500 * time.Millisecond,
		Name:            "worker",
		Session:         session.DefaultConfig(),

		GroupSessionTimeout: 10 * time.Second,
	}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Topic == "":
		return errors.New("worker topic: must be set")
	case c.DLQTopic == "":
		return errors.New("worker dlq topic: must be set")
	case c.Group == "":
		return errors.New("worker group: must be set")
	case c.GroupSessionTimeout < time.Second:
		return fmt.Errorf("worker group session timeout %s: must be at least 1s", c.GroupSessionTimeout)
	case c.MaxBatchRecords < 1:
		return fmt.Errorf("worker max batch records %d: must be positive", c.MaxBatchRecords)
	case c.FlushInterval <= 0 || c.FlushInterval > 5*time.Second:
		return fmt.Errorf("worker flush interval %s: must be in (0, 5s] to keep views fresh", c.FlushInterval)
	}
	if err := c.Session.Validate(); err != nil {
		return fmt.Errorf("worker session rules: %w", err)
	}
	return nil
}

// Worker consumes, processes, stores and commits.
type Worker struct {
	cfg   Config
	cl    *kgo.Client
	store Store
	log   *zap.Logger
	m     *metrics
	sess  *sessionizer

	// clock is replaceable in tests.
	now func() time.Time

	// hwm is the newest high watermark seen per partition, for the lag metric.
	hwm map[int32]int64
}

// New builds a worker. clientOpts carry the brokers and client identity (kafka.ClientOpts);
// the worker adds its own consumer-group options.
func New(cfg Config, clientOpts []kgo.Opt, store Store, log *zap.Logger, reg prometheus.Registerer) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, store: store, log: log, m: newMetrics(reg), now: time.Now, hwm: map[int32]int64{}}
	w.sess = newSessionizer(cfg.Session, store, log, w.m)
	opts := append([]kgo.Opt{}, clientOpts...)
	opts = append(opts, kafka.ProducerOpts()...)
	opts = append(opts,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.DisableAutoCommit(),
		// Rebalances wait until the records of a poll are stored and committed, so a
		// partition never moves with work in flight.
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.SessionTimeout(cfg.GroupSessionTimeout),
		kgo.HeartbeatInterval(cfg.GroupSessionTimeout/5),
		// A rebalance waits this long for members to rejoin; batches take well under a
		// second, so twice the session timeout is ample and keeps a broker restart short.
		kgo.RebalanceTimeout(2*cfg.GroupSessionTimeout),
		kgo.OnPartitionsAssigned(w.assigned),
		kgo.OnPartitionsRevoked(w.revoked),
		kgo.OnPartitionsLost(w.revoked),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating worker client: %w", err)
	}
	w.cl = cl
	return w, nil
}

func (w *Worker) assigned(ctx context.Context, _ *kgo.Client, parts map[string][]int32) {
	w.log.Info("partitions assigned", zap.Any("partitions", parts))
	if err := w.sess.assign(ctx, parts[w.cfg.Topic]); err != nil {
		// The partitions stay without state; process refuses their records, so the worker
		// stops instead of sessionizing from scratch.
		w.log.Error("restoring assigned partitions failed", zap.Error(err))
	}
}

func (w *Worker) revoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	w.log.Info("partitions revoked", zap.Any("partitions", parts))
	w.sess.revoke(parts[w.cfg.Topic])
}

// Check reports whether the brokers answer.
func (w *Worker) Check(ctx context.Context) error { return w.cl.Ping(ctx) }

// Run consumes until ctx is cancelled, then finishes the batch in hand and leaves the group.
func (w *Worker) Run(ctx context.Context) error {
	defer func() {
		// A client that blocks rebalances cannot leave its group until they are allowed;
		// nothing uncommitted is committed on the way out (auto-commit is off).
		w.cl.AllowRebalance()
		w.cl.Close()
	}()
	for {
		recs, err := w.collect(ctx)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			// The batch in hand is finished even when shutdown began while collecting it:
			// its records are stored and committed, or (if the store stays down past the
			// shutdown deadline) left uncommitted for the next owner.
			if err := w.process(ctx, recs); err != nil {
				if ctx.Err() != nil {
					w.log.Warn("shutdown before the last batch was stored; its records will be redelivered", zap.Int("records", len(recs)))
					return nil
				}
				return err
			}
		}
		w.cl.AllowRebalance()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// collect polls until MaxBatchRecords records or FlushInterval after the first one.
func (w *Worker) collect(ctx context.Context) ([]*kgo.Record, error) {
	var recs []*kgo.Record
	var deadline time.Time
	for len(recs) < w.cfg.MaxBatchRecords {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if !deadline.IsZero() {
			pctx, cancel = context.WithDeadline(ctx, deadline)
		}
		fs := w.cl.PollRecords(pctx, w.cfg.MaxBatchRecords-len(recs))
		cancel()
		if fs.IsClientClosed() {
			return recs, errors.New("kafka client closed")
		}
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			w.m.fetchErrors.Inc()
			w.log.Warn("fetch error", zap.String("topic", topic), zap.Int32("partition", p), zap.Error(err))
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.HighWatermark > w.hwm[p.Partition] {
				w.hwm[p.Partition] = p.HighWatermark
			}
		})
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if len(recs) == 0 {
			// Nothing in hand: a poll that returned only errors (a group rejoin failing while
			// the broker is away) still blocks rebalances until they are allowed.
			w.cl.AllowRebalance()
		}
		if len(recs) > 0 && deadline.IsZero() {
			deadline = w.now().Add(w.cfg.FlushInterval)
		}
		if ctx.Err() != nil || (!deadline.IsZero() && !w.now().Before(deadline)) {
			break
		}
	}
	return recs, nil
}

// process turns records into a batch, stores it, dead-letters what cannot be processed, and
// commits.
func (w *Worker) process(ctx context.Context, recs []*kgo.Record) error {
	start := w.now()
	batch := &Batch{Events: make([]RawEvent, 0, len(recs))}
	var dead []*kgo.Record
	var newest time.Time
	for _, r := range recs {
		// ev.Properties is a sub-slice of r.Value: records are not recycled (no kgo pools), and
		// the batch's events do not outlive recs.
		ev, err := event.Decode(r.Value)
		if err != nil {
			dead = append(dead, w.deadLetter(r, fmt.Sprintf("undecodable: %v", err)))
			continue
		}
		if ev.ReceivedAt.After(newest) {
			newest = ev.ReceivedAt
		}
		batch.Events = append(batch.Events, RawEvent{Event: ev, Partition: r.Partition, Offset: r.Offset})
	}
	w.m.records.Add(float64(len(recs)))

	var err error
	batch.Sessions, batch.Days, err = w.sess.apply(ctx, batch.Events, w.now().UnixMilli())
	if err != nil {
		return err
	}
	bad, err := w.writeWithRetry(ctx, batch)
	if err != nil {
		return err
	}
	for _, ev := range bad {
		dead = append(dead, w.deadLetter(findRecord(recs, ev.Partition, ev.Offset), "rejected by store"))
	}
	if len(dead) > 0 {
		err := retry(ctx, w.log, "producing to the DLQ", func() error {
			return w.cl.ProduceSync(ctx, dead...).FirstErr()
		})
		if err != nil {
			return fmt.Errorf("producing %d records to %s: %w", len(dead), w.cfg.DLQTopic, err)
		}
		w.m.dlq.Add(float64(len(dead)))
	}
	// A broker outage is waited out here too: the rows are stored, and giving up would only
	// make the next owner rewrite them.
	err = retry(ctx, w.log, "committing offsets", func() error {
		err := w.cl.CommitUncommittedOffsets(ctx)
		if err == nil {
			return nil
		}
		w.m.commitErrors.Inc()
		if lostGeneration(err) {
			return backoff.Permanent(err)
		}
		return err
	})
	switch {
	case err != nil && lostGeneration(err):
		// The group moved on without us (our session expired while the broker was away).
		// The partitions are revoked and restored from the store on the next assignment, and
		// their uncommitted records are redelivered: their rows are stored already, so the
		// replay rewrites the same rows.
		w.log.Warn("offsets not committed: the group rebalanced; records will be redelivered", zap.Error(err))
	case err != nil:
		return fmt.Errorf("committing offsets after storing %d records: %w", len(recs), err)
	}
	w.sess.evict()
	w.observeLag(recs)
	w.m.batchRecords.Observe(float64(len(recs)))
	w.m.batchSeconds.Observe(w.now().Sub(start).Seconds())
	if !newest.IsZero() {
		w.m.freshness.Set(w.now().Sub(newest).Seconds())
	}
	return nil
}

// observeLag sets the lag of each partition of a stored batch: records between the last one
// stored and the partition's high watermark. Measured after the store, not at fetch time,
// because franz-go fetches ahead: records buffered in the client are lag too.
func (w *Worker) observeLag(recs []*kgo.Record) {
	last := map[int32]int64{}
	for _, r := range recs {
		if r.Offset > last[r.Partition] {
			last[r.Partition] = r.Offset
		}
	}
	for p, off := range last {
		w.m.lag.WithLabelValues(strconv.Itoa(int(p))).Set(float64(max(0, w.hwm[p]-off-1)))
	}
	w.m.buffered.Set(float64(w.cl.BufferedFetchRecords()))
}

// writeWithRetry writes the batch, retrying while the store is unavailable (a ClickHouse
// outage pauses consumption instead of losing data). A permanent error is narrowed down by
// halving the batch until the rows the store refuses are found; those are returned for the
// DLQ and everything else is written.
func (w *Worker) writeWithRetry(ctx context.Context, b *Batch) ([]RawEvent, error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 200 * time.Millisecond
	bo.MaxInterval = 5 * time.Second
	bo.MaxElapsedTime = 0 // a store outage is waited out, however long
	var perm error
	op := func() error {
		start := w.now()
		err := w.store.Write(ctx, b)
		w.m.writeSeconds.Observe(w.now().Sub(start).Seconds())
		if err == nil {
			return nil
		}
		w.m.writeErrors.Inc()
		if IsPermanent(err) {
			perm = err
			return backoff.Permanent(err)
		}
		w.log.Warn("store write failed, retrying", zap.Int("rows", b.Len()), zap.Error(err))
		return err
	}
	err := backoff.Retry(op, backoff.WithContext(bo, ctx))
	if err == nil {
		return nil, nil
	}
	if perm == nil {
		return nil, fmt.Errorf("writing batch of %d rows: %w", b.Len(), err)
	}
	if len(b.Sessions) > 0 || len(b.Days) > 0 {
		// Session rows are computed, not client data: a store that refuses them has a schema
		// problem that the DLQ cannot fix.
		if _, err := w.writeWithRetry(ctx, &Batch{Sessions: b.Sessions, Days: b.Days}); err != nil {
			return nil, err
		}
		if len(b.Events) == 0 {
			return nil, fmt.Errorf("store refuses session rows: %w", perm)
		}
		return w.writeWithRetry(ctx, &Batch{Events: b.Events})
	}
	if len(b.Events) == 1 {
		w.log.Error("store rejected an event", zap.String("event_id", b.Events[0].EventID), zap.Error(perm))
		return b.Events, nil
	}
	mid := len(b.Events) / 2
	left, err := w.writeWithRetry(ctx, &Batch{Events: b.Events[:mid]})
	if err != nil {
		return nil, err
	}
	right, err := w.writeWithRetry(ctx, &Batch{Events: b.Events[mid:]})
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}

func findRecord(recs []*kgo.Record, partition int32, offset int64) *kgo.Record {
	for _, r := range recs {
		if r.Partition == partition && r.Offset == offset {
			return r
		}
	}
	return &kgo.Record{}
}

func (w *Worker) deadLetter(r *kgo.Record, reason string) *kgo.Record {
	w.log.Warn("dead-lettering record", zap.String("topic", r.Topic), zap.Int32("partition", r.Partition), zap.Int64("offset", r.Offset), zap.String("reason", reason))
	return &kgo.Record{
		Topic: w.cfg.DLQTopic,
		Key:   r.Key,
		Value: r.Value,
		Headers: append(append([]kgo.RecordHeader(nil), r.Headers...),
			kgo.RecordHeader{Key: kafka.HeaderDLQReason, Value: []byte(reason)},
			kgo.RecordHeader{Key: kafka.HeaderDLQSource, Value: fmt.Appendf(nil, "%s/%d@%d", r.Topic, r.Partition, r.Offset)},
			kgo.RecordHeader{Key: kafka.HeaderDLQWorker, Value: []byte(w.cfg.Name)},
		),
	}
}

// lostGeneration reports a commit refused because this member is no longer part of the
// group's current generation.
func lostGeneration(err error) bool {
	return errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.UnknownMemberID) ||
		errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.FencedInstanceID)
}
