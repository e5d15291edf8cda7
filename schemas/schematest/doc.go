// Package schematest loads engage's published schemas (schemas/event.schema.json and
// schemas/openapi.yaml) for tests, so that tests in any package check documents against the
// files the repository ships and the schemas and the code cannot drift apart unnoticed.
//
// It is glue, not a validator: JSON Schema 2020-12 is validated by
// github.com/santhosh-tekuri/jsonschema/v6 and YAML is read by gopkg.in/yaml.v3, so the
// documents may use all of JSON Schema and all of YAML (anchors, flow style, block scalars).
// What it adds:
//
//   - engage's two keywords, which no general-purpose validator knows: x-maxEncodedBytes (the
//     value's JSON text as sent, whitespace and escapes included, is at most this many bytes)
//     and formatMinimum (a date-time is not before this one);
//   - a refusal of unknown keywords, so that a misspelt keyword ("maxLenght") is an error
//     instead of a rule nobody checks;
//   - numbers read as IEEE 754 doubles, as the gateway (encoding/json into float64), ClickHouse
//     and JavaScript validators read them: 10.0000000000000001 is the integer 10, and a number
//     beyond a double's range (1e400) stays exact, so it is beyond any finite maximum.
//
// OpenAPI 3.1 schema objects are JSON Schema 2020-12, so the same validator checks the bodies
// the OpenAPI document describes. (kin-openapi reads OpenAPI 3.0 schemas: it ignores const and
// formatMinimum and refuses if/then/else, which the event schema relies on.)
package schematest
