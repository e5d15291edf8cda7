package kpi_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/pkg/kpi"
)

// goTypeOf is the Go type a ClickHouse column of type ch scans into in the row types.
func goTypeOf(ch string) reflect.Type {
	if inner, ok := strings.CutPrefix(ch, "Nullable("); ok {
		if t := goTypeOf(strings.TrimSuffix(inner, ")")); t != nil {
			return reflect.PointerTo(t)
		}
		return nil
	}
	switch {
	case ch == "String":
		return reflect.TypeFor[string]()
	case ch == "Date" || strings.HasPrefix(ch, "DateTime"):
		return reflect.TypeFor[time.Time]()
	case ch == "UInt8":
		return reflect.TypeFor[bool]()
	case ch == "UInt32":
		return reflect.TypeFor[uint32]()
	case ch == "UInt64":
		return reflect.TypeFor[uint64]()
	case ch == "Int64":
		return reflect.TypeFor[int64]()
	case ch == "Float64":
		return reflect.TypeFor[float64]()
	}
	return nil
}

// TestRowTypesMatchViews pins the package invariant: each row type has exactly its view's
// columns, in order, with Go types the driver scans them into. A view changed without its
// row type (or the reverse) fails here rather than in a caller.
func TestRowTypesMatchViews(t *testing.T) {
	conn, _ := testenv.ClickHouse(t).NewDatabase(t)
	for _, tt := range []struct {
		view string
		row  any
	}{
		{"account_state_changes", kpi.AccountStateChange{}},
		{"account_state_daily", kpi.AccountStateDay{}},
		{"account_state_monthly", kpi.AccountMonth{}},
		{"churn_monthly", kpi.ChurnMonth{}},
		{"mrr_movements_monthly", kpi.MRRMovementMonth{}},
		{"nrr_monthly", kpi.NRRMonth{}},
		{"ltv", kpi.LTVMonth{}},
		{"trial_conversion_monthly", kpi.TrialConversionMonth{}},
		{"nps_monthly", kpi.NPSMonth{}},
		{"nps_account_monthly", kpi.NPSAccountMonth{}},
		{"nps_plan_monthly", kpi.NPSPlanMonth{}},
		{"csat_monthly", kpi.CSATMonth{}},
		{"csat_account_monthly", kpi.CSATAccountMonth{}},
		{"renewal_monthly", kpi.RenewalMonth{}},
		{"referrals_monthly", kpi.ReferralMonth{}},
		{"user_signups", kpi.UserSignup{}},
		{"adoption", kpi.AdoptionMonth{}},
		{"time_to_value", kpi.UserTimeToValue{}},
		{"time_to_value_summary", kpi.TimeToValueCohort{}},
		{"retention_cohorts", kpi.RetentionCohort{}},
	} {
		t.Run(tt.view, func(t *testing.T) {
			rows, err := conn.Query(context.Background(), "DESCRIBE TABLE "+tt.view)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var want []string
			for rows.Next() {
				// DESCRIBE has 5 columns on 18.16 and more on current releases; the first
				// two are the name and the type.
				dest := make([]any, len(rows.Columns()))
				for i := range dest {
					dest[i] = new(string)
				}
				if err := rows.Scan(dest...); err != nil {
					t.Fatal(err)
				}
				name, typ := *dest[0].(*string), *dest[1].(*string)
				gt := goTypeOf(typ)
				if gt == nil {
					t.Fatalf("column %s has type %s, which the row types do not map", name, typ)
				}
				want = append(want, name+" "+gt.String())
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rt := reflect.TypeOf(tt.row)
			var got []string
			for i := range rt.NumField() {
				f := rt.Field(i)
				typ := f.Type
				if typ.Kind() == reflect.String {
					typ = reflect.TypeFor[string]() // Movement scans like a string
				}
				got = append(got, f.Tag.Get("ch")+" "+typ.String())
			}
			if strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("%s row type\n got %s\nwant %s", rt.Name(), strings.Join(got, ", "), strings.Join(want, ", "))
			}
		})
	}
}
