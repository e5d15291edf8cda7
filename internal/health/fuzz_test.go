package health

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/engage-oss/engage/deploy"
)

// FuzzParseModel: no input panics the decoder, and whatever it accepts is a valid model that
// survives a JSON round trip and scores without NaN.
func FuzzParseModel(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "model", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(deploy.HealthModel)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseModel(data)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("ParseModel accepted a model Validate rejects: %v", err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseModel(b)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", b, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the model:\n%+v\n%+v", m, m2)
		}
		r := Score(m, benchInputs())
		checkResult(t, m, benchInputs(), r)
		Transition(BandYellow, time.Time{}, r.Score, time.Now(), m)
	})
}

// FuzzScore: for any counts, the score is finite and within its bounds, components are on
// their scales, coverage is a share, the band matches the score, and power needs over-use.
func FuzzScore(f *testing.F) {
	f.Add(11, 9, 18, 25, 20, 8, 3, 1, 1, 2, "active")
	f.Fuzz(func(t *testing.T, activeDays, dau, wau, mau, seats, features, promoters, passives, detractors, tickets int, status string) {
		in := Inputs{ActiveDays14: activeDays, DAU: dau, WAU: wau, MAU: mau, FeaturesUsed30d: features,
			NPS: NPSAnswers{Promoters: promoters, Passives: passives, Detractors: detractors}, Tickets: tickets}
		if seats != -1 {
			in.Seats = &seats
		}
		if status != "" {
			in.Status = &status
		}
		for _, m := range []*Model{DefaultModel(), dauModel()} {
			checkResult(t, m, in, Score(m, in))
		}
	})
}

func dauModel() *Model {
	m := DefaultModel()
	m.Components.Usage.StickinessRatio = StickinessDAUMAU
	return m
}

func checkResult(t *testing.T, m *Model, in Inputs, r Result) {
	t.Helper()
	maxUsage := 100 * m.Components.Usage.MaxOveruse
	if !finite(r.Score) || r.Score < 0 || r.Score > round1(maxUsage) {
		t.Fatalf("score %v out of [0, %v] for %+v", r.Score, maxUsage, in)
	}
	if !(r.Coverage >= 0 && r.Coverage <= 1) {
		t.Fatalf("coverage %v", r.Coverage)
	}
	for i, c := range r.Components {
		limit := 100.0
		if ComponentID(i) == ComponentUsage {
			limit = round1(maxUsage)
		}
		if !finite(c.Score) || c.Score < 0 || c.Score > limit || c.Weight < 0 || c.Weight > 1 {
			t.Fatalf("%v = %+v for %+v", ComponentID(i), c, in)
		}
		if !c.Present && (c.Score != 0 || c.Weight != 0) {
			t.Fatalf("absent %v = %+v", ComponentID(i), c)
		}
	}
	if r.Coverage > 0 && r.Band != m.Bands.Of(r.Score) {
		t.Fatalf("band %v for score %v", r.Band, r.Score)
	}
	if r.Band == BandPower && m.Bands == contractBands && (in.Seats == nil || in.MAU <= *in.Seats) {
		t.Fatalf("power without over-use: %+v → %+v", in, r)
	}
}

func finite(x float64) bool { return x == x && x-x == 0 }
