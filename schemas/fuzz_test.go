package schemas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/engage-oss/engage/schemas/schematest"
)

// FuzzEventSchemaAgreement explores beyond the fixture tables: for any JSON object, the event
// schema and Input.Build agree on whether it is a valid event, outside the differences the
// schema's description lists (they are skipped here, and pinned in
// TestEventSchemaKnownDifferences).
func FuzzEventSchemaAgreement(f *testing.F) {
	for _, name := range []string{"valid.json", "invalid.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "events", name))
		if err != nil {
			f.Fatal(err)
		}
		var fs []fixture
		if err := json.Unmarshal(b, &fs); err != nil {
			f.Fatal(err)
		}
		for _, fx := range fs {
			f.Add([]byte(fx.Event))
		}
	}
	r := loadForFuzz(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) || len(bytes.TrimSpace(doc)) == 0 || bytes.TrimSpace(doc)[0] != '{' || knownDifference(doc) {
			return
		}
		schemaErr := r.Validate(schematest.InputRef, doc)
		if schemaErr != nil && !isValidationError(schemaErr) {
			return // not UTF-8: not an event
		}
		_, field, buildErr := build(doc)
		if field == "sent_at" && buildErr != nil && strings.Contains(buildErr.Error(), "so far ahead") {
			return
		}
		if (schemaErr == nil) != (buildErr == nil) {
			t.Fatalf("schema: %v\nInput.Build: %v\ndocument: %s", schemaErr, buildErr, doc)
		}
	})
}

// knownDifference reports documents in which an object has duplicate members, or whose
// top-level member names match an event field only case-insensitively.
func knownDifference(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	var walk func(depth int) bool
	walk = func(depth int) bool {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return false
		}
		switch d {
		case '[':
			for dec.More() {
				if walk(depth + 1) {
					return true
				}
			}
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				k, _ := dec.Token()
				key, _ := k.(string)
				if seen[key] {
					return true
				}
				seen[key] = true
				if depth == 0 {
					for _, f := range []string{"event_id", "account_id", "user_id", "name", "timestamp", "sent_at", "properties"} {
						if key != f && strings.EqualFold(key, f) {
							return true
						}
					}
				}
				if walk(depth + 1) {
					return true
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err != nil
	}
	return walk(0)
}

func isValidationError(err error) bool {
	var ve *jsonschema.ValidationError
	return errors.As(err, &ve)
}

// FuzzEventFieldsAgreement builds documents from field values, which reaches the rules (time
// formats, lengths, reserved names and their properties) faster than mutating whole
// documents. An empty string leaves a field out.
func FuzzEventFieldsAgreement(f *testing.F) {
	f.Add("e1", "acme", "u1", "report.exported", "2026-11-23T11:00:00Z", "", []byte(`{"a":1}`))
	f.Add("e1", "acme", "", "$account", "2026-11-23T11:00:00.5+05:30", "2026-11-23T11:00:00Z", []byte(`{"seats":3,"plan":"pro","mrr":1.5,"status":"active"}`))
	f.Add("e1", "acme", "u", "$nps", "2000-01-01T00:00:00Z", "2026-11-23T11:00:00-23:59", []byte(`{"score":10}`))
	f.Add("e1", "acme", "u", "$csat", "2026-02-29T00:00:00Z", "", []byte(`{"score":0}`))
	f.Add("e1", "acme", "u", "$renewal", "2026-11-23T1:00:00Z", "", []byte(`{"renewed":"yes"}`))
	f.Add("e1", "acme", "u", "$ticket", "2026-11-23T11:00:00,5Z", "", []byte(`{"severity":null}`))
	f.Add("é", "a", "u", "$x", "2016-12-31T23:59:60Z", "now", []byte(`[]`))
	r := loadForFuzz(f)
	f.Fuzz(func(t *testing.T, id, account, user, name, ts, sent string, props []byte) {
		m := map[string]any{}
		for k, v := range map[string]string{"event_id": id, "account_id": account, "user_id": user, "name": name, "timestamp": ts, "sent_at": sent} {
			if v != "" {
				m[k] = v
			}
		}
		if len(props) > 0 {
			if !json.Valid(props) {
				return
			}
			m["properties"] = json.RawMessage(props)
		}
		doc, err := json.Marshal(m)
		if err != nil || knownDifference(doc) {
			return
		}
		schemaErr := r.Validate(schematest.InputRef, doc)
		if schemaErr != nil && !isValidationError(schemaErr) {
			return
		}
		_, field, buildErr := build(doc)
		if field == "sent_at" && buildErr != nil && strings.Contains(buildErr.Error(), "so far ahead") {
			return
		}
		if (schemaErr == nil) != (buildErr == nil) {
			t.Fatalf("schema: %v\nInput.Build: %v\ndocument: %s", schemaErr, buildErr, doc)
		}
	})
}

// loadForFuzz loads the schemas and compiles the input schema once, so that a schema that does
// not compile fails the target instead of making every input look like one to skip.
func loadForFuzz(f *testing.F) *schematest.Schemas {
	r, err := schematest.Load()
	if err != nil {
		f.Fatal(err)
	}
	if _, err := r.Compile(schematest.InputRef); err != nil {
		f.Fatal(err)
	}
	return r
}
