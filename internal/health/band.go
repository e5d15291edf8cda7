package health

import (
	"fmt"
	"math"
	"time"
)

// Band is an account's health band. The zero value, BandNone, means "no band yet": a new
// account before its first score, or a Result with nothing to score. Bands are ordered, so
// b > a means b is the healthier band.
type Band uint8

// The bands of the public contract, worst first.
const (
	BandNone   Band = iota // no band yet; JSON null
	BandRed                // score ≤ 40: high risk, a CSM should act now
	BandYellow             // 41–70: moderate health
	BandGreen              // 71–100: healthy
	BandPower              // above 100: usage beyond what was bought, an expansion lead
)

var bandNames = [...]string{BandNone: "none", BandRed: "red", BandYellow: "yellow", BandGreen: "green", BandPower: "power"}

// String returns the band's name as written in events and in account_health: red, yellow,
// green or power ("none" for BandNone, which is never published).
func (b Band) String() string {
	if int(b) < len(bandNames) {
		return bandNames[b]
	}
	return fmt.Sprintf("Band(%d)", uint8(b))
}

// ParseBand is the inverse of String for the four published bands.
func ParseBand(s string) (Band, error) {
	for b := BandRed; b <= BandPower; b++ {
		if bandNames[b] == s {
			return b, nil
		}
	}
	return BandNone, fmt.Errorf("unknown band %q (want red, yellow, green or power)", s)
}

// MarshalJSON writes the band's name, or null for BandNone: a new account's previous_band
// in a health-change event is null, not a made-up band.
func (b Band) MarshalJSON() ([]byte, error) {
	if b == BandNone {
		return []byte("null"), nil
	}
	if b > BandPower {
		return nil, fmt.Errorf("marshalling band: invalid value %d", uint8(b))
	}
	return []byte(`"` + bandNames[b] + `"`), nil
}

// UnmarshalJSON accepts null (BandNone) or one of the published names.
func (b *Band) UnmarshalJSON(data []byte) error {
	s := string(data)
	if s == "null" {
		*b = BandNone
		return nil
	}
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return fmt.Errorf("band: want a JSON string or null, got %s", s)
	}
	v, err := ParseBand(s[1 : len(s)-1])
	if err != nil {
		return fmt.Errorf("band: %w", err)
	}
	*b = v
	return nil
}

// Bands holds the upper bound of each band; power has none. Each bound belongs to its band:
// with the contract's 40/70/100, a score of exactly 40 is red and 100 is green.
type Bands struct {
	RedMax    float64 `json:"red_max"`    // highest red score; default 40
	YellowMax float64 `json:"yellow_max"` // highest yellow score; default 70
	GreenMax  float64 `json:"green_max"`  // highest green score; default 100, above is power
}

// Of maps a score to its band. The score is first rounded to one decimal, the precision at
// which scores are published, so that anyone can recompute the band from a published score
// and so that float noise such as 40.00000000001 cannot move an account out of red. Then:
// red ≤ RedMax < yellow ≤ YellowMax < green ≤ GreenMax < power. NaN has no band.
func (bs Bands) Of(score float64) Band {
	s := round1(score)
	switch {
	case math.IsNaN(s):
		return BandNone
	case s <= bs.RedMax:
		return BandRed
	case s <= bs.YellowMax:
		return BandYellow
	case s <= bs.GreenMax:
		return BandGreen
	default:
		return BandPower
	}
}

// Transition decides an account's band after a new score, given the band it is in and since
// when. It returns the band and whether it differs from prev; a health-change event is due
// exactly when changed is true and prev is not BandNone.
//
//   - A new account (prev == BandNone) takes m.Bands.Of(score) directly, with changed true.
//   - Hysteresis: to leave its band an account must cross the boundary by more than
//     m.Hysteresis.Margin. Moving up it takes the band of score−margin, moving down the band
//     of score+margin, and stays where it is if that is not beyond prev. With margin 0 this
//     is exactly m.Bands.Of(score).
//   - Minimum dwell: no change before prevSince + m.Hysteresis.MinDwell. A zero prevSince
//     (unknown) does not hold the band.
//
// Example with the default margin of 3 and bounds 40/70/100: a yellow account moves to green
// only above 73 (73.1), and a green one drops to yellow only at 67 or below; between 67.1 and
// 73 each keeps its band, so a score wobbling around 70 changes nothing. A yellow account
// that jumps to 101.5 becomes green, not power: power needs more than 103.
func Transition(prev Band, prevSince time.Time, score float64, now time.Time, m *Model) (Band, bool) {
	target := m.Bands.Of(score)
	if prev == BandNone || prev > BandPower {
		return target, target != prev
	}
	if target == prev || target == BandNone {
		return prev, false
	}
	if d := time.Duration(m.Hysteresis.MinDwell); d > 0 && !prevSince.IsZero() && now.Sub(prevSince) < d {
		return prev, false
	}
	margin := m.Hysteresis.Margin
	if target > prev {
		if b := m.Bands.Of(score - margin); b > prev {
			return b, true
		}
		return prev, false
	}
	if b := m.Bands.Of(score + margin); b < prev {
		return b, true
	}
	return prev, false
}

// round1 rounds half away from zero to one decimal.
func round1(x float64) float64 { return math.Round(x*10) / 10 }

// round3 rounds to three decimals, the published precision of weights and coverage.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
