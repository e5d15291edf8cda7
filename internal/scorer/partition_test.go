package scorer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/topics"
)

// TestIncrementalRescoring pins what a rescoring reads: every account after a takeover, then
// only the accounts notified as changed; every account again on a new UTC day (the windows
// slide) and on a new model version.
func TestIncrementalRescoring(t *testing.T) {
	e := newEnv(directModel())
	for i := range 10 {
		e.source.set(fmt.Sprintf("a%d", i), scoreInputs(50))
	}
	s := e.scorer(t)
	steps := []struct {
		name      string
		do        func()
		wantReads int
		wantFull  int
	}{
		{"takeover reads every account", func() {}, 10, 1},
		{"nothing changed: nothing read", func() {}, 0, 0},
		{"two notified", func() { e.source.set("a1", scoreInputs(20)); e.source.set("a7", scoreInputs(60)) }, 2, 0},
		{"one notified twice reads once", func() { e.source.set("a3", scoreInputs(20)); e.source.set("a3", scoreInputs(21)) }, 1, 0},
		{"a new day", func() { e.clock.advance(24 * time.Hour) }, 10, 1},
		{"same day again", func() { e.clock.advance(time.Hour) }, 0, 0},
		{"a new model", func() {
			m := directModel()
			m.Version = "direct-2"
			e.model = m
			s.deps.Model = StaticModel{M: m}
		}, 10, 1},
	}
	for _, step := range steps {
		step.do()
		before := e.source.reads
		st := rescore(t, s)
		if got := e.source.reads - before; got != step.wantReads || st.Full != step.wantFull {
			t.Errorf("%s: read %d accounts, %d partitions whole; want %d, %d", step.name, got, st.Full, step.wantReads, step.wantFull)
		}
	}
	got := e.topic.changes(t)
	if len(got) != 10+2 {
		t.Errorf("%d changes (%v), want 10 first bands, a1 to red and a3 to red", len(got), bands(got))
	}
	if e.group.committed[0] != e.group.offsets[0] {
		t.Errorf("committed notification offset %d, want %d (all acted upon)", e.group.committed[0], e.group.offsets[0])
	}
}

// TestQueryFailureKeepsNotified: accounts whose inputs could not be read are read at the
// next rescoring although no new notification names them, and their offset is not committed
// before.
func TestQueryFailureKeepsNotified(t *testing.T) {
	e := newEnv(directModel())
	e.source.set("a", scoreInputs(50))
	s := e.scorer(t)
	rescore(t, s)
	e.source.set("a", scoreInputs(10))
	e.source.fail = 1
	if _, err := s.Rescore(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("Rescore = %v, want the injected failure", err)
	}
	if e.group.committed[0] == e.group.offsets[0] {
		t.Error("the notification was committed although its account was not rescored")
	}
	rescore(t, s)
	if got := e.topic.changes(t); len(got) != 2 || got[1].Band != health.BandRed {
		t.Fatalf("changes %v, want yellow then red", bands(got))
	}
}

// accountsOn returns n account ids of partition p of parts.
func accountsOn(p, parts int32, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		if id := fmt.Sprintf("acct-%d", i); topics.AccountPartition(id, parts) == p {
			out = append(out, id)
		}
	}
	return out
}

// TestInstancesShareAccounts: two instances with two partitions each score only the accounts
// of their partitions, publish on those partitions, and together announce every account
// once.
func TestInstancesShareAccounts(t *testing.T) {
	e := newEnvParts(directModel(), 4)
	var all []string
	for p := range int32(4) {
		ids := accountsOn(p, 4, 3)
		all = append(all, ids...)
		for _, id := range ids {
			e.source.set(id, scoreInputs(50))
		}
	}
	a, b := e.scorerOf(t, 0, 1), e.scorerOf(t, 2, 3)
	sa, sb := rescore(t, a), rescore(t, b)
	if sa.Accounts != 6 || sb.Accounts != 6 {
		t.Fatalf("scored %d and %d accounts, want 6 each", sa.Accounts, sb.Accounts)
	}
	for _, s := range []*Scorer{a, b} {
		page, _ := s.Snapshot().List(Filter{}, "", 100)
		for _, v := range page {
			if !s.Owns(v.AccountID) {
				t.Errorf("instance with %v shows %s of partition %d", s.Owned(), v.AccountID, topics.AccountPartition(v.AccountID, 4))
			}
		}
	}
	seen := map[string]int{}
	for _, r := range e.topic.records {
		c, _ := ParseRecord(r)
		seen[c.AccountID]++
		if want := topics.AccountPartition(c.AccountID, 4); r.Partition != want {
			t.Errorf("%s announced on partition %d, want %d", c.AccountID, r.Partition, want)
		}
	}
	for _, id := range all {
		if seen[id] != 1 {
			t.Errorf("%s announced %d times, want once", id, seen[id])
		}
	}
}

