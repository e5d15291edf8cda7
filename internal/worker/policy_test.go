package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/retry"
	"github.com/engage-oss/engage/internal/session"
)

// The policy tests run Worker.process against in-memory fakes of the store, the consumer and
// the dead-letter producer: what reaches the store, the DLQ and the committed offsets when the
// store refuses data, is down, or the group moves on.

// memStore is an in-memory Store that keeps the rows as ClickHouse would show them: raw
// events by event_id, sessions by id at their newest version, sessionized events by event_id.
// Its Load returns every stored event of the requested users, which is always a valid restore.
type memStore struct {
	mu       sync.Mutex
	events   map[string]RawEvent
	sessions map[string]session.SessionRow
	sessEvts map[string]session.EventRow

	// refuse makes WriteEvents refuse (permanently) any batch holding such an event, as
	// ClickHouse refuses a whole insert.
	refuse func(RawEvent) bool
	// refuseRows makes WriteRows refuse every batch permanently.
	refuseRows bool
	// down makes the next so many writes fail with an outage.
	down int
	// beforeRows, when set, runs at the start of WriteRows, outside the lock: a test freezes
	// a writer there.
	beforeRows func()

	eventWrites, rowWrites int
}

func newMemStore() *memStore {
	return &memStore{events: map[string]RawEvent{}, sessions: map[string]session.SessionRow{}, sessEvts: map[string]session.EventRow{}}
}

var errOutage = errors.New("connection refused")

func (s *memStore) WriteEvents(_ context.Context, evs []RawEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eventWrites++
	if s.down > 0 {
		s.down--
		return errOutage
	}
	for _, e := range evs {
		if s.refuse != nil && s.refuse(e) {
			return &PermanentError{Err: fmt.Errorf("code: 53, type mismatch in event %s", e.EventID)}
		}
	}
	for _, e := range evs {
		s.events[e.EventID] = e
	}
	return nil
}

func (s *memStore) WriteRows(_ context.Context, r *session.Rows) error {
	if s.beforeRows != nil {
		s.beforeRows()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rowWrites++
	if s.down > 0 {
		s.down--
		return errOutage
	}
	if s.refuseRows {
		return &PermanentError{Err: errors.New("code: 16, no such column in table sessions_raw")}
	}
	for _, r := range r.Sessions {
		if old, ok := s.sessions[r.ID]; !ok || r.Ver >= old.Ver {
			s.sessions[r.ID] = r
		}
	}
	for _, e := range r.Events {
		s.sessEvts[e.ID] = e
	}
	return nil
}

func (s *memStore) PartitionClock(_ context.Context, p int32) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var clock int64
	for _, e := range s.sessEvts {
		if e.Partition == p {
			clock = max(clock, e.TsMs)
		}
	}
	return clock, nil
}

func (s *memStore) Load(_ context.Context, r session.Restore) (session.Restored, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wanted := func(k session.Key) bool { return r.Users == nil || slices.Contains(r.Users, k) }
	var res session.Restored
	for _, e := range s.sessEvts {
		if e.Partition == r.Partition && wanted(e.Key) {
			res.Events = append(res.Events, e)
		}
	}
	for _, row := range s.sessions {
		k := session.Key{Account: row.Account, User: row.User}
		if row.Partition == r.Partition && !row.Deleted && wanted(k) {
			res.Sessions = append(res.Sessions, session.StoredSession{Key: k, ID: row.ID, StartMs: row.StartMs, EndMs: row.EndMs})
		}
	}
	return res, nil
}

// live returns the live sessions as "user start–end events", sorted: what the sessions view
// would show.
func (s *memStore) live() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.sessions {
		if !r.Deleted {
			out = append(out, fmt.Sprintf("%s %s–%s %d", r.User, time.UnixMilli(r.StartMs).UTC().Format("15:04"),
				time.UnixMilli(r.EndMs).UTC().Format("15:04"), r.Events))
		}
	}
	slices.Sort(out)
	return out
}

func (s *memStore) eventIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.events {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *memStore) sessionizedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.sessEvts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// fakeConsumer records commits and membership checks; Poll is not used by process.
type fakeConsumer struct {
	commits   int
	commitErr []error // returned by the next commits, in order
	checks    int
	memberErr []error // returned by the next membership checks, in order
}

func (c *fakeConsumer) CheckMembership(context.Context) error {
	c.checks++
	if len(c.memberErr) > 0 {
		err := c.memberErr[0]
		c.memberErr = c.memberErr[1:]
		return err
	}
	return nil
}

// errFenced is what a consumer removed from its group answers a membership check.
var errFenced = fmt.Errorf("%w: UNKNOWN_MEMBER_ID", ErrLostGeneration)

// processWith runs w.process with c as the consumer whose membership fences the writes, as
// Run would.
func processWith(ctx context.Context, w *Worker, c Consumer, dlq DeadLetterProducer, recs []Record) error {
	w.member.Store(&c)
	return w.process(ctx, c, dlq, recs)
}

func (c *fakeConsumer) Poll(ctx context.Context, _ int) (Fetch, error) {
	<-ctx.Done()
	return Fetch{}, nil
}
func (c *fakeConsumer) AllowRebalance() {}
func (c *fakeConsumer) Buffered() int64 { return 0 }
func (c *fakeConsumer) Lag(context.Context, []int32) (map[int32]int64, error) {
	return nil, nil
}
func (c *fakeConsumer) CommitPolled(context.Context) error {
	if len(c.commitErr) > 0 {
		err := c.commitErr[0]
		c.commitErr = c.commitErr[1:]
		return err
	}
	c.commits++
	return nil
}

type fakeDLQ struct {
	got  []DeadLetter
	down int
}

func (d *fakeDLQ) ProduceDeadLetters(_ context.Context, dls []DeadLetter) error {
	if d.down > 0 {
		d.down--
		return errOutage
	}
	d.got = append(d.got, dls...)
	return nil
}

// rec is one record of the test batch: an event of user u1 in account acme at hh:mm on
// 2026-11-21, on partition 0 at offset i; or, with raw set, that value as it is.
type rec struct {
	id, at string
	raw    string
	user   string // default u1
	part   int32
}

func records(t *testing.T, rs []rec) []Record {
	t.Helper()
	out := make([]Record, len(rs))
	for i, r := range rs {
		val := []byte(r.raw)
		if r.raw == "" {
			user := cmp.Or(r.user, "u1")
			in := event.Input{EventID: r.id, AccountID: "acme", UserID: user, Name: "report.viewed", Timestamp: "2026-11-21T" + r.at + ":00Z"}
			ev, err := in.Build(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatalf("event %s: %v", r.id, err)
			}
			val = ev.AppendJSON(nil)
		}
		out[i] = Record{Topic: "engagement.events", Partition: r.part, Offset: int64(i), Key: []byte("acme"), Value: val}
	}
	return out
}

func newTestWorker(t *testing.T, store Store) *Worker {
	t.Helper()
	w, err := New(DefaultConfig(), store, zaptest.NewLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	w.policy = retry.Policy{Initial: time.Millisecond, Max: time.Millisecond}
	w.Assigned(context.Background(), []int32{0, 1})
	return w
}

// The batch: 10:00 and 10:40 are two sessions (the timeout is 30 min); 10:20 joins them into
// one. So whether b-1020 counts shows in the sessions.
var bridged = []rec{{id: "a-1000", at: "10:00"}, {id: "b-1020", at: "10:20"}, {id: "c-1040", at: "10:40"}}

func TestPolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		batch    []rec
		store    func(*memStore)
		consumer fakeConsumer
		dlqDown  int

		wantErr      string // empty: process succeeds
		wantEvents   []string
		wantSessions []string
		wantDLQ      []string // reason of each dead letter, with its record's offset
		wantCommits  int
		wantRowCalls int // -1: not checked
		wantChecks   int // membership checks; 0: not checked
		fenced       bool
	}{{
		name:         "clean batch",
		batch:        bridged,
		wantEvents:   []string{"a-1000", "b-1020", "c-1040"},
		wantSessions: []string{"u1 10:00–10:40 3"},
		wantCommits:  1, wantRowCalls: 1, wantChecks: 2,
	}, {
		name:         "undecodable record is dead-lettered, the rest stored",
		batch:        []rec{bridged[0], {raw: `{"not":"an event"`}, bridged[2]},
		wantEvents:   []string{"a-1000", "c-1040"},
		wantSessions: []string{"u1 10:00–10:00 1", "u1 10:40–10:40 1"},
		wantDLQ:      []string{"1 undecodable"},
		wantCommits:  1, wantRowCalls: 1,
	}, {
		// Bug: the refused event used to be sessionized before the write, so its session rows
		// were stored without it and the sessions depended on when a restart came.
		name:         "refused event leaves no trace in sessions",
		batch:        bridged,
		store:        func(s *memStore) { s.refuse = func(e RawEvent) bool { return e.EventID == "b-1020" } },
		wantEvents:   []string{"a-1000", "c-1040"},
		wantSessions: []string{"u1 10:00–10:00 1", "u1 10:40–10:40 1"},
		wantDLQ:      []string{"1 rejected by store"},
		wantCommits:  1, wantRowCalls: 1,
	}, {
		// Without the refused 12:00 event, 10:30 is no longer more than the 1 h lateness
		// behind its user's newest event: it is sessionized after all, and its raw row is
		// written again with the new flag. The other partition's user is not touched.
		name: "refused event changes another event's outcome; other partitions keep theirs",
		batch: []rec{{id: "a-1000", at: "10:00"}, {id: "r-1200", at: "12:00"}, {id: "x-1030", at: "10:30"},
			{id: "p1-1000", at: "10:00", user: "u9", part: 1}, {id: "p1-1010", at: "10:10", user: "u9", part: 1}},
		store:        func(s *memStore) { s.refuse = func(e RawEvent) bool { return e.EventID == "r-1200" } },
		wantEvents:   []string{"a-1000", "p1-1000", "p1-1010", "x-1030"},
		wantSessions: []string{"u1 10:00–10:30 2", "u9 10:00–10:10 2"},
		wantDLQ:      []string{"1 rejected by store"},
		wantCommits:  1, wantRowCalls: 1,
	}, {
		name:        "every event refused",
		batch:       bridged,
		store:       func(s *memStore) { s.refuse = func(RawEvent) bool { return true } },
		wantDLQ:     []string{"0 rejected by store", "1 rejected by store", "2 rejected by store"},
		wantCommits: 1, wantRowCalls: 0,
	}, {
		// Bug: a permanent refusal of the session rows made the write call itself with the same
		// rows, forever, without backoff.
		name:        "session rows refused: one attempt, an error, nothing committed",
		batch:       bridged,
		store:       func(s *memStore) { s.refuseRows = true },
		wantErr:     "store refuses session rows",
		wantEvents:  []string{"a-1000", "b-1020", "c-1040"},
		wantCommits: 0, wantRowCalls: 1,
	}, {
		name:         "store outage is waited out",
		batch:        bridged,
		store:        func(s *memStore) { s.down = 3 },
		wantEvents:   []string{"a-1000", "b-1020", "c-1040"},
		wantSessions: []string{"u1 10:00–10:40 3"},
		wantCommits:  1, wantRowCalls: -1,
	}, {
		name:         "DLQ outage is waited out before committing",
		batch:        []rec{{raw: "garbage"}, bridged[0]},
		dlqDown:      2,
		wantEvents:   []string{"a-1000"},
		wantSessions: []string{"u1 10:00–10:00 1"},
		wantDLQ:      []string{"0 undecodable"},
		wantCommits:  1, wantRowCalls: 1,
	}, {
		name:         "commit outage is waited out",
		batch:        bridged,
		consumer:     fakeConsumer{commitErr: []error{errOutage, errOutage}},
		wantEvents:   []string{"a-1000", "b-1020", "c-1040"},
		wantSessions: []string{"u1 10:00–10:40 3"},
		wantCommits:  1, wantRowCalls: 1,
	}, {
		name:         "lost generation: no error, nothing committed, rows stored",
		batch:        bridged,
		consumer:     fakeConsumer{commitErr: []error{fmt.Errorf("committing: %w", ErrLostGeneration)}},
		wantEvents:   []string{"a-1000", "b-1020", "c-1040"},
		wantSessions: []string{"u1 10:00–10:40 3"},
		wantCommits:  0, wantRowCalls: 1,
	}, {
		// A zombie: removed from the group while it held the batch (fence.go).
		name:        "group moved on before the events: nothing stored or committed, no error",
		batch:       bridged,
		consumer:    fakeConsumer{memberErr: []error{errFenced}},
		wantCommits: 0, wantRowCalls: 0, wantChecks: 1, fenced: true,
	}, {
		// Raw events are the same rows whoever writes them; the session rows, computed from
		// state the new owner has moved past, are not written.
		name:        "group moved on before the session rows: rows not written, nothing committed",
		batch:       bridged,
		consumer:    fakeConsumer{memberErr: []error{nil, errFenced}},
		wantEvents:  []string{"a-1000", "b-1020", "c-1040"},
		wantCommits: 0, wantRowCalls: 0, wantChecks: 2, fenced: true,
	}, {
		name:         "coordinator away during the membership check is waited out",
		batch:        bridged,
		consumer:     fakeConsumer{memberErr: []error{errOutage, errOutage, nil, errOutage}},
		wantEvents:   []string{"a-1000", "b-1020", "c-1040"},
		wantSessions: []string{"u1 10:00–10:40 3"},
		wantCommits:  1, wantRowCalls: 1, wantChecks: 5,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemStore()
			if tc.store != nil {
				tc.store(store)
			}
			w := newTestWorker(t, store)
			c := tc.consumer
			dlq := &fakeDLQ{down: tc.dlqDown}
			recs := records(t, tc.batch)

			err := processWith(context.Background(), w, &c, dlq, recs)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("process: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("process error = %v, want one containing %q", err, tc.wantErr)
			}
			if got := store.eventIDs(); !slices.Equal(got, tc.wantEvents) {
				t.Errorf("stored events = %v, want %v", got, tc.wantEvents)
			}
			if got := store.live(); !slices.Equal(got, tc.wantSessions) {
				t.Errorf("live sessions = %v, want %v", got, tc.wantSessions)
			}
			var dl []string
			for _, d := range dlq.got {
				// The dead letter carries its own source record, never an empty one.
				if d.Record.Offset < 0 || int(d.Record.Offset) >= len(recs) || string(d.Record.Value) != string(recs[d.Record.Offset].Value) {
					t.Errorf("dead letter %+v does not carry its source record", d.Record)
				}
				reason, _, _ := strings.Cut(d.Reason, ":")
				dl = append(dl, fmt.Sprintf("%d %s", d.Record.Offset, reason))
			}
			if !slices.Equal(dl, tc.wantDLQ) {
				t.Errorf("dead letters = %v, want %v", dl, tc.wantDLQ)
			}
			if c.commits != tc.wantCommits {
				t.Errorf("commits = %d, want %d", c.commits, tc.wantCommits)
			}
			if tc.wantRowCalls >= 0 && store.rowWrites != tc.wantRowCalls {
				t.Errorf("WriteRows calls = %d, want %d", store.rowWrites, tc.wantRowCalls)
			}
			if tc.wantChecks > 0 && c.checks != tc.wantChecks {
				t.Errorf("membership checks = %d, want %d", c.checks, tc.wantChecks)
			}
			// The raw rows' flags agree with the sessions: what is sessionized is exactly
			// what the stored sessions count (after an error, or when fenced, the batch is
			// redelivered instead).
			sessionized := store.sessionizedIDs()
			for _, id := range store.eventIDs() {
				if tc.wantErr != "" || tc.fenced {
					break
				}
				e := store.events[id]
				if e.Sessionized != slices.Contains(sessionized, id) || (e.Late && e.Sessionized) {
					t.Errorf("event %s stored with sessionized=%v late=%v; sessionized events: %v", id, e.Sessionized, e.Late, sessionized)
				}
			}
		})
	}
}

// TestRefusedEventThenRestart: after the store refused the bridging event, a restarted
// worker restores the same sessions (nothing to retract), and a later event is sessionized
// against state without the refused one.
func TestRefusedEventThenRestart(t *testing.T) {
	store := newMemStore()
	store.refuse = func(e RawEvent) bool { return e.EventID == "b-1020" }
	w := newTestWorker(t, store)
	if err := w.process(context.Background(), &fakeConsumer{}, &fakeDLQ{}, records(t, bridged)); err != nil {
		t.Fatal(err)
	}
	if got := store.sessionizedIDs(); !slices.Equal(got, []string{"a-1000", "c-1040"}) {
		t.Fatalf("sessionized events = %v, want the accepted ones only", got)
	}
	before := store.live()

	store.refuse = nil
	restarted := newTestWorker(t, store)
	if got := store.live(); !slices.Equal(got, before) {
		t.Fatalf("restore changed the sessions: %v, want %v", got, before)
	}
	// 10:05 joins the 10:00 session only: the refused 10:20 is not there to bridge to 10:40.
	next := records(t, []rec{{id: "d-1005", at: "10:05"}})
	if err := restarted.process(context.Background(), &fakeConsumer{}, &fakeDLQ{}, next); err != nil {
		t.Fatal(err)
	}
	if got, want := store.live(), []string{"u1 10:00–10:05 2", "u1 10:40–10:40 1"}; !slices.Equal(got, want) {
		t.Fatalf("sessions = %v, want %v", got, want)
	}
}

// TestLostGenerationRedelivery: after a lost generation the partitions move away and back,
// and the redelivered batch rewrites the same rows: nothing counts twice.
func TestLostGenerationRedelivery(t *testing.T) {
	store := newMemStore()
	w := newTestWorker(t, store)
	lost := &fakeConsumer{commitErr: []error{fmt.Errorf("committing: %w", ErrLostGeneration)}}
	recs := records(t, bridged)
	if err := w.process(context.Background(), lost, &fakeDLQ{}, recs); err != nil {
		t.Fatal(err)
	}
	w.Revoked(context.Background(), []int32{0})
	w.Assigned(context.Background(), []int32{0})
	again := &fakeConsumer{}
	if err := w.process(context.Background(), again, &fakeDLQ{}, recs); err != nil {
		t.Fatal(err)
	}
	if again.commits != 1 {
		t.Fatalf("redelivery commits = %d, want 1", again.commits)
	}
	if got, want := store.live(), []string{"u1 10:00–10:40 3"}; !slices.Equal(got, want) {
		t.Fatalf("sessions after redelivery = %v, want %v", got, want)
	}
}

// TestRecordsOfUnassignedPartitionFail: a partition without restored state is never
// sessionized from scratch.
func TestRecordsOfUnassignedPartitionFail(t *testing.T) {
	w, err := New(DefaultConfig(), newMemStore(), zaptest.NewLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = w.process(context.Background(), &fakeConsumer{}, &fakeDLQ{}, records(t, bridged))
	if err == nil || !strings.Contains(err.Error(), "no sessionizer state") {
		t.Fatalf("process = %v, want a 'no sessionizer state' error", err)
	}
}

// TestShutdownDuringOutage: an outage that outlasts the shutdown ends process with the
// context's error joined with the outage, and nothing committed.
func TestShutdownDuringOutage(t *testing.T) {
	store := newMemStore()
	store.down = 1 << 30
	w := newTestWorker(t, store)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c := &fakeConsumer{}
	err := w.process(ctx, c, &fakeDLQ{}, records(t, bridged))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errOutage) {
		t.Fatalf("process = %v, want the deadline joined with the outage", err)
	}
	if c.commits != 0 {
		t.Fatal("committed during an outage")
	}
}

// notifier records the accounts it is told about, and an order of calls shared with a
// consumer.
type notifier struct {
	got  [][]string
	down int
	log  *[]string
}

func (n *notifier) AccountsChanged(_ context.Context, ids []string) error {
	if n.down > 0 {
		n.down--
		*n.log = append(*n.log, "notify failed")
		return errOutage
	}
	n.got = append(n.got, ids)
	*n.log = append(*n.log, "notify")
	return nil
}

// orderedConsumer logs its commits into the same log as the notifier.
type orderedConsumer struct {
	fakeConsumer
	log *[]string
}

func (c *orderedConsumer) CommitPolled(ctx context.Context) error {
	*c.log = append(*c.log, "commit")
	return c.fakeConsumer.CommitPolled(ctx)
}

// TestNotifyBeforeCommit: the accounts of a stored batch are notified after the rows are
// stored and before the offsets are committed, and a notifier outage is waited out: a
// batch is never committed without its notification, so the scorers rescore every account
// whose inputs changed.
func TestNotifyBeforeCommit(t *testing.T) {
	var log []string
	store := newMemStore()
	w := newTestWorker(t, store)
	n := &notifier{down: 2, log: &log}
	w.NotifyTo(n)
	c := &orderedConsumer{log: &log}
	if err := w.process(context.Background(), c, &fakeDLQ{}, records(t, bridged)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"notify failed", "notify failed", "notify", "commit"}; !slices.Equal(log, want) {
		t.Errorf("calls %v, want %v", log, want)
	}
	if len(n.got) != 1 || !slices.Equal(n.got[0], []string{"acme"}) {
		t.Errorf("notified %v, want [[acme]] (repeats of an account skipped)", n.got)
	}
	if got := store.eventIDs(); len(got) != 3 {
		t.Errorf("stored %v before notifying, want the batch's 3 events", got)
	}
}
