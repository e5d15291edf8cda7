package scorer

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/health"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// exampleChange is the change of the example in docs/HEALTH.md and of testdata/change.golden.json.
func exampleChange() Change {
	m := health.DefaultModel()
	in := health.Inputs{ActiveDays14: 3, DAU: 1, WAU: 2, MAU: 4, Seats: ptr(20), FeaturesUsed30d: 3,
		NPS: health.NPSAnswers{Detractors: 2}, Tickets: 7, Status: ptr(health.StatusPastDue), Plan: "pro", MRR: ptr(490.0)}
	prevIn := health.Inputs{ActiveDays14: 5, DAU: 2, WAU: 4, MAU: 8, Seats: ptr(20), FeaturesUsed30d: 4,
		NPS: health.NPSAnswers{Promoters: 1, Detractors: 2}, Tickets: 5, Status: ptr(health.StatusActive), Plan: "pro", MRR: ptr(490.0)}
	r, prev := health.Score(m, in), health.Score(m, prevIn)
	return Change{
		AccountID:     "acme-corp",
		Seq:           3,
		PreviousBand:  health.BandYellow,
		PreviousScore: ptr(prev.Score),
		Band:          health.BandRed,
		Score:         r.Score,
		ScoredAt:      time.Date(2026, 3, 2, 14, 5, 10, 0, time.UTC),
		Components:    r.Components,
		Reasons:       health.Reasons(m, prev, r, prevIn, in),
		ModelVersion:  r.ModelVersion,
		Coverage:      r.Coverage,
		Inputs:        in,
	}
}

// TestCloudEventGolden pins the wire format of a health-change event (contract §3): the
// CloudEvents attributes, the data fields and their order.
func TestCloudEventGolden(t *testing.T) {
	got, err := exampleChange().MarshalCloudEvent()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "change.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("event differs from %s (run with -update after checking the change):\n got %s\nwant %s", golden, got, want)
	}
}

// TestFirstChangeHasNullPrevious: an account's first band is announced with previous_band
// and previous_score null.
func TestFirstChangeHasNullPrevious(t *testing.T) {
	c := exampleChange()
	c.Seq, c.PreviousBand, c.PreviousScore = 1, health.BandNone, nil
	b, err := c.MarshalCloudEvent()
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"previous_band", "previous_score"} {
		if v, ok := ev.Data[k]; !ok || string(v) != "null" {
			t.Errorf("data.%s = %s (present %v), want null", k, v, ok)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	c := exampleChange()
	r, err := c.ToRecord()
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Key) != c.AccountID || string(r.Header(HeaderContentType)) != ContentType {
		t.Errorf("key %q content-type %q", r.Key, r.Header(HeaderContentType))
	}
	got, err := ParseRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	// JSON has no per-component present flag on weights of absent components; compare
	// after one more round trip of the original through JSON.
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
	}
}

func TestEventID(t *testing.T) {
	a, b := EventID("acme", 1), EventID("acme", 2)
	if a == b || a != EventID("acme", 1) || len(a) != 32 {
		t.Errorf("EventID not deterministic and distinct: %s %s", a, b)
	}
	// The separator keeps ("acme1", 1) and ("acme", 11) apart.
	if EventID("acme1", 1) == EventID("acme", 11) {
		t.Error("EventID collides across the account/sequence boundary")
	}
}

// TestParseChangeErrors: what the scorer refuses to read back from the topic.
func TestParseChangeErrors(t *testing.T) {
	valid, err := exampleChange().MarshalCloudEvent()
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(ev map[string]any)) string {
		var ev map[string]any
		if err := json.Unmarshal(valid, &ev); err != nil {
			t.Fatal(err)
		}
		f(ev)
		b, _ := json.Marshal(ev)
		return string(b)
	}
	data := func(ev map[string]any) map[string]any { return ev["data"].(map[string]any) }
	tests := []struct {
		name    string
		value   string
		wantErr string
		foreign bool
	}{
		{"not JSON", "{", "decoding health change: unexpected EOF", false},
		{"other type", mutate(func(ev map[string]any) { ev["type"] = "com.example.other" }), "type \"com.example.other\"", true},
		{"other source", mutate(func(ev map[string]any) { ev["source"] = "crm" }), "from \"crm\"", true},
		{"spec version", mutate(func(ev map[string]any) { ev["specversion"] = "0.3" }), "specversion \"0.3\"", false},
		{"subject mismatch", mutate(func(ev map[string]any) { ev["subject"] = "other" }), "does not match subject", false},
		{"no sequence", mutate(func(ev map[string]any) { delete(ev, "sequence") }), "sequence \"\" is not a positive integer", false},
		{"zero sequence", mutate(func(ev map[string]any) { ev["sequence"] = "0000000000" }), "sequence \"0000000000\"", false},
		{"id mismatch", mutate(func(ev map[string]any) { ev["id"] = "x" }), "id \"x\", want", false},
		{"band missing", mutate(func(ev map[string]any) { delete(data(ev), "band") }), "band is missing", false},
		{"unknown band", mutate(func(ev map[string]any) { data(ev)["band"] = "blue" }), "unknown band \"blue\"", false},
		{"bad time", mutate(func(ev map[string]any) { data(ev)["scored_at"] = "yesterday" }), "scored_at", false},
		{"unknown component", mutate(func(ev map[string]any) { data(ev)["components"] = map[string]any{"vibes": map[string]any{}} }), "unknown component \"vibes\"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseChange([]byte(tt.value))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseChange error = %v, want one containing %q", err, tt.wantErr)
			}
			if errors.Is(err, ErrNotHealthChange) != tt.foreign {
				t.Errorf("errors.Is(err, ErrNotHealthChange) = %v, want %v", !tt.foreign, tt.foreign)
			}
		})
	}
}

// FuzzParseRecord: the decoder of topic records never panics, and what it accepts encodes
// back to an event it accepts again with the same content.
func FuzzParseRecord(f *testing.F) {
	r, err := exampleChange().ToRecord()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.Value, r.Header(HeaderInputs))
	f.Add([]byte(`{"specversion":"1.0","type":"engage.account.health.changed","source":"engage/scorer"}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, value, inputs []byte) {
		c, err := ParseRecord(Record{Value: value, Headers: []RecordHeader{{Key: HeaderInputs, Value: inputs}}})
		if err != nil {
			return
		}
		again, err := c.MarshalCloudEvent()
		if err != nil {
			t.Fatalf("accepted event does not encode: %v", err)
		}
		c2, err := ParseChange(again)
		if err != nil {
			t.Fatalf("re-encoded event not accepted: %v\n%s", err, again)
		}
		if c2.AccountID != c.AccountID || c2.Seq != c.Seq || c2.Band != c.Band || !c2.ScoredAt.Equal(c.ScoredAt.Truncate(time.Second)) {
			t.Fatalf("round trip changed the event: %+v vs %+v", c2, c)
		}
	})
}
