package session

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/retry"
)

// Record is one sessionizable event of a batch (a product event, $heartbeat or $hidden), as
// the Sessionizer sees it. Apply sets Outcome.
type Record struct {
	Partition int32
	Key       Key
	EventID   string
	TsMs      int64
	Kind      event.Kind
	Outcome   Outcome
}

// Sessionizer owns the Trackers of the Kafka partitions assigned to one worker, and keeps them
// equal to what the Store holds: a partition's state is restored from the Store when it is
// assigned, users evicted from memory are reloaded when an old event needs them, and sessions
// left behind by a batch that crashed half-written are retracted. Assign, Revoke and Reload
// may be called from the consumer's rebalance callbacks while Apply runs on the poll loop;
// a partition itself is only ever touched between batches (rebalances wait for them).
type Sessionizer struct {
	cfg   Config
	store Store
	log   *zap.Logger
	m     *metrics
	now   func() time.Time

	mu        sync.Mutex
	parts     map[int32]*partition
	lastEvict time.Time
}

// partition is the sessionizer state of one assigned Kafka partition.
type partition struct {
	tracker *Tracker
	// clock is the newest sessionized event time seen in the partition (Unix ms). Users not
	// in memory are known to have their newest event before clock − EvictHorizon.
	clock int64
}

// evictEvery spaces evictions: each walks every user in memory, which at a million open users
// costs milliseconds, too much for every batch and needless when the clock barely moved.
const evictEvery = 2 * time.Second

// NewSessionizer returns a Sessionizer without partitions. Its metrics are registered on reg
// when reg is not nil. It fails when cfg is invalid.
func NewSessionizer(cfg Config, store Store, log *zap.Logger, reg prometheus.Registerer) (*Sessionizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sessionizer{cfg: cfg, store: store, log: log, m: newMetrics(reg), now: time.Now, parts: map[int32]*partition{}}, nil
}

// Assign restores the open sessions of newly assigned partitions from the store. It retries
// while the store is down: a partition is not consumed before its state is back.
func (s *Sessionizer) Assign(ctx context.Context, parts []int32) error {
	for _, p := range parts {
		start := s.now()
		var st *partition
		err := retry.Do(ctx, s.log, "restoring partition", func() error {
			var err error
			st, err = s.restore(ctx, p)
			return err
		})
		if err != nil {
			return fmt.Errorf("restoring sessions of partition %d: %w", p, err)
		}
		stats := st.tracker.Stats()
		took := s.now().Sub(start)
		s.log.Info("partition restored", zap.Int32("partition", p), zap.Int("users", stats.Users),
			zap.Int("events", stats.Events), zap.Duration("took", took))
		s.m.restoreSeconds.Observe(took.Seconds())
		s.mu.Lock()
		s.parts[p] = st
		s.mu.Unlock()
	}
	return nil
}

// Revoke forgets partitions that moved away; their rows are stored and offsets committed,
// because rebalances only happen between batches.
func (s *Sessionizer) Revoke(parts []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts {
		delete(s.parts, p)
	}
}

// Reload drops the in-memory state of partitions and restores it from the store. The worker
// calls it when the rows of an Apply cannot be stored as computed (the store refused some of
// the batch's events): the store then holds the state from before the batch.
func (s *Sessionizer) Reload(ctx context.Context, parts []int32) error {
	s.Revoke(parts)
	return s.Assign(ctx, parts)
}

func (s *Sessionizer) restore(ctx context.Context, p int32) (*partition, error) {
	clock, err := s.store.PartitionClock(ctx, p)
	if err != nil {
		return nil, err
	}
	st := &partition{tracker: NewTracker(s.cfg), clock: clock}
	// No shortcut when the partition has no sessionized events (clock 0): a worker that
	// crashed inside the partition's first batch left session rows without them, and those
	// are retracted here like any others.
	res, err := s.store.Load(ctx, Restore{Partition: p, ActiveSinceMs: clock - s.cfg.EvictHorizon(), MutableMs: s.cfg.MutableSpan()})
	if err != nil {
		return nil, err
	}
	if err := s.restoreUsers(ctx, st.tracker, p, res); err != nil {
		return nil, err
	}
	return st, nil
}

