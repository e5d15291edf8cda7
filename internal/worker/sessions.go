package worker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/session"
)

// Loader reads back what the sessionizer stored, to rebuild a partition's open sessions after
// a restart or a rebalance (see docs/ARCHITECTURE.md).
type Loader interface {
	// PartitionClock is the newest sessionized event time of the partition (Unix ms), or 0.
	PartitionClock(ctx context.Context, partition int32) (int64, error)
	// Load returns the stored sessionized events that restore the requested users, and the
	// sessions stored as live over the same span.
	Load(ctx context.Context, r Restore) (Restored, error)
	// Write stores rows; restores use it to retract sessions left behind by a crash.
	Write(ctx context.Context, b *Batch) error
}

// partition is the sessionizer state of one assigned Kafka partition.
type partition struct {
	tracker *session.Tracker
	// clock is the newest sessionized event time seen in the partition (Unix ms). Users not
	// in memory are known to have their newest event before clock − evictHorizon.
	clock int64
}

// sessionizer owns the trackers of the assigned partitions.
type sessionizer struct {
	cfg    session.Config
	loader Loader
	log    *zap.Logger
	m      *metrics

	mu        sync.Mutex
	parts     map[int32]*partition
	lastEvict time.Time
}

// evictEvery spaces evictions: each walks every user in memory, which at a million open users
// costs milliseconds, too much for every batch and needless when the clock barely moved.
const evictEvery = 2 * time.Second

func newSessionizer(cfg session.Config, loader Loader, log *zap.Logger, m *metrics) *sessionizer {
	return &sessionizer{cfg: cfg, loader: loader, log: log, m: m, parts: map[int32]*partition{}}
}

func (s *sessionizer) timeoutMs() int64 { return s.cfg.SessionTimeout.Milliseconds() }

// mutableMs is how far before a user's newest event a session can still change.
func (s *sessionizer) mutableMs() int64 {
	return s.cfg.Lateness.Milliseconds() + s.cfg.SessionTimeout.Milliseconds()
}

// evictHorizonMs matches session.Tracker.Evict: users whose newest event is older than
// clock − 2·timeout − lateness are dropped from memory.
func (s *sessionizer) evictHorizonMs() int64 {
	return 2*s.cfg.SessionTimeout.Milliseconds() + s.cfg.Lateness.Milliseconds()
}

// assign restores the open sessions of newly assigned partitions from the store. It retries
// while the store is down: a partition is not consumed before its state is back.
func (s *sessionizer) assign(ctx context.Context, parts []int32) error {
	for _, p := range parts {
		start := time.Now()
		var st *partition
		err := retry(ctx, s.log, "restoring partition", func() error {
			var err error
			st, err = s.restore(ctx, p)
			return err
		})
		if err != nil {
			return fmt.Errorf("restoring sessions of partition %d: %w", p, err)
		}
		stats := st.tracker.Stats()
		s.log.Info("partition restored", zap.Int32("partition", p), zap.Int("users", stats.Users),
			zap.Int("events", stats.Events), zap.Duration("took", time.Since(start)))
		s.m.restoreSeconds.Observe(time.Since(start).Seconds())
		s.mu.Lock()
		s.parts[p] = st
		s.mu.Unlock()
	}
	return nil
}

func (s *sessionizer) restore(ctx context.Context, p int32) (*partition, error) {
	clock, err := s.loader.PartitionClock(ctx, p)
	if err != nil {
		return nil, err
	}
	st := &partition{tracker: session.NewTracker(s.cfg), clock: clock}
	if clock == 0 {
		return st, nil
	}
	res, err := s.loader.Load(ctx, Restore{Partition: p, ActiveSinceMs: clock - s.evictHorizonMs(), MutableMs: s.mutableMs()})
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
func (s *sessionizer) restoreUsers(ctx context.Context, t *session.Tracker, p int32, res Restored) error {
	byUser := map[session.Key][]session.Event{}
	for _, e := range res.Events {
		k := session.Key{Account: e.Account, User: e.User}
		byUser[k] = append(byUser[k], session.Event{ID: session.HashID(e.ID), TS: e.TsMs, Kind: e.Kind})
	}
	explained := map[string]bool{}
	check := session.NewTracker(s.cfg)
	for k, evs := range byUser {
		t.Restore(k, evs)
		sorted := append([]session.Event(nil), evs...)
		slices.SortFunc(sorted, func(a, b session.Event) int { return cmp.Compare(a.TS, b.TS) })
		for _, e := range sorted {
			check.Add(k, e)
		}
	}
	for _, ss := range check.Flush(0).Upserts {
		explained[ss.ID.String()] = true
	}
	var retract Batch
	ver := uint64(time.Now().UnixMilli())
	for _, ls := range res.Sessions {
		if explained[ls.ID] {
			continue
		}
		retract.Sessions, retract.Days = appendRows(retract.Sessions, retract.Days, session.Changes{Version: int64(ver),
			Retractions: []session.Retraction{{Key: session.Key(ls.UserKey), ID: mustSessionID(ls.ID), Start: ls.StartMs, End: ls.EndMs}}}, p)
	}
	if len(retract.Sessions) == 0 {
		return nil
	}
	s.log.Warn("retracting sessions left by an interrupted batch", zap.Int32("partition", p), zap.Int("sessions", len(retract.Sessions)))
	s.m.danglingRetracted.Add(float64(len(retract.Sessions)))
	return s.loader.Write(ctx, &retract)
}

// mustSessionID parses a stored session id; ids are written by this package, so a bad one
// is a corrupt table, and the zero id makes the retraction harmless.
func mustSessionID(s string) session.SessionID {
	var id session.SessionID
	_ = id.UnmarshalText([]byte(s))
	return id
}

// revoke forgets partitions that moved away; their rows are stored and offsets committed,
// because rebalances only happen between batches.
func (s *sessionizer) revoke(parts []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts {
		delete(s.parts, p)
	}
}

func (s *sessionizer) partition(p int32) *partition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parts[p]
}

