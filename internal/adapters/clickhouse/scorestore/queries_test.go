package scorestore_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/engage-oss/engage/internal/adapters/clickhouse/scorestore"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
)

// TestQueryWindows runs the input queries on ClickHouse over a few hand-made rows per case,
// each on its own account, with rows on both sides of every window edge: the first day of a
// window counts, the day before it does not. Events are stored 30 s after midnight UTC of
// their day. TestReadInputs covers the traps of de-duplication over a larger fixture.
func TestQueryWindows(t *testing.T) {
	for _, mode := range testenv.Modes {
		t.Run(mode, func(t *testing.T) { queryWindows(t, mode) })
	}
}

func queryWindows(t *testing.T, mode string) {
	defaults := scorer.Windows{NPSDays: 90, TicketsDays: 30, ContractionDays: 30}
	ev := func(id, account, user, name string, daysAgo int, props string) fixtureEvent {
		return fixtureEvent{EventID: id, AccountID: account, UserID: user, Name: name, DaysAgo: daysAgo, Properties: props}
	}
	activeOn := func(account, user string, daysAgo int) fixtureSessionDay {
		return fixtureSessionDay{AccountID: account, UserID: user, SessionID: user + "-s", DaysAgo: daysAgo, Active: 1}
	}
	tests := []struct {
		name    string
		windows scorer.Windows
		fx      fixture
		want    health.Inputs
	}{
		{
			name:    "nps over 7 days counts each user's latest answer",
			windows: scorer.Windows{NPSDays: 7, TicketsDays: 30, ContractionDays: 30},
			fx: fixture{Events: []fixtureEvent{
				ev("n1", "", "u1", "$nps", 6, `{"score":9}`),   // the window's first day
				ev("n2", "", "u2", "$nps", 7, `{"score":3}`),   // the day before it
				ev("n3", "", "u3", "$nps", 0, `{"score":7.5}`), // passive
				ev("n4", "", "u4", "$nps", 0, `{"comment":"no score"}`),
				ev("n5", "", "u5", "$nps", 5, `{"score":10}`),
				ev("n6", "", "u5", "$nps", 1, `{"score":2}`), // u5's latest: a detractor
			}},
			want: health.Inputs{NPS: health.NPSAnswers{Promoters: 1, Passives: 1, Detractors: 1}},
		},
		{
			name:    "nps over 1 day is today only",
			windows: scorer.Windows{NPSDays: 1, TicketsDays: 30, ContractionDays: 30},
			fx: fixture{Events: []fixtureEvent{
				ev("n1", "", "u1", "$nps", 0, `{"score":10}`),
				ev("n2", "", "u2", "$nps", 1, `{"score":0}`),
			}},
			want: health.Inputs{NPS: health.NPSAnswers{Promoters: 1}},
		},
		{
			name:    "tickets over 7 days, a redelivered ticket once",
			windows: scorer.Windows{NPSDays: 90, TicketsDays: 7, ContractionDays: 30},
			fx: fixture{Events: []fixtureEvent{
				ev("k1", "", "u1", "$ticket", 6, ""),
				ev("k2", "", "u1", "$ticket", 7, ""),
				ev("k3", "", "u2", "$ticket", 0, ""),
				{EventID: "k3", UserID: "u2", Name: "$ticket", Ver: 2},
			}},
			want: health.Inputs{Tickets: 2},
		},
		{
			name:    "previous terms are those in force 7 days ago",
			windows: scorer.Windows{NPSDays: 90, TicketsDays: 30, ContractionDays: 7},
			fx: fixture{Events: []fixtureEvent{
				ev("a1", "", "", "$account", 8, `{"seats":20,"plan":"business","mrr":100}`),
				ev("a2", "", "", "$account", 7, `{"seats":15}`), // on the cut-off day: after midnight
				ev("a3", "", "", "$account", 0, `{"seats":10,"plan":"pro","status":"active"}`),
			}},
			want: health.Inputs{Seats: ptr(10), Plan: "pro", MRR: ptr(100.0), Status: ptr(health.StatusActive),
				Previous: &health.Terms{Seats: ptr(20), Plan: "business", MRR: ptr(100.0)}},
		},
		{
			name:    "no previous terms when every trait is newer than the cut-off",
			windows: scorer.Windows{NPSDays: 90, TicketsDays: 30, ContractionDays: 7},
			fx: fixture{Events: []fixtureEvent{
				ev("a1", "", "", "$account", 6, `{"seats":5}`),
			}},
			want: health.Inputs{Seats: ptr(5)},
		},
		{
			name:    "features of the last 30 days",
			windows: defaults,
			fx: fixture{Events: []fixtureEvent{
				ev("f1", "", "u1", "feature.a", 29, ""),
				ev("f2", "", "u1", "feature.a", 0, ""), // the same name again
				ev("f3", "", "u1", "feature.b", 30, ""),
				ev("f4", "", "u1", "feature.c", 0, ""),
				ev("f5", "", "u1", "$heartbeat", 0, ""),
			}},
			want: health.Inputs{FeaturesUsed30d: 2},
		},
		{
			name:    "active users of 1, 7 and 30 days, active days of 14",
			windows: defaults,
			fx: fixture{SessionDays: []fixtureSessionDay{
				activeOn("", "u1", 0),
				activeOn("", "u8", 1), // yesterday: not a daily active user
				activeOn("", "u2", 6),
				activeOn("", "u3", 7),
				activeOn("", "u4", 29),
				activeOn("", "u5", 30),
				activeOn("", "u6", 13),
				activeOn("", "u7", 14),
			}},
			want: health.Inputs{DAU: 1, WAU: 3, MAU: 7, ActiveDays14: 5},
		},
	}

	conn, _ := testenv.Database(t, mode)
	store := scorestore.New(conn)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case has its own account in the shared database.
			account := "case-" + string(rune('a'+i))
			for j := range tt.fx.Events {
				tt.fx.Events[j].AccountID = account
			}
			for j := range tt.fx.SessionDays {
				tt.fx.SessionDays[j].AccountID = account
			}
			insertFixture(t, conn, tt.fx)
			all, err := store.ReadInputs(context.Background(), tt.windows, everyAccount)
			if err != nil {
				t.Fatal(err)
			}
			var got *health.Inputs
			for _, a := range all {
				if a.AccountID == account {
					got = &a.Inputs
				}
			}
			if got == nil {
				t.Fatalf("no inputs for %s among %d accounts", account, len(all))
			}
			if !reflect.DeepEqual(*got, tt.want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(tt.want)
				t.Errorf("inputs\n got %s\nwant %s", g, w)
			}
		})
	}
}

