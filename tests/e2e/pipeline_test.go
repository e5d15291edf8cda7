package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/dev/clickhouseserver"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/session"
)

func post(t *testing.T, url, key, contentType, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func countOf(t *testing.T, conn driver.Conn, q string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestHTTPToClickHouse is the foundation's round trip: an event posted to the gateway is in
// engagement.events within 10 s, a repeat of its event_id leaves the count at 1, a wrong key
// gets 401 and a malformed body 400 naming the problem.
func TestHTTPToClickHouse(t *testing.T) {
	inModes(t, func(t *testing.T, mode string) {
		e, conn := newEnvIn(t, mode)
		e.broker(t)
		e.worker(t)
		e.gateway(t)
		url := "http://" + e.gatewayAddr + "/v1/events"
		eventOf := func(id string) string {
			return `{"event_id":"` + id + `","account_id":"acme","user_id":"ada","name":"report.exported","timestamp":"` +
				time.Now().UTC().Format(time.RFC3339) + `"}`
		}
		body := eventOf("hello-1")

		code, resp := post(t, url, "e2e-key", "application/json", body)
		if code != 200 || !strings.Contains(resp, `"accepted":1`) {
			t.Fatalf("first post: %d %s", code, resp)
		}
		testenv.Eventually(t, 10*time.Second, func() error {
			if n := countOf(t, conn, `SELECT count() FROM events`); n != 1 {
				return fmt.Errorf("count() = %d", n)
			}
			return nil
		})
		if code, resp := post(t, url, "e2e-key", "application/json", body); code != 200 {
			t.Fatalf("repeat: %d %s", code, resp)
		}
		// A marker of the same account follows the repeat on its partition, and the worker
		// stores a partition in order: once the marker is in, so is whatever the repeat left.
		if code, resp := post(t, url, "e2e-key", "application/json", eventOf("marker-1")); code != 200 {
			t.Fatalf("marker: %d %s", code, resp)
		}
		testenv.Eventually(t, 10*time.Second, func() error {
			if n := countOf(t, conn, `SELECT count() FROM events WHERE event_id = 'marker-1'`); n != 1 {
				return fmt.Errorf("marker stored %d times", n)
			}
			return nil
		})
		if n := countOf(t, conn, `SELECT count() FROM events WHERE event_id = 'hello-1'`); n != 1 {
			t.Fatalf("after a repeat, hello-1 is in events %d times, want 1", n)
		}
		if code, resp := post(t, url, "wrong-key", "application/json", body); code != 401 || !strings.Contains(resp, `"error"`) {
			t.Fatalf("wrong key: %d %s", code, resp)
		}
		if code, resp := post(t, url, "e2e-key", "application/json", `{"event_id":`); code != 400 || !strings.Contains(resp, `"error"`) {
			t.Fatalf("malformed body: %d %s", code, resp)
		}
	})
}

// load sends batches of events and retries each batch until it gets a 2xx, as a client with
// retries would. Every batch reuses its event ids on retry. Given several gateways it
// spreads the batches over them and sends each retry to the next one, as a client with a
// list of gateways (or a load balancer in front of them) does.
//
// It retries 503, 429 and the connection errors of a gateway that is stopping or restarting
// (connErrKind); any other status or error fails the test.
type load struct {
	urls      []string
	key       string
	client    *http.Client
	accounts  int
	users     int
	mu        sync.Mutex
	sent      []event.Input // events of batches answered 2xx
	statuses  map[int]int
	connErrs  map[string]int // connection errors by connErrKind
	accepted  map[string]int // batches answered 2xx, by URL
	batches   atomic.Int64
	stopAfter atomic.Int64  // stop after this many batches (0: no limit)
	pause     time.Duration // between two batches of one sender (0: none)
}

func newLoad(url, key string) *load {
	return &load{urls: []string{url}, key: key, accounts: 20, users: 5, statuses: map[int]int{}, connErrs: map[string]int{},
		accepted: map[string]int{},
		// Its own pool, with an idle connection kept per sender: a gateway that stops has
		// keep-alive connections to close, as it would in production.
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: time.Minute}}
}

func (l *load) batch(worker, n int) []event.Input {
	now := time.Now().UTC()
	evs := make([]event.Input, 100)
	for i := range evs {
		a := (worker*7 + n + i) % l.accounts
		u := (n + i) % l.users
		// A few seconds of jitter, all within the allowed lateness, and in the past: the
		// gateway clamps future timestamps to its receive time, which the reference would
		// not know.
		ts := now.Add(-time.Duration(i%7) * time.Second)
		name := "feature." + itoa(i%9)
		if i%10 == 9 {
			name = "$heartbeat"
		}
		evs[i] = event.Input{EventID: fmt.Sprintf("w%d-b%d-e%d", worker, n, i), AccountID: fmt.Sprintf("acct-%02d", a),
			UserID: fmt.Sprintf("u%d", u), Name: name, Timestamp: ts.Format(time.RFC3339Nano)}
	}
	return evs
}

// run sends from workers goroutines until ctx ends or stopAfter batches were sent. A batch
// in hand is always finished, so that every event that reached the broker is in l.sent.
func (l *load) run(ctx context.Context, t *testing.T, workers int) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				if ctx.Err() != nil {
					return
				}
				if lim := l.stopAfter.Load(); lim > 0 && l.batches.Load() >= lim {
					return
				}
				if l.pause > 0 {
					time.Sleep(l.pause) // paces the load generator
				}
				evs := l.batch(w, n)
				body, _ := json.Marshal(evs)
				for try := 0; ; try++ {
					url := l.urls[(w+n+try)%len(l.urls)]
					code, err := l.send(url, body)
					l.mu.Lock()
					if err != nil {
						l.connErrs[connErrKind(err)]++
					} else {
						l.statuses[code]++
					}
					l.mu.Unlock()
					if code == 200 {
						l.mu.Lock()
						l.sent = append(l.sent, evs...)
						l.accepted[url]++
						l.mu.Unlock()
						l.batches.Add(1)
						break
					}
					if err != nil && connErrKind(err) == "" {
						t.Errorf("POST %s: unexpected error %v", url, err)
						return
					}
					if err == nil && code != 503 && code != 429 {
						t.Errorf("POST %s: unexpected status %d", url, code)
						return
					}
					time.Sleep(100 * time.Millisecond) // Retry-After would say 1-2 s; tests are impatient
				}
			}
		}()
	}
	wg.Wait()
}

