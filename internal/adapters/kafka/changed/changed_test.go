package changed_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/changed"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/topics"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// member records what a Group assigns it.
type member struct {
	mu    sync.Mutex
	parts []int32
	calls int
}

func (m *member) Assign(ps []int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.parts = append(m.parts, ps...)
	slices.Sort(m.parts)
	m.calls++
}

func (m *member) Revoke(ps []int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.parts = slices.DeleteFunc(m.parts, func(p int32) bool { return slices.Contains(ps, p) })
}

func (m *member) owned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.parts)
}

// TestGroupSharesNotifiedAccounts: two members share the partitions; a worker's
// notifications reach the member that owns each account's partition; Owns answers from the
// group's assignment; when a member leaves, the other is given its partitions and reads
// their notifications from the committed offsets.
func TestGroupSharesNotifiedAccounts(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	ctx := context.Background()
	cfg := changed.Config{Brokers: brokers, Group: "test-scorers", SessionTimeout: 6 * time.Second, HeartbeatInterval: 300 * time.Millisecond}
	ga, gb := changed.NewGroup(cfg, topics.AccountsChanged, nil, nil), changed.NewGroup(cfg, topics.AccountsChanged, nil, nil)
	ma, mb := &member{}, &member{}
	ctxA, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { defer close(doneA); _ = ga.Run(ctxA, ma) }()
	ctxB, stopB := context.WithCancel(ctx)
	defer stopB()
	go func() { _ = gb.Run(ctxB, mb) }()
	testenv.Eventually(t, 30*time.Second, func() error {
		a, b := ma.owned(), mb.owned()
		if len(a)+len(b) != kafka.DefaultPartitions || len(a) == 0 || len(b) == 0 {
			return fmt.Errorf("assigned %v and %v", a, b)
		}
		return nil
	})

	n, err := changed.NewNotifier(ctx, kafka.ClientOpts(brokers, "test-worker", nil), topics.AccountsChanged)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var ids []string
	for i := range 40 {
		ids = append(ids, fmt.Sprintf("acct-%d", i))
	}
	if err := n.AccountsChanged(ctx, append(ids, ids[:5]...)); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	take := func(g *changed.Group, m *member) error {
		for _, p := range m.owned() {
			accs, next := g.Take(p)
			for _, id := range accs {
				got[id]++
				if want := topics.AccountPartition(id, kafka.DefaultPartitions); want != p {
					return fmt.Errorf("%s taken from partition %d, belongs to %d", id, p, want)
				}
			}
			if next >= 0 {
				if err := g.Commit(ctx, map[int32]int64{p: next}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if err := take(ga, ma); err != nil {
			return err
		}
		if err := take(gb, mb); err != nil {
			return err
		}
		if len(got) != len(ids) {
			return fmt.Errorf("%d of %d accounts notified", len(got), len(ids))
		}
		return nil
	})
	for id, c := range got {
		if c != 1 {
			t.Errorf("%s taken %d times, want once (notifications are de-duplicated per record and per Take)", id, c)
		}
	}
	a, b := ma.owned(), mb.owned()
	if err := ga.Owns(ctx, a[0]); err != nil {
		t.Errorf("Owns(%d) on its owner: %v", a[0], err)
	}
	if err := ga.Owns(ctx, b[0]); err == nil {
		t.Errorf("Owns(%d) on the other member succeeded", b[0])
	}

	// A leaves; B gets everything, and A's partitions' notifications after A's commits.
	stopA()
	<-doneA
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := mb.owned(); len(got) != kafka.DefaultPartitions {
			return fmt.Errorf("B owns %v", got)
		}
		return gb.Owns(ctx, a[0])
	})
	late := accountOf(a[0], 1000)
	if err := n.AccountsChanged(ctx, []string{late}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		accs, _ := gb.Take(a[0])
		if !slices.Equal(accs, []string{late}) {
			return fmt.Errorf("B took %v from partition %d, want only %s (older notifications were committed by A)", accs, a[0], late)
		}
		return nil
	})
}

func accountOf(p int32, from int) string {
	for i := from; ; i++ {
		if id := fmt.Sprintf("acct-%d", i); topics.AccountPartition(id, kafka.DefaultPartitions) == p {
			return id
		}
	}
}

func TestDecode(t *testing.T) {
	b, err := changed.Encode([]string{"a", "b\n\"c"})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := changed.Decode(b)
	if err != nil || !slices.Equal(ids, []string{"a", "b\n\"c"}) {
		t.Errorf("round trip: %q, %v", ids, err)
	}
	if _, err := changed.Decode([]byte("acct-1")); err == nil {
		t.Error("Decode of a bare string succeeded")
	}
}

// FuzzDecode: any record value decodes to ids that encode back to the same ids, or to an
// error; never a panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`["a","b"]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`["\u0000",""]`))
	f.Add([]byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := changed.Decode(b)
		if err != nil {
			return
		}
		again, err := changed.Encode(ids)
		if err != nil {
			t.Fatal(err)
		}
		back, err := changed.Decode(again)
		if err != nil || !slices.Equal(back, ids) {
			t.Fatalf("round trip of %q: %q, %v", ids, back, err)
		}
	})
}
