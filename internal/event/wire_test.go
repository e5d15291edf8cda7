package event

import (
	"encoding/json"
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
