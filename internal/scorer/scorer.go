package scorer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/topics"
)

// AccountInputs is one account and what it is scored on.
type AccountInputs struct {
	AccountID string
	Inputs    health.Inputs
}

// Windows are the look-back windows of a Source's queries, in days ending today (UTC).
type Windows struct {
	// NPSDays and TicketsDays come from the model (nps.window_days, tickets.window_days).
	NPSDays     int
	TicketsDays int
	// ContractionDays is how far back Inputs.Previous looks: the account's seats, plan and
	// MRR as they were at 00:00 UTC this many days before today (Config.ContractionDays).
	ContractionDays int
}

// Scope selects the accounts a Source or History reads: those whose partition
// (topics.AccountPartition with NumPartitions) is in Partitions, and of those only Accounts
// when Accounts is not nil.
type Scope struct {
	NumPartitions int32
	Partitions    []int32 // sorted
	Accounts      []string
}

// Whole reports whether the scope is every account.
func (sc Scope) Whole() bool {
	return sc.Accounts == nil && int32(len(sc.Partitions)) >= sc.NumPartitions
}

// Has reports whether an account is in the scope's partitions (Accounts aside).
func (sc Scope) Has(accountID string) bool {
	_, ok := slices.BinarySearch(sc.Partitions, topics.AccountPartition(accountID, sc.NumPartitions))
	return ok
}

// Source reads the inputs of the accounts of a scope that have any event, as of now.
type Source interface {
	ReadInputs(ctx context.Context, w Windows, sc Scope) ([]AccountInputs, error)
}

// Row is one account_health row: an account's score after it changed.
type Row struct {
	AccountID string
	// Rev numbers the account's rows 1, 2, 3, …; writing a Rev again replaces that row.
	Rev      uint64
	ScoredAt time.Time
	// Band is the band after hysteresis, the one announced on the topic.
	Band health.Band
	// Result holds score, components, coverage and model version. Its Band (before
	// hysteresis) is not stored.
	Result  health.Result
	Reasons []string
	Inputs  health.Inputs
	// ChangeSeq is the Change.Seq of the event that announced Band.
	ChangeSeq uint64
	// Fence is the epoch of the writer's ownership of the account's partition
	// (PartitionLog.Epoch). Of two copies of one (account, Rev), the one of the later owner
	// wins, so a paused instance that writes late cannot replace its successor's row.
	Fence int16
}

// History stores account_health rows.
type History interface {
	// LastRows returns each account's row with the highest Rev, for the accounts of sc.
	LastRows(ctx context.Context, sc Scope) ([]Row, error)
	// WriteRows stores rows; writing a row again (same account and Rev) must not duplicate it.
	WriteRows(ctx context.Context, rows []Row) error
}

// ErrFenced is wrapped by PartitionLog.Emit when another instance has taken the partition
// over since it was opened: nothing of that Emit was or will be published.
var ErrFenced = errors.New("fenced: another scorer instance took the partition over")

// ChangeTopic is engagement.health.changes, one partition at a time.
type ChangeTopic interface {
	// Open takes a partition over: from then on no earlier owner can publish on it (its
	// open transaction, if any, is aborted), and the returned log publishes and replays it.
	Open(ctx context.Context, partition int32) (PartitionLog, error)
}

// PartitionLog is one partition of the health-change topic, owned by this instance.
type PartitionLog interface {
	// Emit publishes changes atomically: nil only when all are durably stored and visible
	// to read_committed consumers; otherwise none will ever be visible, and the log is
	// unusable (open the partition again). ErrFenced when a newer owner took over.
	Emit(ctx context.Context, changes []Change) error
	// Replay calls fn with every committed record of the partition up to its end as of the
	// call.
	Replay(ctx context.Context, fn func(Record) error) error
	// Epoch grows with every Open of the partition, by any instance.
	Epoch() int16
	Close()
}

// Group is the scorer's consumer group: it tells which accounts changed, and whether this
// instance still owns a partition. Partitions are given and taken with Scorer.Assign and
// Scorer.Revoke.
type Group interface {
	// Take returns the accounts notified on a partition since the last Take and the offset
	// to commit once they are rescored (-1 when there were none).
	Take(partition int32) (accounts []string, next int64)
	// Commit commits offsets (partition → next offset) of notifications acted upon.
	Commit(ctx context.Context, offsets map[int32]int64) error
	// Owns returns nil when the group's current assignment gives the partition to this
	// instance. A scorer asks before it opens a partition again after an error, so that an
	// instance that was paused past its session (a zombie) cannot take a partition back
	// from its successor.
	Owns(ctx context.Context, partition int32) error
}