// TestTakeoverFencesZombie: an instance paused past its session is replaced; when it
// resumes, its announcements are fenced, it drops the partition without publishing, and does
// not take it back while the group gives it to the successor. The successor announces each
// change exactly once, and a late row of the zombie loses to the successor's.
func TestTakeoverFencesZombie(t *testing.T) {
	e := newEnv(directModel())
	e.source.set("acme", scoreInputs(50))
	zombie := e.scorer(t)
	rescore(t, zombie)

	// The group gives partition 0 to a successor; the paused instance does not know yet.
	e.group.notOwned = map[int32]bool{0: true}
	successor := e.scorer(t)
	e.source.set("acme", scoreInputs(10))
	rescore(t, successor)

	// The zombie resumes and acts on a notification before its group tells it anything.
	e.source.set("acme", scoreInputs(12))
	if _, err := zombie.Rescore(context.Background()); !errors.Is(err, ErrFenced) {
		t.Fatalf("zombie's Rescore = %v, want ErrFenced", err)
	}
	if len(zombie.Owned()) != 0 || zombie.Snapshot().Len() != 0 {
		t.Errorf("zombie still owns %v with %d accounts", zombie.Owned(), zombie.Snapshot().Len())
	}
	opens := e.topic.opens
	if _, err := zombie.Rescore(context.Background()); err == nil {
		t.Error("zombie's next Rescore succeeded without the group's confirmation")
	}
	if e.topic.opens != opens {
		t.Error("the zombie opened the partition again, fencing its successor")
	}
	e.source.set("acme", scoreInputs(80))
	rescore(t, successor)
	got := e.topic.changes(t)
	if fmt.Sprint(bands(got)) != "[none→yellow yellow→red red→green]" {
		t.Errorf("changes %v, want each band change once", bands(got))
	}
	rows := e.history.of("acme")
	if len(rows) != 3 || rows[2].Band != health.BandGreen {
		t.Errorf("rows %+v, want three, the last green", rows)
	}
	for _, r := range rows[1:] {
		if r.Fence != 2 {
			t.Errorf("row rev %d written under epoch %d, want the successor's 2", r.Rev, r.Fence)
		}
	}
}

// TestFailedEmitReopensWhenOwned: after an Emit whose outcome is unknown, the instance asks
// the group, opens the partition again (a new epoch), restores it from the topic and goes on
// without announcing twice.
func TestFailedEmitReopensWhenOwned(t *testing.T) {
	e := newEnv(directModel())
	e.source.set("acme", scoreInputs(50))
	s := e.scorer(t)
	rescore(t, s)
	e.source.set("acme", scoreInputs(10))
	e.topic.failAfter = 1
	if _, err := s.Rescore(context.Background()); !errors.Is(err, errInjected) {
		t.Fatal("want the injected failure")
	}
	st := rescore(t, s)
	if st.Full != 1 || st.Changes != 0 {
		t.Errorf("after reopening: %d partitions read whole, %d changes; want 1 and none", st.Full, st.Changes)
	}
	if e.topic.epochs[0] != 2 {
		t.Errorf("epoch %d, want 2 after the reopening", e.topic.epochs[0])
	}
	if got := e.topic.changes(t); len(got) != 2 {
		t.Errorf("changes %v, want two", bands(got))
	}
}

