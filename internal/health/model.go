package health

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"
)

// ErrInvalidModel is wrapped by every error of ParseModel and Validate, so that a scorer that
// reloads its model can tell a bad file (keep the old model, alert) from an I/O failure.
var ErrInvalidModel = errors.New("invalid health model")

// FieldError names the model field, as a JSON path such as components.usage.weight, and the
// rule it breaks.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidModel) true for every FieldError.
func (e *FieldError) Unwrap() error { return ErrInvalidModel }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Model is the health model: which components make up the score, their weights and how each
// is normalised to 0–100, the band bounds, hysteresis and how reasons are chosen. It is
// configuration, loaded from a JSON file (deploy/health-model.json is the default), so a
// customer-success team can retune it without a release.
//
// A Model that passed Validate is read-only and safe for concurrent use; to reload, build a
// new one and swap the pointer.
type Model struct {
	// Version identifies the model in every Result (model_version), so that a score can be
	// traced to the weights that produced it. Bump it whenever anything below changes.
	Version    string          `json:"version"`
	Components ComponentParams `json:"components"`
	Bands      Bands           `json:"bands"`
	Hysteresis Hysteresis      `json:"hysteresis"`
	Reasons    ReasonParams    `json:"reasons"`
}

// ComponentParams holds the four components. Weights are relative: only their ratios matter
// (the default 40/10/20/30 reads as percentages). A weight of 0 switches a component off.
type ComponentParams struct {
	Usage   UsageParams   `json:"usage"`
	NPS     NPSParams     `json:"nps"`
	Tickets TicketsParams `json:"tickets"`
	Billing BillingParams `json:"billing"`
}

// Stickiness ratios for UsageParams.StickinessRatio.
const (
	StickinessWAUMAU = "wau/mau" // share of the month's users active in the last 7 days
	StickinessDAUMAU = "dau/mau" // share of the month's users active on one day
)

// UsageParams normalises product usage. See the package documentation for the formula.
type UsageParams struct {
	Weight  float64      `json:"weight"`  // default 40
	Signals UsageSignals `json:"signals"` // relative weights of the sub-signals
	// ActiveDaysTarget is the number of active days out of 14 that scores full marks; default
	// 10, every working day.
	ActiveDaysTarget float64 `json:"active_days_target"`
	// StickinessRatio is "wau/mau" (default) or "dau/mau". The default is weekly because the
	// score is recomputed all day, every day: DAU/MAU falls to nearly 0 after midnight UTC and
	// on weekends, which would pull every B2B account down once a week.
	StickinessRatio string `json:"stickiness_ratio"`
	// StickinessTarget is the ratio that scores full marks; default 0.6.
	StickinessTarget float64 `json:"stickiness_target"`
	// FeaturesTarget is the number of distinct product event names in 30 days that scores
	// full marks for breadth; default 10.
	FeaturesTarget float64 `json:"features_target"`
	// MaxOveruse caps the licence over-use multiplier mau/seats; default 1.5, so usage is at
	// most 150. 1 means usage never exceeds 100 and power cannot be reached.
	MaxOveruse float64 `json:"max_overuse"`
}

// UsageSignals are the relative weights of the usage sub-signals; only their ratios matter.
// Defaults: active_days 40, license_utilisation 30, stickiness 15, feature_breadth 15.
type UsageSignals struct {
	ActiveDays         float64 `json:"active_days"`
	LicenseUtilisation float64 `json:"license_utilisation"`
	Stickiness         float64 `json:"stickiness"`
	FeatureBreadth     float64 `json:"feature_breadth"`
}

// NPSParams normalises the account's Net Promoter Score.
type NPSParams struct {
	Weight float64 `json:"weight"` // default 10
	// WindowDays is how far back the scorer counts answers; default 90. Score itself does
	// not use it: it tells the query that fills Inputs.NPS.
	WindowDays int `json:"window_days"`
	// MinResponses is the number of answers below which NPS counts as no data; default 1.
	MinResponses int `json:"min_responses"`
}

// TicketsParams normalises the support-ticket load.
type TicketsParams struct {
	Weight float64 `json:"weight"` // default 20; set 0 if you do not send $ticket events
	// WindowDays is how far back the scorer counts opened tickets; default 30. Score itself
	// does not use it: it tells the query that fills Inputs.Tickets.
	WindowDays int `json:"window_days"`
	// ZeroScorePerUser is the number of tickets per user in the window at which the tickets
	// score reaches 0; default 0.5. Change it together with WindowDays.
	ZeroScorePerUser float64 `json:"zero_score_per_user"`
}

