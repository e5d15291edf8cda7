package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/retry"
	"github.com/engage-oss/engage/internal/session"
	"github.com/engage-oss/engage/internal/topics"
)

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
	// LagInterval is how often the lag and buffered-records gauges are measured (one
	// ListOffsets request to the brokers each time). Default 1 s.
	LagInterval time.Duration
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		Topic:           topics.Events,
		DLQTopic:        topics.EventsDLQ,
		Group:           "engage-worker",
		MaxBatchRecords: 50_000,
		FlushInterval:   500 * time.Millisecond,
		Name:            "worker",
		Session:         session.DefaultConfig(),
		LagInterval:     time.Second,

		GroupSessionTimeout: 10 * time.Second,
	}
}

// Validate names every bad field, by its Go name.
func (c Config) Validate() error {
	var errs []error
	if c.Topic == "" {
		errs = append(errs, errors.New("Topic: must be set"))
	}
	if c.DLQTopic == "" {
		errs = append(errs, errors.New("DLQTopic: must be set"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("Group: must be set"))
	}
	if c.GroupSessionTimeout < time.Second {
		errs = append(errs, fmt.Errorf("GroupSessionTimeout %s: must be at least 1s", c.GroupSessionTimeout))
	}
	if c.MaxBatchRecords < 1 {
		errs = append(errs, fmt.Errorf("MaxBatchRecords %d: must be positive", c.MaxBatchRecords))
	}
	if c.FlushInterval <= 0 || c.FlushInterval > 5*time.Second {
		errs = append(errs, fmt.Errorf("FlushInterval %s: must be in (0, 5s] to keep views fresh", c.FlushInterval))
	}
	if c.LagInterval <= 0 || c.LagInterval > time.Minute {
		errs = append(errs, fmt.Errorf("LagInterval %s: must be in (0, 1m]", c.LagInterval))
	}
	if err := c.Session.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Session: %w", err))
	}
	return errors.Join(errs...)
}

// Worker consumes, processes, stores and commits.
type Worker struct {
	cfg   Config
	store Store
	log   *zap.Logger
	m     *metrics
	sess  *session.Sessionizer
	// policy spaces retries; replaceable in tests.
	policy retry.Policy

	// now is replaceable in tests.
	now func() time.Time

	// notifier is told the accounts of each stored batch; nil: nobody is.
	notifier Notifier

	// member is the consumer whose group membership every write is fenced on (fence.go);
	// Run sets it.
	member atomic.Pointer[Consumer]

	// mu guards parts and fenced: Assigned and Revoked run on the consumer's goroutine.
	mu    sync.Mutex
	parts map[int32]bool // assigned partitions
	// fenced are the partitions lost with the group membership while a batch was in hand,
	// until the consumer reports them revoked or assigns them again (fence.go).
	fenced map[int32]bool
}

// Notifier tells the scorers which accounts' inputs a stored batch changed, so that they
// rescore only those (internal/adapters/kafka/changed publishes on
// engagement.accounts.changed).
type Notifier interface {
	AccountsChanged(ctx context.Context, accounts []string) error
}

// NotifyTo makes the worker tell n the accounts of every batch it stores, after the rows are
// stored and before the offsets are committed, so that a crash in between notifies again.
// Call it before Run.
func (w *Worker) NotifyTo(n Notifier) { w.notifier = n }

// New builds a worker that stores into store. It consumes once Run is given a Consumer whose
// PartitionListener is this worker.
func New(cfg Config, store Store, log *zap.Logger, reg prometheus.Registerer) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, log: log, m: newMetrics(reg), policy: retry.Default, now: time.Now,
		parts: map[int32]bool{}, fenced: map[int32]bool{}}
	// The worker and its sessionizer (whose restores write retractions) both write through
	// the fence.
	w.store = fencedStore{Store: store, w: w}
	sess, err := session.NewSessionizer(cfg.Session, w.store, log, reg)
	if err != nil {
		return nil, err
	}
	w.sess = sess
	return w, nil
}

// Assigned restores the sessions of newly assigned partitions.
func (w *Worker) Assigned(ctx context.Context, parts []int32) {
	w.log.Info("partitions assigned", zap.Int32s("partitions", parts))
	w.mu.Lock()
	for _, p := range parts {
		w.parts[p] = true
		delete(w.fenced, p)
	}
	w.m.assigned.Set(float64(len(w.parts)))
	w.mu.Unlock()
	err := w.sess.Assign(ctx, parts)
	switch {
	case errors.Is(err, ErrLostGeneration):
		// The group moved on while this worker restored (a retraction was fenced): these
		// partitions, like the others, are someone else's now.
		lost := w.fenceAll()
		w.log.Warn("the group moved on without this worker while it restored partitions; they are left to their new owners",
			zap.Int32s("partitions", lost), zap.Error(err))
	case err != nil:
		// The partitions stay without state; Apply refuses their records, so the worker
		// stops instead of sessionizing from scratch.
		w.log.Error("restoring assigned partitions failed", zap.Error(err))
	}
}