// ModelSource provides the current health model; a reloadable file (ModelFile) or a fixed
// model (StaticModel).
type ModelSource interface {
	Model() *health.Model
}

// StaticModel is a ModelSource that never changes.
type StaticModel struct{ M *health.Model }

// Model returns the model.
func (s StaticModel) Model() *health.Model { return s.M }

// Defaults of Config.
const (
	DefaultInterval        = 10 * time.Second
	DefaultContractionDays = 30
	// DefaultFullAbove is the share of a partition's accounts beyond which an incremental
	// rescoring reads the whole partition instead of a list of accounts. Measured at a
	// million accounts (BenchmarkRescore1M): a list of 8 % of them costs half of reading
	// everything, because the granules that hold a listed account hold many others.
	DefaultFullAbove = 0.15
)

// Config configures a Scorer.
type Config struct {
	// Interval is the time between the starts of two rescorings. Default DefaultInterval
	// (10 s): with the worker's 0.5 s flush, a band change is announced within the
	// contract's 30 s of the event that caused it, with room for a slow query.
	Interval time.Duration
	// ContractionDays is how far back the contraction reason looks (Windows.ContractionDays).
	// Default DefaultContractionDays (30).
	ContractionDays int
	// Partitions is the partition count of engagement.health.changes (and of
	// engagement.accounts.changed). Default 1.
	Partitions int32
	// FullAbove: see DefaultFullAbove.
	FullAbove float64
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.ContractionDays == 0 {
		c.ContractionDays = DefaultContractionDays
	}
	if c.Partitions == 0 {
		c.Partitions = 1
	}
	if c.FullAbove == 0 {
		c.FullAbove = DefaultFullAbove
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate names every bad field, after defaults (zero fields take their defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("Interval %s: must be at least 100ms", c.Interval))
	}
	if c.ContractionDays < 1 {
		errs = append(errs, fmt.Errorf("ContractionDays %d: must be positive", c.ContractionDays))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("Partitions %d: must be positive", c.Partitions))
	}
	if c.FullAbove <= 0 || c.FullAbove > 1 {
		errs = append(errs, fmt.Errorf("FullAbove %v: must be in (0, 1]", c.FullAbove))
	}
	return errors.Join(errs...)
}

// Deps are what a Scorer reads from and writes to.
type Deps struct {
	Model   ModelSource
	Source  Source
	History History
	Topic   ChangeTopic
	Group   Group
	// Latest answers the read API for accounts of other instances; optional (without it,
	// an instance shows only its own accounts).
	Latest Latest
}

func (d Deps) validate() error {
	var missing []string
	if d.Model == nil {
		missing = append(missing, "Model")
	}
	if d.Source == nil {
		missing = append(missing, "Source")
	}
	if d.History == nil {
		missing = append(missing, "History")
	}
	if d.Topic == nil {
		missing = append(missing, "Topic")
	}
	if d.Group == nil {
		missing = append(missing, "Group")
	}
	if len(missing) > 0 {
		return fmt.Errorf("scorer deps: %s missing", strings.Join(missing, ", "))
	}
	return nil
}

// partition is an owned partition's state.
type partition struct {
	id  int32
	log PartitionLog // nil until opened, and after an error
	// confirm: the partition was dropped after an error, and is opened again only once
	// Group.Owns confirms that this instance still owns it.
	confirm bool
	// full: the next rescoring reads every account of the partition, not only those that
	// changed (after a takeover, at midnight, after a model change).
	full bool
	// retry holds accounts whose last scoring did not complete (query or write failure).
	retry map[string]struct{}
	// due holds accounts held in their band only by the model's min_dwell, and when the
	// dwell ends: they are rescored then without any new input.
	due map[string]time.Time
	// next is the notification offset to commit after the next successful rescoring.
	next int64
	// accounts is the number of the partition's accounts the scorer knows.
	accounts int
}

