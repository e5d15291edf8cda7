package kpi

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestBuildQuery(t *testing.T) {
	jul := time.Date(2026, 7, 15, 13, 0, 0, 0, time.UTC)
	sep := time.Date(2026, 9, 2, 0, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	cols := []string{"a", "b"}
	tests := []struct {
		name     string
		v        view
		f        Filter
		wantSQL  string
		wantArgs []any
		wantErr  error
	}{
		{name: "no filter", v: viewChurnMonthly,
			wantSQL: "SELECT a, b FROM churn_monthly ORDER BY month"},
		{name: "month range", v: viewChurnMonthly, f: Filter{From: jul, To: sep},
			wantSQL:  "SELECT a, b FROM churn_monthly WHERE month >= toStartOfMonth(toDate(?)) AND month <= toStartOfMonth(toDate(?)) ORDER BY month",
			wantArgs: []any{"2026-07-15", "2026-09-01"}}, // sep is 2026-09-01T22:00 UTC
		{name: "open start", v: viewChurnMonthly, f: Filter{To: jul},
			wantSQL:  "SELECT a, b FROM churn_monthly WHERE month <= toStartOfMonth(toDate(?)) ORDER BY month",
			wantArgs: []any{"2026-07-15"}},
		{name: "week and account", v: viewRetentionCohorts, f: Filter{From: jul},
			wantSQL:  "SELECT a, b FROM retention_cohorts WHERE cohort_week >= toMonday(toDate(?)) ORDER BY cohort_week",
			wantArgs: []any{"2026-07-15"}},
		{name: "day and account", v: viewAccountStateDaily, f: Filter{From: jul, AccountID: "acme"},
			wantSQL:  "SELECT a, b FROM account_state_daily WHERE day >= toDate(?) AND account_id = ? ORDER BY account_id, day",
			wantArgs: []any{"2026-07-15", "acme"}},
		{name: "account on an aggregate view", v: viewNPSMonthly, f: Filter{AccountID: "acme"},
			wantErr: ErrNoAccountColumn},
		{name: "period on a view without one", v: viewUserSignups, f: Filter{From: jul}},
		{name: "account, no period", v: viewUserSignups, f: Filter{AccountID: "x'; DROP TABLE t --"},
			wantSQL:  "SELECT a, b FROM user_signups WHERE account_id = ? ORDER BY account_id, user_id",
			wantArgs: []any{"x'; DROP TABLE t --"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql, args, err := buildQuery(tt.v, cols, tt.f)
			if tt.wantSQL == "" {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sql != tt.wantSQL {
				t.Errorf("sql\n got %s\nwant %s", sql, tt.wantSQL)
			}
			if !reflect.DeepEqual(args, tt.wantArgs) {
				t.Errorf("args = %q, want %q", args, tt.wantArgs)
			}
		})
	}
}

func TestColumnsOf(t *testing.T) {
	got := columnsOf[CSATMonth]()
	want := []string{"month", "answers", "satisfied", "csat"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("columnsOf[CSATMonth]() = %q, want %q", got, want)
	}
}

func TestCheckSetting(t *testing.T) {
	tests := []struct {
		name  string
		value float64
		ok    bool
	}{
		{SettingLTVChurnWindowMonths, 1, true},
		{SettingLTVChurnWindowMonths, 12, true},
		{SettingLTVChurnWindowMonths, 120, true},
		{SettingLTVChurnWindowMonths, 0, false},
		{SettingLTVChurnWindowMonths, 121, false},
		{SettingLTVChurnWindowMonths, 2.5, false},
		{"no_such_setting", 1, false},
	}
	for _, tt := range tests {
		err := CheckSetting(tt.name, tt.value)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidSetting)) {
			t.Errorf("CheckSetting(%q, %v) = %v, want ok %v", tt.name, tt.value, err, tt.ok)
		}
	}
}
