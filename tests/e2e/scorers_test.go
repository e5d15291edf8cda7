package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/changetopic"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/scorer"
	"github.com/engage-oss/engage/internal/topics"
)

// scorer starts a scorer instance of the env's group with the billing-only model, so that an
// account's band follows its billing status: active green, trialing yellow, past_due red.
func (e *env) scorer(t *testing.T, extra ...string) proc {
	t.Helper()
	env := []string{"SCORER_ADDR=" + anyPort, "KAFKA_BROKERS=" + e.brokerAddr, "ENGAGE_DEV=true",
		"CLICKHOUSE_ADDR=" + e.chAddr, "CLICKHOUSE_DATABASE=" + e.chDatabase,
		"HEALTH_MODEL=testdata/billing-model.json", "SCORER_INTERVAL=1s"}
	if e.chCluster != "" {
		env = append(env, "CLICKHOUSE_CLUSTER="+e.chCluster, "CLICKHOUSE_ZOOKEEPER="+e.chZooKeeper)
	}
	return start(t, "scorer", "api", append(env, extra...)...)
}

// statusCycle is the billing status of round r (from 1) for account i: every account changes
// band in every round.
var statusCycle = []string{"active", "trialing", "past_due"}

func statusOf(i, round int) string { return statusCycle[(i+round)%len(statusCycle)] }

var bandOfStatus = map[string]string{"active": "green", "trialing": "yellow", "past_due": "red"}

