package schematest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// DecodeJSON decodes one JSON text into the data model of JSON Schema (map[string]any, []any,
// string, bool, nil and numbers; see number), refusing text that is not UTF-8 or has trailing
// data.
func DecodeJSON(b []byte) (any, error) {
	v, _, err := decodeInstance(b)
	return v, err
}

// sizes is the length of a value's JSON text as sent, and of each member or element's, so
// that x-maxEncodedBytes can be checked on a value the validator only sees decoded.
type sizes struct {
	n    int
	kids map[string]*sizes // by member name or decimal array index
}

func (s *sizes) at(loc []string) (int, bool) {
	for _, tok := range loc {
		if s = s.kids[tok]; s == nil {
			return 0, false
		}
	}
	return s.n, true
}

func decodeInstance(b []byte) (any, *sizes, error) {
	if !utf8.Valid(b) {
		return nil, nil, errors.New("not UTF-8, so not JSON text (RFC 8259)")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, sz, err := decodeValue(dec, b)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if len(bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, nil, errors.New("invalid JSON: trailing data after the value")
	}
	return v, sz, nil
}

func decodeValue(dec *json.Decoder, raw []byte) (any, *sizes, error) {
	start := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	sz := &sizes{}
	var v any
	switch t := tok.(type) {
	case json.Delim:
		sz.kids = map[string]*sizes{}
		if t == '{' {
			// A duplicate member: the last one wins, as with encoding/json (RFC 8259 leaves
			// it open).
			obj := map[string]any{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, nil, err
				}
				name := k.(string)
				if obj[name], sz.kids[name], err = decodeValue(dec, raw); err != nil {
					return nil, nil, err
				}
			}
			v = obj
		} else {
			arr := []any{}
			for dec.More() {
				e, esz, err := decodeValue(dec, raw)
				if err != nil {
					return nil, nil, err
				}
				sz.kids[strconv.Itoa(len(arr))] = esz
				arr = append(arr, e)
			}
			v = arr
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, nil, err
		}
	case json.Number:
		if v, err = number(t); err != nil {
			return nil, nil, err
		}
	default:
		v = t
	}
	// The offset before the token may sit before the ',' or ':' that precedes the value; no
	// JSON value starts with those or with whitespace.
	sz.n = len(bytes.TrimLeft(raw[start:dec.InputOffset()], " \t\r\n,:"))
	return v, sz, nil
}

// number reads a JSON number as the IEEE 754 double the gateway reads, so that the validator
// (which compares numbers by their decimal text) compares doubles. A number beyond a double's
// range is not a double at all: the gateway refuses it where it reads a number, so it stays
// exact (a json.Number), beyond any finite maximum.
func number(n json.Number) (any, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	var ne *strconv.NumError
	switch {
	case err == nil:
		return f, nil
	case errors.As(err, &ne) && ne.Err == strconv.ErrRange && math.IsInf(f, 0):
		return n, nil
	case errors.As(err, &ne) && ne.Err == strconv.ErrRange:
		return f, nil // underflow: the nearest double, as the gateway reads it
	}
	return nil, fmt.Errorf("number %s: %w", n, err)
}

// DecodeYAML decodes the first document of a YAML stream into the same data model as
// DecodeJSON: what a YAML document means is what its JSON form means. Aliases and merge keys
// (<<) are expanded; a timestamp is the string it is written as (JSON has no timestamps); a
// value JSON cannot hold (.inf, .nan, a tagged or binary value, a key that is a collection) and
// a key used twice in one mapping are errors.
func DecodeYAML(b []byte) (any, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil, err
	}
	if n.Kind == 0 {
		return nil, errors.New("empty YAML document")
	}
	return fromYAML(&n, 0)
}

func fromYAML(n *yaml.Node, depth int) (any, error) {
	if depth > 1000 {
		return nil, fmt.Errorf("line %d: nested too deep (a recursive alias?)", n.Line)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		return fromYAML(n.Content[0], depth+1)
	case yaml.AliasNode:
		return fromYAML(n.Alias, depth+1)
	case yaml.SequenceNode:
		arr := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromYAML(c, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	case yaml.MappingNode:
		return mappingFromYAML(n, depth)
	case yaml.ScalarNode:
		return scalarFromYAML(n)
	}
	return nil, fmt.Errorf("line %d: unknown YAML node kind %d", n.Line, n.Kind)
}

// mappingFromYAML builds an object; members merged in with << never override the mapping's
// own, and of several merged mappings the first one wins, as the merge key type specifies.
func mappingFromYAML(n *yaml.Node, depth int) (any, error) {
	obj := map[string]any{}
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			if v.Kind == yaml.SequenceNode {
				merged = append(merged, v.Content...)
			} else {
				merged = append(merged, v)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a mapping key must be a scalar to be a JSON member name", k.Line)
		}
		if _, dup := obj[k.Value]; dup {
			return nil, fmt.Errorf("line %d: key %q is used twice", k.Line, k.Value)
		}
		val, err := fromYAML(v, depth+1)
		if err != nil {
			return nil, err
		}
		obj[k.Value] = val
	}
	for _, m := range merged {
		mv, err := fromYAML(m, depth+1)
		if err != nil {
			return nil, err
		}
		mo, ok := mv.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("line %d: << merges a mapping, got %T", m.Line, mv)
		}
		for k, v := range mo {
			if _, ok := obj[k]; !ok {
				obj[k] = v
			}
		}
	}
	return obj, nil
}

func scalarFromYAML(n *yaml.Node) (any, error) {
	switch tag := n.ShortTag(); tag {
	case "!!str", "!!timestamp":
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int", "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, err
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("line %d: %s is not a JSON number", n.Line, n.Value)
		}
		return f, nil
	default:
		return nil, fmt.Errorf("line %d: %s %q has no JSON equivalent", n.Line, tag, n.Value)
	}
}