// Scorer scores the accounts of the partitions it owns, announces band changes and records
// score changes. See the package documentation for its guarantees.
type Scorer struct {
	cfg  Config
	deps Deps
	log  *zap.Logger
	m    *metrics

	mu       sync.Mutex // serialises rescorings and changes of ownership
	parts    map[int32]*partition
	accounts map[string]*account
	order    []string // account ids, sorted when !unsorted
	unsorted bool
	lastRows int // rows decided by the last rescoring, to size the next one's slices
	// model and day of the last full pass: a new model version, or a new UTC day (windows
	// slide), makes every partition's next rescoring full.
	model string
	day   time.Time

	restored atomic.Bool
	owned    atomic.Pointer[[]int32]
	snap     atomic.Pointer[Snapshot]
}

// New builds a Scorer. It owns no partition until Assign.
func New(cfg Config, deps Deps, log *zap.Logger, reg prometheus.Registerer) (*Scorer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Scorer{
		cfg:      cfg.withDefaults(),
		deps:     deps,
		log:      log,
		m:        newMetrics(reg),
		parts:    map[int32]*partition{},
		accounts: map[string]*account{},
	}
	s.snap.Store(NewSnapshot(time.Time{}, nil))
	s.owned.Store(&[]int32{})
	return s, nil
}

// Snapshot returns the health of the accounts of the owned partitions as of the last
// rescoring (or takeover).
func (s *Scorer) Snapshot() *Snapshot { return s.snap.Load() }

// Owned returns the partitions this instance owns and has restored, sorted.
func (s *Scorer) Owned() []int32 { return *s.owned.Load() }

// Partitions is the partition count of the health-change topic.
func (s *Scorer) Partitions() int32 { return s.cfg.Partitions }

// Owns reports whether the account's partition is owned and restored here.
func (s *Scorer) Owns(accountID string) bool {
	return Scope{NumPartitions: s.cfg.Partitions, Partitions: s.Owned()}.Has(accountID)
}

// ErrNotRestored is returned by Ready before the scorer has restored its first partitions.
var ErrNotRestored = errors.New("scorer: state not restored yet (reading engagement.health.changes)")

// Ready reports whether the scorer has restored the partitions it was first given (or was
// given none by a group with more members than partitions).
func (s *Scorer) Ready(context.Context) error {
	if !s.restored.Load() {
		return ErrNotRestored
	}
	return nil
}

// Assign gives partitions to this instance. They are opened (which fences their previous
// owner), restored and fully rescored by the next rescoring, which Assign does not wait for.
func (s *Scorer) Assign(parts []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts {
		if _, ok := s.parts[p]; !ok {
			s.parts[p] = &partition{id: p, next: -1}
		}
	}
	if len(s.parts) == 0 {
		s.restored.Store(true) // a member without partitions is ready to serve the read API
	}
	s.log.Info("partitions assigned", zap.Int32s("partitions", parts))
}

// Revoke takes partitions from this instance. It waits for a rescoring in progress, so that
// once it returns nothing more is published on them from here.
func (s *Scorer) Revoke(parts []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts {
		s.drop(p)
		delete(s.parts, p)
	}
	s.publishOwned()
	s.publish(s.Snapshot().At)
	s.log.Info("partitions revoked", zap.Int32s("partitions", parts))
}

// drop forgets a partition's accounts and closes its log; the partition stays assigned.
func (s *Scorer) drop(p int32) {
	part := s.parts[p]
	if part == nil {
		return
	}
	if part.log != nil {
		part.log.Close()
		part.log = nil
	}
	if part.accounts > 0 {
		for id, a := range s.accounts {
			if a.part == p {
				delete(s.accounts, id)
			}
		}
		s.order = slices.DeleteFunc(s.order, func(id string) bool { return s.accounts[id] == nil })
	}
	part.retry, part.due, part.full, part.accounts = nil, nil, false, 0
}

// Run rescores every Config.Interval until ctx ends. A failed rescoring is logged and
// counted, and the next one tries again.
func (s *Scorer) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.Rescore(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("rescoring failed; retrying at the next interval", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for _, p := range s.parts {
				if p.log != nil {
					p.log.Close()
					p.log = nil
				}
			}
			s.mu.Unlock()
			return nil
		case <-t.C:
		}
	}
}

