package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Feed is one destination's consumer of engagement.health.changes: its own consumer group,
// so that each destination goes at its own pace and a failing one holds up nothing else.
type Feed interface {
	// Poll returns the next records, blocking until there are some; io.EOF when a bounded
	// feed (a replay) has no more.
	Poll(ctx context.Context) ([]Record, error)
	// Commit commits, per partition, the offset of the first record not yet handled.
	Commit(ctx context.Context, offsets map[int32]int64) error
}

// DeadLetters takes the changes a destination gave up on.
type DeadLetters interface {
	DeadLetter(ctx context.Context, destination string, r Record, reason string) error
}

// Entry is one row of the delivery log (webhook_deliveries).
type Entry struct {
	ID, Destination, AccountID string
	Attempt                    int
	Status                     int
	Latency                    time.Duration
	Error                      string
	Outcome                    Outcome
	At                         time.Time
}

// DeliveryLog records attempts; Log must not block for long (it buffers).
type DeliveryLog interface {
	Log(e Entry)
}

// Transport makes one attempt (Sender).
type Transport interface {
	Send(ctx context.Context, d Destination, c Change) Attempt
}

// Backoff spaces the attempts of one change: exponential from Initial, capped at Max, with
// full jitter, and never shorter than a Retry-After.
type Backoff struct {
	Initial, Max time.Duration
}

// DefaultBackoff: 1 s, 2 s, 4 s, … up to 5 min between attempts.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 5 * time.Minute}

func (b Backoff) wait(attempt int, retryAfter time.Duration) time.Duration {
	d := b.Initial << min(attempt-1, 30)
	if d <= 0 || d > b.Max {
		d = b.Max
	}
	// Jitter in [d/2, d]: receivers that failed together do not get the retries together.
	d = d/2 + rand.N(d/2+1)
	return max(d, retryAfter)
}

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Backoff Backoff
	// MaxPending bounds the changes in hand (queued or being retried); polling waits
	// beyond it. Default 10 000.
	MaxPending int
	// CommitInterval is how often handled offsets are committed. Default 1 s.
	CommitInterval time.Duration
	// AgeFrom, when set, is the start of every change's retry age instead of its
	// publication (a replay of old changes).
	AgeFrom time.Time
}

// Runner delivers one destination's changes: in order per account, several accounts at
// once, each change retried until it is delivered or too old, then dead-lettered; offsets
// are committed only up to the first change not yet handled, so a crash redelivers, never
// loses.
type Runner struct {
	d    Destination
	cfg  RunnerConfig
	feed Feed
	tr   Transport
	dlq  DeadLetters
	logs DeliveryLog
	m    *Metrics
	log  *zap.Logger
	now  func() time.Time

	mu      sync.Mutex
	queues  map[string][]*item // account -> changes not yet handled, in order
	parts   map[int32]*tracker
	pending int
	room    chan struct{} // signalled when pending drops
	sem     chan struct{}
	wg      sync.WaitGroup
}

type item struct {
	rec      Record
	change   Change
	deadline time.Time
}

// tracker follows a partition's offsets in hand, to commit only below the first unhandled.
type tracker struct {
	offsets []int64 // in hand, in arrival (offset) order
	done    map[int64]bool
	next    int64 // the offset to commit: everything below is handled
}

func (t *tracker) add(o int64) {
	if len(t.offsets) == 0 {
		t.next = o
	}
	t.offsets = append(t.offsets, o)
}

func (t *tracker) finish(o int64) {
	t.done[o] = true
	for len(t.offsets) > 0 && t.done[t.offsets[0]] {
		delete(t.done, t.offsets[0])
		t.next = t.offsets[0] + 1
		t.offsets = t.offsets[1:]
	}
	if len(t.offsets) > 0 {
		t.next = t.offsets[0]
	}
}

