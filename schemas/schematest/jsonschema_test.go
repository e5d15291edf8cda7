package schematest

import (
	"errors"
	"strings"
	"testing"
)

// TestValidateKeywords pins the meaning of every keyword the validator supports against the
// JSON Schema 2020-12 specification, one instance that passes and one that fails at a time.
func TestValidateKeywords(t *testing.T) {
	cases := []struct {
		name     string
		schema   string
		instance string
		valid    bool
	}{
		{"true schema", `true`, `1`, true},
		{"false schema", `false`, `1`, false},
		{"type", `{"type":"string"}`, `"a"`, true},
		{"type mismatch", `{"type":"string"}`, `1`, false},
		{"type list", `{"type":["string","null"]}`, `null`, true},
		{"integer accepts 1.0", `{"type":"integer"}`, `1.0`, true},
		{"integer accepts 1e2", `{"type":"integer"}`, `1e2`, true},
		{"integer refuses 1.5", `{"type":"integer"}`, `1.5`, false},
		{"number accepts an integer", `{"type":"number"}`, `3`, true},
		{"enum", `{"enum":["a",null,2]}`, `2.0`, true},
		{"enum miss", `{"enum":["a",null,2]}`, `"b"`, false},
		{"const", `{"const":1}`, `1`, true},
		{"const miss", `{"const":1}`, `"1"`, false},
		{"const object", `{"const":{"a":[1]}}`, `{"a":[1.0]}`, true},
		{"minLength counts characters", `{"minLength":2}`, `"é"`, false},
		{"maxLength counts characters", `{"maxLength":2}`, `"éé"`, true},
		{"maxLength over", `{"maxLength":2}`, `"abc"`, false},
		{"length applies to strings only", `{"maxLength":1}`, `123`, true},
		{"pattern searches", `{"pattern":"b"}`, `"abc"`, true},
		{"pattern anchored", `{"pattern":"^b"}`, `"abc"`, false},
		{"minimum", `{"minimum":0}`, `0`, true},
		{"minimum under", `{"minimum":0}`, `-0.5`, false},
		{"maximum exact", `{"maximum":1000000000000}`, `1e12`, true},
		{"maximum over", `{"maximum":10}`, `10.000000000000002`, false},
		{"numbers are doubles: beyond a double's precision is the nearest double", `{"type":"integer","maximum":10}`, `10.0000000000000001`, true},
		{"numbers are doubles: beyond a double's range is infinite", `{"maximum":1.7976931348623157e308}`, `1e400`, false},
		{"exclusiveMinimum", `{"exclusiveMinimum":0}`, `0`, false},
		{"exclusiveMaximum", `{"exclusiveMaximum":1}`, `0.99`, true},
		{"required", `{"required":["a"]}`, `{"b":1}`, false},
		{"required applies to objects only", `{"required":["a"]}`, `[]`, true},
		{"properties", `{"properties":{"a":{"type":"string"}}}`, `{"a":1}`, false},
		{"duplicate members: last wins", `{"properties":{"a":{"type":"string"}}}`, `{"a":1,"a":"x"}`, true},
		{"additionalProperties false", `{"properties":{"a":true},"additionalProperties":false}`, `{"a":1,"b":2}`, false},
		{"additionalProperties schema", `{"additionalProperties":{"type":"integer"}}`, `{"b":2}`, true},
		{"minProperties", `{"minProperties":1}`, `{}`, false},
		{"maxProperties", `{"maxProperties":1}`, `{"a":1,"b":2}`, false},
		{"items", `{"items":{"type":"integer"}}`, `[1,2,"x"]`, false},
		{"minItems", `{"minItems":1}`, `[]`, false},
		{"maxItems", `{"maxItems":1}`, `[1]`, true},
		{"allOf", `{"allOf":[{"minimum":1},{"maximum":2}]}`, `3`, false},
		{"anyOf", `{"anyOf":[{"type":"string"},{"minimum":5}]}`, `6`, true},
		{"anyOf none", `{"anyOf":[{"type":"string"},{"minimum":5}]}`, `4`, false},
		{"oneOf two match", `{"oneOf":[{"minimum":1},{"minimum":2}]}`, `3`, false},
		{"oneOf one match", `{"oneOf":[{"minimum":1},{"minimum":2}]}`, `1`, true},
		{"not", `{"not":{"type":"null"}}`, `null`, false},
		{"if then", `{"if":{"const":1},"then":{"type":"string"}}`, `1`, false},
		{"if else", `{"if":{"const":1},"else":{"type":"string"}}`, `2`, false},
		{"if without branch", `{"if":{"const":1}}`, `2`, true},
		{"$ref", `{"$defs":{"s":{"type":"string"}},"$ref":"#/$defs/s"}`, `1`, false},
		{"$ref with siblings", `{"$defs":{"s":{"type":"string"}},"$ref":"#/$defs/s","maxLength":1}`, `"ab"`, false},
		{"$ref escaped pointer", `{"$defs":{"a/b":{"type":"string"}},"$ref":"#/$defs/a~1b"}`, `"x"`, true},
		{"encoded size counts whitespace", `{"x-maxEncodedBytes":8}`, `{"a": 1 , "b":2}`, false},
		{"encoded size exact", `{"x-maxEncodedBytes":14}`, `{"a":1,"b":22}`, true},
		{"date-time", `{"format":"date-time"}`, `"2026-11-23T11:00:00.5+01:00"`, true},
		{"date-time lower case t and z", `{"format":"date-time"}`, `"2026-11-23t11:00:00z"`, true},
		{"date-time leap second at 23:59 UTC", `{"format":"date-time"}`, `"2016-12-31T23:59:60Z"`, true},
		{"date-time leap second elsewhere", `{"format":"date-time"}`, `"2016-12-31T22:59:60Z"`, false},
		{"date-time 30 February", `{"format":"date-time"}`, `"2026-02-30T00:00:00Z"`, false},
		{"date-time 29 February of a leap year", `{"format":"date-time"}`, `"2024-02-29T00:00:00Z"`, true},
		{"date-time 29 February 1900", `{"format":"date-time"}`, `"1900-02-29T00:00:00Z"`, false},
		{"date-time without zone", `{"format":"date-time"}`, `"2026-11-23T11:00:00"`, false},
		{"date-time offset hour 24", `{"format":"date-time"}`, `"2026-11-23T11:00:00+24:00"`, false},
		{"date-time one-digit hour", `{"format":"date-time"}`, `"2026-11-23T1:00:00Z"`, false},
		{"date-time comma fraction", `{"format":"date-time"}`, `"2026-11-23T11:00:00,5Z"`, false},
		{"format ignores other types", `{"format":"date-time"}`, `1`, true},
		{"formatMinimum compares instants", `{"format":"date-time","formatMinimum":"2000-01-01T00:00:00Z"}`, `"2000-01-01T00:30:00+01:00"`, false},
		{"formatMinimum inclusive", `{"format":"date-time","formatMinimum":"2000-01-01T00:00:00Z"}`, `"2000-01-01T01:00:00+01:00"`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry()
			if err := r.AddJSON("s.json", []byte(tc.schema)); err != nil {
				t.Fatal(err)
			}
			if err := r.Check("s.json"); err != nil {
				t.Fatalf("Check: %v", err)
			}
			err := r.Validate("s.json", []byte(tc.instance))
			var ve *ValidationError
			if err != nil && !errors.As(err, &ve) {
				t.Fatalf("Validate: %v", err)
			}
			if (err == nil) != tc.valid {
				t.Errorf("valid = %v (%v), want %v", err == nil, err, tc.valid)
			}
		})
	}
}

