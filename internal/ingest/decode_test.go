package ingest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/jsonscan"
)

func decodeString(body string, ndjson bool) ([]item, error) {
	t := &text{b: []byte(body), s: body}
	return decodeEvents(t, ndjson, nil)
}

// TestDecodeEvents pins the framing rules: which bodies are a 400 and which problems are
// per-event errors at which index.
func TestDecodeEvents(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		ndjson  bool
		wantErr string   // whole-body error
		errs    []string // per item: "" ok, else substring of its error
	}{
		{name: "object", body: ` {"event_id":"a"} `, errs: []string{""}},
		{name: "array", body: `[{"event_id":"a"},{"event_id":"b"}]`, errs: []string{"", ""}},
		{name: "non-objects in array", body: `[1,"s",null,[],true,{}]`, errs: []string{"got number", "got string", "got null", "got array", "got bool", ""}},
		{name: "type errors", body: `[{"event_id":1},{"name":{}},{"timestamp":[]},{"user_id":null}]`, errs: []string{"event_id: must be a string, got number", "name: must be a string, got object", "timestamp: must be a string, got array", ""}},
		{name: "first type error wins", body: `{"user_id":1,"name":true}`, errs: []string{"user_id:"}},
		{name: "ndjson", ndjson: true, body: "{\"event_id\":\"a\"}\n\n  \r\n[1]\n{\"event_id\":}\n{}{}\n{}", errs: []string{"", "got array", "line 5: invalid JSON", "line 6: invalid JSON", ""}},
		{name: "ndjson without final newline", ndjson: true, body: `{}`, errs: []string{""}},

		{name: "empty", body: "", wantErr: "no events"},
		{name: "whitespace", body: " \n\t", wantErr: "no events"},
		{name: "empty array", body: "[]", wantErr: "no events"},
		{name: "blank ndjson", ndjson: true, body: "\n\n", wantErr: "no events"},
		{name: "scalar", body: `42`, wantErr: "must be an event object"},
		{name: "null", body: `null`, wantErr: "must be an event object"},
		{name: "syntax error offset", body: `[{"a":1},{"b":tru}]`, wantErr: "byte offset 17"},
		{name: "bad escape", body: `{"event_id":"\x"}`, wantErr: "byte offset 14: invalid character 'x' in string escape code"},
		{name: "control char in string", body: "{\"event_id\":\"a\nb\"}", wantErr: "in string literal"},
		{name: "trailing comma", body: `[{},]`, wantErr: "looking for beginning of value"},
		{name: "trailing data", body: `{} {}`, wantErr: "after top-level value"},
		{name: "unterminated", body: `[{"event_id":"a"`, wantErr: "unexpected end of JSON input"},
		{name: "too deep", body: "[" + strings.Repeat(`{"p":`, jsonscan.MaxDepth) + "1" + strings.Repeat("}", jsonscan.MaxDepth) + "]", wantErr: "exceeded max depth"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, err := decodeString(tc.body, tc.ndjson)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != len(tc.errs) {
				t.Fatalf("%d items, want %d", len(items), len(tc.errs))
			}
			for i, it := range items {
				if it.index != i {
					t.Errorf("item %d has index %d", i, it.index)
				}
				switch {
				case tc.errs[i] == "" && it.err != nil:
					t.Errorf("item %d: unexpected %v", i, it.err)
				case tc.errs[i] != "" && (it.err == nil || !strings.Contains(it.err.Error(), tc.errs[i])):
					t.Errorf("item %d: err %v, want %q", i, it.err, tc.errs[i])
				}
			}
		})
	}
}

