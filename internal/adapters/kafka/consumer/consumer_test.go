package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/consumer"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/session"
	"github.com/engage-oss/engage/internal/topics"
	"github.com/engage-oss/engage/internal/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// produce writes n events of account acme to engagement.events, all on one partition.
func produce(t *testing.T, brokers []string, from, n int) {
	t.Helper()
	cl, err := kgo.NewClient(append(kafka.ClientOpts(brokers, "test-producer", nil), kafka.ProducerOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pub := kafka.NewPublisher(cl, topics.Events)
	var evs []event.Event
	for i := from; i < from+n; i++ {
		in := event.Input{EventID: fmt.Sprintf("e-%03d", i), AccountID: "acme", UserID: "u1", Name: "report.viewed",
			Timestamp: time.Date(2026, 11, 21, 10, 0, i, 0, time.UTC).Format(time.RFC3339)}
		ev, err := in.Build(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if err := pub.Publish(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

// failCommits makes the next n OffsetCommit requests fail with code on every partition.
func failCommits(c *kfake.Cluster, n int, code int16) {
	var mu sync.Mutex
	left := n
	c.ControlKey(kmsg.OffsetCommit.Int16(), func(r kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		if left == 0 {
			return nil, nil, false
		}
		left--
		if left > 0 {
			c.KeepControl()
		}
		req := r.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// committed returns the group's committed offset of partition 0 of engagement.events, -1 when
// there is none.
func committed(t *testing.T, brokers []string, group string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup(topics.Events, 0)
	if !ok {
		return -1
	}
	return o.At
}

type listener struct{}

func (listener) Assigned(context.Context, []int32) {}
func (listener) Revoked(context.Context, []int32)  {}

func newConsumer(t *testing.T, brokers []string, cfg worker.Config, l worker.PartitionListener) *consumer.Consumer {
	t.Helper()
	c, err := consumer.New(cfg, append(kafka.ClientOpts(brokers, cfg.Name, nil), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestCommitErrors pins how CommitPolled reports the broker's refusals: the ones that mean
// this member left the group's generation wrap worker.ErrLostGeneration (the worker then
// lets the records be redelivered), any other is an error the worker retries; and a later
// commit still commits everything polled.
func TestCommitErrors(t *testing.T) {
	for _, tc := range []struct {
		err  *kerr.Error
		lost bool
	}{
		{kerr.IllegalGeneration, true},
		{kerr.UnknownMemberID, true},
		{kerr.FencedInstanceID, true},
		{kerr.RebalanceInProgress, true},
		{kerr.GroupAuthorizationFailed, false},
		{kerr.OffsetMetadataTooLarge, false},
	} {
		t.Run(tc.err.Message, func(t *testing.T) {
			c, brokers := testenv.Kafka(t, kfake.SeedTopics(1, topics.Events, topics.EventsDLQ))
			produce(t, brokers, 0, 3)
			cfg := worker.DefaultConfig()
			cfg.Group = "g-" + tc.err.Message
			cons := newConsumer(t, brokers, cfg, listener{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var got int
			for got < 3 {
				f, err := cons.Poll(ctx, 10)
				if err != nil || ctx.Err() != nil {
					t.Fatalf("polled %d of 3 records: %v %v", got, err, ctx.Err())
				}
				got += len(f.Records)
			}

			failCommits(c, 1, tc.err.Code)
			err := cons.CommitPolled(ctx)
			if err == nil {
				t.Fatalf("commit succeeded, want %v", tc.err)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("commit error %v does not wrap %v", err, tc.err)
			}
			if lost := errors.Is(err, worker.ErrLostGeneration); lost != tc.lost {
				t.Errorf("errors.Is(%v, ErrLostGeneration) = %v, want %v", err, lost, tc.lost)
			}
			if off := committed(t, brokers, cfg.Group); off != -1 {
				t.Errorf("a refused commit committed offset %d", off)
			}
			if !tc.lost {
				if err := cons.CommitPolled(ctx); err != nil {
					t.Fatalf("commit after the refusal: %v", err)
				}
				if off := committed(t, brokers, cfg.Group); off != 3 {
					t.Errorf("committed offset = %d after the retry, want 3", off)
				}
			}
		})
	}
}

// nullStore stores raw events in memory and session rows nowhere: enough for a worker whose
// sessions are not under test.
type nullStore struct {
	mu  sync.Mutex
	ids map[string]int
}

func (s *nullStore) WriteEvents(_ context.Context, evs []worker.RawEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		s.ids[e.EventID]++
	}
	return nil
}
func (s *nullStore) WriteRows(context.Context, *session.Rows) error       { return nil }
func (s *nullStore) PartitionClock(context.Context, int32) (int64, error) { return 0, nil }
func (s *nullStore) Load(context.Context, session.Restore) (session.Restored, error) {
	return session.Restored{}, nil
}
func (s *nullStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// TestWorkerThroughCommitErrors runs a worker on the franz-go consumer while the broker
// refuses commits, first as a transient error and then as a lost generation: the worker
// neither stops nor loses a record, and the offsets end up committed.
func TestWorkerThroughCommitErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int16
		n    int
	}{
		{"commit refused twice", kerr.GroupAuthorizationFailed.Code, 2},
		{"lost generation", kerr.IllegalGeneration.Code, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, brokers := testenv.Kafka(t, kfake.SeedTopics(1, topics.Events, topics.EventsDLQ))
			failCommits(c, tc.n, tc.code)
			produce(t, brokers, 0, 5)

			store := &nullStore{ids: map[string]int{}}
			cfg := worker.DefaultConfig()
			cfg.FlushInterval = 50 * time.Millisecond
			w, err := worker.New(cfg, store, zaptest.NewLogger(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			cons := newConsumer(t, brokers, cfg, w)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx, cons, cons) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("worker: %v", err)
				}
			}()

			testenv.Eventually(t, 20*time.Second, func() error {
				if n := store.count(); n != 5 {
					return fmt.Errorf("stored %d of 5 events", n)
				}
				return nil
			})
			// The next batch's commit covers whatever the refused one left uncommitted.
			produce(t, brokers, 5, 1)
			testenv.Eventually(t, 20*time.Second, func() error {
				if off := committed(t, brokers, cfg.Group); off != 6 {
					return fmt.Errorf("committed offset %d, want 6", off)
				}
				return nil
			})
			if n := store.count(); n != 6 {
				t.Fatalf("stored %d distinct events, want 6", n)
			}
		})
	}
}

// TestProduceDeadLetters: a dead letter keeps its record's key, value and headers, and adds
// the reason, the source (topic/partition@offset) and the worker's name as headers.
func TestProduceDeadLetters(t *testing.T) {
	_, brokers := testenv.Kafka(t, kfake.SeedTopics(1, topics.Events, topics.EventsDLQ))
	cons := newConsumer(t, brokers, worker.DefaultConfig(), listener{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dl := worker.DeadLetter{
		Record: worker.Record{Topic: topics.Events, Partition: 3, Offset: 42, Key: []byte("acme"), Value: []byte("{not json"),
			Headers: []worker.Header{{Key: "traceparent", Value: []byte("00-abc-01")}}},
		Reason: "undecodable: unexpected end of JSON input",
		Worker: "worker-7",
	}
	if err := cons.ProduceDeadLetters(ctx, []worker.DeadLetter{dl}); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.EventsDLQ), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got *kgo.Record
	for got == nil {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no dead letter on the topic")
		}
		fs.EachRecord(func(r *kgo.Record) { got = r })
	}
	if string(got.Key) != "acme" || string(got.Value) != "{not json" {
		t.Errorf("dead letter key %q value %q, want the record's", got.Key, got.Value)
	}
	hdr := map[string]string{}
	for _, h := range got.Headers {
		hdr[h.Key] = string(h.Value)
	}
	for k, want := range map[string]string{
		"traceparent":          "00-abc-01",
		topics.HeaderDLQReason: dl.Reason,
		topics.HeaderDLQSource: "engagement.events/3@42",
		topics.HeaderDLQWorker: "worker-7",
	} {
		if hdr[k] != want {
			t.Errorf("header %s = %q, want %q", k, hdr[k], want)
		}
	}
}

// TestCheckMembership follows one member through what CheckMembership must tell apart: in
// the group; a rebalance waiting for it while it holds polled records (still its
// partitions); removed because it blocked the rebalance past the rebalance timeout, as a
// worker waiting out a ClickHouse outage with a batch in hand does (the group moved on,
// although its client, blocked, still holds the old membership); and back in the group once
// it allows the rebalance.
func TestCheckMembership(t *testing.T) {
	_, brokers := testenv.Kafka(t, kfake.SeedTopics(1, topics.Events, topics.EventsDLQ), kfake.GroupMinSessionTimeout(time.Second))
	produce(t, brokers, 0, 3)
	cfg := worker.DefaultConfig()
	cfg.Group = "g-membership"
	cfg.GroupSessionTimeout = time.Second // and a rebalance timeout of 2 s
	a := newConsumer(t, brokers, cfg, listener{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for got := 0; got < 3; {
		f, err := a.Poll(ctx, 10)
		if err != nil || ctx.Err() != nil {
			t.Fatalf("polled %d of 3 records: %v %v", got, err, ctx.Err())
		}
		got += len(f.Records)
	}
	if err := a.CheckMembership(ctx); err != nil {
		t.Fatalf("member holding records: %v", err)
	}

	adm := kadm.NewClient(newClient(t, brokers))
	state := func() string {
		gs, err := adm.DescribeGroups(ctx, cfg.Group)
		if err != nil {
			t.Fatal(err)
		}
		return gs[cfg.Group].State
	}
	cfg.Name = "b"
	newConsumer(t, brokers, cfg, listener{}) // joins: a rebalance that waits for a
	testenv.EventuallyEvery(t, 10*time.Second, 10*time.Millisecond, func() error {
		if s := state(); s != "PreparingRebalance" {
			return fmt.Errorf("group state %s, want PreparingRebalance", s)
		}
		return nil
	})
	if err := a.CheckMembership(ctx); err != nil {
		t.Fatalf("member awaited by a rebalance: %v, want nil (no partition moves before it rejoins)", err)
	}

	testenv.Eventually(t, 10*time.Second, func() error {
		err := a.CheckMembership(ctx)
		if err == nil {
			return errors.New("still a member past the rebalance timeout")
		}
		if !errors.Is(err, worker.ErrLostGeneration) || !errors.Is(err, kerr.UnknownMemberID) {
			t.Fatalf("removed member: %v, want ErrLostGeneration and UNKNOWN_MEMBER_ID", err)
		}
		return nil
	})

	a.AllowRebalance() // the client now learns it was removed, and rejoins
	testenv.Eventually(t, 10*time.Second, func() error {
		// A short poll runs the rebalance callbacks; b holds the one partition now.
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := a.Poll(pctx, 10); err != nil {
			return err
		}
		a.AllowRebalance()
		return a.CheckMembership(ctx)
	})
}

func newClient(t *testing.T, brokers []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// slowStore is a nullStore whose raw-event writes take delay: a worker on it falls behind.
type slowStore struct {
	nullStore
	delay time.Duration
}

func (s *slowStore) WriteEvents(ctx context.Context, evs []worker.RawEvent) error {
	time.Sleep(s.delay)
	return s.nullStore.WriteEvents(ctx, evs)
}

// backlog measures what engage_worker_consumer_lag_records must report, the way an operator
// would: high watermarks minus the group's committed offsets, summed over the partitions.
func backlog(ctx context.Context, adm *kadm.Client, group string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topics.Events)
	if err != nil {
		return 0, err
	}
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(end kadm.ListedOffset) {
		at := int64(0) // no commit yet: consumed from the log start, 0 here
		if o, ok := offs.Lookup(end.Topic, end.Partition); ok && o.At >= 0 {
			at = o.At
		}
		n += end.Offset - at
	})
	return n, nil
}

// gaugeSum sums a gauge family's series.
func gaugeSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// TestLagUnderLoad runs a worker on a store too slow for the load, so that a backlog of tens
// of thousands of records builds up while the client fetches ahead, and checks that
// engage_worker_consumer_lag_records stays within 5 % of the backlog measured from outside
// (high watermarks − committed offsets, read with kadm), sample after sample.
func TestLagUnderLoad(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	cl, err := kgo.NewClient(append(kafka.ClientOpts(brokers, "test-producer", nil), kafka.ProducerOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	pub := kafka.NewPublisher(cl, topics.Events)
	seq := 0
	publish := func(n int) {
		evs := make([]event.Event, 0, n)
		for range n {
			in := event.Input{EventID: fmt.Sprintf("e-%d", seq), AccountID: fmt.Sprintf("acct-%d", seq%16), UserID: "u1",
				Name: "report.viewed", Timestamp: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Millisecond).Format(time.RFC3339Nano)}
			seq++
			ev, err := in.Build(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		if err := pub.Publish(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		publish(1000) // a backlog to start from
	}

	store := &slowStore{nullStore: nullStore{ids: map[string]int{}}, delay: 100 * time.Millisecond}
	cfg := worker.DefaultConfig()
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.MaxBatchRecords = 300
	cfg.LagInterval = 50 * time.Millisecond
	reg := prometheus.NewRegistry()
	w, err := worker.New(cfg, store, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), reg)
	if err != nil {
		t.Fatal(err)
	}
	cons := newConsumer(t, brokers, cfg, w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, cons, cons) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()

	// Keep producing about 5 000 records/s, more than the worker stores.
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for tick := time.NewTicker(20 * time.Millisecond); loadCtx.Err() == nil; <-tick.C {
			publish(100)
		}
	}()
	defer func() {
		stopLoad()
		<-loadDone
	}()

	testenv.Eventually(t, 20*time.Second, func() error {
		if n := store.count(); n < 3000 {
			return fmt.Errorf("stored %d events", n)
		}
		return nil
	})
	samples, maxBuffered := 0, 0.0
	for i := 0; i < 20; i++ {
		time.Sleep(150 * time.Millisecond)
		before, err := backlog(ctx, adm, cfg.Group)
		if err != nil {
			t.Fatal(err)
		}
		gauge := gaugeSum(t, reg, "engage_worker_consumer_lag_records")
		after, err := backlog(ctx, adm, cfg.Group)
		if err != nil {
			t.Fatal(err)
		}
		maxBuffered = max(maxBuffered, gaugeSum(t, reg, "engage_worker_buffered_records"))
		lo, hi := float64(min(before, after)), float64(max(before, after))
		t.Logf("backlog %d..%d, gauge %.0f", int64(lo), int64(hi), gauge)
		if lo < 10_000 {
			t.Fatalf("backlog %d: the load does not outrun the worker", int64(lo))
		}
		if gauge < 0.95*lo || gauge > 1.05*hi {
			t.Errorf("lag gauge %.0f, measured backlog %d..%d: off by more than 5 %%", gauge, int64(lo), int64(hi))
		}
		samples++
	}
	t.Logf("%d samples; buffered records gauge up to %.0f", samples, maxBuffered)
}
