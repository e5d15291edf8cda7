package deliverylog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/adapters/clickhouse/deliverylog"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/notify"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestWriter: logged attempts reach webhook_deliveries with every column, on one server and
// through the cluster's Distributed table; a retried write of the same rows counts once.
func TestWriter(t *testing.T) {
	for _, mode := range testenv.Modes {
		t.Run(mode, func(t *testing.T) {
			conn, _ := testenv.Database(t, mode)
			w := deliverylog.New(conn, nil, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = w.Run(ctx); close(done) }()
			at := time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC)
			entries := []notify.Entry{
				{ID: "e1", Destination: "cs", AccountID: "acme", Attempt: 1, Status: 503, Latency: 12 * time.Millisecond, Error: "HTTP 503", Outcome: notify.Retry, At: at},
				{ID: "e1", Destination: "cs", AccountID: "acme", Attempt: 2, Status: 204, Latency: 8 * time.Millisecond, Outcome: notify.Delivered, At: at.Add(time.Second)},
				{ID: "e2", Destination: "slack", AccountID: "beta", Attempt: 1, Error: errors.New("connection refused").Error(), Outcome: notify.DeadLettered, At: at},
			}
			for _, e := range append(entries, entries[1]) { // the last: a retried write of the same attempt
				w.Log(e)
			}
			w.Flush(ctx)
			cancel()
			<-done
			var n, delivered uint64
			var lat uint32
			if err := conn.QueryRow(context.Background(),
				"SELECT count(), countIf(outcome = 'delivered'), maxIf(latency_ms, outcome = 'delivered') FROM (SELECT * FROM webhook_deliveries FINAL)").Scan(&n, &delivered, &lat); err != nil {
				t.Fatal(err)
			}
			if n != 3 || delivered != 1 || lat != 8 {
				t.Errorf("webhook_deliveries: %d rows, %d delivered, latency %d ms; want 3, 1, 8", n, delivered, lat)
			}
			var code uint16
			var errText string
			if err := conn.QueryRow(context.Background(), "SELECT status_code, error FROM webhook_deliveries WHERE id = 'e2'").Scan(&code, &errText); err != nil || code != 0 || errText != "connection refused" {
				t.Errorf("e2: status %d error %q (%v), want 0 and the error", code, errText, err)
			}
		})
	}
}
