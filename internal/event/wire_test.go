package event

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func TestWireRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	cases := []struct {
		name string
		ev   Event
	}{
		{"minimal", Event{EventID: "e1", AccountID: "a", UserID: "u", Name: "open", Timestamp: ts, OriginalTimestamp: ts, ReceivedAt: ts}},
		{"escapes", Event{EventID: "e\"2\\\n\u2028", AccountID: "ä\x01", UserID: "u", Name: "x\ty", Timestamp: ts, OriginalTimestamp: ts.Add(-time.Hour), SentAt: ts, ReceivedAt: ts, Properties: json.RawMessage(`{"a": [1, "b c"],` + "\n" + `"d":null}`)}},
		{"account without user", Event{EventID: "e3", AccountID: "a", Name: NameAccount, Timestamp: ts, OriginalTimestamp: ts, ReceivedAt: ts, Properties: json.RawMessage(`{"seats":5}`)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.ev.AppendJSON(nil)
			if !json.Valid(b) {
				t.Fatalf("invalid JSON: %s", b)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.ev
			if len(want.Properties) > 0 {
				var a, b any
				_ = json.Unmarshal(want.Properties, &a)
				_ = json.Unmarshal(got.Properties, &b)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("properties %s, want %s", got.Properties, want.Properties)
				}
				got.Properties, want.Properties = nil, nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{``, `{`, `[]`, `{"v":2,"event_id":"e","account_id":"a","name":"n","timestamp":"2026-01-01T00:00:00Z"}`, `{"v":1,"account_id":"a","name":"n","timestamp":"2026-01-01T00:00:00Z"}`} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q) accepted", in)
		}
	}
}

// benchEvent is a typical event with every member set: BenchmarkAppendJSON encodes it,
// BenchmarkDecode decodes its encoding.
func benchEvent() Event {
	ts := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	return Event{EventID: "0190c3a8-7d1e-7a4b-9c7e-3f1d2b4a5c6d", AccountID: "acct-00042", UserID: "user-1234", Name: "report.exported", Timestamp: ts, OriginalTimestamp: ts, SentAt: ts, ReceivedAt: ts, Properties: json.RawMessage(`{"format":"pdf","pages":12}`)}
}

func BenchmarkAppendJSON(b *testing.B) {
	ev := benchEvent()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = ev.AppendJSON(buf[:0])
	}
}

// TestAppendUTC pins the fixed-layout formatter to AppendFormat(time.RFC3339Nano) of the UTC
// time: random instants over years 0–9999 with every fraction length, the ends of that range,
// the years around it (which take AppendFormat's path), and times in other locations.
func TestAppendUTC(t *testing.T) {
	check := func(tm time.Time) {
		t.Helper()
		want := tm.UTC().AppendFormat([]byte("x"), time.RFC3339Nano)
		if got := appendUTC([]byte("x"), tm); string(got) != string(want) {
			t.Fatalf("%#v: got %s, want %s", tm, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(-2, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(10002, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	east, west := time.FixedZone("east", 14*3600), time.FixedZone("west", -(12*3600+30*60))
	for i := range 1_000_000 {
		ns := rng.Int64N(1e9)
		switch i % 4 { // fractions of every length, and none
		case 0:
			ns = 0
		case 1:
			ns -= ns % int64(math.Pow10(rng.IntN(10)))
		}
		tm := time.Unix(lo+rng.Int64N(hi-lo), ns)
		check(tm)
		check(tm.In(east))
		check(tm.In(west))
	}
	for _, tm := range []time.Time{
		{}, time.Unix(0, 0), time.Unix(0, 1), time.Unix(-1, 999_999_999),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 0, 0, 0, east), time.Date(0, 1, 1, 0, 0, 0, 0, west),
		time.Date(2000, 2, 29, 12, 0, 0, 100_000_000, time.UTC), time.Date(2026, 11, 23, 10, 0, 0, 1, time.UTC),
		time.Date(2026, 11, 23, 10, 0, 0, 120, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1<<40, 5), time.Unix(-1<<40, 5), time.Now(),
		time.Date(0, 2, 29, 23, 59, 59, 999_999_999, time.UTC), time.Date(0, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC).Add(time.Nanosecond),
		time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2100, 2, 28, 23, 59, 59, 0, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2400, 2, 29, 0, 0, 0, 0, time.UTC),
	} {
		check(tm)
	}
}

// TestEncoder: an Encoder writes the bytes of AppendJSON for any sequence of events, whether
// consecutive events share received_at (as one request's do), differ, or name the same
// instant in another location or with a monotonic reading.
func TestEncoder(t *testing.T) {
	base := benchEvent()
	now := time.Now() // carries a monotonic reading
	rng := rand.New(rand.NewPCG(3, 4))
	times := []time.Time{
		base.ReceivedAt, base.ReceivedAt.Add(time.Nanosecond), base.ReceivedAt.In(time.FixedZone("x", 3600)),
		now, now.Round(0), now.UTC(), now.Add(time.Millisecond), {},
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	var enc Encoder
	var got, want []byte
	for i := range 10_000 {
		ev := base
		ev.ReceivedAt = times[rng.IntN(len(times))]
		if i%7 == 0 {
			ev.SentAt = time.Time{}
		}
		got = enc.AppendJSON(got[:0], &ev)
		want = ev.AppendJSON(want[:0])
		if string(got) != string(want) {
			t.Fatalf("event %d, received_at %v:\nEncoder    %s\nAppendJSON %s", i, ev.ReceivedAt, got, want)
		}
	}
}

// TestAppendJSONAllocs: encoding into a buffer with room allocates nothing, with or without
// an Encoder.
func TestAppendJSONAllocs(t *testing.T) {
	ev := benchEvent()
	ev.Timestamp = ev.Timestamp.Add(123456789)
	buf := make([]byte, 0, 512)
	var enc Encoder
	if n := testing.AllocsPerRun(100, func() { buf = ev.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = enc.AppendJSON(buf[:0], &ev) }); n != 0 {
		t.Errorf("Encoder.AppendJSON: %v allocations", n)
	}
}

// BenchmarkEncoder is BenchmarkAppendJSON through an Encoder, as kafka.Publisher encodes a
// request's events: received_at is formatted once, not per event.
func BenchmarkEncoder(b *testing.B) {
	ev := benchEvent()
	buf := make([]byte, 0, 512)
	var enc Encoder
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.AppendJSON(buf[:0], &ev)
	}
}

// TestAppendUTCBounds: the constants of appendUTC's fast path are the instants they name.
func TestAppendUTCBounds(t *testing.T) {
	if got := time.Date(0, 3, 1, 0, 0, 0, 0, time.UTC).Unix(); got != utcFastMin {
		t.Errorf("utcFastMin = %d, want %d", int64(utcFastMin), got)
	}
	if got := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix(); got != utcFastMax {
		t.Errorf("utcFastMax = %d, want %d", int64(utcFastMax), got)
	}
}

// TestAppendUTCEveryDay: the first and last nanosecond of every day of years 0–9999.
func TestAppendUTCEveryDay(t *testing.T) {
	for d := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 10000; d = d.AddDate(0, 0, 1) {
		for _, tm := range []time.Time{d, d.Add(24*time.Hour - 1)} {
			want := tm.AppendFormat(nil, time.RFC3339Nano)
			if got := appendUTC(nil, tm); string(got) != string(want) {
				t.Fatalf("got %s, want %s", got, want)
			}
		}
	}
}
