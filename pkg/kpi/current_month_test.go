package kpi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/pkg/kpi"
)

// TestHistorySpanningCurrentMonth pins the views' handling of "now": a history that runs
// into the current month ends there — the current month is reported with the state so far,
// no later month appears — and account_state_daily stops at today.
//
// acct-now: active at 100 from the first day of the month two months back, 150 from the
// first of the current month (00:00:01, so never in the future). acct-gone: active at 50
// from the same day, canceled on the first of last month.
func TestHistorySpanningCurrentMonth(t *testing.T) {
	ctx := context.Background()
	conn, _ := testenv.ClickHouse(t).NewDatabase(t)
	now := time.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	lastMonth := thisMonth.AddDate(0, -1, 0)
	twoBack := thisMonth.AddDate(0, -2, 0)
	insertRaw(t, conn, []rawEvent{
		{"n1", "acct-now", "", "$account", twoBack, `{"status":"active","plan":"pro","mrr":100}`},
		{"n2", "acct-now", "", "$account", thisMonth.Add(time.Second), `{"mrr":150}`},
		{"g1", "acct-gone", "", "$account", twoBack, `{"status":"active","plan":"starter","mrr":50}`},
		{"g2", "acct-gone", "", "$account", lastMonth, `{"status":"canceled"}`},
	})
	m := func(t time.Time) string { return t.Format(time.DateOnly) }

	got, err := lines(kpi.MRRMovementsMonthly(ctx, conn, kpi.Filter{}))
	checkLines(t, got, err, []string{
		fmt.Sprintf("%s 0 150 0 0 0 150 150 false", m(twoBack)),
		// acct-gone canceled on the 1st: lost with its 50.
		fmt.Sprintf("%s 150 0 0 0 50 100 -50 false", m(lastMonth)),
		// The current month so far: 100 -> 150.
		fmt.Sprintf("%s 100 0 50 0 0 150 50 true", m(thisMonth)),
	})

	got, err = lines(kpi.ChurnMonthly(ctx, conn, kpi.Filter{From: thisMonth, To: thisMonth.AddDate(1, 0, 0)}))
	checkLines(t, got, err, []string{fmt.Sprintf("%s 1 0 0 0 1 0 100 0 0", m(thisMonth))})

	days, err := kpi.AccountStateDaily(ctx, conn, kpi.Filter{AccountID: "acct-now"})
	if err != nil {
		t.Fatal(err)
	}
	today := now.Truncate(24 * time.Hour)
	if n := len(days); n == 0 || !days[n-1].Day.Equal(today) {
		t.Fatalf("account_state_daily ends on %v, want today %s", days[len(days)-1].Day, m(today))
	}
	if want := int(today.Sub(twoBack).Hours()/24) + 1; len(days) != want {
		t.Errorf("account_state_daily has %d days for acct-now, want %d (every day from %s to today)", len(days), want, m(twoBack))
	}
	last := days[len(days)-1]
	if last.MRR == nil || *last.MRR != 150 || last.Status != "active" {
		t.Errorf("today's state %+v, want active with mrr 150", last)
	}

	changes, err := lines(kpi.AccountStateChanges(ctx, conn, kpi.Filter{AccountID: "acct-now"}))
	checkLines(t, changes, err, []string{
		fmt.Sprintf(`acct-now %s %s active pro NULL 100 true ""`, m(twoBack), m(thisMonth)),
		fmt.Sprintf(`acct-now %s NULL active pro NULL 150 true active`, m(thisMonth)),
	})
}