// TestCheckRefusesWhatItDoesNotEnforce: a schema keyword the validator does not implement
// would be a rule nobody tests, so Check refuses it.
func TestCheckRefusesWhatItDoesNotEnforce(t *testing.T) {
	cases := []struct {
		name, schema, want string
	}{
		{"unknown keyword", `{"uniqueItems":true}`, `"uniqueItems" is not checked`},
		{"misspelt keyword", `{"maxLenght":3}`, `"maxLenght" is not checked`},
		{"nested unknown keyword", `{"properties":{"a":{"dependentRequired":{}}}}`, `"dependentRequired"`},
		{"unchecked format", `{"format":"email"}`, `format email is not checked`},
		{"formatMinimum without format", `{"formatMinimum":"2000-01-01T00:00:00Z"}`, `beside format`},
		{"dangling ref", `{"$defs":{},"$ref":"#/$defs/nope"}`, `"nope" not found`},
		{"empty ref", `{"$ref":""}`, `non-empty`},
		{"null ref (an unquoted #... in YAML)", `{"$ref":null}`, `non-empty`},
		{"ref to another document", `{"$ref":"other.json#/a"}`, `no document "other.json"`},
		{"bad pattern", `{"pattern":"(?<=a)b"}`, `pattern`},
		{"bad type", `{"type":"int"}`, `unknown type "int"`},
		{"negative length", `{"maxLength":-1}`, `non-negative integer`},
		{"schema of the wrong type", `{"not":3}`, `must be an object or a boolean`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry()
			if err := r.AddJSON("s.json", []byte(tc.schema)); err != nil {
				t.Fatal(err)
			}
			err := r.Check("s.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %v, want an error mentioning %s", err, tc.want)
			}
		})
	}
}

// TestValidateCrossDocumentRef is how the OpenAPI document uses the event schema.
func TestValidateCrossDocumentRef(t *testing.T) {
	r := NewRegistry()
	if err := r.AddJSON("a.json", []byte(`{"$defs":{"id":{"type":"string","minLength":1}}}`)); err != nil {
		t.Fatal(err)
	}
	if err := r.AddJSON("b.json", []byte(`{"type":"object","properties":{"id":{"$ref":"a.json#/$defs/id"}}}`)); err != nil {
		t.Fatal(err)
	}
	if err := r.Check("b.json"); err != nil {
		t.Fatal(err)
	}
	if err := r.Validate("b.json", []byte(`{"id":""}`)); err == nil {
		t.Error("empty id accepted through a cross-document $ref")
	}
	if err := r.Validate("b.json", []byte(`{"id":"x"}`)); err != nil {
		t.Error(err)
	}
}

func TestValidateRefusesNonJSON(t *testing.T) {
	r := NewRegistry()
	if err := r.AddJSON("s.json", []byte(`true`)); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{``, `{`, "\"\xff\"", `1 2`} {
		if err := r.Validate("s.json", []byte(in)); err == nil {
			t.Errorf("Validate(%q) = nil", in)
		}
	}
}
