package health

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ComponentID indexes Components. The order is fixed and is the order of tie-breaks in
// Reasons and of keys in JSON.
type ComponentID uint8

// The score's components.
const (
	ComponentUsage ComponentID = iota
	ComponentNPS
	ComponentTickets
	ComponentBilling
	NumComponents // the number of components, not a component
)

var componentNames = [NumComponents]string{"usage", "nps", "tickets", "billing"}

// String returns the component's name, used as its JSON key and as its account_health
// column name.
func (c ComponentID) String() string {
	if c < NumComponents {
		return componentNames[c]
	}
	return fmt.Sprintf("ComponentID(%d)", uint8(c))
}

// Component is one component's part of a Result.
type Component struct {
	// Score is the component on its 0–100 scale (usage up to 100×max_overuse), rounded to one
	// decimal; 0 when not Present.
	Score float64
	// Weight is the share of the total score this component carries after the weights of
	// missing components were spread over the present ones: the present components' weights
	// sum to 1 (up to rounding to three decimals); 0 when not Present.
	Weight float64
	// Present says whether the account had data for this component.
	Present bool
}

// Components holds one Component per ComponentID. It is an array so that Score allocates
// nothing; in JSON it is an object keyed by component name, with "score": null for a
// component without data, since no data is not a score of 0.
type Components [NumComponents]Component

type componentJSON struct {
	Score   *float64 `json:"score"`
	Weight  float64  `json:"weight"`
	Present bool     `json:"present"`
}

// MarshalJSON writes {"usage":{"score":…,"weight":…,"present":…},…}.
func (cs Components) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, c := range cs {
		if i > 0 {
			buf.WriteByte(',')
		}
		cj := componentJSON{Weight: c.Weight, Present: c.Present}
		if c.Present {
			cj.Score = &c.Score
		}
		b, err := json.Marshal(cj)
		if err != nil {
			return nil, fmt.Errorf("marshalling component %s: %w", ComponentID(i), err)
		}
		fmt.Fprintf(&buf, "%q:", componentNames[i])
		buf.Write(b)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes; unknown component names are an error.
func (cs *Components) UnmarshalJSON(data []byte) error {
	var m map[string]componentJSON
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("components: %w", err)
	}
	*cs = Components{}
	for name, cj := range m {
		i := componentIndex(name)
		if i < 0 {
			return fmt.Errorf("components: unknown component %q", name)
		}
		cs[i] = Component{Weight: cj.Weight, Present: cj.Present}
		if cj.Score != nil {
			cs[i].Score = *cj.Score
		}
	}
	return nil
}

func componentIndex(name string) int {
	for i, n := range componentNames {
		if n == name {
			return i
		}
	}
	return -1
}

// Result is an account's health at one point in time.
type Result struct {
	// Score is the weighted mean of the present components, rounded to one decimal; 0 when
	// Coverage is 0.
	Score float64 `json:"score"`
	// Band is Model.Bands.Of(Score), before hysteresis: Transition decides the band that is
	// published. BandNone when Coverage is 0.
	Band Band `json:"band"`
	// Coverage is the share of the model's total weight whose components had data (0–1,
	// three decimals): 1 means every component was scored, 0.9 that a component weighing 10 %
	// (NPS by default) was missing. 0 means nothing could be scored: publish nothing and do
	// not pass the Score to Transition.
	Coverage     float64    `json:"coverage"`
	Components   Components `json:"components"`
	ModelVersion string     `json:"model_version"`
}

