package health

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// fullUsage is an account that uses everything it bought: every sub-signal at its target.
func fullUsage(seats int) Inputs {
	return Inputs{ActiveDays14: 14, DAU: seats / 2, WAU: seats, MAU: seats, Seats: ptr(seats), FeaturesUsed30d: 25}
}

// TestUsageNormalisation pins the usage formula of the package documentation, sub-signal by
// sub-signal, including licence over-use, the only way above 100.
func TestUsageNormalisation(t *testing.T) {
	def := DefaultModel()
	dauModel := DefaultModel()
	dauModel.Components.Usage.StickinessRatio = StickinessDAUMAU
	dauModel.Components.Usage.StickinessTarget = 0.5
	cases := []struct {
		name  string
		model *Model
		in    Inputs
		want  float64
	}{
		{"no activity at all scores 0, and is data", def, Inputs{Seats: ptr(10)}, 0},
		{"no activity, seats unknown", def, Inputs{}, 0},
		{"every signal at target", def, fullUsage(10), 100},
		{"targets, not maxima, give full marks", def, Inputs{ActiveDays14: 10, WAU: 6, MAU: 10, Seats: ptr(10), FeaturesUsed30d: 10}, 100},
		{"half the active days", def, Inputs{ActiveDays14: 5, WAU: 10, MAU: 10, Seats: ptr(10), FeaturesUsed30d: 10}, 80},
		{"half the seats used", def, Inputs{ActiveDays14: 10, WAU: 5, MAU: 5, Seats: ptr(10), FeaturesUsed30d: 10}, 85},
		{"stickiness wau/mau 0.3 is half the 0.6 target", def, Inputs{ActiveDays14: 10, WAU: 3, MAU: 10, Seats: ptr(10), FeaturesUsed30d: 10}, 92.5},
		{"3 of 10 features", def, Inputs{ActiveDays14: 10, WAU: 10, MAU: 10, Seats: ptr(10), FeaturesUsed30d: 3}, 89.5},
		{"mau 0: stickiness 0, not NaN", def, Inputs{ActiveDays14: 10, Seats: ptr(10), FeaturesUsed30d: 10}, 55},
		{"seats unknown: utilisation left out, rest reweighted", def, Inputs{ActiveDays14: 5, WAU: 10, MAU: 10, FeaturesUsed30d: 10}, 100 * (40*0.5 + 15 + 15) / 70},
		{"seats 0 counts as unknown", def, Inputs{ActiveDays14: 5, WAU: 10, MAU: 10, Seats: ptr(0), FeaturesUsed30d: 10}, 100 * (40*0.5 + 15 + 15) / 70},
		{"mau = seats is not over-use", def, fullUsage(100), 100},
		{"mau 101 of 100 seats: 101", def, Inputs{ActiveDays14: 10, WAU: 101, MAU: 101, Seats: ptr(100), FeaturesUsed30d: 10}, 101},
		{"mau 12 of 10 seats: 120", def, Inputs{ActiveDays14: 10, WAU: 12, MAU: 12, Seats: ptr(10), FeaturesUsed30d: 10}, 120},
		{"over-use capped at max_overuse", def, Inputs{ActiveDays14: 10, WAU: 30, MAU: 30, Seats: ptr(10), FeaturesUsed30d: 10}, 150},
		{"over-use scales weak usage, does not replace it", def, Inputs{WAU: 12, MAU: 20, Seats: ptr(10)}, 67.5},
		{"over-use with seats unknown is impossible", def, Inputs{ActiveDays14: 10, WAU: 30, MAU: 30, FeaturesUsed30d: 10}, 100},
		{"dau/mau model", dauModel, Inputs{ActiveDays14: 10, DAU: 1, WAU: 10, MAU: 4, Seats: ptr(4), FeaturesUsed30d: 10}, 100 - 15*0.5},
		{"negative counts read as 0", def, Inputs{ActiveDays14: -3, DAU: -1, WAU: -1, MAU: -5, Seats: ptr(10), FeaturesUsed30d: -2}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Score(tc.model, tc.in)
			c := r.Components[ComponentUsage]
			if !c.Present {
				t.Fatal("usage not present")
			}
			if want := round1(tc.want); c.Score != want {
				t.Errorf("usage = %v, want %v", c.Score, want)
			}
		})
	}
}

