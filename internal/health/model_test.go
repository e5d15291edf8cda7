package health

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDefaultModelFollowsDocuments pins the weights and bands of the source documents and
// the contract.
func TestDefaultModelFollowsDocuments(t *testing.T) {
	m := DefaultModel()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	c := m.Components
	if got := [4]float64{c.Usage.Weight, c.NPS.Weight, c.Tickets.Weight, c.Billing.Weight}; got != [4]float64{40, 10, 20, 30} {
		t.Errorf("weights %v, want usage 40, nps 10, tickets 20, billing 30", got)
	}
	if m.Bands != contractBands {
		t.Errorf("bands %+v", m.Bands)
	}
	// DefaultModel hands out copies: changing one must not change the next.
	m.Components.Billing.StatusScores[StatusActive] = 1
	m.Reasons.PlanOrder[0] = "x"
	if n := DefaultModel(); n.Components.Billing.StatusScores[StatusActive] != 100 || n.Reasons.PlanOrder[0] == "x" {
		t.Error("DefaultModel shares state between calls")
	}
}

func TestLoadModelValid(t *testing.T) {
	m, err := LoadModel(filepath.Join("testdata", "model", "valid.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "acme-2025-06" || m.Components.Usage.StickinessRatio != StickinessDAUMAU ||
		time.Duration(m.Hysteresis.MinDwell) != 24*time.Hour || m.Components.Billing.StatusScores["paused"] != 40 {
		t.Fatalf("unexpected model: %+v", m)
	}
	// A model file round-trips through JSON unchanged.
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := ParseModel(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("round trip changed the model:\n%+v\n%+v", m, m2)
	}
}

// TestLoadModelInvalid: each testdata/model/*.bad.json is rejected with an error that names
// the bad field, and every such file is in this table.
func TestLoadModelInvalid(t *testing.T) {
	cases := []struct {
		file    string
		wantErr string
	}{
		{"active_days_target.bad.json", "components.usage.active_days_target: must be in (0, 14], the days of active_days_14d; got 20"},
		{"bad_duration.bad.json", `hysteresis.min_dwell`},
		{"bands_order.bad.json", "bands: must satisfy 0 ≤ red_max < yellow_max < green_max, got 40, 30, 100"},
		{"duplicate_plan.bad.json", `reasons.plan_order[2]: plan "pro" listed twice`},
		{"empty_version.bad.json", "version: required"},
		{"margin_too_wide.bad.json", "hysteresis.margin: must be ≥ 0 and narrower than the yellow and green bands, got 30"},
		{"max_overuse.bad.json", "components.usage.max_overuse: must be a number ≥ 1, got 0.5"},
		{"missing_section.bad.json", "hysteresis: missing"},
		{"missing_status.bad.json", "components.billing.status_scores.past_due: missing"},
		{"missing_version.bad.json", "version: missing"},
		{"missing_weight.bad.json", "components.usage.weight: missing"},
		{"negative_dwell.bad.json", "hysteresis.min_dwell: must be ≥ 0, got -1h0m0s"},
		{"negative_weight.bad.json", "components.nps.weight: must be a number ≥ 0, got -10"},
		{"not_json.bad.json", "invalid character"},
		{"nps_min_responses.bad.json", "components.nps.min_responses: must be ≥ 1, got 0"},
		{"null.bad.json", "version: missing"},
		{"signals_zero.bad.json", "components.usage.signals: weights must sum to more than 0"},
		{"status_score_range.bad.json", "components.billing.status_scores.trialing: must be in [0, 100], got 120"},
		{"stickiness_ratio.bad.json", `components.usage.stickiness_ratio: must be "wau/mau" or "dau/mau", got "mau/dau"`},
		{"trailing_data.bad.json", "invalid character '{' after top-level value"},
		{"unknown_field.bad.json", "components.tickets.wieght: unknown field"},
		{"wrong_type.bad.json", "components.billing.weight of type float64"},
		{"zero_ticket_rate.bad.json", "components.tickets.zero_score_per_user: must be a number > 0, got 0"},
		{"zero_weights.bad.json", "components: weights must sum to more than 0"},
	}
	tested := map[string]bool{}
	for _, tc := range cases {
		tested[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "model", tc.file)
			m, err := LoadModel(path)
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.wantErr)
			}
			if !errors.Is(err, ErrInvalidModel) {
				t.Errorf("error %q does not wrap ErrInvalidModel", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	files, err := filepath.Glob(filepath.Join("testdata", "model", "*.bad.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !tested[filepath.Base(f)] {
			t.Errorf("%s has no entry in the table", f)
		}
	}
}

func TestLoadModelMissingFile(t *testing.T) {
	_, err := LoadModel(filepath.Join("testdata", "model", "absent.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v, want fs.ErrNotExist", err)
	}
	if errors.Is(err, ErrInvalidModel) {
		t.Fatal("a missing file is an I/O error, not an invalid model")
	}
}

// TestValidate covers what a JSON file cannot express (NaN, a nil map) and checks that every
// broken rule is reported, not just the first.
func TestValidate(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*Model)
		wantErr []string
	}{
		{"default is valid", func(*Model) {}, nil},
		{"NaN weight", func(m *Model) { m.Components.Usage.Weight = math.NaN() }, []string{"components.usage.weight: must be a number ≥ 0, got NaN"}},
		{"infinite weight", func(m *Model) { m.Components.Billing.Weight = math.Inf(1) }, []string{"components.billing.weight"}},
		{"nil status scores", func(m *Model) { m.Components.Billing.StatusScores = nil }, []string{
			"components.billing.status_scores.active: missing", "components.billing.status_scores.canceled: missing",
		}},
		{"empty status", func(m *Model) { m.Components.Billing.StatusScores[""] = 10 }, []string{"components.billing.status_scores: empty status name"}},
		{"empty plan", func(m *Model) { m.Reasons.PlanOrder = []string{"pro", ""} }, []string{"reasons.plan_order[1]: empty plan name"}},
		{"several at once", func(m *Model) {
			m.Version = ""
			m.Components.Tickets.WindowDays = 0
			m.Components.Usage.StickinessTarget = 2
			m.Reasons.MinImpact = -1
		}, []string{
			"version: required", "components.tickets.window_days: must be > 0, got 0",
			"components.usage.stickiness_target: must be in (0, 1], got 2", "reasons.min_impact: must be a number ≥ 0, got -1",
		}},
		{"only one component weighted is fine", func(m *Model) {
			m.Components.Usage.Weight, m.Components.NPS.Weight, m.Components.Tickets.Weight = 0, 0, 0
		}, nil},
		{"margin 0 is fine", func(m *Model) { m.Hysteresis.Margin = 0 }, nil},
		{"negative margin", func(m *Model) { m.Hysteresis.Margin = -1 }, []string{"hysteresis.margin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := DefaultModel()
			tc.mutate(m)
			err := m.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidModel) {
				t.Errorf("error %q is not a FieldError wrapping ErrInvalidModel", err)
			}
		})
	}
}
