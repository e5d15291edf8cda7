package schemas_test

// These tests keep schemas/event.schema.json honest: every document of the tables under
// testdata/ is judged by the schema (with a JSON Schema 2020-12 validator) and by the code
// that really decides (event.Input.Build, and the ingest handler end to end), and the two must
// agree. The wire-format schema must accept what event.AppendJSON writes, and what it accepts
// must decode.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/ingest"
	"github.com/engage-oss/engage/schemas/schematest"
)

// recv is the gateway clock for Build.
var recv = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const testKey = "schemas-test-key"

func registry(t *testing.T) *schematest.Schemas {
	t.Helper()
	r, err := schematest.Load()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fixture is one document of testdata/events/*.json.
type fixture struct {
	Case  string          `json:"case"`
	Field string          `json:"field"` // invalid: the field the gateway names in its error
	Event json.RawMessage `json:"event"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// boundaryFixtures are the length limits, generated because the documents are too long to
// keep readable in testdata: each limit exactly, and one past it.
func boundaryFixtures() (valid, invalid []fixture) {
	doc := func(kv ...string) json.RawMessage {
		m := map[string]string{"event_id": `"e1"`, "account_id": `"acme"`, "user_id": `"u1"`, "name": `"x"`, "timestamp": `"2026-11-23T11:00:00Z"`}
		order := []string{"event_id", "account_id", "user_id", "name", "timestamp", "properties"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		var b bytes.Buffer
		b.WriteByte('{')
		for _, k := range order {
			if v, ok := m[k]; ok {
				if b.Len() > 1 {
					b.WriteByte(',')
				}
				b.WriteString(`"` + k + `":` + v)
			}
		}
		b.WriteByte('}')
		return b.Bytes()
	}
	str := func(s string, n int) string { return `"` + strings.Repeat(s, n) + `"` }
	// {"a":"xxx…"} is 8 bytes plus the x's.
	props := func(size int) string { return `{"a":"` + strings.Repeat("x", size-8) + `"}` }
	limits := []struct {
		field, unit string
		max         int
		kv          func(string) []string
	}{
		{"event_id", "é", event.MaxEventIDLen, func(v string) []string { return []string{"event_id", v} }},
		{"account_id", "a", event.MaxAccountIDLen, func(v string) []string { return []string{"account_id", v} }},
		{"user_id", "ü", event.MaxUserIDLen, func(v string) []string { return []string{"user_id", v} }},
		{"name", "n", event.MaxNameLen, func(v string) []string { return []string{"name", v} }},
		{"properties.plan", "é", event.MaxTraitLen, func(v string) []string {
			return []string{"name", `"$account"`, "properties", `{"plan":` + v + `}`}
		}},
		{"properties.severity", "火", event.MaxTraitLen, func(v string) []string {
			return []string{"name", `"$ticket"`, "properties", `{"severity":` + v + `}`}
		}},
	}
	for _, l := range limits {
		valid = append(valid, fixture{Case: l.field + " at its limit", Event: doc(l.kv(str(l.unit, l.max))...)})
		invalid = append(invalid, fixture{Case: l.field + " over its limit", Field: l.field, Event: doc(l.kv(str(l.unit, l.max+1))...)})
	}
	valid = append(valid, fixture{Case: "properties of exactly 32 KiB", Event: doc("properties", props(event.MaxPropertiesBytes))})
	invalid = append(invalid, fixture{Case: "properties one byte over 32 KiB", Field: "properties", Event: doc("properties", props(event.MaxPropertiesBytes+1))})
	// Whitespace counts: the limit is on the JSON text as sent.
	invalid = append(invalid, fixture{Case: "properties over 32 KiB only with whitespace", Field: "properties",
		Event: doc("properties", `{ "a":"`+strings.Repeat("x", event.MaxPropertiesBytes-8)+`"}`)})
	return valid, invalid
}

func fixtures(t *testing.T) (valid, invalid []fixture) {
	readJSON(t, "events/valid.json", &valid)
	readJSON(t, "events/invalid.json", &invalid)
	gv, gi := boundaryFixtures()
	return append(valid, gv...), append(invalid, gi...)
}

// build decodes a document as encoding/json would into event.Input and builds it, returning
// the field the gateway blames when it refuses.
func build(doc []byte) (event.Event, string, error) {
	var in event.Input
	if err := json.Unmarshal(doc, &in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return event.Event{}, te.Field, err
		}
		return event.Event{}, "", err
	}
	ev, err := in.Build(recv)
	var fe *event.FieldError
	if errors.As(err, &fe) {
		return ev, fe.Field, err
	}
	return ev, "", err
}

// recorder is a Publisher that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (p *recorder) Publish(_ context.Context, evs []event.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, evs...)
	return nil
}

func newHandler(t *testing.T, cfg ingest.Config, pub ingest.Publisher) *ingest.Handler {
	t.Helper()
	if cfg.Keys == nil {
		keys, err := ingest.NewKeys(ingest.KeySpec{Key: testKey})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Keys = keys
	}
	h, err := ingest.NewHandler(cfg, pub, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// ingestResult is the 200 body of POST /v1/events.
type ingestResult struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	Errors   []struct {
		Index   int    `json:"index"`
		EventID string `json:"event_id"`
		Error   string `json:"error"`
	} `json:"errors"`
}

// postEvent sends one document to POST /v1/events and returns the gateway's verdict: nil, or
// the per-event error message.
func postEvent(t *testing.T, h http.Handler, doc []byte) error {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(doc))
	r.Header.Set("Authorization", "Bearer "+testKey)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var res ingestResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	switch {
	case res.Accepted == 1 && res.Rejected == 0:
		return nil
	case res.Accepted == 0 && res.Rejected == 1 && len(res.Errors) == 1:
		return errors.New(res.Errors[0].Error)
	}
	t.Fatalf("unexpected answer to one event: %s", w.Body)
	return nil
}

// TestEventSchemaIsChecked: the event schema is valid by the 2020-12 meta-schema, every
// keyword in it is one the validator enforces (no misspelt or foreign keyword), and every $ref
// resolves; otherwise the agreement tests below could pass while the schema states a rule
// nobody checks.
func TestEventSchemaIsChecked(t *testing.T) {
	r := registry(t)
	for _, ref := range []string{schematest.EventSchema, schematest.InputRef, schematest.RecordRef} {
		if _, err := r.Compile(ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
	doc := r.Doc(schematest.EventSchema).(map[string]any)
	// Every definition, including those only the documentation refers to.
	for name := range doc["$defs"].(map[string]any) {
		if _, err := r.Compile(schematest.EventSchema + "#/$defs/" + name); err != nil {
			t.Errorf("$defs/%s: %v", name, err)
		}
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", doc["$schema"])
	}
	// The reserved names in the schema are exactly the ones the code knows.
	var names []string
	for _, alt := range doc["$defs"].(map[string]any)["name"].(map[string]any)["anyOf"].([]any) {
		if c, ok := alt.(map[string]any)["const"].(string); ok {
			names = append(names, c)
		}
	}
	for _, n := range names {
		if k := event.KindOf(n); k == event.KindProduct || k == event.KindUnknownReserved {
			t.Errorf("schema reserves %s, the code does not", n)
		}
	}
	for k := event.KindHeartbeat; k < event.KindUnknownReserved; k++ {
		found := false
		for _, n := range names {
			found = found || event.KindOf(n) == k
		}
		if !found {
			t.Errorf("the code reserves a name of kind %d that the schema does not list", k)
		}
	}
}

// TestEventSchemaAgreesWithGateway is the drift test: a document of the valid table is
// accepted by the schema, by Input.Build and by the running handler; a document of the invalid
// table is refused by all three, and the gateway blames the field the table names.
func TestEventSchemaAgreesWithGateway(t *testing.T) {
	r := registry(t)
	h := newHandler(t, ingest.Config{}, &recorder{})
	valid, invalid := fixtures(t)
	if len(valid) < 40 || len(invalid) < 80 {
		t.Fatalf("only %d valid and %d invalid fixtures: the tables did not load", len(valid), len(invalid))
	}
	for _, f := range valid {
		t.Run("valid/"+f.Case, func(t *testing.T) {
			if err := r.Validate(schematest.InputRef, f.Event); err != nil {
				t.Errorf("schema refuses: %v", err)
			}
			if _, _, err := build(f.Event); err != nil {
				t.Errorf("Input.Build refuses: %v", err)
			}
			if err := postEvent(t, h, f.Event); err != nil {
				t.Errorf("gateway refuses: %v", err)
			}
		})
	}
	for _, f := range invalid {
		t.Run("invalid/"+f.Case, func(t *testing.T) {
			if f.Field == "" {
				t.Fatal("fixture names no field")
			}
			err := r.Validate(schematest.InputRef, f.Event)
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("schema accepts (or fails otherwise: %v)", err)
			}
			if _, field, err := build(f.Event); err == nil || field != f.Field {
				t.Errorf("Input.Build: %v (field %q), want an error about %s", err, field, f.Field)
			}
			if err := postEvent(t, h, f.Event); err == nil || !strings.HasPrefix(err.Error(), f.Field+": ") {
				t.Errorf("gateway: %v, want an error about %s", err, f.Field)
			}
		})
	}
}

// TestEventSchemaKnownDifferences pins the three rules a JSON Schema cannot state (they are
// listed in the schema's description): if the code changes, the description must too.
func TestEventSchemaKnownDifferences(t *testing.T) {
	r := registry(t)
	h := newHandler(t, ingest.Config{}, &recorder{})
	var diffs []struct {
		fixture
		Schema, Gateway, Why string
	}
	readJSON(t, "events/differences.json", &diffs)
	desc := r.Doc(schematest.EventSchema).(map[string]any)["description"].(string)
	for _, d := range diffs {
		t.Run(d.Case, func(t *testing.T) {
			if err := r.Validate(schematest.InputRef, d.Event); (err == nil) != (d.Schema == "accepts") {
				t.Errorf("schema: %v, want it to %s", err, d.Schema)
			}
			_, field, err := build(d.Event)
			if (err == nil) != (d.Gateway == "accepts") || err != nil && field != d.Field {
				t.Errorf("Input.Build: %v (field %q), want it to %s", err, field, d.Gateway)
			}
			if err := postEvent(t, h, d.Event); (err == nil) != (d.Gateway == "accepts") {
				t.Errorf("gateway: %v, want it to %s", err, d.Gateway)
			}
		})
	}
	for _, mention := range []string{"sent_at so far ahead", "used twice", "differs only in case"} {
		if !strings.Contains(desc, mention) {
			t.Errorf("the schema's description does not mention the difference %q", mention)
		}
	}
}

// TestRecordSchemaAcceptsWhatTheGatewayWrites: every event the gateway accepts, once encoded
// by AppendJSON, is a valid record, decodes, and encodes back to the same bytes.
func TestRecordSchemaAcceptsWhatTheGatewayWrites(t *testing.T) {
	r := registry(t)
	valid, _ := fixtures(t)
	for _, f := range valid {
		t.Run(f.Case, func(t *testing.T) {
			ev, _, err := build(f.Event)
			if err != nil {
				t.Fatal(err)
			}
			checkRecord(t, r, ev)
		})
	}
}

// checkRecord validates ev's wire encoding and its round trip through Decode.
func checkRecord(t *testing.T, r *schematest.Schemas, ev event.Event) {
	t.Helper()
	rec := ev.AppendJSON(nil)
	if err := r.Validate(schematest.RecordRef, rec); err != nil {
		t.Fatalf("record schema refuses %s: %v", rec, err)
	}
	back, err := event.Decode(rec)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if again := back.AppendJSON(nil); !bytes.Equal(again, rec) {
		t.Errorf("round trip changed the record:\n%s\n%s", rec, again)
	}
}

// TestRecordSchemaAppendJSON covers encodings the input fixtures do not reach: times in
// other zones and with nanoseconds, escapes, whitespace in properties.
func TestRecordSchemaAppendJSON(t *testing.T) {
	r := registry(t)
	ts := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	paris := time.FixedZone("CET", 3600)
	cases := []struct {
		name string
		ev   event.Event
	}{
		{"minimal", event.Event{EventID: "e1", AccountID: "a", UserID: "u", Name: "open", Timestamp: ts, OriginalTimestamp: ts, ReceivedAt: ts}},
		{"whole seconds", event.Event{EventID: "e1", AccountID: "a", UserID: "u", Name: "open", Timestamp: ts.Truncate(time.Second), OriginalTimestamp: ts.Truncate(time.Second), ReceivedAt: ts.Truncate(time.Second)}},
		{"other time zones are written in UTC", event.Event{EventID: "e1", AccountID: "a", UserID: "u", Name: "open", Timestamp: ts.In(paris), OriginalTimestamp: ts.In(paris), SentAt: ts.In(paris), ReceivedAt: ts.In(paris)}},
		{"escapes", event.Event{EventID: "e\"2\\\n\u2028\u2029", AccountID: "ä\x01\x1f", UserID: "<u&>", Name: "x\ty", Timestamp: ts, OriginalTimestamp: ts.Add(-time.Hour), SentAt: ts, ReceivedAt: ts}},
		{"properties are compacted", event.Event{EventID: "e1", AccountID: "a", UserID: "u", Name: "x", Timestamp: ts, OriginalTimestamp: ts, ReceivedAt: ts, Properties: json.RawMessage("{ \"a\" : [1, \"b c\"],\n\t\"d\": null }")}},
		{"null properties are left out", event.Event{EventID: "e1", AccountID: "a", UserID: "u", Name: "x", Timestamp: ts, OriginalTimestamp: ts, ReceivedAt: ts, Properties: json.RawMessage("null")}},
		{"account without user", event.Event{EventID: "e3", AccountID: "a", Name: event.NameAccount, Timestamp: ts, OriginalTimestamp: ts, ReceivedAt: ts, Properties: json.RawMessage(`{"seats":5}`)}},
		{"renewal", event.Event{EventID: "e4", AccountID: "a", UserID: "u", Name: event.NameRenewal, Timestamp: ts, OriginalTimestamp: ts, ReceivedAt: ts, Properties: json.RawMessage(`{"renewed":false}`)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.ev.Validate(); err != nil {
				t.Fatalf("test event is invalid: %v", err)
			}
			checkRecord(t, r, tc.ev)
		})
	}
}

// TestRecordSchemaAgreesWithDecode: a record the schema accepts decodes; a record it refuses
// is either refused by Decode too or is one of the listed cases where Decode is deliberately
// looser (it checks the format, not the rules, so that an event accepted under an older rule
// is not dropped).
func TestRecordSchemaAgreesWithDecode(t *testing.T) {
	r := registry(t)
	var valid, invalid []struct {
		Case   string          `json:"case"`
		Decode string          `json:"decode"`
		Record json.RawMessage `json:"record"`
	}
	readJSON(t, "records/valid.json", &valid)
	readJSON(t, "records/invalid.json", &invalid)
	for _, f := range valid {
		t.Run("valid/"+f.Case, func(t *testing.T) {
			if err := r.Validate(schematest.RecordRef, f.Record); err != nil {
				t.Fatalf("schema refuses: %v", err)
			}
			ev, err := event.Decode(f.Record)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			// What a reader decodes is what a writer writes back.
			var want, got any
			_ = json.Unmarshal(f.Record, &want)
			_ = json.Unmarshal(ev.AppendJSON(nil), &got)
			if !reflect.DeepEqual(want, got) {
				t.Errorf("re-encoded as %s", ev.AppendJSON(nil))
			}
		})
	}
	for _, f := range invalid {
		t.Run("invalid/"+f.Case, func(t *testing.T) {
			var ve *jsonschema.ValidationError
			if err := r.Validate(schematest.RecordRef, f.Record); !errors.As(err, &ve) {
				t.Errorf("schema: %v, want it to refuse", err)
			}
			_, err := event.Decode(f.Record)
			if (err != nil) != (f.Decode == "rejects") {
				t.Errorf("Decode: %v, want it to %s", err, f.Decode)
			}
		})
	}
}
