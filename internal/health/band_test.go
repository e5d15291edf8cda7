package health

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

// contractBands are the bands of the public contract, which the default model uses.
var contractBands = Bands{RedMax: 40, YellowMax: 70, GreenMax: 100}

// TestBandsOf pins the contract's edges (red ≤ 40, yellow 41–70, green 71–100, power > 100)
// and the rule for fractional scores: round to one decimal, then each bound belongs to the
// band below it.
func TestBandsOf(t *testing.T) {
	cases := []struct {
		score float64
		want  Band
	}{
		{0, BandRed},
		{-5, BandRed},
		{39.9, BandRed},
		{40, BandRed},
		{40.04, BandRed}, // rounds to 40.0
		{40.06, BandYellow},
		{40.1, BandYellow},
		{41, BandYellow},
		{70, BandYellow},
		{70.04, BandYellow},
		{70.1, BandGreen},
		{71, BandGreen},
		{100, BandGreen},
		{100.04, BandGreen},
		{100.1, BandPower},
		{101, BandPower},
		{150, BandPower},
		{40.000000000001, BandRed}, // float noise never leaves red
		{math.NaN(), BandNone},
	}
	for _, tc := range cases {
		t.Run(formatScore(tc.score), func(t *testing.T) {
			if got := contractBands.Of(tc.score); got != tc.want {
				t.Errorf("Of(%v) = %v, want %v", tc.score, got, tc.want)
			}
		})
	}
}

func formatScore(f float64) string {
	b, err := json.Marshal(f)
	if err != nil {
		return "NaN"
	}
	return string(b)
}

func TestBandJSON(t *testing.T) {
	cases := []struct {
		band Band
		json string
	}{
		{BandNone, `null`},
		{BandRed, `"red"`},
		{BandYellow, `"yellow"`},
		{BandGreen, `"green"`},
		{BandPower, `"power"`},
	}
	for _, tc := range cases {
		t.Run(tc.band.String(), func(t *testing.T) {
			b, err := json.Marshal(tc.band)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.json {
				t.Fatalf("Marshal = %s, want %s", b, tc.json)
			}
			var got Band = 99
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got != tc.band {
				t.Fatalf("round trip = %v, want %v", got, tc.band)
			}
		})
	}
	for _, in := range []string{`"purple"`, `"Red"`, `1`, `""`, `"none"`} {
		var b Band
		if err := json.Unmarshal([]byte(in), &b); err == nil {
			t.Errorf("Unmarshal(%s) accepted as %v", in, b)
		}
	}
	if _, err := json.Marshal(Band(9)); err == nil {
		t.Error("Marshal(Band(9)) accepted")
	}
}

// TestTransition pins hysteresis at every bound, both directions, with the default margin
// of 3: a band is left only when the bound is passed by more than the margin.
func TestTransition(t *testing.T) {
	m := DefaultModel()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name        string
		prev        Band
		score       float64
		want        Band
		wantChanged bool
	}{
		{"new account takes its band: red", BandNone, 40, BandRed, true},
		{"new account takes its band: yellow at 41", BandNone, 41, BandYellow, true},
		{"new account takes its band, no margin: green at 71", BandNone, 71, BandGreen, true},
		{"new account takes its band: power at 101", BandNone, 101, BandPower, true},

		{"red stays at 43", BandRed, 43, BandRed, false},
		{"red to yellow above 43", BandRed, 43.1, BandYellow, true},
		{"yellow stays at 37.1", BandYellow, 37.1, BandYellow, false},
		{"yellow to red at 37", BandYellow, 37, BandRed, true},

		{"yellow stays at 71", BandYellow, 71, BandYellow, false},
		{"yellow stays at 73", BandYellow, 73, BandYellow, false},
		{"yellow to green above 73", BandYellow, 73.1, BandGreen, true},
		{"green stays at 70", BandGreen, 70, BandGreen, false},
		{"green stays at 67.1", BandGreen, 67.1, BandGreen, false},
		{"green to yellow at 67", BandGreen, 67, BandYellow, true},

		{"green stays at 101", BandGreen, 101, BandGreen, false},
		{"green stays at 103", BandGreen, 103, BandGreen, false},
		{"green to power above 103", BandGreen, 103.1, BandPower, true},
		{"power stays at 100", BandPower, 100, BandPower, false},
		{"power stays at 97.1", BandPower, 97.1, BandPower, false},
		{"power to green at 97", BandPower, 97, BandGreen, true},

		{"same band is no change", BandGreen, 85, BandGreen, false},
		{"jump up two bands", BandRed, 80, BandGreen, true},
		{"jump up stops short of power within margin", BandYellow, 101.5, BandGreen, true},
		{"jump up three bands", BandRed, 110, BandPower, true},
		{"jump down to red", BandPower, 10, BandRed, true},
		{"jump down stops short of red within margin", BandGreen, 38, BandYellow, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := Transition(tc.prev, now.Add(-time.Hour), tc.score, now, m)
			if got != tc.want || changed != tc.wantChanged {
				t.Errorf("Transition(%v, %v) = %v, %v; want %v, %v", tc.prev, tc.score, got, changed, tc.want, tc.wantChanged)
			}
		})
	}
}

