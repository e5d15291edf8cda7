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
// The OpenAPI document as a whole, and the requests and responses it describes, are checked by
// github.com/pb33f/libopenapi-validator in schemas/openapi_test.go; this package adds there
// what that library does not check (unknown keywords, engage's keywords, the examples).
package schematest
