package scorer_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse/scorestore"
	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/changetopic"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
	"github.com/engage-oss/engage/internal/topics"
)

// trait is an $account event sent daysAgo days before today.
type trait struct {
	daysAgo int
	props   string
}

// usageChange is what happens to an account's activity between the two rescorings.
type usageChange int

const (
	usageSteady usageChange = iota
	usageDips               // one of ten users stops: the score moves within green
	usageFalls              // one user on one day is left: green → yellow
)

// monthly is an account's row of account_state_monthly.
type monthly struct {
	movement                  string
	mrrStart, mrrEnd          float64
	mrrContraction, expansion float64
}

// warehouse writes the rows the worker writes for an account's activity. Events are
// buffered and written by flush in one insert.
type warehouse struct {
	t      *testing.T
	conn   driver.Conn
	today  time.Time
	n      int
	events [][]any
}

// event buffers an event daysAgo days back; later calls get later times on their day.
func (w *warehouse) event(account, user, name string, daysAgo int, props string) {
	w.n++
	ts := w.today.AddDate(0, 0, -daysAgo).Add(time.Duration(w.n) * time.Second)
	ms := ts.UnixMilli()
	w.events = append(w.events, []any{fmt.Sprintf("ev-%d", w.n), account, user, name, ts, ms, ms, ms, ts, ms, props,
		uint16(0), int64(w.n), uint8(0), uint64(1)})
}

// flush inserts the buffered events into events_raw.
func (w *warehouse) flush() {
	w.t.Helper()
	b, err := w.conn.PrepareBatch(context.Background(), `INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms,
 original_ts_ms, sent_at_ms, received_at, received_ms, properties, kafka_partition, kafka_offset, late, ver)`)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, e := range w.events {
		if err := b.Append(e...); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		w.t.Fatal(err)
	}
	w.events = w.events[:0]
}

// sessionDays writes one session per user and day at version ver; deleted = 1 retracts
// sessions written before, as the worker does when a session stops existing.
func (w *warehouse) sessionDays(account string, users, days []int, ver uint64, deleted uint8) {
	w.t.Helper()
	b, err := w.conn.PrepareBatch(context.Background(), `INSERT INTO session_days_raw (account_id, user_id, session_id, day, active_ms, events, active, started, deleted, ver)`)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, u := range users {
		for _, d := range days {
			if err := b.Append(account, fmt.Sprintf("u%d", u), fmt.Sprintf("s-%d-%d", u, d), w.today.AddDate(0, 0, -d),
				int64(600_000), uint32(12), uint8(1), uint8(1), deleted, ver); err != nil {
				w.t.Fatal(err)
			}
		}
	}
	if err := b.Send(); err != nil {
		w.t.Fatal(err)
	}
}