// apply sessionizes a batch's events in place (setting Sessionized and Late) and returns the
// rows to write. Events of one partition are applied in offset order.
func (s *sessionizer) apply(ctx context.Context, evs []RawEvent, nowMs int64) ([]SessionRow, []DayRow, error) {
	byPart := map[int32][]int{}
	for i := range evs {
		if evs[i].Kind().Sessionized() {
			byPart[evs[i].Partition] = append(byPart[evs[i].Partition], i)
		}
	}
	var sessions []SessionRow
	var days []DayRow
	for p, idx := range byPart {
		st := s.partition(p)
		if st == nil {
			// Not restored (assignment raced with a revoke): never sessionize without state.
			return nil, nil, fmt.Errorf("partition %d has records but no sessionizer state", p)
		}
		if err := s.loadMissing(ctx, p, st, evs, idx); err != nil {
			return nil, nil, err
		}
		for _, i := range idx {
			e := &evs[i]
			k := session.Key{Account: e.AccountID, User: e.UserID}
			ts := e.Timestamp.UnixMilli()
			out := st.tracker.Add(k, session.Event{ID: session.HashID(e.EventID), TS: ts, Kind: e.Kind()})
			s.m.outcomes.WithLabelValues(out.String()).Inc()
			switch out {
			case session.Accepted:
				e.Sessionized = true
				st.clock = max(st.clock, ts)
			case session.Late:
				e.Late = true
			}
		}
		ch := st.tracker.Flush(nowMs)
		sessions, days = appendRows(sessions, days, ch, p)
	}
	return sessions, days, nil
}

// loadMissing restores the users of a batch that are not in memory and whose event is old
// enough that their stored state could matter. A user absent from memory has its newest
// event before clock − 2·timeout − lateness; an event at or after clock − timeout is then more
// than timeout + lateness after it, and so is every later non-late event: it starts a new
// session and nothing stored can change, so no load is needed. That is the common case of a
// user returning after a break, and of new users.
func (s *sessionizer) loadMissing(ctx context.Context, p int32, st *partition, evs []RawEvent, idx []int) error {
	threshold := st.clock - s.timeoutMs()
	var users []UserKey
	seen := map[UserKey]bool{}
	oldest := int64(0)
	for _, i := range idx {
		e := &evs[i]
		ts := e.Timestamp.UnixMilli()
		k := UserKey{Account: e.AccountID, User: e.UserID}
		if ts >= threshold || seen[k] || st.tracker.Has(session.Key(k)) {
			continue
		}
		seen[k] = true
		users = append(users, k)
		if len(users) == 1 || ts < oldest {
			oldest = ts
		}
	}
	if len(users) == 0 {
		return nil
	}
	start := time.Now()
	err := retry(ctx, s.log, "loading users", func() error {
		res, err := s.loader.Load(ctx, Restore{Partition: p, Users: users, MutableMs: s.mutableMs(), FromMs: oldest - s.mutableMs()})
		if err != nil {
			return err
		}
		return s.restoreUsers(ctx, st.tracker, p, res)
	})
	if err != nil {
		return fmt.Errorf("loading %d users of partition %d: %w", len(users), p, err)
	}
	s.m.loads.Add(float64(len(users)))
	s.m.restoreSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// evict drops state that can no longer change, after a batch is stored.
func (s *sessionizer) evict() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.lastEvict) < evictEvery {
		return
	}
	s.lastEvict = time.Now()
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

// appendRows turns one Flush into table rows.
func appendRows(sessions []SessionRow, days []DayRow, ch session.Changes, p int32) ([]SessionRow, []DayRow) {
	ver := uint64(ch.Version)
	for _, u := range ch.Upserts {
		id := u.ID.String()
		sessions = append(sessions, SessionRow{Account: u.Key.Account, User: u.Key.User, ID: id, StartMs: u.Start, EndMs: u.End,
			ActiveMs: u.ActiveMs, Events: uint32(u.Events), Partition: p, Ver: ver})
		first := session.DayOf(u.Start)
		for _, d := range u.Days {
			days = append(days, DayRow{Account: u.Key.Account, User: u.Key.User, SessionID: id, Day: d.Day, ActiveMs: d.ActiveMs,
				Events: uint32(d.Events), Active: d.Active, Started: d.Day == first, Ver: ver})
		}
	}
	for _, r := range ch.Retractions {
		id := r.ID.String()
		sessions = append(sessions, SessionRow{Account: r.Key.Account, User: r.Key.User, ID: id, StartMs: r.Start, EndMs: r.End,
			Partition: p, Deleted: true, Ver: ver})
		first, last := r.DayRange()
		for d := first; d <= last; d++ {
			days = append(days, DayRow{Account: r.Key.Account, User: r.Key.User, SessionID: id, Day: d, Deleted: true, Ver: ver})
		}
	}
	return sessions, days
}

// retry runs op until it succeeds or ctx ends, backing off up to 5 s between attempts.
func retry(ctx context.Context, log *zap.Logger, what string, op func() error) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 200 * time.Millisecond
	bo.MaxInterval = 5 * time.Second
	bo.MaxElapsedTime = 0
	return backoff.RetryNotify(op, backoff.WithContext(bo, ctx), func(err error, d time.Duration) {
		log.Warn(what+" failed, retrying", zap.Error(err), zap.Duration("in", d))
	})
}