// TestRevoke: a revoked partition's accounts leave the snapshot, and nothing is published on
// it afterwards.
func TestRevoke(t *testing.T) {
	e := newEnvParts(directModel(), 2)
	ids := append(accountsOn(0, 2, 2), accountsOn(1, 2, 2)...)
	for _, id := range ids {
		e.source.set(id, scoreInputs(50))
	}
	s := e.scorer(t)
	rescore(t, s)
	s.Revoke([]int32{1})
	if got := s.Owned(); !slices.Equal(got, []int32{0}) {
		t.Fatalf("owned %v after revoking 1", got)
	}
	if n := s.Snapshot().Len(); n != 2 {
		t.Errorf("%d accounts in the snapshot, want partition 0's 2", n)
	}
	n := len(e.topic.records)
	for _, id := range ids {
		e.source.set(id, scoreInputs(10))
	}
	rescore(t, s)
	for _, r := range e.topic.records[n:] {
		if r.Partition != 0 {
			t.Errorf("published on revoked partition %d", r.Partition)
		}
	}
}

// memLatest serves the last rows of memHistory, as scorestore does from account_health.
type memLatest struct{ h *memHistory }

func (l memLatest) LatestRow(_ context.Context, id string) (LatestRow, bool, error) {
	rows := l.h.of(id)
	if len(rows) == 0 {
		return LatestRow{}, false, nil
	}
	last := rows[len(rows)-1]
	since := last.ScoredAt
	for _, r := range rows {
		if r.ChangeSeq == last.ChangeSeq {
			since = r.ScoredAt
			break
		}
	}
	return LatestRow{Row: last, BandSince: since}, true, nil
}

func (l memLatest) LatestRows(ctx context.Context, f Filter, after string, limit int) ([]LatestRow, bool, error) {
	ids := map[string]bool{}
	for _, r := range l.h.rows {
		ids[r.AccountID] = true
	}
	var out []LatestRow
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		lr, _, _ := l.LatestRow(ctx, id)
		if id <= after || (f.Band != health.BandNone && lr.Row.Band != f.Band) {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		out = append(out, lr)
	}
	return out, false, nil
}

// TestReadAnyAccount: an instance answers for the accounts of the other instances from
// their last rows, with the band and since when they are in it, and lists every account.
func TestReadAnyAccount(t *testing.T) {
	e := newEnvParts(directModel(), 2)
	mine, theirs := accountsOn(0, 2, 1)[0], accountsOn(1, 2, 1)[0]
	e.source.set(mine, scoreInputs(50))
	e.source.set(theirs, scoreInputs(20))
	a := e.scorerOf(t, 0)
	a.deps.Latest = memLatest{e.history}
	b := e.scorerOf(t, 1)
	rescore(t, a)
	rescore(t, b)
	e.clock.advance(time.Hour)
	e.source.set(theirs, scoreInputs(25))
	rescore(t, b)

	ctx := context.Background()
	for _, tt := range []struct {
		id    string
		band  health.Band
		score float64
	}{{mine, health.BandYellow, 50}, {theirs, health.BandRed, 25}} {
		v, err := a.Health(ctx, tt.id)
		if err != nil || v == nil || v.Band != tt.band || v.Score != tt.score {
			t.Fatalf("Health(%s) = %+v, %v; want %s %v", tt.id, v, err, tt.band, tt.score)
		}
		if tt.id == theirs && !v.BandSince.Equal(e.clock.Now().Add(-time.Hour)) {
			t.Errorf("band_since of %s = %s, want the time of its first row", tt.id, v.BandSince)
		}
		if v.Components[health.ComponentBilling].Weight != 1 {
			t.Errorf("%s: billing weight %v, want 1 (filled from the model)", tt.id, v.Components[health.ComponentBilling].Weight)
		}
	}
	if v, err := a.Health(ctx, "nobody"); v != nil || err != nil {
		t.Errorf("Health(nobody) = %+v, %v", v, err)
	}
	page, more, err := a.List(ctx, Filter{}, "", 10)
	if err != nil || more || len(page) != 2 {
		t.Fatalf("List = %d accounts, %v, %v; want both", len(page), more, err)
	}
	page, _, _ = a.List(ctx, Filter{Band: health.BandRed}, "", 10)
	if len(page) != 1 || page[0].AccountID != theirs {
		t.Errorf("List(red) = %v, want %s", page, theirs)
	}
}
