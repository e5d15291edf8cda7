package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"empty file", "", ""},
		{"minimal", "destinations:\n  - name: cs\n    url: https://cs.example.com/hook\n", ""},
		{"every field", "destinations:\n  - name: slack-cs\n    url: http://127.0.0.1:9/x\n    secret: " + testSecret + "\n    format: slack\n    bands: [red, yellow]\n    plans: [pro]\n    max_age: 2h\n    timeout: 3s\n    concurrency: 8\n", ""},
		{"bad url", "destinations:\n  - name: cs\n    url: ftp://x\n", `destinations[0].url: "ftp://x" is not an http or https URL`},
		{"bad band", "destinations:\n  - name: cs\n    url: http://x\n    bands: [blue]\n", `destinations[0].bands[0]: "blue"`},
		{"bad secret", "destinations:\n  - name: cs\n    url: http://x\n    secret: abc\n", "destinations[0].secret: a Standard Webhooks secret starts with whsec_"},
		{"duplicate name", "destinations:\n  - name: cs\n    url: http://x\n  - name: cs\n    url: http://y\n", `destinations[1].name: "cs" is used twice`},
		{"bad format", "destinations:\n  - name: cs\n    url: http://x\n    format: xml\n", `destinations[0].format: "xml": want cloudevents or slack`},
		{"unknown field", "destinations:\n  - name: cs\n    url: http://x\n    retries: 3\n", "field retries not found"},
		{"bad duration", "destinations:\n  - name: cs\n    url: http://x\n    max_age: forever\n", `"forever" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ParseConfig error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	c, _ := ParseConfig([]byte("destinations:\n  - name: cs\n    url: http://x\n"))
	if d := c.Destinations[0]; d.Format != FormatCloudEvents || time.Duration(d.MaxAge) != DefaultMaxAge || d.Concurrency != DefaultConcurrency {
		t.Errorf("defaults not applied: %+v", d)
	}
}

// TestSignMatchesStandardWebhooks: the official Standard Webhooks library verifies what Sign
// signs, and refuses a tampered body.
func TestSignMatchesStandardWebhooks(t *testing.T) {
	key, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"abc","data":{"account_id":"acme"}}`)
	now := time.Now()
	h := http.Header{}
	h.Set(HeaderID, "msg_1")
	h.Set(HeaderTimestamp, fmt.Sprint(now.Unix()))
	h.Set(HeaderSignature, Sign(key, "msg_1", now, body))
	if err := wh.Verify(body, h); err != nil {
		t.Fatalf("the official library refuses our signature: %v", err)
	}
	if err := wh.Verify(append(body, ' '), h); err == nil {
		t.Fatal("a tampered body verified")
	}
	want, _ := wh.Sign("msg_1", now, body)
	if got := Sign(key, "msg_1", now, body); got != want {
		t.Errorf("signature %s, the library's %s", got, want)
	}
	if _, err := ParseSecret("whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}

func changeRecord(account string, seq int, band, prev string, off int64) Record {
	prevJSON := "null"
	if prev != "" {
		prevJSON = `"` + prev + `"`
	}
	v := fmt.Sprintf(`{"specversion":"1.0","id":"%s-%d","source":"engage/scorer","type":"engage.account.health.changed","subject":"%s",`+
		`"data":{"account_id":"%s","previous_band":%s,"band":"%s","previous_score":null,"score":%d,"scored_at":"2026-03-02T14:05:10Z",`+
		`"reasons":["billing_past_due","usage_dropped"],"model_version":"default-1"}}`, account, seq, account, account, prevJSON, band, 10*seq)
	return Record{Value: []byte(v), Headers: map[string][]byte{HeaderInputs: []byte(`{"plan":"pro"}`)}, Offset: off, Time: time.Now()}
}

// TestSlackMessage checks the payload against the shape Slack documents for incoming
// webhooks: a top-level text, and blocks of type section (text object of type mrkdwn) and
// context (elements), the account linked as <url|label>.
func TestSlackMessage(t *testing.T) {
	c, err := ParseRecord(changeRecord("acme/eu", 2, "red", "yellow", 0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := SlackMessage(c, "http://127.0.0.1:8083/")
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"text"`
			Elements []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Text, "acme/eu moved from yellow to red") || !strings.Contains(msg.Text, "billing is past due, product usage dropped") {
		t.Errorf("text %q", msg.Text)
	}
	if len(msg.Blocks) != 3 || msg.Blocks[0].Type != "section" || msg.Blocks[0].Text.Type != "mrkdwn" ||
		msg.Blocks[2].Type != "context" || len(msg.Blocks[2].Elements) != 1 {
		t.Fatalf("blocks %s", b)
	}
	if !strings.Contains(msg.Blocks[0].Text.Text, "<http://127.0.0.1:8083/accounts/acme%2Feu|acme/eu>") {
		t.Errorf("no console link in %q", msg.Blocks[0].Text.Text)
	}
}

// fakeTransport answers per account from a script, and records what arrived in order.
type fakeTransport struct {
	mu      sync.Mutex
	script  func(c Change, n int) Attempt // n: attempts of this change so far
	tries   map[string]int
	arrived []string // ids delivered, in order
}

func (f *fakeTransport) Send(_ context.Context, _ Destination, c Change) Attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tries == nil {
		f.tries = map[string]int{}
	}
	f.tries[c.ID]++
	a := f.script(c, f.tries[c.ID])
	if a.Outcome == Delivered {
		f.arrived = append(f.arrived, c.ID)
	}
	return a
}

type memFeed struct {
	mu        sync.Mutex
	recs      []Record
	read      int
	committed map[int32]int64
}

func (f *memFeed) Poll(ctx context.Context) ([]Record, error) {
	f.mu.Lock()
	if f.read < len(f.recs) {
		out := f.recs[f.read:]
		f.read = len(f.recs)
		f.mu.Unlock()
		return out, nil
	}
	f.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Millisecond):
	}
	return nil, nil
}

func (f *memFeed) Commit(_ context.Context, o map[int32]int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.committed == nil {
		f.committed = map[int32]int64{}
	}
	for p, v := range o {
		f.committed[p] = v
	}
	return nil
}

type memDLQ struct {
	mu  sync.Mutex
	got []string
}

func (d *memDLQ) DeadLetter(_ context.Context, dest string, r Record, reason string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, _ := ParseRecord(r)
	d.got = append(d.got, dest+" "+c.ID+" "+reason)
	return nil
}

type memLog struct {
	mu sync.Mutex
	e  []Entry
}

func (l *memLog) Log(e Entry) { l.mu.Lock(); l.e = append(l.e, e); l.mu.Unlock() }

func testDest() Destination {
	c, err := ParseConfig([]byte("destinations:\n  - name: cs\n    url: http://x\n    max_age: 1s\n    concurrency: 4\n"))
	if err != nil {
		panic(err)
	}
	return c.Destinations[0]
}

func runUntil(t *testing.T, r *Runner, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("not done within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestRunnerOrderRetriesAndDeadLetters: with a receiver that fails every other attempt with
// 500 or 429, every change arrives once, each account's in order; a change the receiver
// refuses with 400 and one that keeps failing past max_age are dead-lettered and logged;
// offsets are committed past everything handled.
func TestRunnerOrderRetriesAndDeadLetters(t *testing.T) {
	feed := &memFeed{}
	for i := range 60 {
		acct := fmt.Sprintf("a%d", i%6)
		feed.recs = append(feed.recs, changeRecord(acct, i/6+1, "red", "", int64(i)))
	}
	feed.recs = append(feed.recs, changeRecord("refused", 1, "red", "", 60), changeRecord("down", 1, "red", "", 61))
	tr := &fakeTransport{script: func(c Change, n int) Attempt {
		switch {
		case c.AccountID == "refused":
			return Attempt{Status: 400, Outcome: Rejected, Err: errors.New("HTTP 400")}
		case c.AccountID == "down":
			return Attempt{Status: 503, Outcome: Retry, Err: errors.New("HTTP 503")}
		case n%2 == 1:
			return Attempt{Status: 429, Outcome: Retry, Err: errors.New("HTTP 429"), RetryAfter: 20 * time.Millisecond}
		}
		return Attempt{Status: 200, Outcome: Delivered}
	}}
	dlq, logs := &memDLQ{}, &memLog{}
	r := NewRunner(testDest(), RunnerConfig{Backoff: Backoff{Initial: time.Millisecond, Max: 50 * time.Millisecond}, CommitInterval: 10 * time.Millisecond},
		feed, tr, dlq, logs, NewMetrics(nil), nil)
	runUntil(t, r, func() bool {
		feed.mu.Lock()
		defer feed.mu.Unlock()
		return feed.committed[0] == 62
	})
	if len(tr.arrived) != 60 {
		t.Fatalf("%d delivered, want 60", len(tr.arrived))
	}
	for a := range 6 {
		var seqs []string
		for _, id := range tr.arrived {
			if strings.HasPrefix(id, fmt.Sprintf("a%d-", a)) {
				seqs = append(seqs, id)
			}
		}
		for i := 1; i < len(seqs); i++ {
			var x, y int
			fmt.Sscanf(seqs[i-1][strings.Index(seqs[i-1], "-")+1:], "%d", &x)
			fmt.Sscanf(seqs[i][strings.Index(seqs[i], "-")+1:], "%d", &y)
			if y != x+1 {
				t.Fatalf("account a%d delivered out of order: %v", a, seqs)
			}
		}
	}
	slices.Sort(dlq.got)
	if len(dlq.got) != 2 || !strings.HasPrefix(dlq.got[0], "cs down-1 still failing after") || !strings.HasPrefix(dlq.got[1], "cs refused-1 HTTP 400") {
		t.Errorf("dead letters %q", dlq.got)
	}
	var retries, delivered int
	for _, e := range logs.e {
		switch e.Outcome {
		case Retry:
			retries++
		case Delivered:
			delivered++
		}
	}
	if delivered != 60 || retries < 60 {
		t.Errorf("delivery log: %d delivered, %d retries; want 60 and at least 60", delivered, retries)
	}
}

// TestRunnerFilters: bands and plans select what a destination gets; the rest is committed
// without a request.
func TestRunnerFilters(t *testing.T) {
	d := testDest()
	d.Bands, d.Plans = []string{"red"}, []string{"pro"}
	feed := &memFeed{recs: []Record{changeRecord("a", 1, "red", "", 0), changeRecord("b", 1, "green", "", 1), changeRecord("c", 1, "red", "", 2)}}
	feed.recs[2].Headers[HeaderInputs] = []byte(`{"plan":"free"}`)
	tr := &fakeTransport{script: func(Change, int) Attempt { return Attempt{Status: 204, Outcome: Delivered} }}
	r := NewRunner(d, RunnerConfig{CommitInterval: 10 * time.Millisecond}, feed, tr, &memDLQ{}, &memLog{}, NewMetrics(nil), nil)
	runUntil(t, r, func() bool { feed.mu.Lock(); defer feed.mu.Unlock(); return feed.committed[0] == 3 })
	if !slices.Equal(tr.arrived, []string{"a-1"}) {
		t.Errorf("delivered %v, want only a-1 (red, pro)", tr.arrived)
	}
}

// TestRunnerCommitsBelowUnhandled: while an early change is being retried, offsets stay
// below it although later ones are delivered; a restart would redeliver, never lose.
func TestRunnerCommitsBelowUnhandled(t *testing.T) {
	d := testDest()
	d.MaxAge = Duration(time.Hour)
	feed := &memFeed{recs: []Record{changeRecord("slow", 1, "red", "", 0), changeRecord("fast", 1, "red", "", 1), changeRecord("fast", 2, "red", "", 2)}}
	tr := &fakeTransport{script: func(c Change, n int) Attempt {
		if c.AccountID == "slow" {
			return Attempt{Outcome: Retry, Err: errors.New("connection refused")}
		}
		return Attempt{Status: 200, Outcome: Delivered}
	}}
	r := NewRunner(d, RunnerConfig{Backoff: Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond}, CommitInterval: 5 * time.Millisecond},
		feed, tr, &memDLQ{}, &memLog{}, NewMetrics(nil), nil)
	runUntil(t, r, func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.arrived) == 2 && tr.tries["slow-1"] > 5
	})
	if feed.committed[0] != 0 {
		t.Errorf("committed %d while offset 0 is unhandled, want 0", feed.committed[0])
	}
}

// TestSender: a real HTTP round trip: the request carries the signed headers the official
// library verifies, 429 with Retry-After is a retry with its wait, 404 is rejected, and a
// receiver that hangs is a retry after the timeout.
func TestSender(t *testing.T) {
	wh, _ := standardwebhooks.NewWebhook(testSecret)
	var mode string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, err.Error(), 401)
			return
		}
		mu.Lock()
		m := mode
		mu.Unlock()
		switch m {
		case "429":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		case "404":
			w.WriteHeader(404)
		case "hang":
			<-r.Context().Done()
		default:
			w.WriteHeader(200)
		}
	}))
	defer srv.Close()
	cfg, err := ParseConfig([]byte("destinations:\n  - name: cs\n    url: " + srv.URL + "\n    secret: " + testSecret + "\n    timeout: 200ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Destinations[0]
	c, _ := ParseRecord(changeRecord("acme", 1, "red", "", 0))
	s := &Sender{Client: srv.Client(), Now: time.Now, UserAgent: "engage-notifier"}
	for _, tt := range []struct {
		mode    string
		outcome Outcome
		status  int
		after   time.Duration
	}{{"ok", Delivered, 200, 0}, {"429", Retry, 429, 7 * time.Second}, {"404", Rejected, 404, 0}, {"hang", Retry, 0, 0}} {
		mu.Lock()
		mode = tt.mode
		mu.Unlock()
		a := s.Send(context.Background(), d, c)
		if a.Outcome != tt.outcome || a.Status != tt.status || a.RetryAfter != tt.after {
			t.Errorf("%s: %+v, want %s %d retry-after %s", tt.mode, a, tt.outcome, tt.status, tt.after)
		}
	}
}

// oneByOne hands over one record per Poll, so that takes interleave with deliveries.
type oneByOne struct{ memFeed }

func (f *oneByOne) Poll(ctx context.Context) ([]Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.read < len(f.recs) {
		f.read++
		return f.recs[f.read-1 : f.read], nil
	}
	return nil, nil
}

// TestRunnerOneDeliveryPerAccount: however records and deliveries interleave, an account
// never has two deliveries at once (its changes would race and could arrive out of order).
func TestRunnerOneDeliveryPerAccount(t *testing.T) {
	feed := &oneByOne{}
	for i := range 20000 {
		feed.recs = append(feed.recs, changeRecord(fmt.Sprintf("a%d", i%3), i/3+1, "red", "", int64(i)))
	}
	var mu sync.Mutex
	inflight := map[string]int{}
	var overlap, order int
	last := map[string]string{}
	tr := &fakeTransport{script: func(c Change, _ int) Attempt {
		mu.Lock()
		inflight[c.AccountID]++
		if inflight[c.AccountID] > 1 {
			overlap++
		}
		if last[c.AccountID] == c.ID {
			order++
		}
		last[c.AccountID] = c.ID
		mu.Unlock()
		if rand.N(2) == 0 {
			runtime.Gosched() // let a take run while this delivery is in flight
		}
		mu.Lock()
		inflight[c.AccountID]--
		mu.Unlock()
		return Attempt{Status: 200, Outcome: Delivered}
	}}
	r := NewRunner(testDest(), RunnerConfig{CommitInterval: 5 * time.Millisecond}, feed, tr, &memDLQ{}, &memLog{}, NewMetrics(nil), nil)
	runUntil(t, r, func() bool { feed.mu.Lock(); defer feed.mu.Unlock(); return feed.committed[0] == 20000 })
	if overlap > 0 || order > 0 || len(tr.arrived) != 20000 {
		t.Errorf("%d overlapping deliveries of one account, %d repeated, %d delivered; want 0, 0, 20000", overlap, order, len(tr.arrived))
	}
}
