package health

import (
	"reflect"
	"testing"
)

// healthy is a paying account using everything it bought, with no NPS answers.
func healthy() Inputs {
	return Inputs{ActiveDays14: 12, DAU: 6, WAU: 9, MAU: 10, Seats: ptr(10), FeaturesUsed30d: 12,
		Status: ptr(StatusActive), Plan: "pro", MRR: ptr(500.0)}
}

func with(in Inputs, f func(*Inputs)) Inputs {
	f(&in)
	return in
}

// TestReasons pins each reason code and the ordering by impact.
func TestReasons(t *testing.T) {
	m := DefaultModel()
	cases := []struct {
		name       string
		prev, cur  Inputs
		model      *Model // nil: m for both
		prevModel  *Model
		want       []string
		wantScoreD string // "up" or "down": a sanity check on the fixture
	}{
		{
			name: "usage dropped",
			prev: healthy(),
			cur:  with(healthy(), func(in *Inputs) { in.ActiveDays14, in.FeaturesUsed30d, in.WAU, in.MAU = 2, 1, 1, 2 }),
			want: []string{ReasonUsageDropped}, wantScoreD: "down",
		},
		{
			name: "billing past due",
			prev: healthy(),
			cur:  with(healthy(), func(in *Inputs) { in.Status = ptr(StatusPastDue) }),
			want: []string{ReasonBillingPastDue}, wantScoreD: "down",
		},
		{
			name: "billing canceled outweighs a usage drop",
			prev: healthy(),
			cur: with(healthy(), func(in *Inputs) {
				in.Status = ptr(StatusCanceled)
				in.ActiveDays14 = 5
			}),
			want: []string{ReasonBillingCanceled, ReasonUsageDropped}, wantScoreD: "down",
		},
		{
			name: "usage drop outweighs past due",
			prev: healthy(),
			cur: with(healthy(), func(in *Inputs) {
				in.Status = ptr(StatusPastDue)
				in.ActiveDays14, in.FeaturesUsed30d, in.WAU, in.MAU = 0, 0, 0, 0
			}),
			want: []string{ReasonUsageDropped, ReasonBillingPastDue}, wantScoreD: "down",
		},
		{
			name: "a gain against the move is no reason",
			prev: with(healthy(), func(in *Inputs) { in.Tickets = 3 }),
			cur: with(healthy(), func(in *Inputs) {
				in.Status = ptr(StatusPastDue)
				in.Tickets = 1 // tickets improved, but the score dropped
			}),
			want: []string{ReasonBillingPastDue}, wantScoreD: "down",
		},
		{
			name: "first NPS answers are detractors",
			prev: healthy(),
			cur:  with(healthy(), func(in *Inputs) { in.NPS = NPSAnswers{Detractors: 2} }),
			want: []string{ReasonNPSDetractor}, wantScoreD: "down",
		},
		{
			name: "more detractors",
			prev: with(healthy(), func(in *Inputs) { in.NPS = NPSAnswers{Promoters: 2, Detractors: 1} }),
			cur:  with(healthy(), func(in *Inputs) { in.NPS = NPSAnswers{Promoters: 2, Detractors: 4} }),
			want: []string{ReasonNPSDetractor}, wantScoreD: "down",
		},
		{
			name: "promoters aged out",
			prev: with(healthy(), func(in *Inputs) { in.NPS = NPSAnswers{Promoters: 3, Passives: 1} }),
			cur:  with(healthy(), func(in *Inputs) { in.NPS = NPSAnswers{Passives: 1} }),
			want: []string{ReasonNPSDropped}, wantScoreD: "down",
		},
		{
			name: "new promoters",
			prev: with(healthy(), func(in *Inputs) { in.NPS = NPSAnswers{Detractors: 1} }),
			cur:  with(healthy(), func(in *Inputs) { in.NPS = NPSAnswers{Promoters: 3, Detractors: 1} }),
			want: []string{ReasonNPSPromoter}, wantScoreD: "up",
		},
		{
			name: "detractors aged out of the window",
			prev: with(healthy(), func(in *Inputs) { in.NPS = NPSAnswers{Detractors: 2} }),
			cur:  healthy(),
			want: []string{ReasonNPSRose}, wantScoreD: "up",
		},
		{
			name: "tickets increased",
			prev: healthy(),
			cur:  with(healthy(), func(in *Inputs) { in.Tickets = 4 }),
			want: []string{ReasonTicketsIncreased}, wantScoreD: "down",
		},
		{
			name: "tickets decreased",
			prev: with(healthy(), func(in *Inputs) { in.Tickets = 4 }),
			cur:  healthy(),
			want: []string{ReasonTicketsDecreased}, wantScoreD: "up",
		},
		{
			name: "billing recovered",
			prev: with(healthy(), func(in *Inputs) { in.Status = ptr(StatusPastDue) }),
			cur:  healthy(),
			want: []string{ReasonBillingRecovered}, wantScoreD: "up",
		},
		{
			name: "trial converted",
			prev: with(healthy(), func(in *Inputs) { in.Status = ptr(StatusTrialing) }),
			cur:  healthy(),
			want: []string{ReasonTrialConverted}, wantScoreD: "up",
		},
		{
			name: "billing data appeared",
			prev: with(healthy(), func(in *Inputs) { in.Status = nil; in.Tickets = 4 }),
			cur:  with(healthy(), func(in *Inputs) { in.Tickets = 4 }),
			want: []string{ReasonBillingImproved}, wantScoreD: "up",
		},
		{
			name: "licence over-use from full use",
			prev: healthy(),
			cur:  with(healthy(), func(in *Inputs) { in.MAU, in.WAU = 14, 12 }),
			want: []string{ReasonLicenseOveruse}, wantScoreD: "up",
		},
		{
			name: "rise through 100 is split: mostly over-use",
			prev: with(healthy(), func(in *Inputs) { in.ActiveDays14, in.FeaturesUsed30d = 5, 5 }), // usage 72.5
			cur:  with(healthy(), func(in *Inputs) { in.MAU, in.WAU = 13, 12 }),                    // usage 130
			want: []string{ReasonLicenseOveruse, ReasonUsageRose}, wantScoreD: "up",
		},
		{
			name: "rise through 100 is split: mostly usage",
			prev: with(healthy(), func(in *Inputs) { in.ActiveDays14, in.FeaturesUsed30d = 2, 2 }), // usage 56
			cur:  with(healthy(), func(in *Inputs) { in.MAU, in.WAU = 13, 12 }),                    // usage 130
			want: []string{ReasonUsageRose, ReasonLicenseOveruse}, wantScoreD: "up",
		},
		{
			name: "small movers are left out",
			prev: with(healthy(), func(in *Inputs) { in.NPS = NPSAnswers{Promoters: 1, Passives: 9} }),
			cur: with(healthy(), func(in *Inputs) {
				in.NPS = NPSAnswers{Passives: 10}          // -0.5 points
				in.ActiveDays14, in.FeaturesUsed30d = 4, 4 // about -12 points
			}),
			want: []string{ReasonUsageDropped}, wantScoreD: "down",
		},
		{
			name: "if nothing moved much, the biggest mover is named",
			prev: with(healthy(), func(in *Inputs) { in.NPS = NPSAnswers{Promoters: 1, Passives: 9} }),
			cur:  with(healthy(), func(in *Inputs) { in.NPS = NPSAnswers{Passives: 10} }),
			want: []string{ReasonNPSDropped}, wantScoreD: "down",
		},
		{
			name: "seat reduction is contraction",
			prev: with(healthy(), func(in *Inputs) { in.Seats = ptr(20) }),
			cur:  healthy(),
			want: []string{ReasonUsageRose, ReasonContraction}, wantScoreD: "up",
		},
		{
			name: "MRR drop against an explicit baseline",
			prev: healthy(),
			cur: with(healthy(), func(in *Inputs) {
				in.Status = ptr(StatusPastDue)
				in.Previous = &Terms{MRR: ptr(800.0)}
			}),
			want: []string{ReasonBillingPastDue, ReasonContraction}, wantScoreD: "down",
		},
		{
			name: "explicit baseline wins over previous inputs",
			prev: with(healthy(), func(in *Inputs) { in.MRR = ptr(900.0) }),
			cur: with(healthy(), func(in *Inputs) {
				in.Status = ptr(StatusPastDue)
				in.Previous = &Terms{MRR: ptr(400.0)}
			}),
			want: []string{ReasonBillingPastDue}, wantScoreD: "down",
		},
		{
			name: "plan downgrade",
			prev: with(healthy(), func(in *Inputs) { in.Plan = "enterprise" }),
			cur:  with(healthy(), func(in *Inputs) { in.Status = ptr(StatusPastDue) }),
			want: []string{ReasonBillingPastDue, ReasonContraction}, wantScoreD: "down",
		},
		{
			name: "plan upgrade and unknown plans are not contraction",
			prev: with(healthy(), func(in *Inputs) { in.Plan = "starter" }),
			cur: with(healthy(), func(in *Inputs) {
				in.Status = ptr(StatusPastDue)
				in.Previous = &Terms{Plan: "legacy-gold"}
			}),
			want: []string{ReasonBillingPastDue}, wantScoreD: "down",
		},
		{
			name: "model changed",
			prev: healthy(),
			cur:  healthy(),
			prevModel: func() *Model {
				p := DefaultModel()
				p.Version = "default-0"
				p.Components.Billing.StatusScores[StatusActive] = 80
				return p
			}(),
			want: []string{ReasonBillingImproved, ReasonModelChanged}, wantScoreD: "up",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pm, cm := m, m
			if tc.model != nil {
				pm, cm = tc.model, tc.model
			}
			if tc.prevModel != nil {
				pm = tc.prevModel
			}
			prev, cur := Score(pm, tc.prev), Score(cm, tc.cur)
			if d := cur.Score - prev.Score; (tc.wantScoreD == "up") != (d > 0) || d == 0 {
				t.Fatalf("fixture: score went %v → %v, want %s", prev.Score, cur.Score, tc.wantScoreD)
			}
			got := Reasons(cm, prev, cur, tc.prev, tc.cur)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Reasons = %q, want %q (score %v → %v)\nprev %+v\ncur  %+v", got, tc.want, prev.Score, cur.Score, prev.Components, cur.Components)
			}
		})
	}
}

// TestReasonsNewAccount: with nothing before there is nothing to explain, and the result is
// [] rather than null in JSON.
func TestReasonsNewAccount(t *testing.T) {
	cur := Score(DefaultModel(), healthy())
	got := Reasons(DefaultModel(), Result{}, cur, Inputs{}, healthy())
	if got == nil || len(got) != 0 {
		t.Fatalf("got %#v, want an empty non-nil slice", got)
	}
	same := Reasons(DefaultModel(), cur, cur, healthy(), healthy())
	if same == nil || len(same) != 0 {
		t.Fatalf("no change: got %#v, want empty", same)
	}
}

// TestReasonsWithoutPreviousInputs: a scorer that keeps only the previous Result still gets
// the status codes, since a zero Inputs has no status.
func TestReasonsWithoutPreviousInputs(t *testing.T) {
	m := DefaultModel()
	prevIn := healthy()
	curIn := with(healthy(), func(in *Inputs) { in.Status = ptr(StatusCanceled); in.NPS = NPSAnswers{Detractors: 1} })
	got := Reasons(m, Score(m, prevIn), Score(m, curIn), Inputs{}, curIn)
	want := []string{ReasonBillingCanceled, ReasonNPSDetractor}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