// restoreUsers hands each user's stored events to the tracker, and retracts the stored
// sessions those events do not produce.
//
// Such sessions are what a worker that crashed in the middle of a batch leaves behind: it
// stored the batch's session rows but not its events. Usually the redelivered events
// rewrite those rows. But a session that existed only inside the crashed batch — say a
// session that a later event of the same batch merged away, if the batch was cut before
// that event — is not produced again when the redelivery arrives in one piece, so nothing
// would ever retract it. Recomputing the sessions from the stored events tells which stored
// sessions the state explains; the others are retracted now, and the redelivery re-creates
// any that are real.
func (s *Sessionizer) restoreUsers(ctx context.Context, t *Tracker, p int32, res Restored) error {
	byUser := map[Key][]Event{}
	for _, e := range res.Events {
		byUser[e.Key] = append(byUser[e.Key], Event{ID: HashID(e.ID), TS: e.TsMs, Kind: e.Kind})
	}
	folds := map[Key]Fold{}
	for _, fr := range res.Folds {
		f, err := DecodeFold(fr.Key, fr.State)
		if err != nil {
			return fmt.Errorf("reading the fold of session %s (account %s, user %s): %w", fr.SessionID, fr.Account, fr.User, err)
		}
		if old, ok := folds[fr.Key]; !ok || f.Cut > old.Cut {
			folds[fr.Key] = f
		}
	}
	explained := map[string]bool{}
	for k, evs := range byUser {
		var ids []SessionID
		if f, ok := folds[k]; ok {
			ids = t.restore(k, &f, evs)
		} else {
			ids = t.restore(k, nil, evs)
		}
		for _, id := range ids {
			explained[id.String()] = true
		}
	}
	var retractions []Retraction
	for _, ls := range res.Sessions {
		if explained[ls.ID] {
			continue
		}
		var id SessionID
		if err := id.UnmarshalText([]byte(ls.ID)); err != nil {
			// Ids are written by this package: a bad one is a corrupt table, not a reason to
			// stop the partition. Retracting it would write a different id, so leave it.
			s.log.Error("stored session has a malformed id; left as it is", zap.String("session_id", ls.ID), zap.Error(err))
			continue
		}
		retractions = append(retractions, Retraction{Key: ls.Key, ID: id, Start: ls.StartMs, End: ls.EndMs})
	}
	if len(retractions) == 0 {
		return nil
	}
	var rows Rows
	rows.appendChanges(Changes{Version: s.now().UnixMilli(), Retractions: retractions}, p)
	s.log.Warn("retracting sessions left by an interrupted batch", zap.Int32("partition", p), zap.Int("sessions", len(retractions)))
	s.m.danglingRetracted.Add(float64(len(retractions)))
	return s.store.WriteRows(ctx, &rows)
}

func (s *Sessionizer) partition(p int32) *partition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parts[p]
}

// Apply sessionizes a batch's records (setting each Outcome) and returns the rows to store:
// the session and day rows of every session the batch changed, and the accepted events.
// Records of one partition must be in offset order. Apply fails when a partition has no
// state (it was never assigned, or its restore failed): sessionizing without state would
// start every user's sessions from scratch.
func (s *Sessionizer) Apply(ctx context.Context, recs []Record) (Rows, error) {
	byPart := map[int32][]int{}
	for i := range recs {
		byPart[recs[i].Partition] = append(byPart[recs[i].Partition], i)
	}
	var rows Rows
	for p, idx := range byPart {
		st := s.partition(p)
		if st == nil {
			return Rows{}, fmt.Errorf("partition %d has records but no sessionizer state", p)
		}
		if err := s.loadMissing(ctx, p, st, recs, idx); err != nil {
			return Rows{}, err
		}
		for _, i := range idx {
			r := &recs[i]
			r.Outcome = st.tracker.Add(r.Key, Event{ID: HashID(r.EventID), TS: r.TsMs, Kind: r.Kind})
			s.m.outcomes.WithLabelValues(r.Outcome.String()).Inc()
			if r.Outcome == Accepted {
				st.clock = max(st.clock, r.TsMs)
				rows.Events = append(rows.Events, EventRow{Key: r.Key, Partition: p, ID: r.EventID, TsMs: r.TsMs, Kind: r.Kind})
			}
		}
		rows.appendChanges(st.tracker.Flush(s.now().UnixMilli()), p)
	}
	return rows, nil
}

// loadMissing restores the users of a batch that are not in memory and whose event is old
// enough that their stored state could matter. A user absent from memory has its newest
// event before clock − EvictHorizon; an event at or after clock − SessionTimeout is then more
// than SessionTimeout + Lateness after it, and so is every later non-late event: it starts a
// new session and nothing stored can change, so no load is needed. That is the common case of
// a user returning after a break, and of new users.
func (s *Sessionizer) loadMissing(ctx context.Context, p int32, st *partition, recs []Record, idx []int) error {
	threshold := st.clock - s.cfg.SessionTimeout.Milliseconds()
	var users []Key
	seen := map[Key]bool{}
	oldest := int64(0)
	for _, i := range idx {
		r := &recs[i]
		if r.TsMs >= threshold || seen[r.Key] || st.tracker.Has(r.Key) {
			continue
		}
		seen[r.Key] = true
		users = append(users, r.Key)
		if len(users) == 1 || r.TsMs < oldest {
			oldest = r.TsMs
		}
	}
	if len(users) == 0 {
		return nil
	}
	start := s.now()
	err := retry.Do(ctx, s.log, "loading users", func() error {
		res, err := s.store.Load(ctx, Restore{Partition: p, Users: users, MutableMs: s.cfg.MutableSpan(), FromMs: oldest - s.cfg.MutableSpan()})
		if err != nil {
			return err
		}
		return s.restoreUsers(ctx, st.tracker, p, res)
	})
	if err != nil {
		return fmt.Errorf("loading %d users of partition %d: %w", len(users), p, err)
	}
	s.m.loads.Add(float64(len(users)))
	s.m.restoreSeconds.Observe(s.now().Sub(start).Seconds())
	return nil
}

// Evict drops state that can no longer change; the worker calls it after a batch is stored.
func (s *Sessionizer) Evict() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now().Sub(s.lastEvict) < evictEvery {
		return
	}
	s.lastEvict = s.now()
	var users, events, bytes int64
	for _, st := range s.parts {
		u, _ := st.tracker.Evict(st.clock)
		s.m.evicted.Add(float64(u))
		stats := st.tracker.Stats()
		users += int64(stats.Users)
		events += int64(stats.Events)
		bytes += stats.Bytes
	}
	s.m.stateUsers.Set(float64(users))
	s.m.stateEvents.Set(float64(events))
	s.m.stateBytes.Set(float64(bytes))
}