func TestNPSNormalisation(t *testing.T) {
	threeMin := DefaultModel()
	threeMin.Components.NPS.MinResponses = 3
	cases := []struct {
		name        string
		model       *Model
		answers     NPSAnswers
		want        float64
		wantPresent bool
	}{
		{"no answers is no data", DefaultModel(), NPSAnswers{}, 0, false},
		{"all promoters: NPS 100", DefaultModel(), NPSAnswers{Promoters: 4}, 100, true},
		{"all detractors: NPS -100", DefaultModel(), NPSAnswers{Detractors: 2}, 0, true},
		{"all passives: NPS 0", DefaultModel(), NPSAnswers{Passives: 5}, 50, true},
		{"3/1/1: NPS 40", DefaultModel(), NPSAnswers{Promoters: 3, Passives: 1, Detractors: 1}, 70, true},
		{"1/0/3: NPS -50", DefaultModel(), NPSAnswers{Promoters: 1, Detractors: 3}, 25, true},
		{"one answer counts by default", DefaultModel(), NPSAnswers{Detractors: 1}, 0, true},
		{"below min_responses is no data", threeMin, NPSAnswers{Promoters: 1, Detractors: 1}, 0, false},
		{"at min_responses", threeMin, NPSAnswers{Promoters: 2, Detractors: 1}, 66.7, true},
		{"negative counts read as 0", DefaultModel(), NPSAnswers{Promoters: 2, Detractors: -4}, 100, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Score(tc.model, Inputs{NPS: tc.answers}).Components[ComponentNPS]
			if c.Present != tc.wantPresent || c.Score != tc.want {
				t.Errorf("nps = %v (present %v), want %v (present %v)", c.Score, c.Present, tc.want, tc.wantPresent)
			}
		})
	}
}

func TestTicketsNormalisation(t *testing.T) {
	cases := []struct {
		name        string
		in          Inputs
		want        float64
		wantPresent bool
	}{
		{"no tickets, account in use: 100", Inputs{MAU: 8, Seats: ptr(10)}, 100, true},
		{"no tickets, nobody uses it: no data", Inputs{Seats: ptr(10)}, 0, false},
		{"1 ticket, 10 seats", Inputs{MAU: 8, Seats: ptr(10), Tickets: 1}, 80, true},
		{"3 tickets, 10 seats: red on support", Inputs{MAU: 8, Seats: ptr(10), Tickets: 3}, 40, true},
		{"5 tickets, 10 seats: 0", Inputs{MAU: 8, Seats: ptr(10), Tickets: 5}, 0, true},
		{"never below 0", Inputs{MAU: 8, Seats: ptr(10), Tickets: 50}, 0, true},
		{"per active user when seats unknown", Inputs{MAU: 4, Tickets: 1}, 50, true},
		{"per active user when over seats", Inputs{MAU: 20, Seats: ptr(10), Tickets: 2}, 80, true},
		{"tickets without usage are data", Inputs{Tickets: 1}, 0, true},
		{"tickets without usage, per seat", Inputs{Seats: ptr(20), Tickets: 1}, 90, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Score(DefaultModel(), tc.in).Components[ComponentTickets]
			if c.Present != tc.wantPresent || c.Score != tc.want {
				t.Errorf("tickets = %v (present %v), want %v (present %v)", c.Score, c.Present, tc.want, tc.wantPresent)
			}
		})
	}
}

