package bench

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/clickhouse/eventstore"
	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/ingest"
	"github.com/engage-oss/engage/internal/topics"
	"github.com/engage-oss/engage/internal/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The benchmarks below run a service's code in process, so that `go test -cpuprofile`
// profiles what the service binaries (which have no pprof endpoint) spend their time on.
// They complement the scenarios of tools/bench, which measure the real processes.

// BenchmarkWorkerPipeline measures the worker's consume → sessionize → store → commit loop
// on a backlog: b.N events (100 per request shape, 1000 accounts × 20 users, timestamps
// now) are produced to an in-process broker first, then one worker with the dev defaults
// consumes them into a fresh database of a real ClickHouse; the op is one event, timed until
// the group has committed all of them. The CPU profile holds the worker and the
// in-process broker; ClickHouse runs in its own process.
//
//	go test -run '^$' -bench WorkerPipeline -benchtime 400000x -cpuprofile worker.prof ./internal/dev/bench
//
// It runs once per ClickHouse mode: one server, and the local 2 × 2 cluster (inserts through
// Distributed tables, synchronously, with replication), so the two compare in one run.
func BenchmarkWorkerPipeline(b *testing.B) {
	for _, mode := range testenv.Modes {
		b.Run(mode, func(b *testing.B) { workerPipeline(b, mode) })
	}
}

func workerPipeline(b *testing.B, mode string) {
	_, brokers := testenv.Kafka(b)
	conn, _ := testenv.Database(b, mode)
	ctx := context.Background()

	prod, err := NewRawProducer(brokers, topics.Events)
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	bodies := NewBodies(Traffic{Run: "wp", Accounts: 1000, UsersPerAccount: 20})
	batches, err := bodies.rawBatches(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	// The population's events again and again, each copy with its own event ids; encoded
	// with AppendJSON only, so that setup adds little to the profile.
	recs := make([]*kgo.Record, 0, b.N)
	for round := 0; len(recs) < b.N; round++ {
		for _, rb := range batches {
			for i := range rb.events {
				if len(recs) == b.N {
					break
				}
				ev := rb.events[i]
				ev.EventID = fmt.Sprintf("%s-r%d", ev.EventID, round)
				recs = append(recs, &kgo.Record{Topic: topics.Events, Key: rb.keys[i], Value: ev.AppendJSON(nil)})
			}
		}
	}
	for i := 0; i < len(recs); i += 10_000 {
		if err := prod.cl.ProduceSync(ctx, recs[i:min(i+10_000, len(recs))]...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}

	cfg := worker.DefaultConfig()
	cfg.Name = "bench-worker"
	b.ResetTimer()
	stop := testenv.Worker(b, brokers, eventstore.New(conn), cfg, nil)
	// Done when the group has committed every record: the worker commits a batch only after
	// all its rows are stored (events_raw first, session rows last). A short poll interval:
	// the wait is part of the measured time.
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer adm.Close()
	testenv.EventuallyEvery(b, 10*time.Minute, 20*time.Millisecond, func() error {
		offs, err := kadm.NewClient(adm).FetchOffsets(ctx, cfg.Group)
		if err != nil {
			return err
		}
		var n int64
		offs.Each(func(o kadm.OffsetResponse) { n += o.At })
		if n < int64(b.N) {
			return fmt.Errorf("%d of %d events committed", n, b.N)
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	stop()
}

// BenchmarkGatewayHTTP measures the gateway's HTTP → Kafka path in process: the ingest
// handler behind a real HTTP server on loopback, its kafka.Publisher producing to an
// in-process broker with the production settings, driven by 32 keep-alive clients sending
// 100-event bodies. One op is one request. Profile it to see where the gateway's time goes
// (the client and the broker share the profile; focus on ingest, kgo and net/http server
// frames).
//
//	go test -run '^$' -bench GatewayHTTP -benchtime 10s -cpuprofile gateway.prof ./internal/dev/bench
func BenchmarkGatewayHTTP(b *testing.B) {
	_, brokers := testenv.Kafka(b)
	opts := append(kafka.ClientOpts(brokers, "bench-gateway", nil), kafka.ProducerOpts()...)
	opts = append(opts, kgo.AllowIdempotentProduceCancellation())
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	keys, err := ingest.ParseKeyList(WriteKey)
	if err != nil {
		b.Fatal(err)
	}
	h, err := ingest.NewHandler(ingest.Config{Keys: keys}, kafka.NewPublisher(cl, topics.Events), zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	const clients = 32
	c := NewClient(srv.Listener.Addr().String(), WriteKey, clients)
	defer c.Close()
	bodies := NewBodies(Traffic{Run: "gh", Accounts: 1000, UsersPerAccount: 20})
	ctx := context.Background()

	var next int64
	var mu sync.Mutex
	var failed error
	b.ResetTimer()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, bodies.Size())
			for {
				mu.Lock()
				if next >= int64(b.N) || failed != nil {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				buf = bodies.Next(buf, time.Now())
				status, accepted, err := c.Post(ctx, buf)
				if err != nil || status != 200 || accepted != BatchEvents {
					mu.Lock()
					failed = fmt.Errorf("status %d, accepted %d: %v", status, accepted, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	b.ReportMetric(float64(b.N*BatchEvents)/b.Elapsed().Seconds(), "events/s")
}
