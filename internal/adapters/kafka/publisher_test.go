package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/topics"
)

// The Publisher reuses each request's records, keys and values for a later request once
// ProduceSync has returned. These tests make many requests overlap while the broker holds
// their acknowledgements, and then read the topic back: a batch reused too early would have
// its keys and values overwritten by another request while franz-go still had them to send,
// and the topic would hold records that were never published, or keys that do not match
// their values.

// newPublisher starts a one-broker cluster whose produce responses are delayed by delay()
// (run outside the cluster's loop, so other connections go on), and a Publisher on it with
// the gateway's producer settings.
func newPublisher(t *testing.T, delay func()) (*kafka.Publisher, *kfake.Cluster) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topics.Events))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(delay)
		return nil, nil, false
	})
	opts := append(kafka.ClientOpts(c.ListenAddrs(), "publisher-test", nil), kafka.ProducerOpts()...)
	opts = append(opts, kgo.AllowIdempotentProduceCancellation()) // as services/gateway
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kafka.NewPublisher(cl, topics.Events), c
}

// testEvents returns n events of request r, each with its own id, and account ids and
// properties of varied lengths so that reused arenas are filled at other offsets each time.
func testEvents(rng *rand.Rand, r, n int) []event.Event {
	ts := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	recv := ts.Add(time.Duration(r) * time.Millisecond)
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{
			EventID:           fmt.Sprintf("r%d-e%d", r, i),
			AccountID:         fmt.Sprintf("acct-%0*d", 1+rng.IntN(40), rng.IntN(1000)),
			UserID:            fmt.Sprintf("user-%d", rng.IntN(100)),
			Name:              "report.exported",
			Timestamp:         ts.Add(time.Duration(rng.IntN(1e9))),
			OriginalTimestamp: ts,
			ReceivedAt:        recv,
		}
		if rng.IntN(2) == 0 {
			evs[i].Properties = []byte(fmt.Sprintf(`{"pad":"%0*d"}`, rng.IntN(2000), 7))
		}
	}
	return evs
}

// readAll consumes the topic until done(records so far) and returns value → key for each
// record, failing on a value seen twice.
func readAll(t *testing.T, c *kfake.Cluster, done func(map[string]string) bool) map[string]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topics.Events),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(map[string]string)
	for !done(got) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%d records read, not all expected: %v", len(got), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, dup := got[string(r.Value)]; dup {
				t.Errorf("record %s twice on the topic", r.Value)
			}
			got[string(r.Value)] = string(r.Key)
		})
	}
	return got
}

func TestPublishOverlappingRequests(t *testing.T) {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 1))
	pub, c := newPublisher(t, func() {
		mu.Lock()
		d := time.Duration(rng.IntN(3000)) * time.Microsecond
		mu.Unlock()
		time.Sleep(d)
	})

	const workers, requests = 16, 25
	want := make(map[string]string) // value → key
	var wantMu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for r := range requests {
				evs := testEvents(rng, w*requests+r, 1+rng.IntN(150))
				if err := pub.Publish(context.Background(), evs); err != nil {
					t.Error(err)
					return
				}
				wantMu.Lock()
				for i := range evs {
					want[string(evs[i].AppendJSON(nil))] = evs[i].AccountID
				}
				wantMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := readAll(t, c, func(got map[string]string) bool { return len(got) >= len(want) })
	for v, k := range got {
		if wk, ok := want[v]; !ok {
			t.Errorf("record never published: %s", v)
		} else if k != wk {
			t.Errorf("record %s has key %q, want %q", v, k, wk)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d records on the topic, want %d", len(got), len(want))
	}
}

// TestPublishAfterTimeout: a request that times out while the broker holds its records
// gets its error only when franz-go has given them up; the requests after it, which may
// reuse its batch, do not change what the broker receives. The broker then lets
// everything through: the timed-out records may land (the gateway's client retries them
// under the same event ids), but each one intact.
func TestPublishAfterTimeout(t *testing.T) {
	release := make(chan struct{})
	pub, c := newPublisher(t, func() {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	})
	rng := rand.New(rand.NewPCG(3, 3))
	want := make(map[string]string)
	var timedOut []event.Event
	for r := range 3 {
		evs := testEvents(rng, r, 50)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := pub.Publish(ctx, evs)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("request %d: got %v, want a deadline error", r, err)
		}
		timedOut = append(timedOut, evs...)
	}
	close(release)
	for r := 3; r < 20; r++ {
		evs := testEvents(rng, r, 1+rng.IntN(100))
		if err := pub.Publish(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			want[string(evs[i].AppendJSON(nil))] = evs[i].AccountID
		}
	}
	// The timed-out records may or may not be on the topic: wait for the others, and check
	// whichever of the former arrived with them.
	got := readAll(t, c, func(got map[string]string) bool {
		for v := range want {
			if _, ok := got[v]; !ok {
				return false
			}
		}
		return true
	})
	for i := range timedOut {
		want[string(timedOut[i].AppendJSON(nil))] = timedOut[i].AccountID
	}
	for v, k := range got {
		if wk, ok := want[v]; !ok {
			t.Errorf("record never published: %s", v)
		} else if k != wk {
			t.Errorf("record %s has key %q, want %q", v, k, wk)
		}
	}
}
