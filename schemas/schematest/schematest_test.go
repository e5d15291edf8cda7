package schematest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func newSchemas(t *testing.T, docs map[string]string) *Schemas {
	t.Helper()
	decoded := map[string]any{}
	for name, doc := range docs {
		v, err := DecodeJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		decoded[name] = v
	}
	s, err := New(decoded)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestValidate pins what this package adds to the library: engage's keywords, numbers read as
// doubles, and the date-time format asserted (JSON Schema 2020-12 makes it an annotation
// unless asked).
func TestValidate(t *testing.T) {
	cases := []struct {
		name     string
		schema   string
		instance string
		valid    bool
	}{
		{"integer accepts 1.0", `{"type":"integer"}`, `1.0`, true},
		{"integer refuses 1.5", `{"type":"integer"}`, `1.5`, false},
		{"maximum exact", `{"maximum":1000000000000}`, `1e12`, true},
		{"maximum over", `{"maximum":10}`, `10.000000000000002`, false},
		{"numbers are doubles: beyond a double's precision is the nearest double", `{"type":"integer","maximum":10}`, `10.0000000000000001`, true},
		{"numbers are doubles: the largest double is not over its decimal form", `{"maximum":1.7976931348623157e308}`, `1.7976931348623157e308`, true},
		{"numbers are doubles: beyond a double's range is over any maximum", `{"maximum":1.7976931348623157e308}`, `1e400`, false},
		{"numbers are doubles: beyond a double's range is under any minimum", `{"minimum":0}`, `-1e400`, false},
		{"encoded size counts whitespace", `{"x-maxEncodedBytes":8}`, `{"a": 1 , "b":2}`, false},
		{"encoded size exact", `{"x-maxEncodedBytes":14}`, `{"a":1,"b":22}`, true},
		{"encoded size counts escapes", `{"x-maxEncodedBytes":3}`, `"\u00e9"`, false},
		{"encoded size of a member", `{"properties":{"p":{"x-maxEncodedBytes":7}}}`, `{"p": {"a": 1}, "q": "a long member that does not count"}`, false},
		{"encoded size of a member, exact", `{"properties":{"p":{"x-maxEncodedBytes":8}}}`, `{"p": {"a": 1}, "q": "a long member that does not count"}`, true},
		{"encoded size through $ref and items", `{"$defs":{"s":{"x-maxEncodedBytes":3}},"items":{"$ref":"#/$defs/s"}}`, `[1, 22, 333, 4444]`, false},
		{"duplicate members: the last wins", `{"properties":{"a":{"type":"string"}}}`, `{"a":1,"a":"x"}`, true},
		{"date-time", `{"format":"date-time"}`, `"2026-11-23T11:00:00.5+01:00"`, true},
		{"date-time lower case t and z", `{"format":"date-time"}`, `"2026-11-23t11:00:00z"`, true},
		{"date-time leap second at 23:59 UTC", `{"format":"date-time"}`, `"2016-12-31T23:59:60Z"`, true},
		{"date-time leap second elsewhere", `{"format":"date-time"}`, `"2016-12-31T22:59:60Z"`, false},
		{"date-time 30 February", `{"format":"date-time"}`, `"2026-02-30T00:00:00Z"`, false},
		{"date-time without zone", `{"format":"date-time"}`, `"2026-11-23T11:00:00"`, false},
		{"date-time comma fraction", `{"format":"date-time"}`, `"2026-11-23T11:00:00,5Z"`, false},
		{"formatMinimum compares instants", `{"format":"date-time","formatMinimum":"2000-01-01T00:00:00Z"}`, `"2000-01-01T00:30:00+01:00"`, false},
		{"formatMinimum inclusive", `{"format":"date-time","formatMinimum":"2000-01-01T00:00:00Z"}`, `"2000-01-01T01:00:00+01:00"`, true},
		{"formatMinimum with a leap second", `{"format":"date-time","formatMinimum":"2017-01-01T00:00:00Z"}`, `"2016-12-31T23:59:60Z"`, false},
		{"formatMinimum with lower case", `{"format":"date-time","formatMinimum":"2000-01-01T00:00:00Z"}`, `"1999-12-31t23:59:59z"`, false},
		{"formatMinimum ignores other types", `{"format":"date-time","formatMinimum":"2000-01-01T00:00:00Z"}`, `1`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSchemas(t, map[string]string{"s.json": tc.schema})
			err := s.Validate("s.json", []byte(tc.instance))
			var ve *jsonschema.ValidationError
			if err != nil && !errors.As(err, &ve) {
				t.Fatalf("Validate: %v", err)
			}
			if (err == nil) != tc.valid {
				t.Errorf("valid = %v (%v), want %v", err == nil, err, tc.valid)
			}
		})
	}
}