func TestBillingNormalisation(t *testing.T) {
	cases := []struct {
		status      *string
		want        float64
		wantPresent bool
	}{
		{ptr("active"), 100, true},
		{ptr("trialing"), 75, true},
		{ptr("past_due"), 20, true},
		{ptr("canceled"), 0, true},
		{nil, 0, false},
		{ptr("paused"), 0, false}, // not in the model: no data rather than a guess
		{ptr("Active"), 0, false}, // statuses are matched exactly
	}
	for _, tc := range cases {
		name := "nil"
		if tc.status != nil {
			name = *tc.status
		}
		t.Run(name, func(t *testing.T) {
			c := Score(DefaultModel(), Inputs{Status: tc.status}).Components[ComponentBilling]
			if c.Present != tc.wantPresent || c.Score != tc.want {
				t.Errorf("billing = %v (present %v), want %v (present %v)", c.Score, c.Present, tc.want, tc.wantPresent)
			}
		})
	}
}

// TestReweighting pins the contract's rule: a component without data does not count as 0,
// its weight is spread over the present ones.
func TestReweighting(t *testing.T) {
	active := ptr(StatusActive)
	type comp struct {
		score, weight float64
		present       bool
	}
	cases := []struct {
		name         string
		in           Inputs
		wantScore    float64
		wantCoverage float64
		want         [NumComponents]comp
	}{
		{
			name:      "all present: configured weights",
			in:        Inputs{ActiveDays14: 14, WAU: 10, MAU: 10, Seats: ptr(10), FeaturesUsed30d: 10, NPS: NPSAnswers{Passives: 2}, Tickets: 1, Status: active},
			wantScore: (40*100 + 10*50 + 20*80 + 30*100) / 100.0, wantCoverage: 1,
			want: [NumComponents]comp{{100, 0.4, true}, {50, 0.1, true}, {80, 0.2, true}, {100, 0.3, true}},
		},
		{
			name:      "no NPS: its 10 spread over 90",
			in:        Inputs{ActiveDays14: 14, WAU: 10, MAU: 10, Seats: ptr(10), FeaturesUsed30d: 10, Tickets: 1, Status: active},
			wantScore: round1((40*100 + 20*80 + 30*100) / 90.0), wantCoverage: 0.9,
			want: [NumComponents]comp{{100, 0.444, true}, {}, {80, 0.222, true}, {100, 0.333, true}},
		},
		{
			name:      "no NPS, no billing",
			in:        Inputs{ActiveDays14: 14, WAU: 10, MAU: 10, Seats: ptr(10), FeaturesUsed30d: 10, Tickets: 1},
			wantScore: round1((40*100 + 20*80) / 60.0), wantCoverage: 0.6,
			want: [NumComponents]comp{{100, 0.667, true}, {}, {80, 0.333, true}, {}},
		},
		{
			name:      "only usage: a dormant account with no traits",
			in:        Inputs{},
			wantScore: 0, wantCoverage: 0.4,
			want: [NumComponents]comp{{0, 1, true}, {}, {}, {}},
		},
		{
			name:      "dormant but paying: billing is not diluted by missing tickets",
			in:        Inputs{Seats: ptr(10), Status: active},
			wantScore: round1(30 * 100 / 70.0), wantCoverage: 0.7,
			want: [NumComponents]comp{{0, 0.571, true}, {}, {}, {100, 0.429, true}},
		},
		{
			name:      "unknown status is missing billing, not 0",
			in:        Inputs{ActiveDays14: 14, WAU: 10, MAU: 10, Seats: ptr(10), FeaturesUsed30d: 10, Status: ptr("paused")},
			wantScore: 100, wantCoverage: 0.6,
			want: [NumComponents]comp{{100, 0.667, true}, {}, {100, 0.333, true}, {}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Score(DefaultModel(), tc.in)
			if r.Score != tc.wantScore || r.Coverage != tc.wantCoverage {
				t.Errorf("score %v coverage %v, want %v, %v", r.Score, r.Coverage, tc.wantScore, tc.wantCoverage)
			}
			var sum float64
			for i, c := range r.Components {
				w := tc.want[i]
				if c.Score != w.score || c.Weight != w.weight || c.Present != w.present {
					t.Errorf("%v = %+v, want %+v", ComponentID(i), c, w)
				}
				sum += c.Weight
			}
			if math.Abs(sum-1) > 0.002 {
				t.Errorf("effective weights sum to %v, want 1", sum)
			}
		})
	}
}

