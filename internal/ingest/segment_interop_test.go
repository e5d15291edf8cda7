package ingest

import (
	"fmt"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/event"
)

// These tests drive the official Segment Go client (analytics-go v3) against the handler on
// an httptest server: the contract's "an unmodified Segment SDK pointed at the gateway works".

// callbacks records the client's per-message outcome.
type callbacks struct {
	mu       sync.Mutex
	ok, fail int
	lastErr  error
}

func (c *callbacks) Success(analytics.Message) { c.mu.Lock(); c.ok++; c.mu.Unlock() }
func (c *callbacks) Failure(_ analytics.Message, err error) {
	c.mu.Lock()
	c.fail++
	c.lastErr = err
	c.mu.Unlock()
}

type testLogger struct{ t *testing.T }

func (l testLogger) Logf(f string, a ...any)   { l.t.Logf("analytics-go: "+f, a...) }
func (l testLogger) Errorf(f string, a ...any) { l.t.Logf("analytics-go error: "+f, a...) }

func newSegmentClient(t *testing.T, endpoint, key string, cb *callbacks) analytics.Client {
	t.Helper()
	c, err := analytics.NewWithConfig(key, analytics.Config{
		Endpoint:       endpoint,
		Interval:       20 * time.Millisecond,
		BatchSize:      4,
		Logger:         testLogger{t},
		Callback:       cb,
		DefaultContext: &analytics.Context{GroupID: "acme"},
		RetryAfter:     func(int) time.Duration { return 5 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// segmentMessages is what the application sends; ids are set so the test can find them.
func segmentMessages() []analytics.Message {
	return []analytics.Message{
		analytics.Track{MessageId: "t1", UserId: "u1", Event: "Report Exported", Properties: analytics.NewProperties().Set("format", "pdf")},
		analytics.Track{MessageId: "t2", AnonymousId: "anon-9", Event: "Signed In", Context: &analytics.Context{GroupID: "globex"}},
		analytics.Page{MessageId: "p1", UserId: "u1", Name: "Pricing", Properties: analytics.NewProperties().SetPath("/pricing")},
		analytics.Screen{MessageId: "s1", UserId: "u1", Name: "Settings"},
		analytics.Identify{MessageId: "i1", UserId: "u1", Traits: analytics.NewTraits().SetEmail("ada@example.com")},
		analytics.Group{MessageId: "g1", UserId: "u1", GroupId: "acme", Traits: analytics.NewTraits().Set("plan", "pro").Set("licenses", 25).Set("mrr", 990.0).Set("status", "active").SetName("Acme")},
		analytics.Track{MessageId: "n1", UserId: "u1", Event: event.NameNPS, Properties: analytics.NewProperties().Set("score", 9)},
	}
}

func TestSegmentClientInterop(t *testing.T) {
	pub := &fakePublisher{}
	h, _ := newTestHandler(t, Config{now: time.Now}, pub)
	srv := httptest.NewServer(h)
	defer srv.Close()

	cb := &callbacks{}
	client := newSegmentClient(t, srv.URL, testKey, cb)
	before := time.Now()
	for _, m := range segmentMessages() {
		if err := client.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil { // flushes and waits for every request
		t.Fatal(err)
	}
	if cb.ok != 7 || cb.fail != 0 {
		t.Fatalf("client callbacks: %d ok, %d failed (%v)", cb.ok, cb.fail, cb.lastErr)
	}

	got := map[string]event.Event{}
	for _, e := range pub.published() {
		got[e.EventID] = e
	}
	cases := []struct {
		id, account, user, name, props string
	}{
		{"t1", "acme", "u1", "Report Exported", `{"format":"pdf"}`},
		{"t2", "globex", "anon-9", "Signed In", ""},
		{"p1", "acme", "u1", "page:Pricing", `{"path":"/pricing"}`},
		{"s1", "acme", "u1", "screen:Settings", ""},
		{"g1", "acme", "u1", event.NameAccount, `{"seats":25,"plan":"pro","licenses":25,"mrr":990,"status":"active","name":"Acme"}`},
		{"n1", "acme", "u1", event.NameNPS, `{"score":9}`},
	}
	if len(got) != len(cases) {
		t.Errorf("published %d events, want %d (identify is ignored): %v", len(got), len(cases), keys(got))
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			e, ok := got[c.id]
			if !ok {
				t.Fatalf("event %s not published", c.id)
			}
			if e.AccountID != c.account || e.UserID != c.user || e.Name != c.name || !jsonEqual(string(e.Properties), c.props) {
				t.Errorf("got %s/%s/%s %s, want %+v", e.AccountID, e.UserID, e.Name, e.Properties, c)
			}
			if e.SentAt.IsZero() || e.Timestamp.Before(before.Add(-time.Second)) || e.Timestamp.After(e.ReceivedAt) {
				t.Errorf("times: ts %v sent %v received %v", e.Timestamp, e.SentAt, e.ReceivedAt)
			}
			if err := e.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
	if tr, err := event.ParseAccountTraits(got["g1"].Properties); err != nil || tr.Seats == nil || *tr.Seats != 25 || *tr.Plan != "pro" {
		t.Errorf("account traits %+v, %v", tr, err)
	}
}

// TestSegmentClientRetriesThroughOutage: while the broker fails, the gateway answers 503 and
// the client retries the same batch; once the broker is back every message is delivered with
// its own messageId, so duplicates of partially written attempts collapse downstream.
func TestSegmentClientRetriesThroughOutage(t *testing.T) {
	pub := &fakePublisher{failures: 3}
	h, _ := newTestHandler(t, Config{now: time.Now}, pub)
	srv := httptest.NewServer(h)
	defer srv.Close()

	cb := &callbacks{}
	client := newSegmentClient(t, srv.URL, testKey, cb)
	for _, m := range segmentMessages() {
		if err := client.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	// The client drops what it is still retrying when closed: wait for every outcome first.
	testenv.EventuallyEvery(t, 10*time.Second, 5*time.Millisecond, func() error {
		cb.mu.Lock()
		defer cb.mu.Unlock()
		if cb.ok+cb.fail != 7 {
			return fmt.Errorf("%d of 7 messages have an outcome", cb.ok+cb.fail)
		}
		return nil
	})
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if cb.ok != 7 || cb.fail != 0 {
		t.Fatalf("client callbacks: %d ok, %d failed (%v)", cb.ok, cb.fail, cb.lastErr)
	}
	ids := map[string]int{}
	for _, e := range pub.published() {
		ids[e.EventID]++
	}
	if len(ids) != 6 {
		t.Errorf("published ids %v, want the 6 non-identify messages", ids)
	}
	if pub.calls < 4 {
		t.Errorf("publisher called %d times; the outage did not happen", pub.calls)
	}
}

// TestSegmentClientBadKey: a wrong write key is a 401, which the client reports as a
// failure for every message once its attempts are spent; nothing is published.
func TestSegmentClientBadKey(t *testing.T) {
	pub := &fakePublisher{}
	h, _ := newTestHandler(t, Config{now: time.Now}, pub)
	srv := httptest.NewServer(h)
	defer srv.Close()

	cb := &callbacks{}
	client := newSegmentClient(t, srv.URL, "wrong-key", cb)
	if err := client.Enqueue(analytics.Track{UserId: "u1", Event: "x"}); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyEvery(t, 10*time.Second, 5*time.Millisecond, func() error {
		cb.mu.Lock()
		defer cb.mu.Unlock()
		if cb.fail != 1 { // after the client's 10 attempts
			return fmt.Errorf("%d failure callbacks, want 1", cb.fail)
		}
		return nil
	})
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if cb.fail != 1 || cb.ok != 0 {
		t.Errorf("callbacks: %d ok, %d failed", cb.ok, cb.fail)
	}
	if n := len(pub.published()); n != 0 {
		t.Errorf("%d events published", n)
	}
}

func keys(m map[string]event.Event) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
