package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap/zaptest"

	"github.com/engage-oss/engage/internal/adapters/clickhouse/scorestore"
	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/changetopic"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
	"github.com/engage-oss/engage/internal/topics"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// rows writes the raw rows the worker would write for an account's activity.
type rows struct {
	t     *testing.T
	conn  driver.Conn
	today time.Time
	n     int
}

// event inserts an event daysAgo days back; later calls get later times on the same day.
func (r *rows) event(account, user, name string, daysAgo int, props string) {
	r.t.Helper()
	r.n++
	ts := r.today.AddDate(0, 0, -daysAgo).Add(time.Duration(r.n) * time.Second)
	ms := ts.UnixMilli()
	b, err := r.conn.PrepareBatch(context.Background(), `INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms,
 original_ts_ms, sent_at_ms, received_at, received_ms, properties, kafka_partition, kafka_offset, late, ver)`)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := b.Append(fmt.Sprintf("ev-%d", r.n), account, user, name, ts, ms, ms, ms, ts, ms, props,
		uint16(0), int64(r.n), uint8(0), uint64(1)); err != nil {
		r.t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		r.t.Fatal(err)
	}
}

// activeDays records users active (a session with product events) on the given days.
func (r *rows) activeDays(account string, users int, days []int) {
	r.t.Helper()
	b, err := r.conn.PrepareBatch(context.Background(), `INSERT INTO session_days_raw (account_id, user_id, session_id, day, active_ms, events, active, started, deleted, ver)`)
	if err != nil {
		r.t.Fatal(err)
	}
	for u := range users {
		for _, d := range days {
			if err := b.Append(account, fmt.Sprintf("u%d", u), fmt.Sprintf("s-%d-%d", u, d), r.today.AddDate(0, 0, -d),
				int64(600_000), uint32(12), uint8(1), uint8(1), uint8(0), uint64(1)); err != nil {
				r.t.Fatal(err)
			}
		}
	}
	if err := b.Send(); err != nil {
		r.t.Fatal(err)
	}
}

// errKilled stands for the scorer process dying.
var errKilled = errors.New("scorer killed")

// faultTopic is the real health-change topic with a fault injected: the process "dies"
// before producing (beforeProduce) or just after the transaction committed (afterProduce).
type faultTopic struct {
	inner                       *changetopic.Topic
	beforeProduce, afterProduce bool
}

func (f *faultTopic) Open(ctx context.Context, p int32) (scorer.PartitionLog, error) {
	l, err := f.inner.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	return &faultLog{PartitionLog: l, f: f}, nil
}

type faultLog struct {
	scorer.PartitionLog
	f *faultTopic
}

func (l *faultLog) Emit(ctx context.Context, changes []scorer.Change) error {
	if l.f.beforeProduce {
		return errKilled
	}
	if err := l.PartitionLog.Emit(ctx, changes); err != nil {
		return err
	}
	if l.f.afterProduce {
		return errKilled
	}
	return nil
}

// wholeGroup owns every partition and notifies nothing: every instance of the test is new,
// and a new instance reads every account of its partitions.
type wholeGroup struct{}

func (wholeGroup) Take(int32) ([]string, int64)                  { return nil, -1 }
func (wholeGroup) Commit(context.Context, map[int32]int64) error { return nil }
func (wholeGroup) Owns(context.Context, int32) error             { return nil }

// received collects what the kafka-go subscriber hands over.
type received struct {
	mu     sync.Mutex
	events []Event
}

func (r *received) handle(_ context.Context, ev Event, raw []byte) error {
	if _, err := Decode(raw); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

func (r *received) of(account string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, ev := range r.events {
		if ev.Data.AccountID == account {
			out = append(out, ev)
		}
	}
	return out
}

func transitions(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		prev := "null"
		if ev.Data.PreviousBand != nil {
			prev = *ev.Data.PreviousBand
		}
		out = append(out, prev+"→"+ev.Data.Band)
	}
	return out
}