// TestScoreNothingToScore: a model whose only weighted component has no data yields no band,
// rather than a red that nothing supports.
func TestScoreNothingToScore(t *testing.T) {
	m := DefaultModel()
	m.Components.Usage.Weight, m.Components.Tickets.Weight, m.Components.Billing.Weight = 0, 0, 0
	r := Score(m, Inputs{MAU: 10})
	if r.Coverage != 0 || r.Band != BandNone || r.Score != 0 {
		t.Fatalf("got %+v", r)
	}
	if r.Components[ComponentUsage].Present != true || r.Components[ComponentUsage].Weight != 0 {
		t.Errorf("usage %+v: present with weight 0", r.Components[ComponentUsage])
	}
}

// TestScoreBandEdges: the contract's edges hold end to end, through Score.
func TestScoreBandEdges(t *testing.T) {
	billingOnly := DefaultModel()
	billingOnly.Components.Usage.Weight, billingOnly.Components.Tickets.Weight = 0, 0
	billingOnly.Components.Billing.StatusScores = map[string]float64{
		StatusActive: 100, StatusTrialing: 75, StatusPastDue: 20, StatusCanceled: 0,
		"s40": 40, "s40.1": 40.1, "s41": 41, "s70": 70, "s70.1": 70.1, "s71": 71,
	}
	usageOnly := DefaultModel()
	usageOnly.Components.NPS.Weight, usageOnly.Components.Tickets.Weight, usageOnly.Components.Billing.Weight = 0, 0, 0
	over := func(mau, seats int) Inputs {
		return Inputs{ActiveDays14: 14, WAU: mau, MAU: mau, Seats: ptr(seats), FeaturesUsed30d: 20}
	}
	cases := []struct {
		name  string
		model *Model
		in    Inputs
		score float64
		band  Band
	}{
		{"40 red", billingOnly, Inputs{Status: ptr("s40")}, 40, BandRed},
		{"40.1 yellow", billingOnly, Inputs{Status: ptr("s40.1")}, 40.1, BandYellow},
		{"41 yellow", billingOnly, Inputs{Status: ptr("s41")}, 41, BandYellow},
		{"70 yellow", billingOnly, Inputs{Status: ptr("s70")}, 70, BandYellow},
		{"70.1 green", billingOnly, Inputs{Status: ptr("s70.1")}, 70.1, BandGreen},
		{"71 green", billingOnly, Inputs{Status: ptr("s71")}, 71, BandGreen},
		{"100 green", usageOnly, over(100, 100), 100, BandGreen},
		{"100.1 power", usageOnly, over(1001, 1000), 100.1, BandPower},
		{"101 power", usageOnly, over(101, 100), 101, BandPower},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.model.Validate(); err != nil {
				t.Fatal(err)
			}
			r := Score(tc.model, tc.in)
			if r.Score != tc.score || r.Band != tc.band {
				t.Errorf("got %v %v, want %v %v", r.Score, r.Band, tc.score, tc.band)
			}
		})
	}
}

// TestPowerOnlyThroughOveruse: whatever the inputs, a score above 100 needs mau > seats.
func TestPowerOnlyThroughOveruse(t *testing.T) {
	m := DefaultModel()
	for _, status := range []string{StatusActive, StatusTrialing} {
		for mau := 0; mau <= 30; mau += 3 {
			for _, seats := range []int{1, 10, 20, 30} {
				in := Inputs{ActiveDays14: 14, DAU: mau, WAU: mau, MAU: mau, Seats: ptr(seats), FeaturesUsed30d: 50,
					NPS: NPSAnswers{Promoters: 5}, Status: ptr(status)}
				r := Score(m, in)
				if r.Band == BandPower && mau <= seats {
					t.Errorf("mau %d seats %d: power (%v) without over-use", mau, seats, r.Score)
				}
			}
		}
	}
}