func span(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// TestContractionEndToEnd proves issue #7 against real ClickHouse and the in-process broker:
// a contraction (MRR drop, seat reduction, or a downgrade along the model's plan_order) is a
// reason of the health-change event when it coincides with a band change, and an MRR drop is
// also the account's movement in account_state_monthly and part of mrr_contraction in
// mrr_movements_monthly for the month. Without a band change there is no event; the reason
// then shows only in the account's account_health row, if its score moved.
//
// The scorer's rule is a sliding window: current seats, plan and MRR against their values
// SCORER_CONTRACTION_DAYS (30) days ago. The monthly views compare the MRR of paying accounts
// at the start and the end of a calendar month. The cases where the two differ are pinned too.
//
// Every account starts green: $account 40 days ago (before this month and the 30 days),
// ten users active on each of the last 14 days, four features. After a first rescoring
// announces that, each case sends its $account change and its usage change, and the second
// rescoring is checked. The queries use the server's today(), so time cannot pass in a test:
// a fall in usage is written as the worker would retract the sessions (a newer version with
// deleted = 1), which the usage query reads exactly like days leaving the window.
func TestContractionEndToEnd(t *testing.T) {
	const baseline = `{"seats":10,"plan":"pro","mrr":1000,"status":"active"}`
	tests := []struct {
		account string
		before  []trait     // sent before the first rescoring
		change  string      // $account sent today, after it ("" for none)
		usage   usageChange // after it too
		// wantBand is the band after the second rescoring; green means no event.
		wantBand        string
		wantContraction bool // reason contraction in the event, or else in the account_health row
		wantRow         bool // the second rescoring writes an account_health row
		wantMonth       monthly
	}{
		{
			account: "mrr-drop", before: []trait{{40, baseline}}, change: `{"mrr":600}`, usage: usageFalls,
			wantBand: "yellow", wantContraction: true, wantRow: true,
			wantMonth: monthly{"contraction", 1000, 600, 400, 0},
		},
		{
			// Fewer seats at the same price: a contraction of the contract, not of MRR.
			account: "seat-reduction", before: []trait{{40, baseline}}, change: `{"seats":6}`, usage: usageFalls,
			wantBand: "yellow", wantContraction: true, wantRow: true,
			wantMonth: monthly{"flat", 1000, 1000, 0, 0},
		},
		{
			account: "plan-downgrade", before: []trait{{40, baseline}}, change: `{"plan":"starter"}`, usage: usageFalls,
			wantBand: "yellow", wantContraction: true, wantRow: true,
			wantMonth: monthly{"flat", 1000, 1000, 0, 0},
		},
		{
			account: "downgrade", before: []trait{{40, baseline}}, change: `{"seats":5,"plan":"starter","mrr":300}`, usage: usageFalls,
			wantBand: "yellow", wantContraction: true, wantRow: true,
			wantMonth: monthly{"contraction", 1000, 300, 700, 0},
		},
		{
			// The same score, the same band: no event and no row, but the month's MRR fell.
			account: "mrr-drop-steady", before: []trait{{40, baseline}}, change: `{"mrr":800}`, usage: usageSteady,
			wantBand: "green", wantContraction: false, wantRow: false,
			wantMonth: monthly{"contraction", 1000, 800, 200, 0},
		},
		{
			// The score moves within green: no event; the row names the contraction.
			account: "mrr-drop-dip", before: []trait{{40, baseline}}, change: `{"mrr":900}`, usage: usageDips,
			wantBand: "green", wantContraction: true, wantRow: true,
			wantMonth: monthly{"contraction", 1000, 900, 100, 0},
		},
		{
			account: "upgrade", before: []trait{{40, baseline}}, change: `{"seats":12,"plan":"business","mrr":1500}`, usage: usageFalls,
			wantBand: "yellow", wantContraction: false, wantRow: true,
			wantMonth: monthly{"expansion", 1000, 1500, 0, 500},
		},
		{
			// A trait sent as null is not sent (the gateway's rule): no MRR of 0, no contraction.
			account: "null-traits", before: []trait{{40, baseline}}, change: `{"seats":null,"plan":null,"mrr":null}`, usage: usageFalls,
			wantBand: "yellow", wantContraction: false, wantRow: true,
			wantMonth: monthly{"flat", 1000, 1000, 0, 0},
		},
		{
			// MRR fell 35 days ago, before the window: the band change has no contraction
			// reason, and this month is flat (the drop is in its own month's mrr_contraction,
			// checked below).
			account: "drop-before-window", before: []trait{{70, baseline}, {35, `{"mrr":600}`}}, usage: usageFalls,
			wantBand: "yellow", wantContraction: false, wantRow: true,
			wantMonth: monthly{"flat", 600, 600, 0, 0},
		},
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, brokers := testenv.Kafka(t)
	conn, _ := testenv.ClickHouse(t).NewDatabase(t)
	store := scorestore.New(conn)
	var ids []string
	for _, tt := range tests {
		ids = append(ids, tt.account)
	}
	s, err := scorer.New(scorer.Config{ContractionDays: 30, Partitions: kafka.DefaultPartitions}, scorer.Deps{
		Model:   scorer.StaticModel{M: health.DefaultModel()},
		Source:  store,
		History: store,
		Topic:   changetopic.NewTopic(kafka.ClientOpts(brokers, "engage-scorer", nil), topics.HealthChanges, "engage-scorer", kafka.DefaultPartitions, nil),
		Group:   notified{ids: ids},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Assign([]int32{0, 1, 2, 3, 4, 5, 6, 7})
	changes := func() map[string][]scorer.Change {
		t.Helper()
		out := map[string][]scorer.Change{}
		err := changetopic.Replay(ctx, kafka.ClientOpts(brokers, "engage-scorer-replay", nil), topics.HealthChanges, func(r scorer.Record) error {
			c, err := scorer.ParseRecord(r)
			if err != nil {
				return err
			}
			out[c.AccountID] = append(out[c.AccountID], c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	today := time.Now().UTC().Truncate(24 * time.Hour)
	w := &warehouse{t: t, conn: conn, today: today}
	for _, tt := range tests {
		for _, tr := range tt.before {
			w.event(tt.account, "", "$account", tr.daysAgo, tr.props)
		}
		for _, f := range []string{"dashboard.viewed", "report.viewed", "report.created", "invoice.sent"} {
			w.event(tt.account, "u0", f, 2, "")
		}
		w.sessionDays(tt.account, span(0, 9), span(0, 13), 1, 0)
	}
	w.flush()
	if _, err := s.Rescore(ctx); err != nil {
		t.Fatal(err)
	}
	first := changes()
	for _, tt := range tests {
		if cs := first[tt.account]; len(cs) != 1 || cs[0].Band != health.BandGreen {
			t.Fatalf("%s: first announcement %+v, want one, green", tt.account, cs)
		}
	}

	for _, tt := range tests {
		if tt.change != "" {
			w.event(tt.account, "", "$account", 0, tt.change)
		}
		switch tt.usage {
		case usageDips:
			w.sessionDays(tt.account, []int{9}, span(0, 13), 2, 1)
		case usageFalls:
			w.sessionDays(tt.account, span(1, 9), span(0, 13), 2, 1)
			w.sessionDays(tt.account, []int{0}, span(0, 12), 2, 1)
		}
	}
	w.flush()
	if _, err := s.Rescore(ctx); err != nil {
		t.Fatal(err)
	}
	second := changes()

	var wantContraction, wantExpansion float64
	for _, tt := range tests {
		wantContraction += tt.wantMonth.mrrContraction
		wantExpansion += tt.wantMonth.expansion
		t.Run(tt.account, func(t *testing.T) {
			cs := second[tt.account]
			rows, err := store.History(ctx, tt.account, 10)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.wantBand == "green":
				if len(cs) != 1 {
					t.Errorf("events %+v: want only the first announcement, the band did not change", cs)
				}
			case len(cs) != 2 || cs[1].Band.String() != tt.wantBand || cs[1].PreviousBand != health.BandGreen:
				t.Fatalf("events %+v: want the first announcement and green → %s", cs, tt.wantBand)
			case slices.Contains(cs[1].Reasons, health.ReasonContraction) != tt.wantContraction:
				t.Errorf("reasons of green → %s: %v, want contraction: %v", tt.wantBand, cs[1].Reasons, tt.wantContraction)
			case !slices.Contains(cs[1].Reasons, health.ReasonUsageDropped):
				t.Errorf("reasons of green → %s: %v, want usage_dropped", tt.wantBand, cs[1].Reasons)
			}

			if got := len(rows) == 2; got != tt.wantRow {
				t.Fatalf("account_health rows %+v: a second row: %v, want %v", rows, got, tt.wantRow)
			}
			if tt.wantRow {
				// rows are newest first; the row of a band change has the event's reasons.
				if got := slices.Contains(rows[0].Reasons, health.ReasonContraction); got != tt.wantContraction {
					t.Errorf("reasons of the account_health row: %v, want contraction: %v", rows[0].Reasons, tt.wantContraction)
				}
			}

			var got monthly
			err = conn.QueryRow(ctx, `SELECT movement, mrr_start, mrr_end, mrr_contraction, mrr_expansion
FROM account_state_monthly WHERE account_id = ? AND month = toStartOfMonth(today())`, tt.account).
				Scan(&got.movement, &got.mrrStart, &got.mrrEnd, &got.mrrContraction, &got.expansion)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.wantMonth {
				t.Errorf("account_state_monthly this month: %+v, want %+v", got, tt.wantMonth)
			}
		})
	}

	t.Run("mrr_movements_monthly", func(t *testing.T) {
		var contraction, expansion float64
		err := conn.QueryRow(ctx, `SELECT mrr_contraction, mrr_expansion FROM mrr_movements_monthly WHERE month = toStartOfMonth(today())`).
			Scan(&contraction, &expansion)
		if err != nil {
			t.Fatal(err)
		}
		if contraction != wantContraction || expansion != wantExpansion {
			t.Errorf("this month: mrr_contraction %v, mrr_expansion %v; want %v, %v (the accounts' drops and rises)",
				contraction, expansion, wantContraction, wantExpansion)
		}
		// The drop of drop-before-window is in the month it happened in.
		var movement string
		var dropped float64
		err = conn.QueryRow(ctx, `SELECT movement, mrr_contraction FROM account_state_monthly
WHERE account_id = 'drop-before-window' AND month = toStartOfMonth(today() - 35)`).Scan(&movement, &dropped)
		if err != nil {
			t.Fatal(err)
		}
		if movement != "contraction" || dropped != 400 {
			t.Errorf("drop-before-window in the month of its drop: %s %v, want contraction 400", movement, dropped)
		}
	})
}