// NewRunner builds the runner of destination d.
func NewRunner(d Destination, cfg RunnerConfig, feed Feed, tr Transport, dlq DeadLetters, logs DeliveryLog, m *Metrics, log *zap.Logger) *Runner {
	if cfg.Backoff.Initial == 0 {
		cfg.Backoff = DefaultBackoff
		if d.RetryMax > 0 {
			cfg.Backoff.Max = time.Duration(d.RetryMax)
		}
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = 10_000
	}
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = time.Second
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Runner{d: d, cfg: cfg, feed: feed, tr: tr, dlq: dlq, logs: logs, m: m, log: log.With(zap.String("destination", d.Name)),
		now: time.Now, queues: map[string][]*item{}, parts: map[int32]*tracker{}, room: make(chan struct{}, 1),
		sem: make(chan struct{}, d.Concurrency)}
}

// Run delivers until ctx ends (or, for a bounded feed, until every change is handled).
// Changes in hand when ctx ends are not committed: the next run delivers them again.
func (r *Runner) Run(ctx context.Context) error {
	commitDone := make(chan struct{})
	cctx, stopCommits := context.WithCancel(ctx)
	go func() {
		defer close(commitDone)
		t := time.NewTicker(r.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-cctx.Done():
				return
			case <-t.C:
				r.commit(cctx)
			}
		}
	}()
	err := r.consume(ctx)
	r.wg.Wait() // on ctx's end the deliveries give up at once, unhandled
	stopCommits()
	<-commitDone
	// A last commit of what was handled, even while shutting down.
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	r.commit(fctx)
	cancel()
	return err
}

func (r *Runner) consume(ctx context.Context) error {
	for {
		if err := r.waitRoom(ctx); err != nil {
			return nil
		}
		recs, err := r.feed.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, io.EOF) {
			r.wg.Wait()
			return nil
		}
		if err != nil {
			r.log.Warn("reading health changes", zap.Error(err))
			continue
		}
		for _, rec := range recs {
			r.take(ctx, rec)
		}
	}
}

// waitRoom blocks while MaxPending changes are in hand.
func (r *Runner) waitRoom(ctx context.Context) error {
	for {
		r.mu.Lock()
		full := r.pending >= r.cfg.MaxPending
		r.mu.Unlock()
		if !full {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.room:
		}
	}
}

// take queues a record for its account, or handles it at once when it is not for this
// destination.
func (r *Runner) take(ctx context.Context, rec Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.parts[rec.Partition]
	if t == nil {
		t = &tracker{done: map[int64]bool{}}
		r.parts[rec.Partition] = t
	}
	t.add(rec.Offset)
	c, err := ParseRecord(rec)
	if err != nil {
		r.log.Warn("skipping a record that is not a health change", zap.Error(err))
		r.m.changes.WithLabelValues(r.d.Name, "skipped").Inc()
		t.finish(rec.Offset)
		return
	}
	if !r.wanted(c) {
		r.m.changes.WithLabelValues(r.d.Name, "filtered").Inc()
		t.finish(rec.Offset)
		return
	}
	from := rec.Time
	if !r.cfg.AgeFrom.IsZero() && r.cfg.AgeFrom.After(from) {
		from = r.cfg.AgeFrom
	}
	it := &item{rec: rec, change: c, deadline: from.Add(time.Duration(r.d.MaxAge))}
	q := r.queues[c.AccountID]
	r.queues[c.AccountID] = append(q, it)
	r.pending++
	r.m.pending.WithLabelValues(r.d.Name).Set(float64(r.pending))
	if len(q) == 0 { // no delivery running for the account: start one
		r.wg.Add(1)
		go r.account(ctx, c.AccountID)
	}
}

