package scorer

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/health"
)

// errInjected is the failure the fakes inject.
var errInjected = errors.New("injected failure")

// memTopic is an in-memory engagement.health.changes: the scorer's Emitter and ChangeLog.
type memTopic struct {
	mu      sync.Mutex
	records []Record
	// failBefore fails the next n Emits without storing anything (a crash before
	// producing); failAfter stores the records and then fails the next n Emits (a crash, or
	// a lost acknowledgement, after producing).
	failBefore, failAfter int
	replays               int
}

func (t *memTopic) Emit(_ context.Context, changes []Change) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failBefore > 0 {
		t.failBefore--
		return errInjected
	}
	for _, c := range changes {
		r, err := c.ToRecord()
		if err != nil {
			return err
		}
		r.Offset = int64(len(t.records))
		t.records = append(t.records, r)
	}
	if t.failAfter > 0 {
		t.failAfter--
		return errInjected
	}
	return nil
}

func (t *memTopic) Replay(_ context.Context, fn func(Record) error) error {
	t.mu.Lock()
	recs := slices.Clone(t.records)
	t.replays++
	t.mu.Unlock()
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// changes decodes every record, failing t on an undecodable one.
func (t *memTopic) changes(tb testing.TB) []Change {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Change
	for _, r := range t.records {
		c, err := ParseRecord(r)
		if err != nil {
			tb.Fatalf("record %d: %v", r.Offset, err)
		}
		out = append(out, c)
	}
	return out
}

// memHistory is an in-memory account_health_raw.
type memHistory struct {
	mu        sync.Mutex
	rows      []Row // every write, in order, duplicates included
	failWrite int   // fail the next n WriteRows
}

func (h *memHistory) LastRows(context.Context) ([]Row, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	last := map[string]Row{}
	for _, r := range h.rows {
		if cur, ok := last[r.AccountID]; !ok || r.Rev >= cur.Rev {
			last[r.AccountID] = r
		}
	}
	return slices.Collect(maps.Values(last)), nil
}

func (h *memHistory) WriteRows(_ context.Context, rows []Row) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failWrite > 0 {
		h.failWrite--
		return errInjected
	}
	h.rows = append(h.rows, rows...)
	return nil
}

// of returns an account's rows as the account_health view shows them: one per rev, the last
// write winning, in rev order.
func (h *memHistory) of(account string) []Row {
	h.mu.Lock()
	defer h.mu.Unlock()
	byRev := map[uint64]Row{}
	for _, r := range h.rows {
		if r.AccountID == account {
			byRev[r.Rev] = r
		}
	}
	var out []Row
	for _, rev := range slices.Sorted(maps.Keys(byRev)) {
		out = append(out, byRev[rev])
	}
	return out
}

// memSource serves fixed inputs.
type memSource struct {
	mu   sync.Mutex
	in   map[string]health.Inputs
	fail int
	last Windows
}

func (s *memSource) set(account string, in health.Inputs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.in == nil {
		s.in = map[string]health.Inputs{}
	}
	s.in[account] = in
}

func (s *memSource) ReadInputs(_ context.Context, w Windows) ([]AccountInputs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = w
	if s.fail > 0 {
		s.fail--
		return nil, errInjected
	}
	var out []AccountInputs
	for _, id := range slices.Sorted(maps.Keys(s.in)) {
		out = append(out, AccountInputs{AccountID: id, Inputs: s.in[id]})
	}
	return out, nil
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// directModel returns a model whose score is exactly a chosen number: only billing weighs,
// and the billing status "s<score>" (one decimal) scores that number. scoreInputs makes the
// inputs. Everything else is the default model's.
func directModel() *health.Model {
	m := health.DefaultModel()
	m.Version = "direct-1"
	m.Components.Usage.Weight = 0
	m.Components.NPS.Weight = 0
	m.Components.Tickets.Weight = 0
	m.Components.Billing.Weight = 1
	for i := 0; i <= 1000; i++ {
		v := float64(i) / 10
		m.Components.Billing.StatusScores[statusFor(v)] = v
	}
	if err := m.Validate(); err != nil {
		panic(err)
	}
	return m
}

func statusFor(score float64) string { return "s" + strconv.FormatFloat(score, 'f', 1, 64) }

func scoreInputs(score float64) health.Inputs {
	s := statusFor(score)
	return health.Inputs{Status: &s}
}

// env is a scorer with in-memory dependencies.
type env struct {
	topic   *memTopic
	history *memHistory
	source  *memSource
	clock   *clock
	model   *health.Model
}

func newEnv(m *health.Model) *env {
	return &env{
		topic:   &memTopic{},
		history: &memHistory{},
		source:  &memSource{},
		clock:   &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)},
		model:   m,
	}
}

// scorer starts a new Scorer instance on the environment's topic and history, as a process
// (re)started on the same broker and database would.
func (e *env) scorer(t testing.TB) *Scorer {
	t.Helper()
	s, err := New(Config{Interval: time.Second, Now: e.clock.Now}, Deps{
		Model: StaticModel{M: e.model}, Source: e.source, History: e.history, Emitter: e.topic, ChangeLog: e.topic,
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }
