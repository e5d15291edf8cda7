package scorer

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/health"
)

type wantEvent struct {
	prev, band health.Band
}

func rescore(t *testing.T, s *Scorer) Stats {
	t.Helper()
	st, err := s.Rescore(context.Background())
	if err != nil {
		t.Fatalf("Rescore: %v", err)
	}
	return st
}

// TestRescoreHysteresis pins when events are emitted for one account whose score moves step
// by step: the first band is announced, a band changes only beyond the hysteresis margin
// (3), and only a score or band change writes a row.
func TestRescoreHysteresis(t *testing.T) {
	e := newEnv(directModel())
	s := e.scorer(t)
	steps := []struct {
		name    string
		score   float64
		event   *wantEvent
		wantRow bool
	}{
		{"first score announces its band", 55, &wantEvent{health.BandNone, health.BandYellow}, true},
		{"same score: nothing", 55, nil, false},
		{"yellow to 69: row only", 69, nil, true},
		{"72 is within the margin of 70", 72, nil, true},
		{"73 is the margin exactly", 73, nil, true},
		{"73.1 leaves yellow", 73.1, &wantEvent{health.BandYellow, health.BandGreen}, true},
		{"68 is within the margin", 68, nil, true},
		{"67 leaves green", 67, &wantEvent{health.BandGreen, health.BandYellow}, true},
		{"a fall to 20 goes straight to red", 20, &wantEvent{health.BandYellow, health.BandRed}, true},
		{"43 is within the margin of 40", 43, nil, true},
		{"95 jumps to green", 95, &wantEvent{health.BandRed, health.BandGreen}, true},
	}
	var wantChanges []wantEvent
	prevScore := (*float64)(nil)
	for i, step := range steps {
		e.clock.advance(time.Minute)
		e.source.set("acme", scoreInputs(step.score))
		rowsBefore := len(e.history.of("acme"))
		st := rescore(t, s)

		if step.event != nil {
			wantChanges = append(wantChanges, *step.event)
		}
		got := e.topic.changes(t)
		if len(got) != len(wantChanges) {
			t.Fatalf("step %d (%s): %d events on the topic, want %d", i, step.name, len(got), len(wantChanges))
		}
		if step.event != nil {
			c := got[len(got)-1]
			if c.PreviousBand != step.event.prev || c.Band != step.event.band || c.Score != step.score {
				t.Errorf("step %d (%s): event %s→%s score %v, want %s→%s score %v", i, step.name,
					c.PreviousBand, c.Band, c.Score, step.event.prev, step.event.band, step.score)
			}
			if c.Seq != uint64(len(wantChanges)) {
				t.Errorf("step %d (%s): seq %d, want %d", i, step.name, c.Seq, len(wantChanges))
			}
			if (c.PreviousScore == nil) != (prevScore == nil) || c.PreviousScore != nil && *c.PreviousScore != *prevScore {
				t.Errorf("step %d (%s): previous_score %v, want %v (the score of the previous event)", i, step.name, c.PreviousScore, prevScore)
			}
			prevScore = ptr(step.score)
			if !c.ScoredAt.Equal(e.clock.Now()) {
				t.Errorf("step %d: scored_at %v, want %v", i, c.ScoredAt, e.clock.Now())
			}
		}
		if st.Changes != boolInt(step.event != nil) {
			t.Errorf("step %d (%s): Stats.Changes = %d", i, step.name, st.Changes)
		}
		rows := e.history.of("acme")
		if gotRow := len(rows) > rowsBefore; gotRow != step.wantRow {
			t.Fatalf("step %d (%s): row written = %v, want %v", i, step.name, gotRow, step.wantRow)
		}
		if step.wantRow {
			r := rows[len(rows)-1]
			if r.Rev != uint64(len(rows)) || r.Result.Score != step.score || r.ChangeSeq != uint64(len(wantChanges)) {
				t.Errorf("step %d (%s): row rev %d score %v change_seq %d, want rev %d score %v change_seq %d", i, step.name,
					r.Rev, r.Result.Score, r.ChangeSeq, len(rows), step.score, len(wantChanges))
			}
			if want := got[len(got)-1].Band; r.Band != want {
				t.Errorf("step %d (%s): row band %s, want the announced %s", i, step.name, r.Band, want)
			}
		}
		if v := s.Snapshot().Get("acme"); v == nil || v.Score != step.score || v.Band != got[len(got)-1].Band {
			t.Errorf("step %d (%s): snapshot %+v, want score %v band %s", i, step.name, v, step.score, got[len(got)-1].Band)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRescoreDwell pins the model's min_dwell: a band is held for at least that long, and
// the change happens at the first rescoring after it.
func TestRescoreDwell(t *testing.T) {
	m := directModel()
	m.Hysteresis.MinDwell = health.Duration(time.Hour)
	e := newEnv(m)
	s := e.scorer(t)

	e.source.set("acme", scoreInputs(55))
	rescore(t, s)
	e.source.set("acme", scoreInputs(90))
	e.clock.advance(59 * time.Minute)
	rescore(t, s)
	if n := len(e.topic.changes(t)); n != 1 {
		t.Fatalf("after 59 min: %d events, want 1 (green held back by min_dwell)", n)
	}
	if v := s.Snapshot().Get("acme"); v.Band != health.BandYellow || v.Score != 90 {
		t.Errorf("snapshot during dwell: band %s score %v, want yellow 90", v.Band, v.Score)
	}
	e.clock.advance(time.Minute)
	rescore(t, s)
	got := e.topic.changes(t)
	if len(got) != 2 || got[1].Band != health.BandGreen {
		t.Fatalf("after 60 min: events %v, want a second one to green", bands(got))
	}
}

func bands(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.PreviousBand.String()+"→"+c.Band.String())
	}
	return out
}

// TestRestartRestoresState: a new instance on the same topic and history announces nothing
// and writes nothing for unchanged accounts, and continues the sequence numbers.
func TestRestartRestoresState(t *testing.T) {
	e := newEnv(directModel())
	s1 := e.scorer(t)
	e.source.set("a", scoreInputs(55))
	e.source.set("b", scoreInputs(20))
	rescore(t, s1)
	e.source.set("a", scoreInputs(80))
	rescore(t, s1)

	rowsBefore := len(e.history.rows)
	s2 := e.scorer(t)
	if err := s2.Ready(context.Background()); !errors.Is(err, ErrNotRestored) {
		t.Errorf("Ready before the first restore = %v, want ErrNotRestored", err)
	}
	st := rescore(t, s2)
	if st.Changes != 0 || st.Rows != 0 || len(e.history.rows) != rowsBefore {
		t.Fatalf("restarted scorer: %d changes, %d rows; want none", st.Changes, st.Rows)
	}
	if err := s2.Ready(context.Background()); err != nil {
		t.Errorf("Ready after restore: %v", err)
	}
	if v := s2.Snapshot().Get("a"); v == nil || v.Band != health.BandGreen || v.Score != 80 {
		t.Errorf("restored snapshot of a: %+v", v)
	}

	e.source.set("a", scoreInputs(30))
	rescore(t, s2)
	got := e.topic.changes(t)
	last := got[len(got)-1]
	if last.Seq != 3 || last.PreviousBand != health.BandGreen || last.Band != health.BandRed || *last.PreviousScore != 80 {
		t.Errorf("change after restart: seq %d %s→%s previous_score %v; want seq 3 green→red 80", last.Seq, last.PreviousBand, last.Band, *last.PreviousScore)
	}
	if rows := e.history.of("a"); rows[len(rows)-1].Rev != 3 {
		t.Errorf("row after restart has rev %d, want 3", rows[len(rows)-1].Rev)
	}
}

// TestCrashBetweenScoringAndProducing: the instance dies after deciding a change and before
// the broker has it. The next instance announces it, once.
func TestCrashBetweenScoringAndProducing(t *testing.T) {
	e := newEnv(directModel())
	s1 := e.scorer(t)
	e.source.set("acme", scoreInputs(55))
	rescore(t, s1)
	e.source.set("acme", scoreInputs(20))
	e.topic.failBefore = 1
	if _, err := s1.Rescore(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("Rescore with a failing emitter: %v, want the injected error", err)
	}
	if rows := e.history.of("acme"); len(rows) != 1 {
		t.Fatalf("%d rows after the failed emission, want 1: a row's band must have been announced", len(rows))
	}
	// s1 is dropped without shutdown, as by kill -9.
	s2 := e.scorer(t)
	rescore(t, s2)
	rescore(t, s2)
	got := e.topic.changes(t)
	if len(got) != 2 || got[1].PreviousBand != health.BandYellow || got[1].Band != health.BandRed || got[1].Seq != 2 {
		t.Fatalf("events %v, want exactly yellow→red after the restart", bands(got))
	}
	if rows := e.history.of("acme"); len(rows) != 2 || rows[1].Band != health.BandRed || rows[1].ChangeSeq != 2 {
		t.Fatalf("rows %+v, want a second, red one", rows)
	}
}

// TestCrashAfterProducing: the record reached the broker but the scorer did not learn it
// (crash, or a lost acknowledgement). Neither the same instance nor a new one announces the
// change again.
func TestCrashAfterProducing(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "same instance"
		if restart {
			name = "new instance"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(directModel())
			s := e.scorer(t)
			e.source.set("acme", scoreInputs(55))
			rescore(t, s)
			e.source.set("acme", scoreInputs(20))
			e.topic.failAfter = 1
			if _, err := s.Rescore(context.Background()); !errors.Is(err, errInjected) {
				t.Fatalf("Rescore: %v, want the injected error", err)
			}
			if restart {
				s = e.scorer(t)
			}
			replays := e.topic.replays
			rescore(t, s)
			rescore(t, s)
			if e.topic.replays != replays+1 {
				t.Errorf("%d replays of the topic, want 1 before the next decision", e.topic.replays-replays)
			}
			if got := e.topic.changes(t); len(got) != 2 {
				t.Fatalf("events %v, want exactly one yellow→red", bands(got))
			}
			if rows := e.history.of("acme"); len(rows) != 2 || rows[1].Band != health.BandRed || rows[1].ChangeSeq != 2 {
				t.Fatalf("rows %+v, want a second, red one announced by change 2", rows)
			}
		})
	}
}

// TestHistoryWriteFailure: a failed write is retried at the next rescoring with the same
// rev, and does not repeat the event.
func TestHistoryWriteFailure(t *testing.T) {
	e := newEnv(directModel())
	s := e.scorer(t)
	e.source.set("acme", scoreInputs(55))
	e.history.failWrite = 1
	if _, err := s.Rescore(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("Rescore: %v, want the injected error", err)
	}
	rescore(t, s)
	if rows := e.history.of("acme"); len(rows) != 1 || rows[0].Rev != 1 || rows[0].ChangeSeq != 1 {
		t.Fatalf("rows %+v, want one, rev 1, change 1", rows)
	}
	if got := e.topic.changes(t); len(got) != 1 {
		t.Fatalf("%d events, want 1", len(got))
	}
}

// TestQueryFailure: nothing is decided without inputs.
func TestQueryFailure(t *testing.T) {
	e := newEnv(directModel())
	s := e.scorer(t)
	e.source.set("acme", scoreInputs(55))
	e.source.fail = 1
	if _, err := s.Rescore(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("Rescore: %v, want the injected error", err)
	}
	if len(e.topic.records) != 0 || len(e.history.rows) != 0 {
		t.Fatal("a failed query emitted or wrote something")
	}
	rescore(t, s)
	if len(e.topic.records) != 1 {
		t.Fatal("no event after the query recovered")
	}
}

// TestTopicLostRecords: when the topic no longer holds an account's changes (retention, a
// recreated topic), the last row's change_seq keeps the scorer from announcing again.
func TestTopicLostRecords(t *testing.T) {
	e := newEnv(directModel())
	s1 := e.scorer(t)
	e.source.set("acme", scoreInputs(55))
	rescore(t, s1)
	e.source.set("acme", scoreInputs(20))
	rescore(t, s1)
	e.topic.records = nil

	s2 := e.scorer(t)
	if st := rescore(t, s2); st.Changes != 0 {
		t.Fatalf("%d changes after the topic lost its records, want 0", st.Changes)
	}
	e.source.set("acme", scoreInputs(60))
	rescore(t, s2)
	got := e.topic.changes(t)
	if len(got) != 1 || got[0].Seq != 3 || got[0].PreviousBand != health.BandRed || *got[0].PreviousScore != 20 {
		t.Fatalf("events %v (seq %d), want red→yellow with seq 3 and previous_score 20", bands(got), got[0].Seq)
	}
}

// TestReasonsSurviveRestart: the inputs an account entered its band with travel in the
// record header, so a restarted scorer still names billing_recovered (which needs the
// previous status) rather than the generic billing_improved.
func TestReasonsSurviveRestart(t *testing.T) {
	e := newEnv(health.DefaultModel())
	in := health.Inputs{ActiveDays14: 2, MAU: 3, WAU: 1, DAU: 1, Seats: ptr(10), FeaturesUsed30d: 2,
		NPS: health.NPSAnswers{Detractors: 3}, Tickets: 6, Status: ptr(health.StatusPastDue), Plan: "pro"}
	e.source.set("acme", in)
	rescore(t, e.scorer(t))

	in = health.Inputs{ActiveDays14: 14, MAU: 10, WAU: 9, DAU: 6, Seats: ptr(10), FeaturesUsed30d: 10,
		NPS: health.NPSAnswers{Promoters: 3}, Tickets: 0, Status: ptr(health.StatusActive), Plan: "pro"}
	e.source.set("acme", in)
	rescore(t, e.scorer(t)) // a new instance
	got := e.topic.changes(t)
	if len(got) != 2 {
		t.Fatalf("events %v, want the first band and one change", bands(got))
	}
	if got[0].Band != health.BandRed {
		t.Errorf("first band %s (score %v), want red for low usage, past_due, detractors and 6 tickets on 10 seats", got[0].Band, got[0].Score)
	}
	if !slices.Contains(got[1].Reasons, health.ReasonBillingRecovered) || !slices.Contains(got[1].Reasons, health.ReasonNPSPromoter) {
		t.Errorf("reasons %v, want billing_recovered and nps_promoter", got[1].Reasons)
	}
}

// TestSnapshotList pins filtering and paging of the read API's list.
func TestSnapshotList(t *testing.T) {
	e := newEnv(directModel())
	s := e.scorer(t)
	for id, score := range map[string]float64{"a": 10, "b": 55, "c": 20, "d": 30, "e": 90} {
		in := scoreInputs(score)
		in.Plan = "pro"
		if id == "d" {
			in.Plan = "trial"
		}
		e.source.set(id, in)
	}
	rescore(t, s)
	snap := s.Snapshot()
	tests := []struct {
		name     string
		f        Filter
		after    string
		limit    int
		wantIDs  []string
		wantMore bool
	}{
		{"all", Filter{}, "", 10, []string{"a", "b", "c", "d", "e"}, false},
		{"first page", Filter{}, "", 2, []string{"a", "b"}, true},
		{"next page", Filter{}, "b", 2, []string{"c", "d"}, true},
		{"last page", Filter{}, "d", 2, []string{"e"}, false},
		{"red", Filter{Band: health.BandRed}, "", 10, []string{"a", "c", "d"}, false},
		{"red pro", Filter{Band: health.BandRed, Plan: "pro"}, "", 10, []string{"a", "c"}, false},
		{"red, page of one", Filter{Band: health.BandRed}, "a", 1, []string{"c"}, true},
		{"cursor between ids", Filter{}, "bb", 10, []string{"c", "d", "e"}, false},
		{"exact fit has no more", Filter{Band: health.BandRed}, "", 3, []string{"a", "c", "d"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, more := snap.List(tt.f, tt.after, tt.limit)
			var ids []string
			for _, a := range page {
				ids = append(ids, a.AccountID)
			}
			if !slices.Equal(ids, tt.wantIDs) || more != tt.wantMore {
				t.Errorf("List = %v more=%v, want %v more=%v", ids, more, tt.wantIDs, tt.wantMore)
			}
		})
	}
}

// TestRescoreUsesModelWindows: the source is asked for the model's windows.
func TestRescoreUsesModelWindows(t *testing.T) {
	m := directModel()
	m.Components.NPS.WindowDays = 60
	m.Components.Tickets.WindowDays = 14
	e := newEnv(m)
	rescore(t, e.scorer(t))
	if want := (Windows{NPSDays: 60, TicketsDays: 14, ContractionDays: DefaultContractionDays}); e.source.last != want {
		t.Errorf("windows %+v, want %+v", e.source.last, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{}, ""},
		{"interval too short", Config{Interval: time.Millisecond}, "Interval 1ms: must be at least 100ms"},
		{"negative contraction", Config{ContractionDays: -1}, "ContractionDays -1: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if got := errString(err); got != tt.wantErr {
				t.Errorf("Validate() = %q, want %q", got, tt.wantErr)
			}
		})
	}
	if _, err := New(Config{}, Deps{}, nil, nil); errString(err) != "scorer deps: Model, Source, History, Topic, Group missing" {
		t.Errorf("New without deps: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