// takeOver opens a partition and restores its accounts: their last announcement from the
// partition's records of the health-change topic and their last account_health row.
func (s *Scorer) takeOver(ctx context.Context, part *partition) error {
	start := time.Now()
	if part.confirm {
		if err := s.deps.Group.Owns(ctx, part.id); err != nil {
			return fmt.Errorf("confirming ownership of partition %d before opening it again: %w", part.id, err)
		}
	}
	log, err := s.deps.Topic.Open(ctx, part.id)
	if err != nil {
		return fmt.Errorf("opening partition %d of the health-change topic: %w", part.id, err)
	}
	r := newRestorer(s.deps.Model.Model())
	var firstBad error
	err = log.Replay(ctx, func(rec Record) error {
		if err := r.addRecord(rec); err != nil {
			s.m.errors.WithLabelValues(stageDecode).Inc()
			if firstBad == nil {
				firstBad = err
			}
		}
		return nil
	})
	if err != nil {
		log.Close()
		return fmt.Errorf("restoring partition %d from the health-change topic: %w", part.id, err)
	}
	rows, err := s.deps.History.LastRows(ctx, Scope{NumPartitions: s.cfg.Partitions, Partitions: []int32{part.id}})
	if err != nil {
		log.Close()
		return fmt.Errorf("restoring the last account_health rows of partition %d: %w", part.id, err)
	}
	for _, row := range rows {
		r.addRow(row)
	}
	if firstBad != nil {
		// Skipped, not fatal: a foreign or corrupt record must not stop scoring forever.
		s.log.Warn("skipped unreadable records on the health-change topic", zap.Int32("partition", part.id),
			zap.Int("records", r.skipped), zap.Error(firstBad))
	}
	for id, a := range r.accounts() {
		if p := topics.AccountPartition(id, s.cfg.Partitions); p != part.id {
			// A record of the partition's past partitioning, or a row of another
			// partition: its own partition's owner restores it.
			continue
		}
		a.part = part.id
		s.accounts[id] = a
		s.order = append(s.order, id)
		s.unsorted = true
		part.accounts++
	}
	part.log, part.confirm, part.full = log, false, true
	s.log.Info("partition taken over", zap.Int32("partition", part.id), zap.Int16("epoch", log.Epoch()),
		zap.Int("announced_accounts", len(r.anns)), zap.Int("history_accounts", len(rows)), zap.Duration("took", time.Since(start)))
	return nil
}

// Stats describe one rescoring.
type Stats struct {
	Accounts int // accounts scored
	Changes  int // health-change events emitted
	Rows     int // account_health rows written
	// Full is the number of partitions read whole, Partial the number read by account list.
	Full, Partial int
	// Query is the time spent reading inputs, Compute scoring and deciding, Emit producing
	// events, Write writing rows.
	Query, Compute, Emit, Write time.Duration
}

// pendingRow is a row decided in a rescoring, applied once written.
type pendingRow struct {
	acc     *account
	changed bool // the row's account has a change in this rescoring
}

// plan is what one rescoring reads.
type plan struct {
	full    []int32
	partial []int32
	ids     []string
	offsets map[int32]int64 // notification offsets to commit when the partitions succeed
}

