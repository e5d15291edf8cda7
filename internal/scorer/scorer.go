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
	"github.com/engage-oss/engage/internal/retry"
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

// Source reads the inputs of every account that has any event, as of now.
type Source interface {
	ReadInputs(ctx context.Context, w Windows) ([]AccountInputs, error)
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
}

// History stores account_health rows.
type History interface {
	// LastRows returns each account's row with the highest Rev.
	LastRows(ctx context.Context) ([]Row, error)
	// WriteRows stores rows; writing a row again (same account and Rev) must not duplicate it.
	WriteRows(ctx context.Context, rows []Row) error
}

// Emitter publishes health-change events. Emit returns nil only when every change is durably
// stored (acks from all in-sync replicas); on error any subset may have been stored.
type Emitter interface {
	Emit(ctx context.Context, changes []Change) error
}

// ChangeLog replays the health-change topic: Replay calls fn with every record from the
// start of each partition up to its high watermark as of the call, then returns.
type ChangeLog interface {
	Replay(ctx context.Context, fn func(Record) error) error
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
)

// Config configures a Scorer.
type Config struct {
	// Interval is the time between the starts of two rescorings of every account. Default
	// DefaultInterval (10 s): with the worker's 0.5 s flush, a band change is announced
	// within the contract's 30 s of the event that caused it, with room for a slow query.
	Interval time.Duration
	// ContractionDays is how far back the contraction reason looks (Windows.ContractionDays).
	// Default DefaultContractionDays (30).
	ContractionDays int
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
	return errors.Join(errs...)
}

// Deps are what a Scorer reads from and writes to.
type Deps struct {
	Model     ModelSource
	Source    Source
	History   History
	Emitter   Emitter
	ChangeLog ChangeLog
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
	if d.Emitter == nil {
		missing = append(missing, "Emitter")
	}
	if d.ChangeLog == nil {
		missing = append(missing, "ChangeLog")
	}
	if len(missing) > 0 {
		return fmt.Errorf("scorer deps: %s missing", strings.Join(missing, ", "))
	}
	return nil
}

// Scorer rescores every account periodically, announces band changes and records score
// changes. See the package documentation for its guarantees.
type Scorer struct {
	cfg  Config
	deps Deps
	log  *zap.Logger
	m    *metrics

	mu          sync.Mutex // serialises Restore and Rescore
	accounts    map[string]*account
	order       []string // account ids, sorted when !unsorted
	unsorted    bool
	needRestore bool
	lastRows    int // rows decided by the last rescoring, to size the next one's slices

	restored atomic.Bool
	snap     atomic.Pointer[Snapshot]
}

// New builds a Scorer. It does no I/O: Run (or Restore) reads the topic and the history.
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
		cfg:         cfg.withDefaults(),
		deps:        deps,
		log:         log,
		m:           newMetrics(reg),
		accounts:    map[string]*account{},
		needRestore: true,
	}
	s.snap.Store(NewSnapshot(time.Time{}, nil))
	return s, nil
}

// Snapshot returns the accounts' health as of the last rescoring (or restore).
func (s *Scorer) Snapshot() *Snapshot { return s.snap.Load() }

// ErrNotRestored is returned by Ready before the scorer has read the health-change topic
// and the last account_health rows.
var ErrNotRestored = errors.New("scorer: state not restored yet (reading engagement.health.changes)")

// Ready reports whether the start-up restore has finished.
func (s *Scorer) Ready(context.Context) error {
	if !s.restored.Load() {
		return ErrNotRestored
	}
	return nil
}