// Score computes an account's health with model m, which must have passed Validate. It is a
// pure function of its arguments, allocates nothing, and is safe for concurrent use. See the
// package documentation for the formulas and a worked example.
func Score(m *Model, in Inputs) Result {
	c := &m.Components
	var (
		scores  [NumComponents]float64
		present [NumComponents]bool
	)
	scores[ComponentUsage], present[ComponentUsage] = usageScore(&c.Usage, &in)
	scores[ComponentNPS], present[ComponentNPS] = npsScore(&c.NPS, in.NPS)
	scores[ComponentTickets], present[ComponentTickets] = ticketsScore(&c.Tickets, &in)
	scores[ComponentBilling], present[ComponentBilling] = billingScore(&c.Billing, in.Status)
	weights := [NumComponents]float64{c.Usage.Weight, c.NPS.Weight, c.Tickets.Weight, c.Billing.Weight}

	var total, presentW, sum float64
	for i, w := range weights {
		total += w
		if present[i] {
			presentW += w
			sum += w * scores[i]
		}
	}

	r := Result{ModelVersion: m.Version}
	for i := range r.Components {
		if !present[i] {
			continue
		}
		r.Components[i].Present = true
		r.Components[i].Score = round1(scores[i])
		if presentW > 0 {
			r.Components[i].Weight = round3(weights[i] / presentW)
		}
	}
	if presentW > 0 {
		r.Score = round1(sum / presentW)
		r.Coverage = round3(presentW / total)
		r.Band = m.Bands.Of(r.Score)
	}
	return r
}

// usageScore is the usage component and whether it has data. Activity is always data: an
// account with no activity at all scores 0, the strongest churn signal there is.
func usageScore(p *UsageParams, in *Inputs) (float64, bool) {
	s := &p.Signals
	mau := float64(max(in.MAU, 0))
	var num, den float64

	num += s.ActiveDays * clamp01(float64(max(in.ActiveDays14, 0))/p.ActiveDaysTarget)
	den += s.ActiveDays

	utilisation := 0.0
	seatsKnown := in.Seats != nil && *in.Seats > 0
	if seatsKnown {
		utilisation = mau / float64(*in.Seats)
		num += s.LicenseUtilisation * min(utilisation, 1)
		den += s.LicenseUtilisation
	}

	if mau > 0 {
		active := in.WAU
		if p.StickinessRatio == StickinessDAUMAU {
			active = in.DAU
		}
		num += s.Stickiness * clamp01(float64(max(active, 0))/mau/p.StickinessTarget)
	}
	den += s.Stickiness

	num += s.FeatureBreadth * clamp01(float64(max(in.FeaturesUsed30d, 0))/p.FeaturesTarget)
	den += s.FeatureBreadth

	if den <= 0 {
		return 0, false // only licence utilisation is weighted and seats are unknown
	}
	score := 100 * num / den
	if seatsKnown && utilisation > 1 {
		score *= min(utilisation, p.MaxOveruse)
	}
	return score, true
}

// npsScore maps NPS = %promoters − %detractors (−100…100) linearly onto 0–100.
func npsScore(p *NPSParams, a NPSAnswers) (float64, bool) {
	// In float64, so that absurd counts cannot overflow into a score outside 0–100.
	pro, pas, det := float64(max(a.Promoters, 0)), float64(max(a.Passives, 0)), float64(max(a.Detractors, 0))
	total := pro + pas + det
	if total == 0 || total < float64(p.MinResponses) {
		return 0, false
	}
	nps := 100 * (pro - det) / total
	return (nps + 100) / 2, true
}

// ticketsScore falls linearly from 100 with no tickets to 0 at ZeroScorePerUser tickets per
// user. Zero tickets only count as data once the account uses the product: silence from an
// account nobody uses says nothing about its support experience.
func ticketsScore(p *TicketsParams, in *Inputs) (float64, bool) {
	tickets := max(in.Tickets, 0)
	mau := max(in.MAU, 0)
	if tickets == 0 && mau == 0 {
		return 0, false
	}
	users := max(mau, 1)
	if in.Seats != nil {
		users = max(users, *in.Seats)
	}
	rate := float64(tickets) / float64(users)
	return 100 * max(0, 1-rate/p.ZeroScorePerUser), true
}

// billingScore looks the status up in the model; an unknown status counts as no data.
func billingScore(p *BillingParams, status *string) (float64, bool) {
	if status == nil {
		return 0, false
	}
	v, ok := p.StatusScores[*status]
	return v, ok
}

func clamp01(x float64) float64 {
	if x > 1 {
		return 1
	}
	if x > 0 {
		return x
	}
	return 0 // also for NaN
}