// sendRound posts one $account event per account with its status of the round.
func sendRound(t *testing.T, gateway string, accounts, round int) {
	t.Helper()
	evs := make([]event.Input, accounts)
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range evs {
		evs[i] = event.Input{EventID: fmt.Sprintf("status-%d-%d", i, round), AccountID: fmt.Sprintf("acct-%02d", i),
			Name: "$account", Timestamp: ts, Properties: json.RawMessage(`{"status":"` + statusOf(i, round) + `"}`)}
	}
	body, _ := json.Marshal(evs)
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest(http.MethodPost, "http://"+gateway+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer e2e-key")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if attempt > 50 {
			t.Fatalf("round %d not accepted: %v", round, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// announced reads engagement.health.changes read_committed, as a CS tool does, and checks
// that after rounds rounds every account has exactly the changes 1..rounds, each once, with
// the event ids a single scorer would have given them (scorer.EventID of account and
// sequence) and the bands of the rounds.
func announced(ctx context.Context, brokers []string, accounts, rounds int) error {
	got := map[string][]scorer.Change{}
	ids := map[string]int{}
	err := changetopic.Replay(ctx, kafka.ClientOpts(brokers, "e2e-check", nil), topics.HealthChanges, func(r scorer.Record) error {
		c, err := scorer.ParseRecord(r)
		if err != nil {
			return err
		}
		got[c.AccountID] = append(got[c.AccountID], c)
		ids[scorer.EventID(c.AccountID, c.Seq)]++
		return nil
	})
	if err != nil {
		return err
	}
	var problems []string
	for i := range accounts {
		id := fmt.Sprintf("acct-%02d", i)
		cs := got[id]
		var desc []string
		for _, c := range cs {
			desc = append(desc, fmt.Sprintf("%d:%s", c.Seq, c.Band))
		}
		var want []string
		for r := 1; r <= rounds; r++ {
			want = append(want, fmt.Sprintf("%d:%s", r, bandOfStatus[statusOf(i, r)]))
		}
		if !slices.Equal(desc, want) {
			problems = append(problems, fmt.Sprintf("%s: %v, want %v", id, desc, want))
		}
		for _, c := range cs {
			if n := ids[scorer.EventID(id, c.Seq)]; n != 1 {
				problems = append(problems, fmt.Sprintf("%s change %d published %d times", id, c.Seq, n))
			}
		}
	}
	if len(problems) > 0 {
		if len(problems) > 6 {
			problems = append(problems[:6], fmt.Sprintf("… and %d more", len(problems)-6))
		}
		return fmt.Errorf("after round %d:\n  %s", rounds, strings.Join(problems, "\n  "))
	}
	return nil
}

// accountHealth asks a scorer's read API for an account's band.
func accountHealth(addr, account string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/accounts/"+url.PathEscape(account)+"/health", nil)
	req.Header.Set("Authorization", "Bearer dev-read-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		Band  string `json:"band"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("%s: decoding the answer: %w", account, err)
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %d %s", account, resp.StatusCode, body.Error)
	}
	return body.Band, nil
}

// TestScorersFailOver (in both ClickHouse modes): three scorer instances share the accounts while every account changes
// band in every round. One is killed with -9 and, later, one is paused with SIGSTOP for 40 s
// (past its 10 s group session) and resumed, a zombie. Through all of it, every band change
// is announced exactly once with the ids one scorer would have given it, the killed
// instance's accounts are announced again by the others within 30 s, and every instance's
// read API answers for every account.
func TestScorersFailOver(t *testing.T) {
	inModes(t, scorersFailOver)
}

func scorersFailOver(t *testing.T, mode string) {
	e, _ := newEnvIn(t, mode)
	e.broker(t)
	e.worker(t)
	e.gateway(t)
	brokers := []string{e.brokerAddr}
	scorers := []proc{e.scorer(t), e.scorer(t), e.scorer(t)}
	const accounts = 24
	ctx := context.Background()
	round := 0
	next := func(within time.Duration) {
		t.Helper()
		round++
		sendRound(t, e.gatewayAddr, accounts, round)
		testenv.Eventually(t, within, func() error { return announced(ctx, brokers, accounts, round) })
	}
	next(60 * time.Second)
	next(30 * time.Second)

	// kill -9 in the middle of a round: the others take its partitions over after its
	// session times out, restore them from the topic and announce what it had not.
	round++
	sendRound(t, e.gatewayAddr, accounts, round)
	scorers[0].kill(t)
	killed := time.Now()
	testenv.Eventually(t, 60*time.Second, func() error { return announced(ctx, brokers, accounts, round) })
	if d := time.Since(killed); d > 30*time.Second {
		t.Errorf("the killed instance's accounts were announced %s after the kill, want within 30 s", d.Round(time.Second))
	}
	next(30 * time.Second)

	// SIGSTOP for 40 s: the instance is removed from the group, its partitions go to the
	// last one; resumed, it is a zombie that is fenced, rejoins and takes a share again.
	paused := scorers[1]
	if err := syscall.Kill(paused.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	next(40 * time.Second)
	time.Sleep(40*time.Second - time.Since(stopped))
	round++
	sendRound(t, e.gatewayAddr, accounts, round) // the zombie resumes with work waiting
	if err := syscall.Kill(paused.PID(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, func() error { return announced(ctx, brokers, accounts, round) })
	next(60 * time.Second)
	next(60 * time.Second)

	// The paused instance did lose its partitions (the scenario is real), and took a share
	// again after it resumed.
	out := paused.Output()
	lost := strings.LastIndex(out, "partitions revoked")
	if lost < 0 || !strings.Contains(out[lost:], "partition taken over") {
		t.Errorf("the paused scorer's log shows no loss of its partitions and takeover after it resumed:\n%s", out)
	}
	t.Logf("paused scorer's log:\n%s", out)

	// Every live instance answers for every account, owned or not.
	last := round
	for _, s := range scorers[1:] {
		addr := s.Addr("api")
		testenv.Eventually(t, 30*time.Second, func() error {
			for i := range accounts {
				id := fmt.Sprintf("acct-%02d", i)
				band, err := accountHealth(addr, id)
				if err != nil {
					return err
				}
				if want := bandOfStatus[statusOf(i, last)]; band != want {
					return fmt.Errorf("%s on %s: %s, want %s", id, addr, band, want)
				}
			}
			return nil
		})
	}
}