// send posts one batch and returns the status, or the error when there was no answer.
func (l *load) send(url string, body []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+l.key)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// acceptedBy returns how many batches url answered with 2xx.
func (l *load) acceptedBy(url string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted[url]
}

// connErrKind names an error a client must expect from a gateway that is down, stopping or
// restarting, and retry: the port is closed (refused), or a keep-alive connection was closed
// under a request the gateway had not read (reset, EOF, closed idle connection). Any other
// error is "", which the load treats as a failure.
func connErrKind(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, net.ErrClosed):
		// The client's own reader saw the server close the connection while its writer was
		// sending the request on it.
		return "closed connection"
	case strings.Contains(err.Error(), "server closed idle connection"):
		// net/http's own error for a pooled connection the server closed first.
		return "server closed idle connection"
	}
	return ""
}

// expectExactlyOnce checks that ClickHouse holds every accepted event once and sessions equal
// the batch reference: sessionizing all accepted events, sorted, in one go.
func expectExactlyOnce(t *testing.T, conn driver.Conn, sent []event.Input, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() error {
		if n := countOf(t, conn, `SELECT count() FROM events`); n != uint64(len(sent)) {
			return fmt.Errorf("events: %d, accepted %d", n, len(sent))
		}
		return nil
	})
	if n := countOf(t, conn, `SELECT count() FROM events_raw FINAL`); n != uint64(len(sent)) {
		t.Fatalf("events_raw FINAL: %d rows, want %d", n, len(sent))
	}

	// Reference: sort all events per user, sessionize in one pass.
	tr := session.NewTracker(session.DefaultConfig())
	sorted := append([]event.Input(nil), sent...)
	tsOf := func(in event.Input) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, in.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	sort.SliceStable(sorted, func(i, j int) bool { return tsOf(sorted[i]).Before(tsOf(sorted[j])) })
	for _, in := range sorted {
		ts := tsOf(in)
		tr.Add(session.Key{Account: in.AccountID, User: in.UserID}, session.Event{ID: session.HashID(in.EventID), TS: ts.UnixMilli(), Kind: event.KindOf(in.Name)})
	}
	want := map[string][2]int64{}
	for _, s := range tr.Flush(time.Now().UnixMilli()).Upserts {
		w := want[s.Key.Account]
		want[s.Key.Account] = [2]int64{w[0] + s.ActiveMs, w[1] + int64(s.Events)}
	}
	got := map[string][2]int64{}
	testenv.Eventually(t, timeout, func() error {
		rows, err := conn.Query(context.Background(), `SELECT account_id, toInt64(round(sum(active_seconds) * 1000)), toInt64(sum(event_count)) FROM sessions GROUP BY account_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		clear(got)
		for rows.Next() {
			var a string
			var ms, n int64
			if err := rows.Scan(&a, &ms, &n); err != nil {
				return err
			}
			got[a] = [2]int64{ms, n}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("sessions per account (active ms, events):\n got %v\nwant %v", got, want)
		}
		return nil
	})
}

// TestWorkerKilledMidStream: kill -9 of the worker while events stream in, then a restart,
// leaves every accepted event exactly once in events and the sessions equal to the reference.
func TestWorkerKilledMidStream(t *testing.T) {
	inModes(t, func(t *testing.T, mode string) {
		e, conn := newEnvIn(t, mode)
		e.broker(t)
		w := e.worker(t)
		e.gateway(t)
		l := newLoad("http://"+e.gatewayAddr+"/v1/events", "e2e-key")
		l.stopAfter.Store(300)
		done := make(chan struct{})
		go func() { l.run(context.Background(), t, 4); close(done) }()
		testenv.Eventually(t, 30*time.Second, func() error {
			if n := l.batches.Load(); n < 100 {
				return fmt.Errorf("%d batches sent", n)
			}
			return nil
		})
		w.kill(t)
		// The load goes on while the worker is down, so the restarted worker has a backlog.
		atKill := l.batches.Load()
		testenv.Eventually(t, 30*time.Second, func() error {
			if n := l.batches.Load() - atKill; n < 20 {
				return fmt.Errorf("%d batches accepted since the worker was killed", n)
			}
			return nil
		})
		e.worker(t)
		<-done
		expectExactlyOnce(t, conn, l.sent, 60*time.Second)
	})
}

// TestBrokerDownMidLoad: with the broker killed mid-load, the gateway answers 503 (never a
// 2xx without an acknowledgement) and /readyz turns 503; after the broker restarts, every
// event that got a 2xx is in ClickHouse exactly once.
func TestBrokerDownMidLoad(t *testing.T) {
	inModes(t, func(t *testing.T, mode string) {
		e, conn := newEnvIn(t, mode)
		b := e.broker(t)
		e.worker(t)
		e.gateway(t)
		l := newLoad("http://"+e.gatewayAddr+"/v1/events", "e2e-key")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.run(ctx, t, 4); close(done) }()
		testenv.Eventually(t, 30*time.Second, func() error {
			if n := l.batches.Load(); n < 50 {
				return fmt.Errorf("%d batches sent", n)
			}
			return nil
		})
		b.kill(t)
		before := l.batches.Load()
		testenv.Eventually(t, 15*time.Second, func() error {
			resp, err := http.Get("http://" + e.gatewayAddr + "/readyz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 503 {
				return fmt.Errorf("/readyz %d with the broker down", resp.StatusCode)
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.statuses[503] == 0 {
				return fmt.Errorf("no 503 yet: %v", l.statuses)
			}
			return nil
		})
		// Wait until every sender has had two more requests refused: those were sent and answered
		// with the broker down, so the 2xx count below has seen the outage, not a moment of it.
		l.mu.Lock()
		refused := l.statuses[503]
		l.mu.Unlock()
		testenv.Eventually(t, 30*time.Second, func() error {
			l.mu.Lock()
			defer l.mu.Unlock()
			if n := l.statuses[503] - refused; n < 8 {
				return fmt.Errorf("%d more 503s with the broker down, want 8", n)
			}
			return nil
		})
		// Allow for requests whose acknowledgement arrived just before the kill.
		if d := l.batches.Load() - before; d > 8 {
			t.Errorf("%d batches got 2xx after the broker was killed", d)
		}
		e.broker(t)
		testenv.Eventually(t, 60*time.Second, func() error {
			if n := l.batches.Load(); n < before+50 {
				return fmt.Errorf("only %d batches since the broker restarted", n-before)
			}
			return nil
		})
		cancel()
		<-done
		t.Logf("statuses: %v", l.statuses)
		expectExactlyOnce(t, conn, l.sent, 60*time.Second)
	})
}

// TestClickHouseDownUnderLoad: ClickHouse stopped for 60 s while events keep arriving loses
// nothing: the worker waits, then catches up.
func TestClickHouseDownUnderLoad(t *testing.T) {
	dir := t.TempDir()
	srv, err := clickhouseserver.Start(context.Background(), clickhouseserver.Config{Dir: dir})
	if err != nil {
		t.Fatalf("starting a dedicated ClickHouse: %v", err)
	}
	port := srv.TCPAddr()[strings.LastIndex(srv.TCPAddr(), ":")+1:]
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	e := newEnv(t, srv.TCPAddr(), "engagement")
	e.broker(t)
	e.worker(t)
	e.gateway(t)
	l := newLoad("http://"+e.gatewayAddr+"/v1/events", "e2e-key")
	// About 4,000 events/s: enough to keep the worker busy, little enough that the backlog
	// of a minute-long outage is caught up within the test's patience.
	l.pause = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx, t, 2); close(done) }()
	testenv.Eventually(t, 30*time.Second, func() error {
		if n := l.batches.Load(); n < 20 {
			return fmt.Errorf("%d batches sent", n)
		}
		return nil
	})
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Second) // the outage itself: a minute of load with ClickHouse down
	atDown := l.batches.Load()
	srv, err = clickhouseserver.Start(context.Background(), clickhouseserver.Config{Dir: dir, TCPPort: atoiPort(t, port)})
	if err != nil {
		t.Fatalf("restarting ClickHouse: %v", err)
	}
	cancel()
	<-done
	if atDown < 40 {
		t.Errorf("only %d batches were accepted while ClickHouse was down: the gateway must not depend on it", atDown)
	}
	conn := openCH(t, srv.TCPAddr(), "engagement")
	expectExactlyOnce(t, conn, l.sent, 90*time.Second)
}