// The billing statuses of the contract's $account trait. Every model must score each.
const (
	StatusActive   = "active"
	StatusTrialing = "trialing"
	StatusPastDue  = "past_due"
	StatusCanceled = "canceled"
)

// BillingParams scores the account's billing status.
type BillingParams struct {
	Weight float64 `json:"weight"` // default 30
	// StatusScores maps a status to its 0–100 score. Defaults: active 100, trialing 75,
	// past_due 20, canceled 0. A status not listed counts as no billing data.
	StatusScores map[string]float64 `json:"status_scores"`
}

// Hysteresis keeps an account from flapping between bands; see Transition.
type Hysteresis struct {
	// Margin is how far, in score points, a score must go past a band's bound to leave the
	// band; default 3. It must be smaller than the yellow and green bands are wide.
	Margin float64 `json:"margin"`
	// MinDwell is the least time an account stays in a band before it may change again;
	// default 0 (off). Written as a Go duration: "0s", "6h".
	MinDwell Duration `json:"min_dwell"`
}

// UnmarshalJSON decodes the section strictly, like the rest of the model, and names
// min_dwell in a bad duration's error: encoding/json does not say which field a custom
// decoder failed on.
func (h *Hysteresis) UnmarshalJSON(b []byte) error {
	type plain Hysteresis // no methods, so no recursion
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		var de *durationError
		if errors.As(err, &de) {
			return &FieldError{Field: "hysteresis.min_dwell", Reason: de.Error()}
		}
		return fmt.Errorf("hysteresis: %w", err)
	}
	*h = Hysteresis(p)
	return nil
}

// ReasonParams tunes Reasons.
type ReasonParams struct {
	// MinImpact is how many score points a component must have moved the score to be named;
	// default 1. The single biggest mover is named even when below it.
	MinImpact float64 `json:"min_impact"`
	// PlanOrder lists plans from cheapest to most expensive; moving to an earlier plan is a
	// downgrade (reason contraction). Plans not listed are never a downgrade.
	PlanOrder []string `json:"plan_order"`
}

// Duration is a time.Duration written in JSON as a Go duration string ("90s", "24h").
type Duration time.Duration

type durationError struct{ err error }

func (e *durationError) Error() string {
	return "want a Go duration such as \"24h\": " + e.err.Error()
}
func (e *durationError) Unwrap() error { return e.err }

// MarshalJSON writes the duration as a string such as "24h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &durationError{err}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &durationError{err}
	}
	*d = Duration(v)
	return nil
}

// LoadModel reads and validates a model file.
func LoadModel(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading health model: %w", err)
	}
	m, err := ParseModel(b)
	if err != nil {
		return nil, fmt.Errorf("loading health model %s: %w", path, err)
	}
	return m, nil
}

