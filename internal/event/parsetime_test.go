package event

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// parseTimeSlow is parseTime before its fast path: what parseTime must still return.
func parseTimeSlow(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !isRFC3339(s) {
		return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time", quoteShort(s))
	}
	if t.Before(minTime) {
		return time.Time{}, fmt.Errorf("%s is before 2000-01-01", quoteShort(s))
	}
	return t.UTC(), nil
}

// TestParseTimeFastPath pins parseTime to parseTimeSlow, values and error messages: days
// 0–32 of every month of years 0000–9999 (every year up to 400, then sparser) (the impossible ones must fail the same way),
// random UTC times with fractions of every length, and near misses of the shape.
func TestParseTimeFastPath(t *testing.T) {
	check := func(s string) {
		t.Helper()
		got, err := parseTime(s)
		want, werr := parseTimeSlow(s)
		if fmt.Sprint(err) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %v (%v), want %v (%v)", s, got, err, want, werr)
		}
	}
	for year := 0; year <= 9999; year += 1 + year/400 {
		for month := 1; month <= 12; month++ {
			for day := 0; day <= 32; day++ {
				check(fmt.Sprintf("%04d-%02d-%02dT23:59:59.5Z", year, month, day))
			}
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	lo, hi := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for range 200_000 {
		tm := time.Unix(lo+rng.Int64N(hi-lo), rng.Int64N(1e9)).UTC()
		s := tm.Format("2006-01-02T15:04:05")
		switch digits := rng.IntN(11); {
		case digits == 10: // one more than the fast path takes
			s += tm.Format(".000000000") + "7"
		case digits > 0:
			s += tm.Format(".000000000")[:1+digits]
		}
		check(s + "Z")
		check(tm.Format(time.RFC3339Nano))
	}
	for _, s := range []string{
		"2026-11-23T10:00:00Z", "2026-11-23T10:00:00.1Z", "2026-11-23T10:00:00.123456789Z",
		"2026-11-23T10:00:00.1234567890Z", "2026-11-23T10:00:00.000000001Z", "2026-11-23T00:00:00.Z",
		"2026-11-23T10:00:00.1aZ", "2026-11-23T10:00:00,5Z", "2026-11-23T24:00:00Z", "2026-11-23T23:60:00Z",
		"2026-11-23T23:59:60Z", "2026-00-23T10:00:00Z", "2026-11-00T10:00:00Z", "2026-11-23T10:00:00z",
		"2026-11-23t10:00:00Z", "2026-11-23T10:00:00+00:00", "2026-11-23T10:00:00-01:30", "2026-11-23T1:00:00Z",
		"2026-11-23T10:00:00", "2026-11-23T10:00:00ZZ", "2026-11-23 10:00:00Z", "+026-11-23T10:00:00Z",
		"-026-11-23T10:00:00Z", "2026-1a-23T10:00:00Z", "0000-01-01T00:00:00Z", "1999-12-31T23:59:59.999999999Z",
		"2000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2000-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
		"", "Z", "2026-11-23T10:00:00.Z", "2026-11-23T10:00:00.-1Z", "2026-11-23T10:00:00.+1Z",
	} {
		check(s)
	}
}
