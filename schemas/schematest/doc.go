// Package schematest checks documents against engage's published schemas
// (schemas/event.schema.json, schemas/openapi.yaml) in tests, so that the schemas and the code
// cannot drift apart unnoticed.
//
// It holds two small readers instead of third-party libraries, because the module keeps its
// dependencies few:
//
//   - a JSON Schema (draft 2020-12) validator for the keywords engage's schemas use. It refuses
//     a schema that uses any other keyword, so a schema can never say more than the tests
//     check: adding a keyword to a schema means teaching this validator what it means.
//   - a reader for the block-style subset of YAML 1.2 that schemas/openapi.yaml is written in.
//     It refuses what it does not understand (anchors, tags, multi-line plain scalars, …)
//     rather than guessing, so a document it accepts means to it what it means to any YAML
//     parser.
//
// Numbers in documents are json.Number, objects map[string]any and arrays []any, whether the
// document was JSON or YAML, so a YAML document validates exactly as its JSON form would. The
// validator compares numbers as IEEE 754 doubles, as the gateway, ClickHouse and JavaScript
// validators read them.
package schematest