// Revoked forgets partitions that moved away (or were lost with the group generation).
func (w *Worker) Revoked(_ context.Context, parts []int32) {
	w.log.Info("partitions revoked", zap.Int32s("partitions", parts))
	w.mu.Lock()
	for _, p := range parts {
		delete(w.parts, p)
		delete(w.fenced, p)
	}
	w.m.assigned.Set(float64(len(w.parts)))
	w.mu.Unlock()
	w.sess.Revoke(parts)
}

// Run consumes from c until ctx is cancelled, then finishes the batch in hand and returns;
// the caller closes c (leaving the group). Dead letters go to dlq.
func (w *Worker) Run(ctx context.Context, c Consumer, dlq DeadLetterProducer) error {
	w.member.Store(&c)
	// A consumer that blocks rebalances cannot leave its group until they are allowed;
	// nothing uncommitted is committed on the way out.
	defer c.AllowRebalance()
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		w.reportLag(lagCtx, c)
	}()
	defer func() {
		stopLag()
		<-lagDone
	}()
	for {
		recs, err := w.collect(ctx, c)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			// The batch in hand is finished even when shutdown began while collecting it:
			// its records are stored and committed, or (if the store stays down past the
			// shutdown deadline) left uncommitted for the next owner.
			if err := w.process(ctx, c, dlq, recs); err != nil {
				if ctx.Err() != nil {
					w.log.Warn("shutdown before the last batch was stored; its records will be redelivered", zap.Int("records", len(recs)))
					return nil
				}
				return err
			}
		}
		c.AllowRebalance()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// collect polls until MaxBatchRecords records or FlushInterval after the first one.