// Rescore takes over newly assigned partitions, then scores the accounts of the owned
// partitions that need it: every account of a partition taken over, or of every partition
// on a new day or model; otherwise the accounts notified as changed, the ones whose dwell
// ended and the ones whose last scoring failed. It emits a health-change event for each band
// change (one transaction per partition, and waits for the broker), then writes an
// account_health row for each account whose score or band changed.
//
// The order is what makes announcements exactly-once: the state of an account changes only
// after its event is committed, and a failed Emit drops the partition's state, to be taken
// over again from the topic, because its outcome is unknown to this instance. Rows of a
// partition whose Emit failed are not written, so every row's band has been announced.
func (s *Scorer) Rescore(ctx context.Context) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st Stats
	var errs []error
	m := s.deps.Model.Model()
	// Whole seconds: account_health.scored_at is a DateTime, and the event must carry the
	// same time as the row.
	now := s.cfg.Now().UTC().Truncate(time.Second)
	start := time.Now()

	ids := make([]int32, 0, len(s.parts))
	for id := range s.parts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		part := s.parts[id]
		if part.log != nil {
			continue
		}
		if err := s.takeOver(ctx, part); err != nil {
			s.m.errors.WithLabelValues(stageRestore).Inc()
			errs = append(errs, err)
		}
	}
	s.publishOwned()
	if !s.restored.Load() && len(ids) > 0 && len(s.Owned()) == len(ids) {
		s.restored.Store(true)
	}
	if day := now.Truncate(24 * time.Hour); m.Version != s.model || !day.Equal(s.day) {
		if s.model != "" {
			s.log.Info("rescoring every account", zap.String("model", m.Version), zap.Time("day", day),
				zap.Bool("new_model", m.Version != s.model))
		}
		for _, p := range s.parts {
			p.full = true
		}
		s.model, s.day = m.Version, day
	}
	pl := s.plan(now)
	if len(pl.full) == 0 && len(pl.ids) == 0 {
		s.commit(ctx, pl.offsets, nil)
		s.publish(now)
		return st, errors.Join(errs...)
	}
	st.Full, st.Partial = len(pl.full), len(pl.partial)

	ins, err := s.read(ctx, m, pl)
	st.Query = time.Since(start)
	if err != nil {
		s.m.errors.WithLabelValues(stageQuery).Inc()
		s.putBack(pl)
		return st, errors.Join(append(errs, fmt.Errorf("reading inputs: %w", err))...)
	}

	t := time.Now()
	hint := s.lastRows
	if len(s.accounts) == 0 {
		hint = len(ins)
	}
	var (
		changes  = map[int32][]Change{}
		pendingC = map[int32][]*account{}
		rows     = make([]Row, 0, hint)
		pendingR = make([]pendingRow, 0, hint)
	)
	for i := range ins {
		ai := &ins[i]
		a := s.accounts[ai.AccountID]
		if a == nil {
			a = &account{id: ai.AccountID, part: topics.AccountPartition(ai.AccountID, s.cfg.Partitions)}
			if s.parts[a.part] == nil || s.parts[a.part].log == nil {
				continue // a Source that ignored the scope
			}
			s.accounts[ai.AccountID] = a
			s.order = append(s.order, ai.AccountID)
			s.unsorted = true
			s.parts[a.part].accounts++
		}
		part := s.parts[a.part]
		delete(part.retry, a.id)
		r := health.Score(m, ai.Inputs)
		if r.Coverage == 0 {
			delete(part.due, a.id)
			continue // nothing to score: no band, no row
		}
		st.Accounts++
		band, changed := health.Transition(a.ann.band, a.ann.since, r.Score, now, m)
		s.schedule(part, a, r.Score, changed, m)
		var reasons []string
		if changed {
			reasons = health.Reasons(m, a.ann.entry, r, a.ann.entryIn, ai.Inputs)
			c := Change{
				AccountID:    a.id,
				Seq:          a.ann.seq + 1,
				PreviousBand: a.ann.band,
				Band:         band,
				Score:        r.Score,
				ScoredAt:     now,
				Components:   r.Components,
				Reasons:      reasons,
				ModelVersion: r.ModelVersion,
				Coverage:     r.Coverage,
				Inputs:       ai.Inputs,
			}
			if a.ann.seq > 0 {
				prev := a.ann.entry.Score
				c.PreviousScore = &prev
			}
			changes[a.part] = append(changes[a.part], c)
			pendingC[a.part] = append(pendingC[a.part], a)
		}
		if a.row != nil && a.row.Band == band && a.row.Result.Score == r.Score {
			continue
		}
		if !changed {
			switch {
			case a.row != nil:
				reasons = health.Reasons(m, a.row.Result, r, a.row.Inputs, ai.Inputs)
			default:
				reasons = health.Reasons(m, a.ann.entry, r, a.ann.entryIn, ai.Inputs)
			}
		}
		row := Row{
			AccountID: a.id,
			Rev:       1,
			ScoredAt:  now,
			Band:      band,
			Result:    r,
			Reasons:   reasons,
			Inputs:    ai.Inputs,
			ChangeSeq: a.ann.seq,
			Fence:     part.log.Epoch(),
		}
		if changed {
			row.ChangeSeq++
		}
		if a.row != nil {
			row.Rev = a.row.Rev + 1
		}
		rows = append(rows, row)
		pendingR = append(pendingR, pendingRow{acc: a, changed: changed})
	}
	st.Compute = time.Since(t)
	s.lastRows = len(rows)

	t = time.Now()
	failed := s.emit(ctx, changes)
	st.Emit = time.Since(t)
	for p, err := range failed {
		s.m.errors.WithLabelValues(stageEmit).Inc()
		errs = append(errs, fmt.Errorf("emitting %d health changes of partition %d: %w", len(changes[p]), p, err))
		if errors.Is(err, ErrFenced) {
			s.log.Warn("fenced: another instance took the partition over; dropping it until the group confirms it is still ours",
				zap.Int32("partition", p), zap.Error(err))
		}
		s.drop(p)
		s.parts[p].confirm = true
	}
	for p, accs := range pendingC {
		if failed[p] != nil {
			continue
		}
		for i, a := range accs {
			a.ann = changes[p][i].announcement(m)
			a.view = newView(a)
			s.m.changes.WithLabelValues(a.ann.band.String()).Inc()
		}
		st.Changes += len(accs)
	}
	if len(failed) > 0 {
		// Rows of a failed partition may carry a band that was not announced.
		kept, keptP := rows[:0], pendingR[:0]
		for i, p := range pendingR {
			if failed[p.acc.part] == nil {
				kept, keptP = append(kept, rows[i]), append(keptP, p)
			}
		}
		rows, pendingR = kept, keptP
	}

	if len(rows) > 0 {
		t = time.Now()
		err := s.deps.History.WriteRows(ctx, rows)
		st.Write = time.Since(t)
		if err != nil {
			s.m.errors.WithLabelValues(stageWrite).Inc()
			errs = append(errs, fmt.Errorf("writing %d account_health rows: %w", len(rows), err))
			for _, p := range pendingR {
				part := s.parts[p.acc.part]
				if part.retry == nil {
					part.retry = map[string]struct{}{}
				}
				part.retry[p.acc.id] = struct{}{}
			}
		} else {
			for i, p := range pendingR {
				row := rows[i] // a copy: a pointer into rows would keep the whole slice alive
				p.acc.row = &row
				p.acc.view = newView(p.acc)
			}
			st.Rows = len(rows)
			s.m.rows.Add(float64(len(rows)))
		}
	}
	for _, p := range pl.full {
		if failed[p] == nil && s.parts[p] != nil {
			s.parts[p].full = false
		}
	}
	s.commit(ctx, pl.offsets, failed)

	s.publishOwned()
	s.publish(now)
	s.m.observe(st, time.Since(start), now)
	if st.Changes > 0 {
		s.log.Info("health bands changed", zap.Int("changes", st.Changes), zap.Int("accounts", st.Accounts))
	}
	s.log.Debug("rescored", zap.Int("accounts", st.Accounts), zap.Int("changes", st.Changes), zap.Int("rows", st.Rows),
		zap.Int("full_partitions", st.Full), zap.Int("partial_partitions", st.Partial),
		zap.Duration("query", st.Query), zap.Duration("compute", st.Compute), zap.Duration("emit", st.Emit), zap.Duration("write", st.Write))
	return st, errors.Join(errs...)
}

