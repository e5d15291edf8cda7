package kpi

import (
	"fmt"
	"time"
)

// AccountStateChange is a row of account_state_changes: an account's state from Day until
// ValidTo (exclusive; nil while it is the current state).
type AccountStateChange struct {
	AccountID  string     `ch:"account_id"`
	Day        time.Time  `ch:"day"`
	ValidTo    *time.Time `ch:"valid_to"`
	Status     string     `ch:"status"`
	Plan       string     `ch:"plan"`
	Seats      *int64     `ch:"seats"` // nil until the account first sent seats
	MRR        *float64   `ch:"mrr"`   // nil until the account first sent mrr
	Paying     bool       `ch:"paying"`
	PrevStatus string     `ch:"prev_status"`
}

// AccountStateDay is a row of account_state_daily: an account's state at the end of Day.
type AccountStateDay struct {
	AccountID string    `ch:"account_id"`
	Day       time.Time `ch:"day"`
	Status    string    `ch:"status"`
	Plan      string    `ch:"plan"`
	Seats     *int64    `ch:"seats"`
	MRR       *float64  `ch:"mrr"`
	Paying    bool      `ch:"paying"`
	Changed   bool      `ch:"changed"`
}

// Movement classifies an account's MRR change over a month (AccountMonth.Movement).
type Movement string

// Movements, as account_state_monthly names them.
const (
	MovementNew         Movement = "new"
	MovementExpansion   Movement = "expansion"
	MovementContraction Movement = "contraction"
	MovementChurned     Movement = "churned"
	MovementFlat        Movement = "flat"
	MovementNone        Movement = "none"
)

// Scan lets the ClickHouse driver read a String column into a Movement.
func (m *Movement) Scan(src any) error {
	s, ok := src.(string)
	if !ok {
		return fmt.Errorf("kpi: scanning %T into a Movement", src)
	}
	*m = Movement(s)
	return nil
}

// AccountMonth is a row of account_state_monthly: an account's state at the start and the
// end of Month and how its MRR moved. MRRStart and MRREnd count only while the account is a
// customer (status active or past_due).
type AccountMonth struct {
	AccountID       string    `ch:"account_id"`
	Month           time.Time `ch:"month"`
	StatusStart     string    `ch:"status_start"`
	PlanStart       string    `ch:"plan_start"`
	PayingStart     bool      `ch:"paying_start"`
	MRRStart        float64   `ch:"mrr_start"`
	StatusEnd       string    `ch:"status_end"`
	PlanEnd         string    `ch:"plan_end"`
	SeatsEnd        *int64    `ch:"seats_end"`
	PayingEnd       bool      `ch:"paying_end"`
	MRREnd          float64   `ch:"mrr_end"`
	Movement        Movement  `ch:"movement"`
	MRRNew          float64   `ch:"mrr_new"`
	MRRExpansion    float64   `ch:"mrr_expansion"`
	MRRContraction  float64   `ch:"mrr_contraction"`
	MRRChurned      float64   `ch:"mrr_churned"`
	Lost            bool      `ch:"lost"`
	NewCustomer     bool      `ch:"new_customer"`
	NewAndLost      bool      `ch:"new_and_lost"`
	TrialsStarted   uint64    `ch:"trials_started"`
	TrialsEnded     uint64    `ch:"trials_ended"`
	TrialsConverted uint64    `ch:"trials_converted"`
}

// ChurnMonth is a row of churn_monthly. The rates are percentages, nil when the month
// started without customers (or MRR).
type ChurnMonth struct {
	Month               time.Time `ch:"month"`
	CustomersStart      uint64    `ch:"customers_start"`
	CustomersNew        uint64    `ch:"customers_new"`
	CustomersLost       uint64    `ch:"customers_lost"`
	CustomersNewAndLost uint64    `ch:"customers_new_and_lost"`
	CustomersEnd        uint64    `ch:"customers_end"`
	ChurnRate           *float64  `ch:"churn_rate"`
	MRRStart            float64   `ch:"mrr_start"`
	MRRChurned          float64   `ch:"mrr_churned"`
	RevenueChurnRate    *float64  `ch:"revenue_churn_rate"`
}