// TestCompileRefuses: a schema that says what nobody checks is an error.
func TestCompileRefuses(t *testing.T) {
	cases := []struct {
		name, schema, want string
	}{
		{"misspelt keyword", `{"maxLenght":3}`, `maxLenght`},
		{"nested misspelt keyword", `{"properties":{"a":{"requried":["b"]}}}`, `requried`},
		{"keyword of an older draft", `{"definitions":{}}`, `definitions`},
		{"formatMinimum without format", `{"formatMinimum":"2000-01-01T00:00:00Z"}`, `format`},
		{"formatMinimum beside another format", `{"format":"date","formatMinimum":"2000-01-01T00:00:00Z"}`, `format`},
		{"formatMinimum not a date-time", `{"format":"date-time","formatMinimum":"2000"}`, `formatMinimum`},
		{"negative encoded size", `{"x-maxEncodedBytes":-1}`, `x-maxEncodedBytes`},
		{"dangling ref", `{"$defs":{},"$ref":"#/$defs/nope"}`, `nope`},
		{"ref to another document", `{"$ref":"other.json#/a"}`, `other.json`},
		{"bad type", `{"type":"int"}`, `type`},
		{"negative length", `{"maxLength":-1}`, `maxLength`},
		{"schema of the wrong type", `{"not":3}`, `not`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSchemas(t, map[string]string{"s.json": tc.schema})
			_, err := s.Compile("s.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compile = %v, want an error mentioning %s", err, tc.want)
			}
		})
	}
}

// TestValidateCrossDocumentRef is how the OpenAPI document uses the event schema.
func TestValidateCrossDocumentRef(t *testing.T) {
	s := newSchemas(t, map[string]string{
		"a.json": `{"$defs":{"id":{"type":"string","minLength":1}}}`,
		"b.json": `{"type":"object","properties":{"id":{"$ref":"a.json#/$defs/id"}}}`,
	})
	if err := s.Validate("b.json", []byte(`{"id":""}`)); err == nil {
		t.Error("empty id accepted through a cross-document $ref")
	}
	if err := s.Validate("b.json", []byte(`{"id":"x"}`)); err != nil {
		t.Error(err)
	}
}

func TestValidateRefusesNonJSON(t *testing.T) {
	s := newSchemas(t, map[string]string{"s.json": `true`})
	for _, in := range []string{``, `{`, "\"\xff\"", `1 2`, `{"a":1}x`} {
		err := s.Validate("s.json", []byte(in))
		var ve *jsonschema.ValidationError
		if err == nil || errors.As(err, &ve) {
			t.Errorf("Validate(%q) = %v, want a decoding error", in, err)
		}
	}
}

// TestDecodeYAML: every YAML construct means what its JSON form means, so the documents may
// use all of YAML.
func TestDecodeYAML(t *testing.T) {
	cases := []struct {
		name, yaml, json string
	}{
		{"block mapping and sequence", "a:\n  - 1\n  - two\nb: {c: [true, null]}\n", `{"a":[1,"two"],"b":{"c":[true,null]}}`},
		{"anchors and aliases", "x: &r {type: string}\ny: *r\n", `{"x":{"type":"string"},"y":{"type":"string"}}`},
		{"merge keys: own members win, then the first merged", "a: &a {p: 1, q: 1}\nb: &b {q: 2, r: 2}\nc:\n  <<: [*a, *b]\n  p: 3\n", `{"a":{"p":1,"q":1},"b":{"q":2,"r":2},"c":{"p":3,"q":1,"r":2}}`},
		{"literal block", "a: |\n  line 1\n    indented\n\n  line 3\n", `{"a":"line 1\n  indented\n\nline 3\n"}`},
		{"folded block", "a: >-\n  one\n  two\n\n  three\n", `{"a":"one two\nthree"}`},
		{"multi-line plain scalar", "a: one\n  two\n", `{"a":"one two"}`},
		{"multi-line quoted scalar", "a: \"one\n  two\"\n", `{"a":"one two"}`},
		{"integer keys are member names", "200: ok\n", `{"200":"ok"}`},
		{"timestamps are strings", "a: 2026-11-23\nb: 2026-11-23T10:00:00Z\n", `{"a":"2026-11-23","b":"2026-11-23T10:00:00Z"}`},
		{"YAML 1.1 booleans are strings", "a: yes\nb: on\n", `{"a":"yes","b":"on"}`},
		{"numbers", "a: 0x10\nb: -1.5e3\nc: 007\n", `{"a":16,"b":-1500,"c":7}`},
		{"explicit tags", "a: !!str 1\n", `{"a":"1"}`},
		{"a value that is only a comment is null", "a: #/x\nb: 1\n", `{"a":null,"b":1}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeYAML([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			want, err := DecodeJSON([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Errorf("got %s, want %s", g, tc.json)
			}
		})
	}
}

// TestDecodeYAMLRefuses: what JSON cannot hold is an error, not a guess.
func TestDecodeYAMLRefuses(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"duplicate key", "a: 1\na: 2\n", "twice"},
		{"infinity", "a: .inf\n", "not a JSON number"},
		{"collection as key", "? [a]\n: 1\n", "scalar"},
		{"binary", "a: !!binary aGk=\n", "no JSON equivalent"},
		{"custom tag", "a: !thing x\n", "no JSON equivalent"},
		{"syntax error", "a: [1\n", ""},
		{"empty", "", "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := DecodeYAML([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("DecodeYAML = %v, %v; want an error mentioning %q", v, err, tc.want)
			}
		})
	}
}

// TestLoad reads the shipped documents; the schemas package's tests check what they say.
func TestLoad(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.Doc(EventSchema) == nil || s.Doc(OpenAPI) == nil {
		t.Fatal("documents missing")
	}
	for _, ref := range []string{EventSchema, InputRef, RecordRef, OpenAPI + "#/components/schemas/Event"} {
		if _, err := s.Compile(ref); err != nil {
			t.Error(err)
		}
	}
	dir, _ := Dir()
	if _, err := os.Stat(filepath.Join(dir, "embed.go")); err != nil {
		t.Errorf("Dir() = %s is not the schemas package: %v", dir, err)
	}
}