// schedule keeps track of an account held in its band by min_dwell alone: it is due for a
// rescoring when the dwell ends, even if nothing about it changes.
func (s *Scorer) schedule(part *partition, a *account, score float64, changed bool, m *health.Model) {
	dwell := time.Duration(m.Hysteresis.MinDwell)
	if changed || dwell <= 0 || a.ann.seq == 0 {
		delete(part.due, a.id)
		return
	}
	at := a.ann.since.Add(dwell)
	if _, would := health.Transition(a.ann.band, a.ann.since, score, at, m); !would {
		delete(part.due, a.id)
		return
	}
	if part.due == nil {
		part.due = map[string]time.Time{}
	}
	part.due[a.id] = at
}

// plan decides what the rescoring reads, taking the partitions' notifications.
func (s *Scorer) plan(now time.Time) plan {
	pl := plan{offsets: map[int32]int64{}}
	for _, p := range s.Owned() {
		part := s.parts[p]
		notified, next := s.deps.Group.Take(p)
		if next >= 0 {
			part.next = next
		}
		if part.next >= 0 {
			pl.offsets[p] = part.next
		}
		if part.full {
			pl.full = append(pl.full, p)
			continue
		}
		ids := map[string]struct{}{}
		for _, id := range notified {
			ids[id] = struct{}{}
		}
		for id := range part.retry {
			ids[id] = struct{}{}
		}
		for id, at := range part.due {
			if !at.After(now) {
				ids[id] = struct{}{}
			}
		}
		if len(ids) == 0 {
			continue
		}
		if float64(len(ids)) > s.cfg.FullAbove*float64(part.accounts) && len(ids) > 100 {
			part.full = true
			pl.full = append(pl.full, p)
			continue
		}
		pl.partial = append(pl.partial, p)
		for id := range ids {
			pl.ids = append(pl.ids, id)
		}
	}
	slices.Sort(pl.ids)
	return pl
}