// MRRMovementMonth is a row of mrr_movements_monthly.
type MRRMovementMonth struct {
	Month          time.Time `ch:"month"`
	MRRStart       float64   `ch:"mrr_start"`
	MRRNew         float64   `ch:"mrr_new"`
	MRRExpansion   float64   `ch:"mrr_expansion"`
	MRRContraction float64   `ch:"mrr_contraction"`
	MRRChurned     float64   `ch:"mrr_churned"`
	MRREnd         float64   `ch:"mrr_end"`
	MRRNetChange   float64   `ch:"mrr_net_change"`
	NegativeChurn  bool      `ch:"negative_churn"`
}

// NRRMonth is a row of nrr_monthly; NRR is a percentage, nil without MRR at the start.
type NRRMonth struct {
	Month          time.Time `ch:"month"`
	CustomersStart uint64    `ch:"customers_start"`
	MRRStart       float64   `ch:"mrr_start"`
	MRRExpansion   float64   `ch:"mrr_expansion"`
	MRRContraction float64   `ch:"mrr_contraction"`
	MRRChurned     float64   `ch:"mrr_churned"`
	MRRRetained    float64   `ch:"mrr_retained"`
	NRR            *float64  `ch:"nrr"`
}

// LTVMonth is a row of ltv. ChurnRate is a percentage over the trailing WindowMonths.
type LTVMonth struct {
	Month                time.Time `ch:"month"`
	WindowMonths         uint32    `ch:"window_months"`
	Customers            uint64    `ch:"customers"`
	MRR                  float64   `ch:"mrr"`
	ARPA                 *float64  `ch:"arpa"`
	WindowCustomersStart uint64    `ch:"window_customers_start"`
	WindowCustomersLost  uint64    `ch:"window_customers_lost"`
	ChurnRate            *float64  `ch:"churn_rate"`
	LTV                  *float64  `ch:"ltv"`
	AvgMonthlyRevenue    *float64  `ch:"avg_monthly_revenue"`
	AvgLifetimeMonths    *float64  `ch:"avg_lifetime_months"`
	CLV                  *float64  `ch:"clv"`
}

// TrialConversionMonth is a row of trial_conversion_monthly; ConversionRate is a
// percentage, nil in months in which no trial ended.
type TrialConversionMonth struct {
	Month           time.Time `ch:"month"`
	TrialsStarted   uint64    `ch:"trials_started"`
	TrialsEnded     uint64    `ch:"trials_ended"`
	TrialsConverted uint64    `ch:"trials_converted"`
	ConversionRate  *float64  `ch:"conversion_rate"`
}

// NPSMonth is a row of nps_monthly. NPS is between -100 and 100.
type NPSMonth struct {
	Month      time.Time `ch:"month"`
	Responses  uint64    `ch:"responses"`
	Promoters  uint64    `ch:"promoters"`
	Passives   uint64    `ch:"passives"`
	Detractors uint64    `ch:"detractors"`
	NPS        float64   `ch:"nps"`
}

// NPSAccountMonth is a row of nps_account_monthly; Plan is the account's plan at the end of
// the month.
type NPSAccountMonth struct {
	Month      time.Time `ch:"month"`
	AccountID  string    `ch:"account_id"`
	Plan       string    `ch:"plan"`
	Responses  uint64    `ch:"responses"`
	Promoters  uint64    `ch:"promoters"`
	Passives   uint64    `ch:"passives"`
	Detractors uint64    `ch:"detractors"`
	NPS        float64   `ch:"nps"`
}

// NPSPlanMonth is a row of nps_plan_monthly.
type NPSPlanMonth struct {
	Month      time.Time `ch:"month"`
	Plan       string    `ch:"plan"`
	Accounts   uint64    `ch:"accounts"`
	Responses  uint64    `ch:"responses"`
	Promoters  uint64    `ch:"promoters"`
	Passives   uint64    `ch:"passives"`
	Detractors uint64    `ch:"detractors"`
	NPS        float64   `ch:"nps"`
}

// CSATMonth is a row of csat_monthly; CSAT is a percentage.
type CSATMonth struct {
	Month     time.Time `ch:"month"`
	Answers   uint64    `ch:"answers"`
	Satisfied uint64    `ch:"satisfied"`
	CSAT      float64   `ch:"csat"`
}

