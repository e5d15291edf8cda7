package kpi

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Querier is the part of a ClickHouse connection the query functions use;
// clickhouse-go's driver.Conn implements it. The connection's default database must be the
// one holding engage's views (engagement by default).
type Querier interface {
	Select(ctx context.Context, dest any, query string, args ...any) error
}

// Filter narrows a query. Its zero value returns every row.
type Filter struct {
	// From and To bound the view's period column (month, cohort_week, cohort_month or day),
	// both inclusive. Each is truncated to its period first, so any time within a month
	// selects that month. A zero time leaves that side open.
	From, To time.Time
	// AccountID keeps one account's rows. Only views with an account_id column accept it.
	AccountID string
}

// ErrNoAccountColumn is returned when Filter.AccountID is set for a view that has no
// account_id column (an aggregate over all accounts).
var ErrNoAccountColumn = errors.New("kpi: view has no account_id column")

// period says how a view's period column is truncated.
type period int

const (
	periodNone period = iota
	periodDay
	periodWeek
	periodMonth
)

// view describes one ClickHouse view for the query builder.
type view struct {
	name       string
	periodCol  string // "" when the view has no period column
	period     period
	hasAccount bool
	orderBy    string
}

var (
	viewAccountStateChanges = view{"account_state_changes", "day", periodDay, true, "account_id, day"}
	viewAccountStateDaily   = view{"account_state_daily", "day", periodDay, true, "account_id, day"}
	viewAccountStateMonthly = view{"account_state_monthly", "month", periodMonth, true, "account_id, month"}
	viewChurnMonthly        = view{"churn_monthly", "month", periodMonth, false, "month"}
	viewMRRMovements        = view{"mrr_movements_monthly", "month", periodMonth, false, "month"}
	viewNRRMonthly          = view{"nrr_monthly", "month", periodMonth, false, "month"}
	viewLTV                 = view{"ltv", "month", periodMonth, false, "month"}
	viewTrialConversion     = view{"trial_conversion_monthly", "month", periodMonth, false, "month"}
	viewNPSMonthly          = view{"nps_monthly", "month", periodMonth, false, "month"}
	viewNPSAccountMonthly   = view{"nps_account_monthly", "month", periodMonth, true, "month, account_id"}
	viewNPSPlanMonthly      = view{"nps_plan_monthly", "month", periodMonth, false, "month, plan"}
	viewCSATMonthly         = view{"csat_monthly", "month", periodMonth, false, "month"}
	viewCSATAccountMonthly  = view{"csat_account_monthly", "month", periodMonth, true, "month, account_id"}
	viewRenewalMonthly      = view{"renewal_monthly", "month", periodMonth, false, "month"}
	viewReferralsMonthly    = view{"referrals_monthly", "month", periodMonth, true, "month, account_id"}
	viewUserSignups         = view{"user_signups", "", periodNone, true, "account_id, user_id"}
	viewAdoption            = view{"adoption", "month", periodMonth, true, "account_id, month, feature"}
	viewTimeToValue         = view{"time_to_value", "cohort_month", periodMonth, true, "account_id, user_id"}
	viewTimeToValueSummary  = view{"time_to_value_summary", "cohort_month", periodMonth, false, "cohort_month, plan"}
	viewRetentionCohorts    = view{"retention_cohorts", "cohort_week", periodWeek, false, "cohort_week"}
)

// buildQuery returns the SELECT of cols from v narrowed by f, and its arguments. Dates are
// bound as 'YYYY-MM-DD' strings and truncated in SQL, the same way on 18.16 and current
// releases whatever the server's time zone.
func buildQuery(v view, cols []string, f Filter) (string, []any, error) {
	var (
		where []string
		args  []any
	)
	if v.periodCol != "" {
		for _, b := range []struct {
			t  time.Time
			op string
		}{{f.From, ">="}, {f.To, "<="}} {
			if b.t.IsZero() {
				continue
			}
			where = append(where, fmt.Sprintf("%s %s %s", v.periodCol, b.op, truncSQL(v.period)))
			args = append(args, b.t.UTC().Format(time.DateOnly))
		}
	} else if !f.From.IsZero() || !f.To.IsZero() {
		return "", nil, fmt.Errorf("kpi: view %s has no period to filter by", v.name)
	}
	if f.AccountID != "" {
		if !v.hasAccount {
			return "", nil, fmt.Errorf("%w: %s", ErrNoAccountColumn, v.name)
		}
		where = append(where, "account_id = ?")
		args = append(args, f.AccountID)
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(strings.Join(cols, ", "))
	b.WriteString(" FROM ")
	b.WriteString(v.name)
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY ")
	b.WriteString(v.orderBy)
	return b.String(), args, nil
}

func truncSQL(p period) string {
	switch p {
	case periodMonth:
		return "toStartOfMonth(toDate(?))"
	case periodWeek:
		return "toMonday(toDate(?))"
	default:
		return "toDate(?)"
	}
}

// columnsOf lists the ch tags of T's fields in order: the columns a row type reads.
func columnsOf[T any]() []string {
	t := reflect.TypeFor[T]()
	cols := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("ch"); tag != "" {
			cols = append(cols, tag)
		}
	}
	return cols
}

func selectView[T any](ctx context.Context, q Querier, v view, f Filter) ([]T, error) {
	query, args, err := buildQuery(v, columnsOf[T](), f)
	if err != nil {
		return nil, err
	}
	var rows []T
	if err := q.Select(ctx, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("kpi: reading %s: %w", v.name, err)
	}
	return rows, nil
}