// Run restores the state (retrying with backoff until it succeeds) and then rescores every
// Config.Interval until ctx ends. A failed rescoring is logged and counted, and the next one
// tries again; a failed emission makes the next one restore from the topic first.
func (s *Scorer) Run(ctx context.Context) error {
	err := retry.Policy{Initial: retry.Default.Initial, Max: 10 * time.Second}.Do(ctx, s.log, "restoring scorer state",
		func() error { return s.Restore(ctx) })
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.Rescore(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("rescoring failed; retrying at the next interval", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Restore rebuilds the scorer's state: each account's last announcement from every record of
// the health-change topic, and its last account_health row. Rescore calls it when needed.
func (s *Scorer) Restore(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restore(ctx)
}

func (s *Scorer) restore(ctx context.Context) error {
	start := time.Now()
	r := newRestorer(s.deps.Model.Model())
	var firstBad error
	err := s.deps.ChangeLog.Replay(ctx, func(rec Record) error {
		if err := r.addRecord(rec); err != nil {
			s.m.errors.WithLabelValues(stageDecode).Inc()
			if firstBad == nil {
				firstBad = err
			}
		}
		return nil
	})
	if err != nil {
		s.m.errors.WithLabelValues(stageRestore).Inc()
		return fmt.Errorf("restoring from the health-change topic: %w", err)
	}
	rows, err := s.deps.History.LastRows(ctx)
	if err != nil {
		s.m.errors.WithLabelValues(stageRestore).Inc()
		return fmt.Errorf("restoring the last account_health rows: %w", err)
	}
	for _, row := range rows {
		r.addRow(row)
	}
	if firstBad != nil {
		// Skipped, not fatal: a foreign or corrupt record must not stop scoring forever.
		s.log.Warn("skipped unreadable records on the health-change topic", zap.Int("records", r.skipped), zap.Error(firstBad))
	}
	s.accounts = r.accounts()
	s.order = s.order[:0]
	for id := range s.accounts {
		s.order = append(s.order, id)
	}
	slices.Sort(s.order)
	s.unsorted = false
	s.needRestore = false
	s.publish(time.Time{})
	s.restored.Store(true)
	s.log.Info("scorer state restored", zap.Int("announced_accounts", len(r.anns)),
		zap.Int("history_accounts", len(rows)), zap.Duration("took", time.Since(start)))
	return nil
}

// Stats describe one rescoring.
type Stats struct {
	Accounts int // accounts scored
	Changes  int // health-change events emitted
	Rows     int // account_health rows written
	// Query is the time spent reading inputs, Compute scoring and deciding, Emit producing
	// events, Write writing rows.
	Query, Compute, Emit, Write time.Duration
}

// pendingRow is a row decided in a rescoring, applied once written.
type pendingRow struct {
	acc     *account
	changed bool // the row's account has a change in this rescoring
}

// Rescore scores every account once: it reads all inputs, computes each score and band,
// emits a health-change event for each band change (and waits for the broker), then writes
// an account_health row for each account whose score or band changed.
//
// The order is what makes announcements exactly-once: the state of an account changes only
// after its event is acknowledged, and an Emit error makes the next Rescore restore the state
// from the topic before it decides anything, because a failed produce may still have been
// written. Rows of accounts whose event was not acknowledged are not written, so every row's
// band has been announced.
func (s *Scorer) Rescore(ctx context.Context) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st Stats
	if s.needRestore {
		if err := s.restore(ctx); err != nil {
			return st, err
		}
	}
	m := s.deps.Model.Model()
	// Whole seconds: account_health.scored_at is a DateTime, and the event must carry the
	// same time as the row.
	now := s.cfg.Now().UTC().Truncate(time.Second)
	start := time.Now()

	ins, err := s.deps.Source.ReadInputs(ctx, Windows{
		NPSDays:         m.Components.NPS.WindowDays,
		TicketsDays:     m.Components.Tickets.WindowDays,
		ContractionDays: s.cfg.ContractionDays,
	})
	st.Query = time.Since(start)
	if err != nil {
		s.m.errors.WithLabelValues(stageQuery).Inc()
		return st, fmt.Errorf("reading inputs: %w", err)
	}

	t := time.Now()
	// Capacity: what the last rescoring needed, or every account when the scorer knows none
	// yet (the first rescoring of a new deployment): regrowing 100 000 rows costs more than
	// scoring them.
	hint := s.lastRows
	if len(s.accounts) == 0 {
		hint = len(ins)
	}
	var (
		changes  = make([]Change, 0, hint)
		pendingC = make([]*account, 0, hint) // the account of each change
		rows     = make([]Row, 0, hint)
		pendingR = make([]pendingRow, 0, hint)
	)
	for i := range ins {
		ai := &ins[i]
		a := s.accounts[ai.AccountID]
		if a == nil {
			a = &account{id: ai.AccountID}
			s.accounts[ai.AccountID] = a
			s.order = append(s.order, ai.AccountID)
			s.unsorted = true
		}
		r := health.Score(m, ai.Inputs)
		if r.Coverage == 0 {
			continue // nothing to score: no band, no row
		}
		st.Accounts++
		band, changed := health.Transition(a.ann.band, a.ann.since, r.Score, now, m)
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
			changes = append(changes, c)
			pendingC = append(pendingC, a)
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

	var emitErr error
	if len(changes) > 0 {
		t = time.Now()
		emitErr = s.deps.Emitter.Emit(ctx, changes)
		st.Emit = time.Since(t)
		if emitErr != nil {
			s.m.errors.WithLabelValues(stageEmit).Inc()
			s.needRestore = true
			emitErr = fmt.Errorf("emitting %d health changes: %w", len(changes), emitErr)
			// Keep only the rows of accounts without a change: the others' bands may not
			// have been announced.
			kept, keptP := rows[:0], pendingR[:0]
			for i, p := range pendingR {
				if !p.changed {
					kept, keptP = append(kept, rows[i]), append(keptP, p)
				}
			}
			rows, pendingR = kept, keptP
		} else {
			for i, a := range pendingC {
				a.ann = changes[i].announcement(m)
				a.view = newView(a)
				s.m.changes.WithLabelValues(a.ann.band.String()).Inc()
			}
			st.Changes = len(changes)
		}
	}

	var writeErr error
	if len(rows) > 0 {
		t = time.Now()
		writeErr = s.deps.History.WriteRows(ctx, rows)
		st.Write = time.Since(t)
		if writeErr != nil {
			s.m.errors.WithLabelValues(stageWrite).Inc()
			writeErr = fmt.Errorf("writing %d account_health rows: %w", len(rows), writeErr)
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

	s.publish(now)
	s.m.observe(st, time.Since(start), now)
	if st.Changes > 0 {
		s.log.Info("health bands changed", zap.Int("changes", st.Changes), zap.Int("accounts", st.Accounts))
	}
	s.log.Debug("rescored", zap.Int("accounts", st.Accounts), zap.Int("changes", st.Changes), zap.Int("rows", st.Rows),
		zap.Duration("query", st.Query), zap.Duration("compute", st.Compute), zap.Duration("emit", st.Emit), zap.Duration("write", st.Write))
	return st, errors.Join(emitErr, writeErr)
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