// TestWorkedExample pins the package documentation's example.
func TestWorkedExample(t *testing.T) {
	in := Inputs{ActiveDays14: 11, DAU: 9, WAU: 18, MAU: 25, Seats: ptr(20), FeaturesUsed30d: 8,
		NPS: NPSAnswers{Promoters: 3, Passives: 1, Detractors: 1}, Tickets: 2, Status: ptr(StatusActive)}
	r := Score(DefaultModel(), in)
	want := Result{Score: 102.3, Band: BandPower, Coverage: 1, ModelVersion: "default-1", Components: Components{
		{Score: 121.3, Weight: 0.4, Present: true},
		{Score: 70, Weight: 0.1, Present: true},
		{Score: 84, Weight: 0.2, Present: true},
		{Score: 100, Weight: 0.3, Present: true},
	}}
	if r != want {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	in.NPS = NPSAnswers{}
	r = Score(DefaultModel(), in)
	if r.Score != 105.9 || r.Coverage != 0.9 || r.Components[ComponentUsage].Weight != 0.444 ||
		r.Components[ComponentTickets].Weight != 0.222 || r.Components[ComponentBilling].Weight != 0.333 {
		t.Fatalf("without NPS: %+v", r)
	}
}

func TestResultJSON(t *testing.T) {
	r := Score(DefaultModel(), Inputs{ActiveDays14: 7, WAU: 3, MAU: 4, Seats: ptr(5), FeaturesUsed30d: 4, Status: ptr(StatusPastDue)})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"score":61.3,"band":"yellow","coverage":0.9,"components":{"usage":{"score":73,"weight":0.444,"present":true},"nps":{"score":null,"weight":0,"present":false},"tickets":{"score":100,"weight":0.222,"present":true},"billing":{"score":20,"weight":0.333,"present":true}},"model_version":"default-1"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip %+v, want %+v", back, r)
	}
	var cs Components
	if err := json.Unmarshal([]byte(`{"mood":{"score":1}}`), &cs); err == nil {
		t.Error("unknown component accepted")
	}
}

// TestScoreAllocs: the scorer rescores 100k accounts in a tight loop; Score must not allocate.
func TestScoreAllocs(t *testing.T) {
	m := DefaultModel()
	in := benchInputs()
	if n := testing.AllocsPerRun(1000, func() { _ = Score(m, in) }); n != 0 {
		t.Fatalf("Score allocates %v times per call", n)
	}
}

func benchInputs() Inputs {
	return Inputs{ActiveDays14: 11, DAU: 9, WAU: 18, MAU: 25, Seats: ptr(20), FeaturesUsed30d: 8,
		NPS: NPSAnswers{Promoters: 3, Passives: 1, Detractors: 1}, Tickets: 2, Status: ptr(StatusActive),
		Plan: "pro", MRR: ptr(990.0)}
}

func BenchmarkScore(b *testing.B) {
	m := DefaultModel()
	in := benchInputs()
	b.ReportAllocs()
	var sink Result
	for b.Loop() {
		sink = Score(m, in)
	}
	_ = sink
}

func ExampleScore() {
	seats, status := 20, StatusActive
	r := Score(DefaultModel(), Inputs{
		ActiveDays14: 11, DAU: 9, WAU: 18, MAU: 25, Seats: &seats, FeaturesUsed30d: 8,
		NPS:     NPSAnswers{Promoters: 3, Passives: 1, Detractors: 1},
		Tickets: 2, Status: &status,
	})
	fmt.Println(r.Score, r.Band, r.Coverage)
	for i, c := range r.Components {
		fmt.Printf("%s %v ×%v\n", ComponentID(i), c.Score, c.Weight)
	}
	// Output:
	// 102.3 power 1
	// usage 121.3 ×0.4
	// nps 70 ×0.1
	// tickets 84 ×0.2
	// billing 100 ×0.3
}