// TestTransitionZeroMarginIsBandsOf: without hysteresis, the band is exactly the model's
// Bands.Of.
func TestTransitionZeroMarginIsBandsOf(t *testing.T) {
	m := DefaultModel()
	m.Hysteresis.Margin = 0
	now := time.Now()
	for prev := BandRed; prev <= BandPower; prev++ {
		for s := -1.0; s <= 130; s += 0.1 {
			got, changed := Transition(prev, time.Time{}, s, now, m)
			if want := m.Bands.Of(s); got != want || changed != (want != prev) {
				t.Fatalf("Transition(%v, %v) = %v, %v; want %v", prev, s, got, changed, want)
			}
		}
	}
}

// TestModelBands: the bands come from the model, not from the contract's defaults, in Score
// and in Transition alike. A model with bounds 50/80/120 puts 45 in red and 110 in green,
// where the default model has yellow and power.
func TestModelBands(t *testing.T) {
	m := DefaultModel()
	m.Bands = Bands{RedMax: 50, YellowMax: 80, GreenMax: 120}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		score       float64
		want, deflt Band
	}{
		{45, BandRed, BandYellow},
		{50, BandRed, BandYellow},
		{50.1, BandYellow, BandYellow},
		{75, BandYellow, BandGreen},
		{110, BandGreen, BandPower},
		{120.1, BandPower, BandPower},
	}
	for _, tc := range cases {
		t.Run(formatScore(tc.score), func(t *testing.T) {
			if got, _ := Transition(BandNone, time.Time{}, tc.score, now, m); got != tc.want {
				t.Errorf("Transition with bands %+v: %v, want %v", m.Bands, got, tc.want)
			}
			if got, _ := Transition(BandNone, time.Time{}, tc.score, now, DefaultModel()); got != tc.deflt {
				t.Errorf("Transition with the default model: %v, want %v", got, tc.deflt)
			}
		})
	}
	// Score's band is the model's too: 42.9 is yellow by default, red with these bands.
	in := Inputs{Status: ptr(StatusActive)}
	r := Score(m, in)
	if r.Band != m.Bands.Of(r.Score) || r.Band == Score(DefaultModel(), in).Band {
		t.Errorf("score %v: band %v with bands %+v, default model %v", r.Score, r.Band, m.Bands, Score(DefaultModel(), in).Band)
	}
}

// TestTransitionSeries replays the package documentation's example.
func TestTransitionSeries(t *testing.T) {
	m := DefaultModel()
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	scores := []float64{69, 71, 69.5, 72, 68, 74, 68.5, 66}
	want := []Band{BandYellow, BandYellow, BandYellow, BandYellow, BandYellow, BandGreen, BandGreen, BandYellow}
	band, since := BandYellow, start
	var changes, naive int
	for i, s := range scores {
		now := start.Add(time.Duration(i) * time.Hour)
		b, changed := Transition(band, since, s, now, m)
		if b != want[i] {
			t.Fatalf("score %d (%v): band %v, want %v", i, s, b, want[i])
		}
		if changed {
			changes++
			band, since = b, now
		}
		if i > 0 && m.Bands.Of(s) != m.Bands.Of(scores[i-1]) {
			naive++
		}
	}
	if changes != 2 || naive != 6 {
		t.Fatalf("changes %d (want 2), without hysteresis %d (want 6)", changes, naive)
	}
}

// TestTransitionDwell: with min_dwell a band holds for that long, however far the score
// moves; an unknown entry time does not hold it.
func TestTransitionDwell(t *testing.T) {
	m := DefaultModel()
	m.Hysteresis.MinDwell = Duration(6 * time.Hour)
	entered := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		since time.Time
		now   time.Time
		want  Band
	}{
		{"within dwell holds", entered, entered.Add(5*time.Hour + 59*time.Minute), BandGreen},
		{"at dwell moves", entered, entered.Add(6 * time.Hour), BandRed},
		{"after dwell moves", entered, entered.Add(7 * time.Hour), BandRed},
		{"clock before entry holds", entered, entered.Add(-time.Minute), BandGreen},
		{"unknown entry time moves", time.Time{}, entered, BandRed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := Transition(BandGreen, tc.since, 10, tc.now, m)
			if got != tc.want || changed != (tc.want != BandGreen) {
				t.Errorf("got %v, %v; want %v", got, changed, tc.want)
			}
		})
	}
	// A new account has no band to dwell in.
	if got, _ := Transition(BandNone, entered, 10, entered, m); got != BandRed {
		t.Errorf("new account: %v, want red", got)
	}
}