func (w *Worker) collect(ctx context.Context, c Consumer) ([]Record, error) {
	var recs []Record
	var deadline time.Time
	for len(recs) < w.cfg.MaxBatchRecords {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if !deadline.IsZero() {
			pctx, cancel = context.WithDeadline(ctx, deadline)
		}
		f, err := c.Poll(pctx, w.cfg.MaxBatchRecords-len(recs))
		cancel()
		if err != nil {
			return recs, err
		}
		for _, err := range f.Errors {
			w.m.fetchErrors.Inc()
			w.log.Warn("fetch error", zap.Error(err))
		}
		if recs == nil {
			recs = f.Records
		} else {
			recs = append(recs, f.Records...)
		}
		if len(recs) == 0 {
			// Nothing in hand: a poll that returned only errors (a group rejoin failing while
			// the broker is away) still blocks rebalances until they are allowed.
			c.AllowRebalance()
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

// process turns records into rows, stores them, dead-letters what cannot be processed, and
// commits.
func (w *Worker) process(ctx context.Context, c Consumer, dlq DeadLetterProducer, recs []Record) error {
	start := w.now()
	recs, dropped := w.withoutFenced(recs)
	if dropped > 0 {
		w.m.dropped.Add(float64(dropped))
		w.log.Debug("dropped records of partitions lost with the group membership", zap.Int("records", dropped))
		if len(recs) == 0 {
			return nil
		}
	}
	evs := make([]RawEvent, 0, len(recs))
	var dead []DeadLetter
	var newest time.Time
	for i := range recs {
		// ev.Properties is a sub-slice of the record's value: records are not recycled, and
		// the batch's events do not outlive recs.
		ev, err := event.Decode(recs[i].Value)
		if err != nil {
			dead = append(dead, w.deadLetter(recs[i], fmt.Sprintf("undecodable: %v", err)))
			continue
		}
		if ev.ReceivedAt.After(newest) {
			newest = ev.ReceivedAt
		}
		evs = append(evs, RawEvent{Event: ev, Partition: recs[i].Partition, Offset: recs[i].Offset, rec: i})
	}
	w.m.records.Add(float64(len(recs)))

	rejected, err := w.storeBatch(ctx, evs)
	if errors.Is(err, ErrLostGeneration) {
		w.dropFenced(len(recs), err)
		return nil
	}
	if err != nil {
		return err
	}
	for _, ev := range rejected {
		dead = append(dead, w.deadLetter(recs[ev.rec], "rejected by store"))
	}
	if len(dead) > 0 {
		if err := w.retry(ctx, "producing to the DLQ", func() error { return dlq.ProduceDeadLetters(ctx, dead) }); err != nil {
			return fmt.Errorf("producing %d records to %s: %w", len(dead), w.cfg.DLQTopic, err)
		}
		w.m.dlq.Add(float64(len(dead)))
	}
	if err := w.notify(ctx, evs); err != nil {
		return err
	}
	if dropped > 0 {
		// A commit covers every record polled, the dropped ones too, and those are their new
		// owners' to commit. What this batch stored is rewritten the same on redelivery.
		w.log.Warn("batch stored but not committed: it came with records of lost partitions", zap.Int("records", len(recs)))
	} else if err := w.commit(ctx, c, len(recs)); err != nil {
		return err
	}
	w.sess.Evict()
	w.m.batchRecords.Observe(float64(len(recs)))
	w.m.batchSeconds.Observe(w.now().Sub(start).Seconds())
	if !newest.IsZero() {
		w.m.freshness.Set(w.now().Sub(newest).Seconds())
	}
	return nil
}

// notify names the batch's accounts to the notifier. A broker outage is waited out, as for
// the commit that follows.
func (w *Worker) notify(ctx context.Context, evs []RawEvent) error {
	if w.notifier == nil || len(evs) == 0 {
		return nil
	}
	ids := make([]string, 0, len(evs))
	last := ""
	for i := range evs {
		// Batches come partition by partition, and a partition's events are often of
		// few accounts: skipping repeats here keeps the list short; the notifier
		// de-duplicates the rest.
		if id := evs[i].AccountID; id != last {
			ids = append(ids, id)
			last = id
		}
	}
	if err := w.retry(ctx, "notifying changed accounts", func() error { return w.notifier.AccountsChanged(ctx, ids) }); err != nil {
		return fmt.Errorf("notifying %d changed accounts: %w", len(ids), err)
	}
	return nil
}

// commit commits the batch's offsets. A broker outage is waited out: the rows are stored,
// and giving up would only make the next owner rewrite them.
func (w *Worker) commit(ctx context.Context, c Consumer, n int) error {
	err := w.retry(ctx, "committing offsets", func() error {
		err := c.CommitPolled(ctx)
		if err == nil {
			return nil
		}
		w.m.commitErrors.Inc()
		if errors.Is(err, ErrLostGeneration) {
			return permanent(err)
		}
		return err
	})
	switch {
	case err != nil && errors.Is(err, ErrLostGeneration):
		// The partitions are revoked and restored from the store on the next assignment, and
		// their uncommitted records are redelivered: their rows are stored already, so the
		// replay rewrites the same rows.
		w.log.Warn("offsets not committed: the group rebalanced; records will be redelivered", zap.Error(err))
		return nil
	case err != nil:
		return fmt.Errorf("committing offsets after storing %d records: %w", n, err)
	}
	return nil
}

// reportLag measures the backlog of the assigned partitions every LagInterval until ctx ends:
// engage_worker_consumer_lag_records per partition is the partition's high watermark, asked
// of the brokers, minus the group's committed offset, i.e. the records not yet stored (the
// worker commits only what it stored). It runs beside the poll loop rather than after each
// batch because a backlog matters most when batches are slow, and because the fetch position
// says little: the client fetches ahead and buffers (engage_worker_buffered_records), and the
// high watermark of a buffered fetch is as old as the fetch.
func (w *Worker) reportLag(ctx context.Context, c Consumer) {
	t := time.NewTicker(w.cfg.LagInterval)
	defer t.Stop()
	shown := map[int32]bool{} // partitions with a lag series
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		parts := make([]int32, 0, len(w.parts))
		for p := range w.parts {
			if !w.fenced[p] {
				parts = append(parts, p)
			}
		}
		w.mu.Unlock()
		mctx, cancel := context.WithTimeout(ctx, w.cfg.LagInterval)
		lag, err := c.Lag(mctx, parts)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				w.log.Debug("measuring consumer lag", zap.Error(err))
			}
			continue // the gauges keep their last values
		}
		for p := range shown {
			if _, ok := lag[p]; !ok {
				w.m.lag.DeleteLabelValues(strconv.Itoa(int(p)))
				delete(shown, p)
			}
		}
		for p, n := range lag {
			w.m.lag.WithLabelValues(strconv.Itoa(int(p))).Set(float64(max(0, n)))
			shown[p] = true
		}
		w.m.buffered.Set(float64(c.Buffered()))
	}
}

func (w *Worker) deadLetter(r Record, reason string) DeadLetter {
	w.log.Warn("dead-lettering record", zap.String("topic", r.Topic), zap.Int32("partition", r.Partition), zap.Int64("offset", r.Offset), zap.String("reason", reason))
	return DeadLetter{Record: r, Reason: reason, Worker: w.cfg.Name}
}