// TestHealthChangeContract drives an account through the real scorer (ClickHouse from
// testenv, the in-process Kafka broker) and reads engagement.health.changes with kafka-go, an
// independent client that only knows the documented event format. The account goes from
// red (past_due, detractors, many tickets, little use) to yellow (billing active, promoters)
// to green (heavy use over 14 days), with the scorer "killed" twice on the way: once between
// scoring and producing, once right after producing. The subscriber must receive exactly one
// event per band change, with the right previous_band, and a steady account only its first.
func TestHealthChangeContract(t *testing.T) {
	for _, mode := range testenv.Modes {
		t.Run(mode, func(t *testing.T) { healthChangeContract(t, mode) })
	}
}

func healthChangeContract(t *testing.T, mode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, brokers := testenv.Kafka(t)
	conn, _ := testenv.Database(t, mode)
	log := zaptest.NewLogger(t)

	store := scorestore.New(conn)
	topic := changetopic.NewTopic(kafka.ClientOpts(brokers, "engage-scorer", nil), topics.HealthChanges, "engage-scorer", kafka.DefaultPartitions, log)
	emitter := &faultTopic{inner: topic}
	// start launches a scorer process; each call is a fresh instance with empty memory.
	start := func(tp *faultTopic) *scorer.Scorer {
		s, err := scorer.New(scorer.Config{Partitions: kafka.DefaultPartitions}, scorer.Deps{
			Model:   scorer.StaticModel{M: health.DefaultModel()},
			Source:  store,
			History: store,
			Topic:   tp,
			Group:   wholeGroup{},
		}, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Assign([]int32{0, 1, 2, 3, 4, 5, 6, 7})
		return s
	}
	rescore := func(s *scorer.Scorer) scorer.Stats {
		t.Helper()
		st, err := s.Rescore(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	got := &received{}
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() {
		subDone <- Run(subCtx, Config{Brokers: brokers, Group: "cs-tool", Topic: topics.HealthChanges}, got.handle, t.Logf)
	}()
	defer func() {
		stopSub()
		if err := <-subDone; err != nil {
			t.Errorf("subscriber: %v", err)
		}
	}()

	r := &rows{t: t, conn: conn, today: time.Now().UTC().Truncate(24 * time.Hour)}
	// acme: past_due, three detractors, six tickets on ten seats, one user on one day.
	r.event("acme", "", "$account", 20, `{"seats":10,"plan":"pro","mrr":500,"status":"past_due"}`)
	for u := range 3 {
		r.event("acme", fmt.Sprintf("u%d", u), "$nps", 10, `{"score":2}`)
	}
	for range 6 {
		r.event("acme", "u0", "$ticket", 5, `{"severity":"high"}`)
	}
	r.event("acme", "u0", "report.exported", 0, "")
	r.activeDays("acme", 1, []int{0})
	// steady: a healthy account that must never change band.
	r.event("steady", "", "$account", 20, `{"seats":5,"plan":"business","status":"active"}`)
	for f := range 10 {
		r.event("steady", "u0", fmt.Sprintf("feature.%d", f), 1, "")
	}
	r.activeDays("steady", 5, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})

	s := start(emitter)
	rescore(s)
	testenv.Eventually(t, 30*time.Second, func() error {
		if tr := transitions(got.of("acme")); !slices.Equal(tr, []string{"null→red"}) {
			return fmt.Errorf("acme's events %v, want [null→red]", tr)
		}
		return nil
	})

	// Billing recovers and the detractors become promoters: yellow. The scorer dies
	// between scoring and producing.
	r.event("acme", "", "$account", 0, `{"status":"active"}`)
	for u := range 3 {
		r.event("acme", fmt.Sprintf("u%d", u), "$nps", 0, `{"score":10}`)
	}
	if _, err := start(&faultTopic{inner: topic, beforeProduce: true}).Rescore(ctx); !errors.Is(err, errKilled) {
		t.Fatalf("killed scorer: %v, want errKilled", err)
	}
	s = start(emitter) // the restarted process
	rescore(s)
	rescore(s)

	// Ten users active on every day of two weeks, across ten features: green. This time the
	// scorer dies right after the broker acknowledged the event.
	r.activeDays("acme", 10, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	for f := range 10 {
		r.event("acme", "u1", fmt.Sprintf("feature.%d", f), 0, "")
	}
	if _, err := start(&faultTopic{inner: topic, afterProduce: true}).Rescore(ctx); !errors.Is(err, errKilled) {
		t.Fatalf("killed scorer: %v, want errKilled", err)
	}
	s = start(emitter)
	for range 3 {
		if st := rescore(s); st.Changes != 0 {
			t.Errorf("the restarted scorer emitted %d changes; the event was already on the topic", st.Changes)
		}
	}

	want := []string{"null→red", "red→yellow", "yellow→green"}
	testenv.Eventually(t, 30*time.Second, func() error {
		if tr := transitions(got.of("acme")); !slices.Equal(tr, want) {
			return fmt.Errorf("acme's events %v, want %v", tr, want)
		}
		if tr := transitions(got.of("steady")); !slices.Equal(tr, []string{"null→green"}) {
			return fmt.Errorf("steady's events %v, want [null→green]", tr)
		}
		return nil
	})

	// Nothing more is on the topic than what the subscriber got: exactly one record per change.
	var onTopic int
	if err := changetopic.Replay(ctx, kafka.ClientOpts(brokers, "test-count", nil), topics.HealthChanges, func(scorer.Record) error { onTopic++; return nil }); err != nil {
		t.Fatal(err)
	}
	if onTopic != 4 {
		t.Errorf("%d records on the topic, want 4 (3 for acme, 1 for steady)", onTopic)
	}

	acme := got.of("acme")
	ids := map[string]bool{}
	for i, ev := range acme {
		if ev.Type != "engage.account.health.changed" || ev.Source != "engage/scorer" || ev.Subject != "acme" ||
			ev.Sequence != fmt.Sprintf("%010d", i+1) || ids[ev.ID] {
			t.Errorf("event %d: type %q source %q subject %q sequence %q id %q", i, ev.Type, ev.Source, ev.Subject, ev.Sequence, ev.ID)
		}
		ids[ev.ID] = true
	}
	if acme[0].Data.PreviousScore != nil || acme[1].Data.PreviousScore == nil || *acme[1].Data.PreviousScore != acme[0].Data.Score {
		t.Errorf("previous_score: %v then %v, want null then %v", acme[0].Data.PreviousScore, acme[1].Data.PreviousScore, acme[0].Data.Score)
	}
	if rs := strings.Join(acme[1].Data.Reasons, ","); !strings.Contains(rs, "billing_recovered") || !strings.Contains(rs, "nps_promoter") {
		t.Errorf("reasons of red→yellow: %s, want billing_recovered and nps_promoter", rs)
	}
	if rs := acme[2].Data.Reasons; len(rs) == 0 || rs[0] != "usage_rose" {
		t.Errorf("reasons of yellow→green: %v, want usage_rose first", rs)
	}

	// account_health: one row per score change, bands as announced, nothing duplicated by
	// the restarts. The test rescores several times a second, so rows share scored_at
	// values; the table's rev orders them.
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM account_health WHERE account_id = 'acme'").Scan(&n); err != nil || n != 3 {
		t.Errorf("account_health has %d rows for acme (%v), want 3", n, err)
	}
	qr, err := conn.Query(ctx, "SELECT band, score FROM account_health_raw FINAL WHERE account_id = 'acme' ORDER BY rev")
	if err != nil {
		t.Fatal(err)
	}
	defer qr.Close()
	var bands []string
	var scores []float64
	for qr.Next() {
		var (
			b string
			s float64
		)
		if err := qr.Scan(&b, &s); err != nil {
			t.Fatal(err)
		}
		bands, scores = append(bands, b), append(scores, s)
	}
	if !slices.Equal(bands, []string{"red", "yellow", "green"}) {
		t.Errorf("account_health rows of acme: %v %v, want red, yellow, green", bands, scores)
	}
	for i, ev := range acme {
		if i < len(scores) && scores[i] != ev.Data.Score {
			t.Errorf("row %d score %v, event score %v", i, scores[i], ev.Data.Score)
		}
	}
}