// TestDecodeMatchesEncodingJSON spot-checks the corners where a hand-written decoder most
// easily parts from encoding/json; FuzzDecodeEquivalence explores the rest.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	cases := []struct{ name, body string }{
		{"escapes", `{"event_id":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`},
		{"lone surrogates", `{"event_id":"\ud800x\udc00\ud800\u0041"}`},
		{"invalid utf-8", "{\"event_id\":\"a\xffb\xc3\"}"},
		{"case-insensitive key", `{"EVENT_ID":"a","Name":"n"}`},
		{"escaped key", `{"event\u005fid":"a"}`},
		{"kelvin sign folds to k", `{"account_id":"x","ACCOUNT_ID":"y"}`},
		{"long s folds to s", "{\"\u017fent_at\":\"x\"}"},
		{"duplicate key: last wins", `{"event_id":"a","event_id":"b"}`},
		{"null keeps the earlier value", `{"event_id":"a","event_id":null}`},
		{"null properties", `{"properties":null}`},
		{"properties of any type", `{"properties":[1, {"a":2}]}`},
		{"properties whitespace kept", `{"properties": { "a" : 1 } }`},
		{"numbers", `{"x":[-0,0.5e+10,1E-2,123456789012345678901234567890]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkEquivalent(t, []byte(tc.body))
		})
	}
}

// checkEquivalent decodes one JSON document with the fast decoder and with encoding/json
// and fails if they disagree: on whether it is valid JSON, on whether it decodes without a
// type error, and on every field when both succeed.
func checkEquivalent(t *testing.T, body []byte) {
	t.Helper()
	var want event.Input
	stdErr := json.Unmarshal(body, &want)
	var syn *json.SyntaxError
	stdSyntax := errors.As(stdErr, &syn) || stdErr != nil && strings.Contains(stdErr.Error(), "exceeded max depth")

	tx := &text{b: body, s: string(body)}
	items, err := decodeEvents(tx, false, nil)
	var mySyntax *jsonscan.SyntaxError
	// An empty body is a syntax error to encoding/json and "no events" to the gateway; a 400
	// either way.
	gotSyntax := errors.As(err, &mySyntax) || err == errNoEvents && jsonscan.SkipSpace(body, 0) == len(body)
	if gotSyntax != stdSyntax {
		t.Fatalf("syntax error: fast %v, encoding/json %v\nbody %q", err, stdErr, body)
	}
	if stdSyntax {
		return
	}
	i := jsonscan.SkipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return // not one object: a 400 or an array, outside what Unmarshal into Input means
	}
	if err != nil || len(items) != 1 {
		t.Fatalf("fast decoder: %v, %d items\nbody %q", err, len(items), body)
	}
	got := items[0]
	if (got.err != nil) != (stdErr != nil) {
		t.Fatalf("type error: fast %v, encoding/json %v\nbody %q", got.err, stdErr, body)
	}
	if stdErr != nil {
		return
	}
	if len(got.in.Properties) == 0 {
		got.in.Properties = nil
	}
	if len(want.Properties) == 0 {
		want.Properties = nil
	}
	if !reflect.DeepEqual(got.in, want) {
		t.Fatalf("fields differ\nfast          %#v\nencoding/json %#v\nbody %q", got.in, want, body)
	}
}

// BenchmarkDecodeValidate measures the per-event cost of the gateway's CPU work before
// publishing: decoding from the body and event.Input.Build (validation, timestamp parsing,
// skew correction). The contract budget is 2 µs per event.
func BenchmarkDecodeValidate(b *testing.B) {
	recv := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name string
		n    int
	}{{"single", 1}, {"batch100", 100}} {
		b.Run(bc.name, func(b *testing.B) {
			body := benchBatch(bc.n)
			if bc.n == 1 {
				body = body[1 : len(body)-1]
			}
			items := make([]item, 0, bc.n)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				t := &text{b: body, s: string(body)}
				var err error
				if items, err = decodeEvents(t, false, items[:0]); err != nil {
					b.Fatal(err)
				}
				for i := range items {
					if items[i].err != nil {
						b.Fatal(items[i].err)
					}
					if _, err := items[i].in.Build(recv); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.n), "ns/event")
		})
	}
}

// BenchmarkDecodeStdlib is the baseline the fast decoder replaces: encoding/json into a
// []event.Input, then Build.
func BenchmarkDecodeStdlib(b *testing.B) {
	recv := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	body := benchBatch(100)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var ins []event.Input
		if err := json.Unmarshal(body, &ins); err != nil {
			b.Fatal(err)
		}
		for i := range ins {
			if _, err := ins[i].Build(recv); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}