// TestReadInputsRejectsEmptyWindows: a window under one day is a configuration error, not
// a query that silently counts nothing.
func TestReadInputsRejectsEmptyWindows(t *testing.T) {
	conn, _ := testenv.ClickHouse(t).NewDatabase(t)
	tests := []struct {
		name string
		w    scorer.Windows
	}{
		{"nps", scorer.Windows{NPSDays: 0, TicketsDays: 30, ContractionDays: 30}},
		{"tickets", scorer.Windows{NPSDays: 90, TicketsDays: 0, ContractionDays: 30}},
		{"contraction", scorer.Windows{NPSDays: 90, TicketsDays: 30, ContractionDays: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := scorestore.New(conn).ReadInputs(context.Background(), tt.w, everyAccount); err == nil {
				t.Errorf("ReadInputs(%+v) succeeded", tt.w)
			}
		})
	}
}

// TestScopeCondition pins the SQL of each kind of scope, quoting included.
func TestScopeCondition(t *testing.T) {
	tests := []struct {
		name string
		sc   scorer.Scope
		want string
	}{
		{"every account", scorer.Scope{NumPartitions: 2, Partitions: []int32{0, 1}}, "1"},
		{"some partitions", scorer.Scope{NumPartitions: 8, Partitions: []int32{1, 5}}, "cityHash64(account_id) % 8 IN (1, 5)"},
		{"no partition", scorer.Scope{NumPartitions: 8}, "0"},
		{"accounts, quoted", scorer.Scope{NumPartitions: 8, Partitions: []int32{1}, Accounts: []string{"a'b", `c\d`, "e\x00"}},
			`account_id IN ('a\'b', 'c\\d', 'e\0')`},
		{"an empty list", scorer.Scope{NumPartitions: 8, Partitions: []int32{1}, Accounts: []string{}}, "0"},
	}
	for _, tt := range tests {
		if got, _ := scorestore.ScopeCondition(tt.sc); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