// CSATAccountMonth is a row of csat_account_monthly.
type CSATAccountMonth struct {
	Month     time.Time `ch:"month"`
	AccountID string    `ch:"account_id"`
	Answers   uint64    `ch:"answers"`
	Satisfied uint64    `ch:"satisfied"`
	CSAT      float64   `ch:"csat"`
}

// RenewalMonth is a row of renewal_monthly; RenewalRate is a percentage.
type RenewalMonth struct {
	Month        time.Time `ch:"month"`
	UpForRenewal uint64    `ch:"up_for_renewal"`
	Renewed      uint64    `ch:"renewed"`
	NotRenewed   uint64    `ch:"not_renewed"`
	RenewalRate  float64   `ch:"renewal_rate"`
}

// ReferralMonth is a row of referrals_monthly.
type ReferralMonth struct {
	AccountID      string    `ch:"account_id"`
	Month          time.Time `ch:"month"`
	Referrals      uint64    `ch:"referrals"`
	ReferringUsers uint64    `ch:"referring_users"`
}

// UserSignup is a row of user_signups. SignupSource is "signup" when the user sent a
// $signup and "first_event" when their first event stands in for it.
type UserSignup struct {
	AccountID    string    `ch:"account_id"`
	UserID       string    `ch:"user_id"`
	SignedUpAt   time.Time `ch:"signed_up_at"`
	SignupSource string    `ch:"signup_source"`
	FirstEventAt time.Time `ch:"first_event_at"`
}

// AdoptionMonth is a row of adoption. Feature "*" stands for any core feature.
type AdoptionMonth struct {
	AccountID     string    `ch:"account_id"`
	Feature       string    `ch:"feature"`
	Month         time.Time `ch:"month"`
	UsersSignedUp uint64    `ch:"users_signed_up"`
	Adopters      uint64    `ch:"adopters"`
	AdoptionRate  float64   `ch:"adoption_rate"`
}

// AnyCoreFeature is the Feature of the adoption rows that count users of any core feature.
const AnyCoreFeature = "*"

// UserTimeToValue is a row of time_to_value; FirstValueAt and SecondsToValue are nil for a
// user who has not used a core feature yet.
type UserTimeToValue struct {
	AccountID         string     `ch:"account_id"`
	UserID            string     `ch:"user_id"`
	SignedUpAt        time.Time  `ch:"signed_up_at"`
	SignupSource      string     `ch:"signup_source"`
	CohortMonth       time.Time  `ch:"cohort_month"`
	Plan              string     `ch:"plan"`
	FirstValueAt      *time.Time `ch:"first_value_at"`
	FirstValueFeature string     `ch:"first_value_feature"`
	SecondsToValue    *int64     `ch:"seconds_to_value"`
}

// TimeToValueCohort is a row of time_to_value_summary; the medians are nil when no user of
// the cohort reached value.
type TimeToValueCohort struct {
	Plan                 string    `ch:"plan"`
	CohortMonth          time.Time `ch:"cohort_month"`
	Users                uint64    `ch:"users"`
	UsersReachedValue    uint64    `ch:"users_reached_value"`
	MedianSecondsToValue *float64  `ch:"median_seconds_to_value"`
	MedianDaysToValue    *float64  `ch:"median_days_to_value"`
}

// RetentionCohort is a row of retention_cohorts: for each of day 1, 7 and 30 the users whose
// day N is over (Eligible), those active on it (Retained) and the percentage, nil while no
// user is eligible.
type RetentionCohort struct {
	CohortWeek   time.Time `ch:"cohort_week"`
	Users        uint64    `ch:"users"`
	EligibleD1   uint64    `ch:"eligible_d1"`
	RetainedD1   uint64    `ch:"retained_d1"`
	RetentionD1  *float64  `ch:"retention_d1"`
	EligibleD7   uint64    `ch:"eligible_d7"`
	RetainedD7   uint64    `ch:"retained_d7"`
	RetentionD7  *float64  `ch:"retention_d7"`
	EligibleD30  uint64    `ch:"eligible_d30"`
	RetainedD30  uint64    `ch:"retained_d30"`
	RetentionD30 *float64  `ch:"retention_d30"`
}
