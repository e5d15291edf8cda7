package scorer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/topics"
)

// errInjected is the failure the fakes inject.
var errInjected = errors.New("injected failure")

// memTopic is an in-memory engagement.health.changes: the scorer's ChangeTopic. Every Open
// of a partition bumps its epoch and fences the logs opened before, as a transactional id
// per partition does on Kafka.
type memTopic struct {
	mu      sync.Mutex
	records []Record
	epochs  map[int32]int16
	// failBefore fails the next n Emits without storing anything (a crash before
	// producing); failAfter stores the records and then fails the next n Emits (a lost
	// acknowledgement of a commit that went through).
	failBefore, failAfter int
	replays               int
	opens                 int
}

func (t *memTopic) Open(_ context.Context, p int32) (PartitionLog, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.epochs == nil {
		t.epochs = map[int32]int16{}
	}
	t.epochs[p]++
	t.opens++
	return &memLog{t: t, p: p, epoch: t.epochs[p]}, nil
}

// memLog is one opened partition of a memTopic.
type memLog struct {
	t      *memTopic
	p      int32
	epoch  int16
	closed bool
}

func (l *memLog) Epoch() int16 { return l.epoch }
func (l *memLog) Close()       { l.closed = true }

func (l *memLog) Emit(_ context.Context, changes []Change) error {
	t := l.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.closed {
		return errors.New("emit on a closed log")
	}
	if t.epochs[l.p] != l.epoch {
		return fmt.Errorf("partition %d epoch %d, now %d: %w", l.p, l.epoch, t.epochs[l.p], ErrFenced)
	}
	if t.failBefore > 0 {
		t.failBefore--
		return errInjected
	}
	for _, c := range changes {
		r, err := c.ToRecord()
		if err != nil {
			return err
		}
		r.Partition = l.p
		r.Offset = int64(len(t.records))
		t.records = append(t.records, r)
	}
	if t.failAfter > 0 {
		t.failAfter--
		return errInjected
	}
	return nil
}

func (l *memLog) Replay(_ context.Context, fn func(Record) error) error {
	t := l.t
	t.mu.Lock()
	var recs []Record
	for _, r := range t.records {
		if r.Partition == l.p {
			recs = append(recs, r)
		}
	}
	t.replays++
	t.mu.Unlock()
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// memGroup is an in-memory consumer group of engagement.accounts.changed: notify is what a
// worker does after storing a batch.
type memGroup struct {
	mu         sync.Mutex
	notices    map[int32][]string
	offsets    map[int32]int64 // next offset per partition
	committed  map[int32]int64
	partitions int32
	notOwned   map[int32]bool
}

func (g *memGroup) notify(accounts ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.notices == nil {
		g.notices, g.offsets = map[int32][]string{}, map[int32]int64{}
	}
	for _, id := range accounts {
		p := topics.AccountPartition(id, g.partitions)
		g.notices[p] = append(g.notices[p], id)
		g.offsets[p]++
	}
}

func (g *memGroup) Take(p int32) ([]string, int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := g.notices[p]
	if len(ids) == 0 {
		return nil, -1
	}
	delete(g.notices, p)
	return ids, g.offsets[p]
}

func (g *memGroup) Commit(_ context.Context, offsets map[int32]int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.committed == nil {
		g.committed = map[int32]int64{}
	}
	maps.Copy(g.committed, offsets)
	return nil
}

func (g *memGroup) Owns(_ context.Context, p int32) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.notOwned[p] {
		return fmt.Errorf("partition %d: not assigned to this member", p)
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

func (h *memHistory) LastRows(_ context.Context, sc Scope) ([]Row, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	last := map[string]Row{}
	for _, r := range h.rows {
		if !sc.Has(r.AccountID) {
			continue
		}
		if cur, ok := last[r.AccountID]; !ok || r.Rev > cur.Rev || (r.Rev == cur.Rev && r.Fence >= cur.Fence) {
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

// of returns an account's rows as the account_health view shows them: one per rev, the
// write of the latest owner winning, in rev order.
func (h *memHistory) of(account string) []Row {
	h.mu.Lock()
	defer h.mu.Unlock()
	byRev := map[uint64]Row{}
	for _, r := range h.rows {
		if cur, ok := byRev[r.Rev]; r.AccountID == account && (!ok || r.Fence >= cur.Fence) {
			byRev[r.Rev] = r
		}
	}
	var out []Row
	for _, rev := range slices.Sorted(maps.Keys(byRev)) {
		out = append(out, byRev[rev])
	}
	return out
}

// memSource serves inputs; set notifies the group, as the worker does after a write.
type memSource struct {
	mu    sync.Mutex
	in    map[string]health.Inputs
	fail  int
	last  Windows
	group *memGroup
	// reads counts the accounts returned, summed over ReadInputs.
	reads int
}

func (s *memSource) set(account string, in health.Inputs) {
	s.mu.Lock()
	if s.in == nil {
		s.in = map[string]health.Inputs{}
	}
	s.in[account] = in
	s.mu.Unlock()
	if s.group != nil {
		s.group.notify(account)
	}
}

func (s *memSource) ReadInputs(_ context.Context, w Windows, sc Scope) ([]AccountInputs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = w
	if s.fail > 0 {
		s.fail--
		return nil, errInjected
	}
	var out []AccountInputs
	for _, id := range slices.Sorted(maps.Keys(s.in)) {
		if !sc.Has(id) || (sc.Accounts != nil && !slices.Contains(sc.Accounts, id)) {
			continue
		}
		out = append(out, AccountInputs{AccountID: id, Inputs: s.in[id]})
	}
	s.reads += len(out)
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
	topic      *memTopic
	history    *memHistory
	source     *memSource
	group      *memGroup
	clock      *clock
	model      *health.Model
	models     ModelSource // when set, instead of model
	partitions int32
}

func newEnv(m *health.Model) *env { return newEnvParts(m, 1) }

// newEnvParts is an environment whose topics have n partitions.
func newEnvParts(m *health.Model, n int32) *env {
	g := &memGroup{partitions: n}
	return &env{
		topic:      &memTopic{},
		history:    &memHistory{},
		source:     &memSource{group: g},
		group:      g,
		clock:      &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)},
		model:      m,
		partitions: n,
	}
}

// scorer starts a new Scorer instance on the environment's topic and history that owns every
// partition, as a single process (re)started on the same broker and database would.
func (e *env) scorer(t testing.TB) *Scorer {
	t.Helper()
	all := make([]int32, e.partitions)
	for i := range all {
		all[i] = int32(i)
	}
	return e.scorerOf(t, all...)
}

// scorerOf starts a Scorer that is assigned the given partitions.
func (e *env) scorerOf(t testing.TB, parts ...int32) *Scorer {
	t.Helper()
	var models ModelSource = StaticModel{M: e.model}
	if e.models != nil {
		models = e.models
	}
	s, err := New(Config{Interval: time.Second, Now: e.clock.Now, Partitions: e.partitions}, Deps{
		Model: models, Source: e.source, History: e.history, Topic: e.topic, Group: e.group,
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Assign(parts)
	return s
}

func ptr[T any](v T) *T { return &v }
