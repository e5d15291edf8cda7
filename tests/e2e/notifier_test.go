package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/changetopic"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
	"github.com/engage-oss/engage/internal/topics"
)

const notifierSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is a webhook endpoint that verifies every request with the official Standard
// Webhooks library and records the verified deliveries in arrival order.
type receiver struct {
	t    *testing.T
	wh   *standardwebhooks.Webhook
	srv  *httptest.Server
	fail func() (status int, hang bool) // what to do with the next request

	mu       sync.Mutex
	arrivals []delivery // verified and answered 2xx, in arrival order
	bodies   [][]byte
	requests int
	bad      []string
}

type delivery struct {
	id, account, band string
	seq               int
}

func newReceiver(t *testing.T, fail func() (int, bool)) *receiver {
	wh, err := standardwebhooks.NewWebhook(notifierSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, wh: wh, fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.requests++
	r.mu.Unlock()
	if err := r.wh.Verify(body, req.Header); err != nil {
		r.mu.Lock()
		r.bad = append(r.bad, err.Error())
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.fail != nil {
		status, hang := r.fail()
		if hang {
			select {
			case <-req.Context().Done():
			case <-time.After(3 * time.Second):
			}
			return
		}
		if status != 0 {
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			w.WriteHeader(status)
			return
		}
	}
	d := delivery{id: req.Header.Get("webhook-id")}
	var ev struct {
		Sequence string `json:"sequence"`
		Data     struct {
			AccountID string `json:"account_id"`
			Band      string `json:"band"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &ev) == nil {
		d.account, d.band = ev.Data.AccountID, ev.Data.Band
		fmt.Sscan(ev.Sequence, &d.seq)
	}
	r.mu.Lock()
	r.arrivals = append(r.arrivals, d)
	r.bodies = append(r.bodies, body)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// distinct returns the first arrival of every webhook-id, in arrival order.
func (r *receiver) distinct() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []delivery
	for _, d := range r.arrivals {
		if !seen[d.id] {
			seen[d.id] = true
			out = append(out, d)
		}
	}
	return out
}

// publish announces the changes of the given accounts, as the scorer does: one transaction
// per partition, with the plan in the inputs header.
func publish(t *testing.T, brokers []string, changes []scorer.Change) {
	t.Helper()
	tp := changetopic.NewTopic(kafka.ClientOpts(brokers, "e2e-scorer", nil), topics.HealthChanges, "e2e-scorer", kafka.DefaultPartitions, nil)
	byPart := map[int32][]scorer.Change{}
	for _, c := range changes {
		p := topics.AccountPartition(c.AccountID, kafka.DefaultPartitions)
		byPart[p] = append(byPart[p], c)
	}
	ctx := context.Background()
	for p, cs := range byPart {
		log, err := tp.Open(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := log.Emit(ctx, cs); err != nil {
			t.Fatal(err)
		}
		log.Close()
	}
}

var bandCycle = []health.Band{health.BandRed, health.BandYellow, health.BandGreen}

// roundChanges is change number seq of every account: accounts acct-00 … alternate between
// the plans pro and enterprise.
func roundChanges(accounts, seq int) []scorer.Change {
	out := make([]scorer.Change, accounts)
	for i := range out {
		plan := "pro"
		if i%2 == 1 {
			plan = "enterprise"
		}
		band := bandCycle[(i+seq)%len(bandCycle)]
		c := scorer.Change{AccountID: fmt.Sprintf("acct-%02d", i), Seq: uint64(seq), Band: band, Score: float64(10 * seq),
			ScoredAt: time.Now().UTC().Truncate(time.Second), ModelVersion: "default-1", Coverage: 1,
			Reasons: []string{health.ReasonBillingPastDue}, Inputs: health.Inputs{Plan: plan}}
		if seq > 1 {
			prev := float64(10 * (seq - 1))
			c.PreviousBand, c.PreviousScore = bandCycle[(i+seq-1)%len(bandCycle)], &prev
		}
		out[i] = c
	}
	return out
}

func (e *env) notifier(t *testing.T, config string, extra ...string) proc {
	t.Helper()
	env := []string{"NOTIFIER_ADMIN_ADDR=" + anyPort, "KAFKA_BROKERS=" + e.brokerAddr, "ENGAGE_DEV=true",
		"CLICKHOUSE_ADDR=" + e.chAddr, "CLICKHOUSE_DATABASE=" + e.chDatabase, "NOTIFIER_CONFIG=" + config,
		"NOTIFIER_CONSOLE_URL=http://console.test:8083"}
	if e.chCluster != "" {
		env = append(env, "CLICKHOUSE_CLUSTER="+e.chCluster, "CLICKHOUSE_ZOOKEEPER="+e.chZooKeeper)
	}
	return start(t, "notifier", "admin", append(env, extra...)...)
}

// TestNotifierDelivers runs the notifier binary against four receivers: a flaky one (half of
// the requests fail with 500 or 429 with Retry-After, some hang past the timeout), one that
// is down for longer than max_age, a Slack-format one for red changes only, and one for the
// enterprise plan only. The notifier is killed with -9 mid-stream and restarted. The flaky
// receiver gets every change, verified, in order per account, exactly once after
// de-duplication by webhook-id; the changes the down one never took are on the dead-letter
// topic and in the delivery log; the filters hold; a replay re-delivers with the same ids.
func TestNotifierDelivers(t *testing.T) {
	e, conn := newEnvIn(t, "single")
	e.broker(t)
	brokers := []string{e.brokerAddr}
	if err := kafka.EnsureTopicsAt(context.Background(), brokers, kafka.TopicConfig{Partitions: kafka.DefaultPartitions, Replication: 1}); err != nil {
		t.Fatal(err)
	}
	var rmu sync.Mutex
	rng := rand.New(rand.NewPCG(7, 7))
	flaky := newReceiver(t, func() (int, bool) {
		rmu.Lock()
		defer rmu.Unlock()
		switch x := rng.IntN(20); {
		case x < 5:
			return 500, false
		case x < 9:
			return 429, false
		case x < 10:
			return 0, true
		}
		return 0, false
	})
	down := newReceiver(t, func() (int, bool) { return 503, false })
	slack := newReceiver(t, nil)
	enterprise := newReceiver(t, nil)
	config := filepath.Join(t.TempDir(), "notifier.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`destinations:
  - name: flaky
    url: %s/hook
    secret: %s
    timeout: 500ms
    retry_max: 2s
    concurrency: 16
  - name: down
    url: %s/hook
    secret: %s
    max_age: 4s
  - name: slack
    url: %s/services/T000/B000/XXXX
    secret: %s
    format: slack
    bands: [red]
  - name: enterprise
    url: %s/hook
    secret: %s
    plans: [enterprise]
`, flaky.srv.URL, notifierSecret, down.srv.URL, notifierSecret, slack.srv.URL, notifierSecret, enterprise.srv.URL, notifierSecret)), 0o644); err != nil {
		t.Fatal(err)
	}

	const accounts, rounds = 12, 6
	n := e.notifier(t, config)
	for seq := 1; seq <= rounds/2; seq++ {
		publish(t, brokers, roundChanges(accounts, seq))
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		if got := len(flaky.distinct()); got < accounts {
			return fmt.Errorf("%d distinct deliveries before the kill", got)
		}
		return nil
	})
	n.kill(t)
	for seq := rounds/2 + 1; seq <= rounds; seq++ {
		publish(t, brokers, roundChanges(accounts, seq))
	}
	e.notifier(t, config)

	want := accounts * rounds
	testenv.Eventually(t, 120*time.Second, func() error {
		if got := flaky.distinct(); len(got) != want {
			have := map[string]bool{}
			for _, d := range got {
				have[fmt.Sprintf("%s:%d", d.account, d.seq)] = true
			}
			var missing []string
			for seq := 1; seq <= rounds; seq++ {
				for _, c := range roundChanges(accounts, seq) {
					if k := fmt.Sprintf("%s:%d", c.AccountID, seq); !have[k] {
						missing = append(missing, k+" "+scorer.EventID(c.AccountID, c.Seq))
					}
				}
			}
			return fmt.Errorf("flaky receiver: %d distinct changes, want %d; missing %v", len(got), want, missing)
		}
		return nil
	})
	got := flaky.distinct()
	last := map[string]int{}
	for _, d := range got {
		if d.seq != last[d.account]+1 {
			t.Errorf("%s: change %d arrived after %d: out of order", d.account, d.seq, last[d.account])
		}
		last[d.account] = d.seq
	}
	flaky.mu.Lock()
	t.Logf("flaky receiver: %d requests, %d 2xx answers (%d duplicates), %d bad signatures", flaky.requests, len(flaky.arrivals), len(flaky.arrivals)-want, len(flaky.bad))
	if len(flaky.bad) > 0 {
		t.Errorf("requests that failed verification: %v", flaky.bad)
	}
	flaky.mu.Unlock()

	// Filters: only red changes reach Slack, only enterprise accounts the other.
	var wantRed, wantEnterprise int
	for seq := 1; seq <= rounds; seq++ {
		for _, c := range roundChanges(accounts, seq) {
			if c.Band == health.BandRed {
				wantRed++
			}
			if c.Inputs.Plan == "enterprise" {
				wantEnterprise++
			}
		}
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if s, en := len(slack.distinct()), len(enterprise.distinct()); s != wantRed || en != wantEnterprise {
			return fmt.Errorf("slack got %d (want %d red), enterprise got %d (want %d)", s, wantRed, en, wantEnterprise)
		}
		return nil
	})
	for _, d := range enterprise.distinct() {
		var i int
		fmt.Sscanf(d.account, "acct-%d", &i)
		if i%2 != 1 {
			t.Errorf("enterprise destination got %s, a pro account", d.account)
		}
	}
	slack.mu.Lock()
	for _, b := range slack.bodies {
		var msg struct {
			Text   string `json:"text"`
			Blocks []struct {
				Type string `json:"type"`
			} `json:"blocks"`
		}
		if err := json.Unmarshal(b, &msg); err != nil || !strings.Contains(msg.Text, "to red") || len(msg.Blocks) == 0 || msg.Blocks[0].Type != "section" {
			t.Errorf("Slack body %s: not a Slack message about a red change", b)
			break
		}
		if !strings.Contains(string(b), "http://console.test:8083/accounts/acct-") {
			t.Errorf("Slack body %s has no link to the console", b)
			break
		}
	}
	slack.mu.Unlock()

	// The down receiver: every change dead-lettered with the destination and the error.
	testenv.Eventually(t, 60*time.Second, func() error {
		dl := deadLetters(t, brokers)
		if len(dl["down"]) != want || len(dl) != 1 {
			return fmt.Errorf("%d changes dead-lettered for destination down, want %d; destinations %d, want 1", len(dl["down"]), want, len(dl))
		}
		return nil
	})
	// The delivery log: every delivered change of flaky, and the dead letters of down.
	testenv.Eventually(t, 30*time.Second, func() error {
		var delivered, dead uint64
		if err := conn.QueryRow(context.Background(), "SELECT uniqExactIf(id, outcome = 'delivered' AND destination = 'flaky'), uniqExactIf(id, outcome = 'dead_lettered' AND destination = 'down') FROM webhook_deliveries").Scan(&delivered, &dead); err != nil {
			return err
		}
		if delivered != uint64(want) || dead != uint64(want) {
			return fmt.Errorf("delivery log: %d changes delivered to flaky, %d dead-lettered for down; want %d each", delivered, dead, want)
		}
		return nil
	})

	// A replay re-delivers every change since the start, with the same ids.
	enterprise.mu.Lock()
	before := len(enterprise.arrivals)
	enterprise.mu.Unlock()
	rctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	replay := exec.CommandContext(rctx, filepath.Join(binDir, "notifier"), "-replay", "-destination", "enterprise", "-since", "1h")
	replay.Env = append(os.Environ(), "KAFKA_BROKERS="+e.brokerAddr, "ENGAGE_DEV=true", "CLICKHOUSE_ADDR="+e.chAddr,
		"CLICKHOUSE_DATABASE="+e.chDatabase, "NOTIFIER_CONFIG="+config, "NOTIFIER_ADMIN_ADDR="+anyPort)
	if out, err := replay.CombinedOutput(); err != nil {
		t.Fatalf("notifier -replay: %v\n%s", err, out)
	}
	enterprise.mu.Lock()
	again := enterprise.arrivals[before:]
	enterprise.mu.Unlock()
	if len(again) != wantEnterprise || len(enterprise.distinct()) != wantEnterprise {
		t.Errorf("replay delivered %d (distinct ids now %d), want %d again with the same ids", len(again), len(enterprise.distinct()), wantEnterprise)
	}
}

// deadLetters returns the distinct change ids on engagement.health.changes.dlq per
// destination header (a change dead-lettered again after a restart counts once).
func deadLetters(t *testing.T, brokers []string) map[string]map[string]bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.HealthChangesDLQ),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string]map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			var dest, reason string
			for _, h := range r.Headers {
				switch h.Key {
				case topics.HeaderDLQDestination:
					dest = string(h.Value)
				case topics.HeaderDLQReason:
					reason = string(h.Value)
				}
			}
			if reason == "" || !slices.Contains([]string{"down", "flaky", "slack", "enterprise"}, dest) {
				dest = "malformed"
			}
			var ev struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(r.Value, &ev)
			if out[dest] == nil {
				out[dest] = map[string]bool{}
			}
			out[dest][ev.ID] = true
		})
	}
	return out
}