// putBack keeps the accounts of a plan that could not be read for the next rescoring.
func (s *Scorer) putBack(pl plan) {
	for _, id := range pl.ids {
		p := topics.AccountPartition(id, s.cfg.Partitions)
		if part := s.parts[p]; part != nil {
			if part.retry == nil {
				part.retry = map[string]struct{}{}
			}
			part.retry[id] = struct{}{}
		}
	}
}

// read runs the plan's queries: one for the partitions read whole, one for the accounts.
func (s *Scorer) read(ctx context.Context, m *health.Model, pl plan) ([]AccountInputs, error) {
	w := Windows{
		NPSDays:         m.Components.NPS.WindowDays,
		TicketsDays:     m.Components.Tickets.WindowDays,
		ContractionDays: s.cfg.ContractionDays,
	}
	var out []AccountInputs
	if len(pl.full) > 0 {
		ins, err := s.deps.Source.ReadInputs(ctx, w, Scope{NumPartitions: s.cfg.Partitions, Partitions: pl.full})
		if err != nil {
			return nil, err
		}
		out = ins
	}
	if len(pl.ids) > 0 {
		ins, err := s.deps.Source.ReadInputs(ctx, w, Scope{NumPartitions: s.cfg.Partitions, Partitions: pl.partial, Accounts: pl.ids})
		if err != nil {
			return nil, err
		}
		out = append(out, ins...)
	}
	return out, nil
}

// emit publishes each partition's changes in its own transaction, concurrently, and returns
// the partitions that failed.
func (s *Scorer) emit(ctx context.Context, changes map[int32][]Change) map[int32]error {
	var (
		mu     sync.Mutex
		failed = map[int32]error{}
		wg     sync.WaitGroup
	)
	for p, cs := range changes {
		log := s.parts[p].log
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := log.Emit(ctx, cs); err != nil {
				mu.Lock()
				failed[p] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// commit commits the notification offsets of the partitions that succeeded. A failed
// commit only means that the next owner rescores a few accounts again.
func (s *Scorer) commit(ctx context.Context, offsets map[int32]int64, failed map[int32]error) {
	for p := range failed {
		delete(offsets, p)
	}
	for p, o := range offsets {
		if part := s.parts[p]; part == nil || part.log == nil || len(part.retry) > 0 || o < 0 {
			delete(offsets, p)
		}
	}
	if len(offsets) == 0 {
		return
	}
	if err := s.deps.Group.Commit(ctx, offsets); err != nil && ctx.Err() == nil {
		s.log.Warn("committing notification offsets failed", zap.Error(err))
	}
}

// publishOwned records the partitions whose state is restored.
func (s *Scorer) publishOwned() {
	owned := make([]int32, 0, len(s.parts))
	for id, p := range s.parts {
		if p.log != nil {
			owned = append(owned, id)
		}
	}
	slices.Sort(owned)
	s.owned.Store(&owned)
}

// publish makes a new Snapshot of the accounts' views.
func (s *Scorer) publish(at time.Time) {
	if s.unsorted {
		slices.SortFunc(s.order, cmp.Compare[string])
		s.unsorted = false
	}
	views := make([]*AccountHealth, 0, len(s.order))
	for _, id := range s.order {
		if v := s.accounts[id].view; v != nil {
			views = append(views, v)
		}
	}
	s.snap.Store(&Snapshot{At: at, accounts: views})
}