// AccountStateChanges reads account_state_changes, ordered by account and day.
func AccountStateChanges(ctx context.Context, q Querier, f Filter) ([]AccountStateChange, error) {
	return selectView[AccountStateChange](ctx, q, viewAccountStateChanges, f)
}

// AccountStateDaily reads account_state_daily, ordered by account and day. Without a
// Filter it returns a row per account and day of its history: narrow it.
func AccountStateDaily(ctx context.Context, q Querier, f Filter) ([]AccountStateDay, error) {
	return selectView[AccountStateDay](ctx, q, viewAccountStateDaily, f)
}

// AccountMonths reads account_state_monthly, ordered by account and month.
func AccountMonths(ctx context.Context, q Querier, f Filter) ([]AccountMonth, error) {
	return selectView[AccountMonth](ctx, q, viewAccountStateMonthly, f)
}

// ChurnMonthly reads churn_monthly, ordered by month.
func ChurnMonthly(ctx context.Context, q Querier, f Filter) ([]ChurnMonth, error) {
	return selectView[ChurnMonth](ctx, q, viewChurnMonthly, f)
}

// MRRMovementsMonthly reads mrr_movements_monthly, ordered by month.
func MRRMovementsMonthly(ctx context.Context, q Querier, f Filter) ([]MRRMovementMonth, error) {
	return selectView[MRRMovementMonth](ctx, q, viewMRRMovements, f)
}

// NRRMonthly reads nrr_monthly, ordered by month.
func NRRMonthly(ctx context.Context, q Querier, f Filter) ([]NRRMonth, error) {
	return selectView[NRRMonth](ctx, q, viewNRRMonthly, f)
}

// LTV reads ltv, ordered by month.
func LTV(ctx context.Context, q Querier, f Filter) ([]LTVMonth, error) {
	return selectView[LTVMonth](ctx, q, viewLTV, f)
}

// TrialConversionMonthly reads trial_conversion_monthly, ordered by month.
func TrialConversionMonthly(ctx context.Context, q Querier, f Filter) ([]TrialConversionMonth, error) {
	return selectView[TrialConversionMonth](ctx, q, viewTrialConversion, f)
}

// NPSMonthly reads nps_monthly, ordered by month.
func NPSMonthly(ctx context.Context, q Querier, f Filter) ([]NPSMonth, error) {
	return selectView[NPSMonth](ctx, q, viewNPSMonthly, f)
}

// NPSAccountMonthly reads nps_account_monthly, ordered by month and account.
func NPSAccountMonthly(ctx context.Context, q Querier, f Filter) ([]NPSAccountMonth, error) {
	return selectView[NPSAccountMonth](ctx, q, viewNPSAccountMonthly, f)
}

// NPSPlanMonthly reads nps_plan_monthly, ordered by month and plan.
func NPSPlanMonthly(ctx context.Context, q Querier, f Filter) ([]NPSPlanMonth, error) {
	return selectView[NPSPlanMonth](ctx, q, viewNPSPlanMonthly, f)
}

// CSATMonthly reads csat_monthly, ordered by month.
func CSATMonthly(ctx context.Context, q Querier, f Filter) ([]CSATMonth, error) {
	return selectView[CSATMonth](ctx, q, viewCSATMonthly, f)
}

// CSATAccountMonthly reads csat_account_monthly, ordered by month and account.
func CSATAccountMonthly(ctx context.Context, q Querier, f Filter) ([]CSATAccountMonth, error) {
	return selectView[CSATAccountMonth](ctx, q, viewCSATAccountMonthly, f)
}

// RenewalMonthly reads renewal_monthly, ordered by month.
func RenewalMonthly(ctx context.Context, q Querier, f Filter) ([]RenewalMonth, error) {
	return selectView[RenewalMonth](ctx, q, viewRenewalMonthly, f)
}

// ReferralsMonthly reads referrals_monthly, ordered by month and account.
func ReferralsMonthly(ctx context.Context, q Querier, f Filter) ([]ReferralMonth, error) {
	return selectView[ReferralMonth](ctx, q, viewReferralsMonthly, f)
}

// UserSignups reads user_signups, ordered by account and user.
func UserSignups(ctx context.Context, q Querier, f Filter) ([]UserSignup, error) {
	return selectView[UserSignup](ctx, q, viewUserSignups, f)
}

// Adoption reads adoption, ordered by account, month and feature.
func Adoption(ctx context.Context, q Querier, f Filter) ([]AdoptionMonth, error) {
	return selectView[AdoptionMonth](ctx, q, viewAdoption, f)
}

// TimeToValue reads time_to_value, ordered by account and user; the Filter's period is the
// sign-up month.
func TimeToValue(ctx context.Context, q Querier, f Filter) ([]UserTimeToValue, error) {
	return selectView[UserTimeToValue](ctx, q, viewTimeToValue, f)
}

// TimeToValueSummary reads time_to_value_summary, ordered by cohort month and plan.
func TimeToValueSummary(ctx context.Context, q Querier, f Filter) ([]TimeToValueCohort, error) {
	return selectView[TimeToValueCohort](ctx, q, viewTimeToValueSummary, f)
}

// RetentionCohorts reads retention_cohorts, ordered by cohort week; the Filter's times are
// truncated to their Monday.
func RetentionCohorts(ctx context.Context, q Querier, f Filter) ([]RetentionCohort, error) {
	return selectView[RetentionCohort](ctx, q, viewRetentionCohorts, f)
}
