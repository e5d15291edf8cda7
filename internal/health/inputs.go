package health

// Inputs is everything the scorer reads about one account to score it, as of the scoring
// time. The scorer fills it from the tables behind the ClickHouse views (the
// account_engagement numbers from session_days_raw; $nps, $ticket and $account events from
// signal_events; the product events used from account_event_names; see internal/adapters/clickhouse/scorestore);
// this package does no I/O.
//
// Counts are never negative in practice; a negative count is read as 0. A pointer field is
// nil when the value is unknown, which is different from zero: no seats trait means licence
// utilisation cannot be computed, not that the account bought no licences.
type Inputs struct {
	// ActiveDays14 is active_days_14d: days among the last 14 with at least one active user.
	ActiveDays14 int `json:"active_days_14d"`
	// DAU, WAU and MAU are the distinct active users on the last day, in the last 7 and in
	// the last 30 days. With the default stickiness ratio (wau/mau) DAU is not scored; a model
	// with dau/mau should be fed the last complete UTC day, not today's partial one.
	DAU int `json:"dau"`
	WAU int `json:"wau"`
	MAU int `json:"mau"`
	// Seats is the number of purchased licences from the latest $account trait; nil (or ≤ 0)
	// when unknown, and then licence utilisation is left out of usage and power is out of
	// reach.
	Seats *int `json:"seats,omitempty"`
	// FeaturesUsed30d is the number of distinct product event names (names not starting with
	// $) in the last 30 days: how much of the product the account uses.
	FeaturesUsed30d int `json:"features_used_30d"`
	// NPS counts the account's $nps answers within the model's nps.window_days. If a user
	// answered more than once, count only their latest answer.
	NPS NPSAnswers `json:"nps"`
	// Tickets is the number of $ticket events within the model's tickets.window_days.
	Tickets int `json:"tickets"`
	// Status is the billing status from the latest $account trait (active, trialing,
	// past_due, canceled); nil when the account never sent one.
	Status *string `json:"status,omitempty"`
	// Plan and MRR are the latest plan and mrr traits; used only for the contraction reason.
	Plan string   `json:"plan,omitempty"`
	MRR  *float64 `json:"mrr,omitempty"`
	// Previous, when set, is the baseline for the contraction reason: the account's terms at
	// an earlier point of the scorer's choosing (say 30 days ago). When nil, Reasons compares
	// with the Seats, Plan and MRR of the previous Inputs it is given.
	Previous *Terms `json:"previous,omitempty"`
}

// NPSAnswers counts NPS answers by category: promoters answered 9–10, passives 7–8,
// detractors 0–6. A zero total means no data, not a score of 0.
type NPSAnswers struct {
	Promoters  int `json:"promoters"`
	Passives   int `json:"passives"`
	Detractors int `json:"detractors"`
}

// Total is the number of answers.
func (a NPSAnswers) Total() int {
	return max(a.Promoters, 0) + max(a.Passives, 0) + max(a.Detractors, 0)
}

// Terms are an account's commercial terms, compared by Reasons to spot contraction.
type Terms struct {
	Seats *int     `json:"seats,omitempty"`
	Plan  string   `json:"plan,omitempty"`
	MRR   *float64 `json:"mrr,omitempty"`
}
