package kpi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/engage-oss/engage/internal/adapters/clickhouse/eventstore"
	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/ingest"
	"github.com/engage-oss/engage/internal/topics"
	"github.com/engage-oss/engage/internal/worker"
)

// loadEvents reads an NDJSON file of events as clients send them (event.Input) and builds
// each as the gateway would, received at receivedAt.
func loadEvents(t *testing.T, path string, receivedAt time.Time) []event.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []event.Event
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var in event.Input
		if err := json.Unmarshal(sc.Bytes(), &in); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		ev, err := in.Build(receivedAt)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// pipeline sends every event of the NDJSON file at path through the gateway as a client
// would (one POST /v1/events per event, in order, over HTTP to the real ingest handler
// publishing to an in-process Kafka), runs the real stream worker into a fresh ClickHouse
// database, and returns once every distinct event is in events_raw.
func pipeline(t *testing.T, path string) driver.Conn { return pipelineIn(t, path, "single") }

// pipelineIn is pipeline on ClickHouse in mode (testenv.Modes).
func pipelineIn(t *testing.T, path, mode string) driver.Conn {
	t.Helper()
	ctx := context.Background()
	_, brokers := testenv.Kafka(t)
	conn, _ := testenv.Database(t, mode)

	cl, err := kgo.NewClient(append(kafka.ClientOpts(brokers, "kpi-test-gateway", nil), kafka.ProducerOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	keys, err := ingest.NewKeys(ingest.KeySpec{Key: "kpi-test-key"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ingest.NewHandler(ingest.Config{Keys: keys}, kafka.NewPublisher(cl, topics.Events),
		zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	defer gw.Close()

	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/v1/events", bytes.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer kpi-test-key")
		resp, err := gw.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s:%d: gateway answered %s: %s", path, i+1, resp.Status, answer)
		}
	}
	distinct := map[[2]string]bool{}
	for _, ev := range loadEvents(t, path, time.Now()) {
		distinct[[2]string{ev.AccountID, ev.EventID}] = true
	}

	cfg := worker.DefaultConfig()
	cfg.FlushInterval = 50 * time.Millisecond
	cfg.Name = "kpi-worker"
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	testenv.Worker(t, brokers, eventstore.New(conn), cfg, log)

	want := uint64(len(distinct))
	testenv.Eventually(t, 30*time.Second, func() error {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM events").Scan(&n); err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("events: %d of %d stored", n, want)
		}
		return nil
	})
	waitDerived(t, conn)
	return conn
}

// derivedTables pairs each table that a materialized view fills from events_raw with what it
// must hold once the view has seen every stored event: distinct keys on both sides.
var derivedTables = []struct{ table, got, want string }{
	{"signal_events",
		"SELECT uniqExact(account_id, event_id) FROM signal_events",
		"SELECT uniqExact(account_id, event_id) FROM events_raw WHERE name IN ('$account', '$nps', '$csat', '$renewal', '$referral', '$ticket')"},
	{"user_firsts",
		"SELECT uniqExact(account_id, user_id) FROM user_firsts",
		"SELECT uniqExact(account_id, user_id) FROM events_raw WHERE user_id != ''"},
	{"feature_user_months",
		"SELECT uniqExact(name, account_id, month, user_id) FROM feature_user_months",
		"SELECT uniqExact(name, account_id, toStartOfMonth(toDate(ts, 'UTC')), user_id) FROM events_raw WHERE user_id != ''"},
	{"user_activity_days",
		"SELECT uniqExact(account_id, user_id, day) FROM user_activity_days",
		"SELECT uniqExact(account_id, user_id, toDate(ts, 'UTC')) FROM events_raw WHERE user_id != '' AND (name = '$heartbeat' OR substring(name, 1, 1) != '$')"},
}

// waitDerived returns once every table in derivedTables has caught up with events_raw.
// ClickHouse writes an insert's block to events_raw before it runs the materialized views, so
// a reader can see the events a moment before the tables derived from them.
func waitDerived(t *testing.T, conn driver.Conn) {
	t.Helper()
	ctx := context.Background()
	testenv.Eventually(t, 30*time.Second, func() error {
		for _, d := range derivedTables {
			var got, want uint64
			if err := conn.QueryRow(ctx, d.got).Scan(&got); err != nil {
				return err
			}
			if err := conn.QueryRow(ctx, d.want).Scan(&want); err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%s: %d of %d keys", d.table, got, want)
			}
		}
		return nil
	})
}

// rawEvent is a row for insertRaw.
type rawEvent struct {
	id, account, user, name string
	at                      time.Time
	props                   string
}

// insertRaw writes events straight into events_raw, as the worker would, for tests that are
// about the views rather than the pipeline.
func insertRaw(t *testing.T, conn driver.Conn, evs []rawEvent) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(),
		"INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, received_at, properties, ver)")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if err := b.Append(e.id, e.account, e.user, e.name, e.at, e.at.UnixMilli(), e.at, e.props, uint64(math.MaxInt64-i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// lines renders rows one per line, fields separated by spaces: dates as 2006-01-02, times as
// 2006-01-02T15:04:05, nil as NULL, floats rounded to 4 decimals. Expected values in the
// tests are written the same way.
func lines[T any](rows []T, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i := range rows {
		v := reflect.ValueOf(rows[i])
		parts := make([]string, v.NumField())
		for j := range v.NumField() {
			parts[j] = render(v.Field(j))
		}
		out[i] = strings.Join(parts, " ")
	}
	return out, nil
}

func render(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "NULL"
		}
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case time.Time:
		x = x.UTC()
		if x.Equal(x.Truncate(24 * time.Hour)) {
			return x.Format(time.DateOnly)
		}
		return x.Format("2006-01-02T15:04:05")
	case float64:
		return strconv.FormatFloat(math.Round(x*1e4)/1e4, 'f', -1, 64)
	case string:
		if x == "" {
			return `""`
		}
		return x
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	}
	return fmt.Sprint(v.Interface())
}

// checkLines compares rendered rows with the expected lines.
func checkLines(t *testing.T, got []string, err error, want []string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func month(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}
