package notify

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// BenchmarkDeliveries: deliveries per second from the notifier's runners to a fast local
// receiver (204 at once), with 1, 10 and 100 destinations each getting every change,
// signed, over HTTP/1.1 keep-alive on loopback, the delivery log and the commits in
// memory. Kafka is left out (a feed hands over records in memory): what is measured is the
// notifier's own work per delivery and the HTTP round trip, the load generator and the
// receiver sharing the machine.
//
//	go test -run '^$' -bench Deliveries -benchtime 5000x ./internal/notify
func BenchmarkDeliveries(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, IdleConnTimeout: time.Minute}}
	sender := &Sender{Client: client, Now: time.Now, UserAgent: "bench"}
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("destinations=%d", n), func(b *testing.B) {
			// b.N changes, spread over 500 accounts, to every destination.
			recs := make([]Record, b.N)
			for i := range recs {
				recs[i] = changeRecord(fmt.Sprintf("acct-%d", i%500), i/500+1, "red", "", int64(i))
			}
			var wg sync.WaitGroup
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			feeds := make([]*memFeed, n)
			b.ResetTimer()
			start := time.Now()
			for i := range n {
				cfg, err := ParseConfig([]byte(fmt.Sprintf("destinations:\n  - name: d%d\n    url: %s/hook\n    secret: %s\n    concurrency: 16\n", i, srv.URL, testSecret)))
				if err != nil {
					b.Fatal(err)
				}
				feeds[i] = &memFeed{recs: recs}
				r := NewRunner(cfg.Destinations[0], RunnerConfig{CommitInterval: 10 * time.Millisecond}, feeds[i], sender, &memDLQ{}, discardLog{}, NewMetrics(nil), nil)
				wg.Add(1)
				go func() { defer wg.Done(); _ = r.Run(ctx) }()
			}
			for _, f := range feeds {
				for {
					f.mu.Lock()
					c := f.committed[0]
					f.mu.Unlock()
					if c == int64(b.N) {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			wg.Wait()
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

type discardLog struct{}

func (discardLog) Log(Entry) {}