// wanted applies the destination's band and plan filters.
func (r *Runner) wanted(c Change) bool {
	if len(r.d.Bands) > 0 && !contains(r.d.Bands, c.Band) {
		return false
	}
	if len(r.d.Plans) > 0 && !contains(r.d.Plans, c.Plan) {
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// account delivers an account's queued changes one after the other. The queue is removed
// in the same critical section that empties it, so that take starts a new goroutine only
// when none is running for the account.
func (r *Runner) account(ctx context.Context, id string) {
	defer r.wg.Done()
	r.mu.Lock()
	it := r.queues[id][0]
	r.mu.Unlock()
	for {
		if !r.deliver(ctx, it) {
			return // shutting down: the account's changes stay unhandled and uncommitted
		}
		r.mu.Lock()
		q := r.queues[id][1:]
		r.parts[it.rec.Partition].finish(it.rec.Offset)
		r.pending--
		r.m.pending.WithLabelValues(r.d.Name).Set(float64(r.pending))
		if len(q) == 0 {
			delete(r.queues, id)
		} else {
			r.queues[id] = q
			it = q[0]
		}
		r.mu.Unlock()
		select {
		case r.room <- struct{}{}:
		default:
		}
		if len(q) == 0 {
			return
		}
	}
}

// deliver makes attempts until the change is delivered, rejected or too old (true), or ctx
// ends (false).
func (r *Runner) deliver(ctx context.Context, it *item) bool {
	for attempt := 1; ; attempt++ {
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		a := r.tr.Send(ctx, r.d, it.change)
		<-r.sem
		if ctx.Err() != nil && a.Outcome != Delivered {
			return false
		}
		now := r.now()
		r.m.attempts.WithLabelValues(r.d.Name, string(a.Outcome)).Inc()
		if a.Status != 0 || a.Outcome == Delivered {
			r.m.seconds.WithLabelValues(r.d.Name).Observe(a.Latency.Seconds())
		}
		e := Entry{ID: it.change.ID, Destination: r.d.Name, AccountID: it.change.AccountID, Attempt: attempt,
			Status: a.Status, Latency: a.Latency, Outcome: a.Outcome, At: now}
		if a.Err != nil {
			e.Error = a.Err.Error()
		}
		switch a.Outcome {
		case Delivered:
			r.logs.Log(e)
			r.m.changes.WithLabelValues(r.d.Name, "delivered").Inc()
			return true
		case Rejected:
			r.logs.Log(e)
			return r.deadLetter(ctx, it, attempt, e.Error)
		}
		wait := r.cfg.Backoff.wait(attempt, a.RetryAfter)
		if now.Add(wait).After(it.deadline) {
			if !now.Before(it.deadline) {
				e.Outcome = DeadLettered
				r.logs.Log(e)
				return r.deadLetter(ctx, it, attempt, fmt.Sprintf("still failing after %d attempts over %s: %s", attempt, time.Duration(r.d.MaxAge), e.Error))
			}
			wait = it.deadline.Sub(now) // one last attempt when the age runs out
		}
		r.logs.Log(e)
		r.log.Debug("delivery failed; retrying", zap.String("id", it.change.ID), zap.Int("attempt", attempt),
			zap.Duration("wait", wait), zap.Error(a.Err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// deadLetter sends a change to the dead-letter topic; a broker outage is waited out.
func (r *Runner) deadLetter(ctx context.Context, it *item, attempts int, reason string) bool {
	r.log.Warn("giving up on a health change: dead-lettered", zap.String("id", it.change.ID),
		zap.String("account_id", it.change.AccountID), zap.Int("attempts", attempts), zap.String("reason", reason))
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		err := r.dlq.DeadLetter(ctx, r.d.Name, it.rec, reason)
		if err == nil {
			r.m.changes.WithLabelValues(r.d.Name, "dead_lettered").Inc()
			return true
		}
		r.log.Warn("producing to the dead-letter topic failed; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

// commit commits every partition's offsets below its first unhandled change.
func (r *Runner) commit(ctx context.Context) {
	r.mu.Lock()
	offsets := make(map[int32]int64, len(r.parts))
	for p, t := range r.parts {
		offsets[p] = t.next
	}
	r.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	if err := r.feed.Commit(ctx, offsets); err != nil && ctx.Err() == nil {
		r.log.Warn("committing offsets failed; the next commit covers them", zap.Error(err))
	}
}