// ParseModel decodes and validates a model. Every field must be present and no unknown field
// may be: a model file states all of its parameters, so that its version pins its behaviour
// (a default that changes in a later release must not change a deployed model silently),
// and a misspelt key is an error rather than a parameter quietly left at zero.
func ParseModel(data []byte) (*Model, error) {
	// A generic pass first, to name missing and unknown keys by their path.
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModel, err)
	}
	if err := checkKeys(reflect.TypeFor[Model](), raw, ""); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModel, err)
	}
	var m Model
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModel, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// checkKeys reports the first key of the JSON object obj that struct type t lacks, or the
// first field of t missing from obj, recursing into nested structs. Maps and slices only need
// to be present; Validate checks their content.
func checkKeys(t reflect.Type, obj map[string]any, prefix string) error {
	fields := make(map[string]reflect.Type, t.NumField())
	var order []string // struct order, so that errors come in the order of the file
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			fields[name] = f.Type
			order = append(order, name)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if _, ok := fields[k]; !ok {
			return fieldErr(prefix+k, "unknown field")
		}
	}
	for _, name := range order {
		v, ok := obj[name]
		if !ok || v == nil {
			return fieldErr(prefix+name, "missing")
		}
		if ft := fields[name]; ft.Kind() == reflect.Struct {
			sub, ok := v.(map[string]any)
			if !ok {
				return fieldErr(prefix+name, "want an object")
			}
			if err := checkKeys(ft, sub, prefix+name+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

// Validate checks every rule of the model and reports all broken ones, each naming its field.
func (m *Model) Validate() error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	nonNeg := func(field string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			add(fieldErr(field, "must be a number ≥ 0, got %v", v))
		}
	}
	positive := func(field string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			add(fieldErr(field, "must be a number > 0, got %v", v))
		}
	}

	if strings.TrimSpace(m.Version) == "" {
		add(fieldErr("version", "required"))
	}

	c := &m.Components
	nonNeg("components.usage.weight", c.Usage.Weight)
	nonNeg("components.nps.weight", c.NPS.Weight)
	nonNeg("components.tickets.weight", c.Tickets.Weight)
	nonNeg("components.billing.weight", c.Billing.Weight)
	if !(c.Usage.Weight+c.NPS.Weight+c.Tickets.Weight+c.Billing.Weight > 0) {
		add(fieldErr("components", "weights must sum to more than 0"))
	}

	u := &c.Usage
	s := &u.Signals
	nonNeg("components.usage.signals.active_days", s.ActiveDays)
	nonNeg("components.usage.signals.license_utilisation", s.LicenseUtilisation)
	nonNeg("components.usage.signals.stickiness", s.Stickiness)
	nonNeg("components.usage.signals.feature_breadth", s.FeatureBreadth)
	if !(s.ActiveDays+s.LicenseUtilisation+s.Stickiness+s.FeatureBreadth > 0) {
		add(fieldErr("components.usage.signals", "weights must sum to more than 0"))
	}
	if v := u.ActiveDaysTarget; !(v > 0 && v <= 14) {
		add(fieldErr("components.usage.active_days_target", "must be in (0, 14], the days of active_days_14d; got %v", v))
	}
	if r := u.StickinessRatio; r != StickinessWAUMAU && r != StickinessDAUMAU {
		add(fieldErr("components.usage.stickiness_ratio", "must be %q or %q, got %q", StickinessWAUMAU, StickinessDAUMAU, r))
	}
	if v := u.StickinessTarget; !(v > 0 && v <= 1) {
		add(fieldErr("components.usage.stickiness_target", "must be in (0, 1], got %v", v))
	}
	positive("components.usage.features_target", u.FeaturesTarget)
	if v := u.MaxOveruse; !(v >= 1) || math.IsInf(v, 0) {
		add(fieldErr("components.usage.max_overuse", "must be a number ≥ 1, got %v", v))
	}

	if c.NPS.WindowDays <= 0 {
		add(fieldErr("components.nps.window_days", "must be > 0, got %d", c.NPS.WindowDays))
	}
	if c.NPS.MinResponses < 1 {
		add(fieldErr("components.nps.min_responses", "must be ≥ 1, got %d", c.NPS.MinResponses))
	}
	if c.Tickets.WindowDays <= 0 {
		add(fieldErr("components.tickets.window_days", "must be > 0, got %d", c.Tickets.WindowDays))
	}
	positive("components.tickets.zero_score_per_user", c.Tickets.ZeroScorePerUser)

	for _, st := range []string{StatusActive, StatusTrialing, StatusPastDue, StatusCanceled} {
		if _, ok := c.Billing.StatusScores[st]; !ok {
			add(fieldErr("components.billing.status_scores."+st, "missing: every status of the contract needs a score"))
		}
	}
	for _, st := range slices.Sorted(maps.Keys(c.Billing.StatusScores)) {
		v := c.Billing.StatusScores[st]
		if st == "" {
			add(fieldErr("components.billing.status_scores", "empty status name"))
		}
		if !(v >= 0 && v <= 100) {
			add(fieldErr("components.billing.status_scores."+st, "must be in [0, 100], got %v", v))
		}
	}

	b := m.Bands
	if !(b.RedMax >= 0 && b.RedMax < b.YellowMax && b.YellowMax < b.GreenMax) || math.IsInf(b.GreenMax, 0) {
		add(fieldErr("bands", "must satisfy 0 ≤ red_max < yellow_max < green_max, got %v, %v, %v", b.RedMax, b.YellowMax, b.GreenMax))
	} else if mg := m.Hysteresis.Margin; !(mg >= 0 && mg < b.YellowMax-b.RedMax && mg < b.GreenMax-b.YellowMax) {
		// A margin as wide as a band would let an account jump over that band entirely.
		add(fieldErr("hysteresis.margin", "must be ≥ 0 and narrower than the yellow and green bands, got %v", mg))
	}
	if m.Hysteresis.MinDwell < 0 {
		add(fieldErr("hysteresis.min_dwell", "must be ≥ 0, got %v", time.Duration(m.Hysteresis.MinDwell)))
	}

	nonNeg("reasons.min_impact", m.Reasons.MinImpact)
	seen := make(map[string]bool, len(m.Reasons.PlanOrder))
	for i, p := range m.Reasons.PlanOrder {
		field := fmt.Sprintf("reasons.plan_order[%d]", i)
		switch {
		case p == "":
			add(fieldErr(field, "empty plan name"))
		case seen[p]:
			add(fieldErr(field, "plan %q listed twice", p))
		}
		seen[p] = true
	}

	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidModel, errors.Join(errs...))
	}
	return nil
}
