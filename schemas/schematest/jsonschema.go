package schematest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Registry holds schema documents by name (a file name such as "event.schema.json"), so that
// a $ref can point into another document ("event.schema.json#/$defs/input") the way the
// OpenAPI document points into the event schema. A Registry is not safe for concurrent use.
type Registry struct {
	docs     map[string]any
	patterns map[string]*regexp.Regexp
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{docs: map[string]any{}, patterns: map[string]*regexp.Regexp{}}
}

// AddJSON decodes a JSON document and adds it under name.
func (r *Registry) AddJSON(name string, b []byte) error {
	doc, err := DecodeJSON(b)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r.docs[name] = doc
	return nil
}

// Add adds a decoded document (from DecodeJSON or ParseYAML) under name.
func (r *Registry) Add(name string, doc any) { r.docs[name] = doc }

// Doc returns the document added under name, or nil.
func (r *Registry) Doc(name string) any { return r.docs[name] }

// DecodeJSON decodes one JSON value with numbers as json.Number, refusing trailing data.
func DecodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// Keywords the validator knows. Annotations carry no assertion; every other keyword of a
// schema is an error in Check, so that no schema states a rule the tests do not check.
var (
	annotationKeywords = set("$schema", "$id", "$comment", "$defs", "title", "description",
		"examples", "default", "deprecated", "readOnly", "writeOnly", "contentMediaType")
	assertionKeywords = set("$ref", "type", "enum", "const", "properties", "required",
		"additionalProperties", "items", "minItems", "maxItems", "minProperties", "maxProperties",
		"minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum",
		"exclusiveMaximum", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "format",
		"formatMinimum", MaxEncodedBytes)
	jsonTypes = set("object", "array", "string", "number", "integer", "boolean", "null")
)

// MaxEncodedBytes is engage's extension keyword: the instance's JSON text, exactly as sent
// (whitespace and escapes included), is at most this many bytes. JSON Schema has no keyword for
// the encoded size of a value; generic validators ignore x- keywords.
const MaxEncodedBytes = "x-maxEncodedBytes"

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// ValidationError lists every way an instance fails a schema.
type ValidationError struct {
	Problems []string // "<instance pointer>: <what is wrong> (<schema location>)"
}

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "; ") }

// Validate checks the JSON text instance against the schema at ref, a document name with an
// optional JSON Pointer fragment ("event.schema.json#/$defs/input"). It returns a
// *ValidationError when the instance is invalid, and another error when the instance is not
// JSON or the schema cannot be used.
func (r *Registry) Validate(ref string, instance []byte) error {
	if !utf8.Valid(instance) {
		return errors.New("instance is not UTF-8, so not JSON text (RFC 8259)")
	}
	if !json.Valid(instance) {
		return errors.New("instance is not valid JSON")
	}
	n, err := parseNode(instance)
	if err != nil {
		return err
	}
	s, doc, ptr, err := r.resolve("", ref)
	if err != nil {
		return err
	}
	v := &validator{r: r}
	probs := v.check(s, doc, ptr, n, "")
	if v.fatal != nil {
		return v.fatal
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

// ValidateValue checks a decoded value (from DecodeJSON or ParseYAML) against the schema at
// ref.
func (r *Registry) ValidateValue(ref string, value any) error {
	b, err := json.Marshal(value)
	if err != nil {
		return err
	}
	return r.Validate(ref, b)
}

// resolve finds the schema a reference names, relative to document base.
func (r *Registry) resolve(base, ref string) (schema any, doc, ptr string, err error) {
	doc, frag, _ := strings.Cut(ref, "#")
	if doc == "" {
		doc = base
	}
	root, ok := r.docs[doc]
	if !ok {
		return nil, "", "", fmt.Errorf("$ref %q: no document %q", ref, doc)
	}
	frag, err = url.PathUnescape(frag)
	if err != nil {
		return nil, "", "", fmt.Errorf("$ref %q: %w", ref, err)
	}
	if frag != "" && frag[0] != '/' {
		return nil, "", "", fmt.Errorf("$ref %q: only JSON Pointer fragments are supported", ref)
	}
	cur := root
	if frag != "" {
		for _, tok := range strings.Split(frag[1:], "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch c := cur.(type) {
			case map[string]any:
				v, ok := c[tok]
				if !ok {
					return nil, "", "", fmt.Errorf("$ref %q: %q not found", ref, tok)
				}
				cur = v
			case []any:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(c) {
					return nil, "", "", fmt.Errorf("$ref %q: no index %q", ref, tok)
				}
				cur = c[i]
			default:
				return nil, "", "", fmt.Errorf("$ref %q: cannot descend into %T", ref, cur)
			}
		}
	}
	return cur, doc, frag, nil
}

// Check walks the schema at ref and every schema reachable from it ($defs, subschemas, $ref
// targets) and reports what the validator would not enforce: unknown keywords, malformed
// keyword values, references that do not resolve, patterns that do not compile.
func (r *Registry) Check(ref string) error {
	s, doc, ptr, err := r.resolve("", ref)
	if err != nil {
		return err
	}
	c := &checker{r: r, seen: map[string]bool{}}
	c.walk(s, doc, ptr)
	return errors.Join(c.errs...)
}

type checker struct {
	r    *Registry
	seen map[string]bool
	errs []error
}

func (c *checker) fail(doc, ptr, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s#%s: %s", doc, ptr, fmt.Sprintf(format, args...)))
}

func (c *checker) walk(s any, doc, ptr string) {
	if c.seen[doc+"#"+ptr] {
		return
	}
	c.seen[doc+"#"+ptr] = true
	if _, ok := s.(bool); ok {
		return
	}
	m, ok := s.(map[string]any)
	if !ok {
		c.fail(doc, ptr, "a schema must be an object or a boolean, got %T", s)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		at := ptr + "/" + escapePtr(k)
		switch {
		case k == MaxEncodedBytes, k == "minLength", k == "maxLength", k == "minItems", k == "maxItems",
			k == "minProperties", k == "maxProperties":
			if n, ok := v.(json.Number); !ok || !isNonNegInt(n) {
				c.fail(doc, at, "must be a non-negative integer")
			}
		case k == "minimum", k == "maximum", k == "exclusiveMinimum", k == "exclusiveMaximum":
			if n, ok := v.(json.Number); !ok {
				c.fail(doc, at, "must be a number")
			} else if _, ok := numOf(n); !ok {
				c.fail(doc, at, "must be a number")
			}
		case k == "type":
			for _, t := range stringsOf(v) {
				if !jsonTypes[t] {
					c.fail(doc, at, "unknown type %q", t)
				}
			}
			if len(stringsOf(v)) == 0 {
				c.fail(doc, at, "must be a type name or a list of them")
			}
		case k == "required":
			if a, ok := v.([]any); !ok || len(stringsOf(v)) != len(a) {
				c.fail(doc, at, "must be a list of strings")
			}
		case k == "enum":
			if _, ok := v.([]any); !ok {
				c.fail(doc, at, "must be a list")
			}
		case k == "pattern":
			p, _ := v.(string)
			if _, err := c.r.pattern(p); err != nil {
				c.fail(doc, at, "%v", err)
			}
		case k == "format":
			if v != "date-time" {
				c.fail(doc, at, "format %v is not checked (only date-time is)", v)
			}
		case k == "formatMinimum":
			s, _ := v.(string)
			if _, ok := dateTime(s); !ok || m["format"] != "date-time" {
				c.fail(doc, at, "must be a date-time, beside format: date-time")
			}
		case k == "$ref":
			ref, _ := v.(string)
			if ref == "" {
				c.fail(doc, at, "must be a non-empty string")
				continue
			}
			t, tdoc, tptr, err := c.r.resolve(doc, ref)
			if err != nil {
				c.fail(doc, at, "%v", err)
				continue
			}
			c.walk(t, tdoc, tptr)
		case k == "properties", k == "$defs":
			sub, ok := v.(map[string]any)
			if !ok {
				c.fail(doc, at, "must be an object")
				continue
			}
			for name, s := range sub {
				c.walk(s, doc, at+"/"+escapePtr(name))
			}
		case k == "allOf", k == "anyOf", k == "oneOf":
			sub, ok := v.([]any)
			if !ok || len(sub) == 0 {
				c.fail(doc, at, "must be a non-empty list")
				continue
			}
			for i, s := range sub {
				c.walk(s, doc, at+"/"+strconv.Itoa(i))
			}
		case k == "additionalProperties", k == "items", k == "not", k == "if", k == "then", k == "else":
			c.walk(v, doc, at)
		case k == "examples":
			if _, ok := v.([]any); !ok {
				c.fail(doc, at, "must be a list")
			}
		case annotationKeywords[k], assertionKeywords[k], strings.HasPrefix(k, "x-"):
		default:
			c.fail(doc, at, "keyword %q is not checked by schematest", k)
		}
	}
}

func escapePtr(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func isNonNegInt(n json.Number) bool {
	f, ok := numOf(n)
	return ok && isInt(f) && f >= 0
}

func isInt(f float64) bool { return !math.IsInf(f, 0) && f == math.Trunc(f) }

func stringsOf(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (r *Registry) pattern(p string) (*regexp.Regexp, error) {
	if re, ok := r.patterns[p]; ok {
		return re, nil
	}
	// JSON Schema patterns are ECMA-262 regular expressions; the ones engage uses (classes,
	// alternation, anchors, counted repetition) mean the same in RE2.
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", p, err)
	}
	r.patterns[p] = re
	return re, nil
}

// node is a JSON instance value together with its text as sent.
type node struct {
	raw  []byte
	kind string // one of jsonTypes except "integer"
	obj  map[string]*node
	arr  []*node
	str  string
	num  float64
	b    bool
}

// parseNode decodes an instance in one pass, keeping each value's text as sent.
func parseNode(raw []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return decodeNode(dec, raw)
}

func decodeNode(dec *json.Decoder, raw []byte) (*node, error) {
	start := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	n := &node{}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			// Duplicate members: the last wins, as with encoding/json (RFC 8259 leaves it open).
			n.kind, n.obj = "object", map[string]*node{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				c, err := decodeNode(dec, raw)
				if err != nil {
					return nil, err
				}
				n.obj[k.(string)] = c
			}
		} else {
			n.kind = "array"
			for dec.More() {
				c, err := decodeNode(dec, raw)
				if err != nil {
					return nil, err
				}
				n.arr = append(n.arr, c)
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
	case string:
		n.kind, n.str = "string", t
	case bool:
		n.kind, n.b = "boolean", t
	case nil:
		n.kind = "null"
	case json.Number:
		n.kind = "number"
		var ok bool
		if n.num, ok = numOf(t); !ok {
			return nil, fmt.Errorf("bad number %s", t)
		}
	}
	// The decoder's offset before the token may sit before the ',' or ':' that precedes the
	// value; no JSON value starts with those or with whitespace.
	n.raw = bytes.TrimLeft(raw[start:dec.InputOffset()], " \t\r\n,:")
	return n, nil
}

// numOf is the value of a JSON number as an IEEE 754 double, the way the gateway
// (encoding/json into float64), ClickHouse and most JSON Schema validators (JavaScript's) read
// it: 10.0000000000000001 is the integer 10, and 1e400 is +Inf, beyond any maximum.
func numOf(n json.Number) (float64, bool) {
	f, err := strconv.ParseFloat(string(n), 64)
	var ne *strconv.NumError
	if err != nil && !(errors.As(err, &ne) && ne.Err == strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

type validator struct {
	r     *Registry
	depth int
	fatal error // the schema is unusable (a bad $ref, a bad pattern)
}

// check returns the problems of n against schema s, which lives at doc#ptr; ip is n's JSON
// Pointer.
func (v *validator) check(s any, doc, ptr string, n *node, ip string) []string {
	if b, ok := s.(bool); ok {
		if b {
			return nil
		}
		return []string{problem(ip, "no value is allowed here", doc, ptr)}
	}
	m, ok := s.(map[string]any)
	if !ok {
		v.fatal = fmt.Errorf("%s#%s: not a schema", doc, ptr)
		return nil
	}
	var probs []string
	add := func(kw, format string, args ...any) {
		probs = append(probs, problem(ip, fmt.Sprintf(format, args...), doc, ptr+"/"+kw))
	}

	if ref, ok := m["$ref"].(string); ok {
		v.depth++
		if v.depth > 64 {
			v.fatal = fmt.Errorf("%s#%s: $ref nesting deeper than 64", doc, ptr)
			return nil
		}
		t, tdoc, tptr, err := v.r.resolve(doc, ref)
		if err != nil {
			v.fatal = err
			return nil
		}
		probs = append(probs, v.check(t, tdoc, tptr, n, ip)...)
		v.depth--
	}

	if t, ok := m["type"]; ok {
		match := false
		for _, name := range stringsOf(t) {
			if name == n.kind || name == "integer" && n.kind == "number" && isInt(n.num) ||
				name == "number" && n.kind == "number" {
				match = true
			}
		}
		if !match {
			add("type", "is %s, want %s", n.kind, strings.Join(stringsOf(t), " or "))
			return probs // the other keywords would only repeat it
		}
	}
	if e, ok := m["enum"].([]any); ok {
		found := false
		for _, want := range e {
			found = found || equal(n, want)
		}
		if !found {
			add("enum", "%s is not one of %s", short(n.raw), compactJSON(e))
		}
	}
	if c, ok := m["const"]; ok && !equal(n, c) {
		add("const", "%s is not %s", short(n.raw), compactJSON(c))
	}
	if lim, ok := m[MaxEncodedBytes].(json.Number); ok {
		if max, _ := lim.Int64(); int64(len(n.raw)) > max {
			add(MaxEncodedBytes, "is %d bytes encoded, over %d", len(n.raw), max)
		}
	}

	switch n.kind {
	case "string":
		runes := utf8.RuneCountInString(n.str)
		if lim, ok := m["minLength"].(json.Number); ok {
			if min, _ := lim.Int64(); int64(runes) < min {
				add("minLength", "has %d characters, fewer than %d", runes, min)
			}
		}
		if lim, ok := m["maxLength"].(json.Number); ok {
			if max, _ := lim.Int64(); int64(runes) > max {
				add("maxLength", "has %d characters, more than %d", runes, max)
			}
		}
		if p, ok := m["pattern"].(string); ok {
			re, err := v.r.pattern(p)
			if err != nil {
				v.fatal = err
				return nil
			}
			if !re.MatchString(n.str) {
				add("pattern", "%s does not match %s", short(n.raw), p)
			}
		}
		if f, ok := m["format"].(string); ok && f == "date-time" {
			t, ok := dateTime(n.str)
			if !ok {
				add("format", "%s is not an RFC 3339 date-time", short(n.raw))
			} else if min, ok := m["formatMinimum"].(string); ok {
				if mt, _ := dateTime(min); t.Before(mt) {
					add("formatMinimum", "%s is before %s", short(n.raw), min)
				}
			}
		}
	case "number":
		bound := func(kw string, bad func(c int) bool, rel string) {
			if lim, ok := m[kw].(json.Number); ok {
				if l, ok := numOf(lim); ok && bad(cmp(n.num, l)) {
					add(kw, "%s is %s %s", n.raw, rel, lim)
				}
			}
		}
		bound("minimum", func(c int) bool { return c < 0 }, "less than")
		bound("maximum", func(c int) bool { return c > 0 }, "more than")
		bound("exclusiveMinimum", func(c int) bool { return c <= 0 }, "not more than")
		bound("exclusiveMaximum", func(c int) bool { return c >= 0 }, "not less than")
	case "array":
		if lim, ok := m["minItems"].(json.Number); ok {
			if min, _ := lim.Int64(); int64(len(n.arr)) < min {
				add("minItems", "has %d items, fewer than %d", len(n.arr), min)
			}
		}
		if lim, ok := m["maxItems"].(json.Number); ok {
			if max, _ := lim.Int64(); int64(len(n.arr)) > max {
				add("maxItems", "has %d items, more than %d", len(n.arr), max)
			}
		}
		if items, ok := m["items"]; ok {
			for i, e := range n.arr {
				probs = append(probs, v.check(items, doc, ptr+"/items", e, ip+"/"+strconv.Itoa(i))...)
			}
		}
	case "object":
		if lim, ok := m["minProperties"].(json.Number); ok {
			if min, _ := lim.Int64(); int64(len(n.obj)) < min {
				add("minProperties", "has %d members, fewer than %d", len(n.obj), min)
			}
		}
		if lim, ok := m["maxProperties"].(json.Number); ok {
			if max, _ := lim.Int64(); int64(len(n.obj)) > max {
				add("maxProperties", "has %d members, more than %d", len(n.obj), max)
			}
		}
		for _, name := range stringsOf(m["required"]) {
			if _, ok := n.obj[name]; !ok {
				add("required", "%q is required", name)
			}
		}
		props, _ := m["properties"].(map[string]any)
		names := make([]string, 0, len(n.obj))
		for name := range n.obj {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			child, cip := n.obj[name], ip+"/"+escapePtr(name)
			if ps, ok := props[name]; ok {
				probs = append(probs, v.check(ps, doc, ptr+"/properties/"+escapePtr(name), child, cip)...)
			} else if ap, ok := m["additionalProperties"]; ok {
				probs = append(probs, v.check(ap, doc, ptr+"/additionalProperties", child, cip)...)
			}
		}
	}

	if all, ok := m["allOf"].([]any); ok {
		for i, s := range all {
			probs = append(probs, v.check(s, doc, ptr+"/allOf/"+strconv.Itoa(i), n, ip)...)
		}
	}
	if anyOf, ok := m["anyOf"].([]any); ok {
		var sub []string
		ok := false
		for i, s := range anyOf {
			p := v.check(s, doc, ptr+"/anyOf/"+strconv.Itoa(i), n, ip)
			ok = ok || len(p) == 0
			sub = append(sub, p...)
		}
		if !ok {
			add("anyOf", "matches none of the alternatives: %s", strings.Join(sub, "; "))
		}
	}
	if oneOf, ok := m["oneOf"].([]any); ok {
		matched := 0
		var sub []string
		for i, s := range oneOf {
			p := v.check(s, doc, ptr+"/oneOf/"+strconv.Itoa(i), n, ip)
			if len(p) == 0 {
				matched++
			}
			sub = append(sub, p...)
		}
		if matched != 1 {
			add("oneOf", "matches %d of the alternatives, want exactly 1: %s", matched, strings.Join(sub, "; "))
		}
	}
	if not, ok := m["not"]; ok && len(v.check(not, doc, ptr+"/not", n, ip)) == 0 {
		add("not", "matches a schema it must not match")
	}
	if cond, ok := m["if"]; ok {
		if len(v.check(cond, doc, ptr+"/if", n, ip)) == 0 {
			if then, ok := m["then"]; ok {
				probs = append(probs, v.check(then, doc, ptr+"/then", n, ip)...)
			}
		} else if els, ok := m["else"]; ok {
			probs = append(probs, v.check(els, doc, ptr+"/else", n, ip)...)
		}
	}
	return probs
}

func cmp(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func problem(ip, msg, doc, ptr string) string {
	if ip == "" {
		ip = "/"
	}
	return fmt.Sprintf("%s: %s (%s#%s)", ip, msg, doc, ptr)
}

func short(b []byte) string {
	if len(b) <= 80 {
		return string(b)
	}
	n := 80
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "…"
}

func compactJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// equal compares an instance with a schema value as JSON values: numbers by value.
func equal(n *node, v any) bool {
	switch t := v.(type) {
	case nil:
		return n.kind == "null"
	case bool:
		return n.kind == "boolean" && n.b == t
	case string:
		return n.kind == "string" && n.str == t
	case json.Number:
		f, ok := numOf(t)
		return n.kind == "number" && ok && n.num == f
	case []any:
		if n.kind != "array" || len(n.arr) != len(t) {
			return false
		}
		for i := range t {
			if !equal(n.arr[i], t[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		if n.kind != "object" || len(n.obj) != len(t) {
			return false
		}
		for k, tv := range t {
			c, ok := n.obj[k]
			if !ok || !equal(c, tv) {
				return false
			}
		}
		return true
	}
	return false
}

// dateTimeRE is RFC 3339's date-time (section 5.6), where T and Z may be lower case.
var dateTimeRE = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$`)

// dateTime parses an RFC 3339 date-time as JSON Schema's format "date-time" defines it,
// written independently of the time package's parser so that the tests compare the gateway's
// parser with the standard rather than with itself. A leap second (:60) is valid only at
// 23:59 UTC, as in the JSON Schema test suite.
func dateTime(s string) (time.Time, bool) {
	m := dateTimeRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	num := func(i int) int { n, _ := strconv.Atoi(m[i]); return n }
	year, month, day, hour, min, sec := num(1), num(2), num(3), num(4), num(5), num(6)
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || min > 59 || sec > 60 {
		return time.Time{}, false
	}
	offset := 0
	if m[9] != "" {
		oh, om := num(10), num(11)
		if oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if m[9] == "-" {
			offset = -offset
		}
	}
	nsec := 0
	if frac := m[7]; frac != "" {
		digits := (frac[1:] + "000000000")[:9]
		nsec, _ = strconv.Atoi(digits)
	}
	leap := sec == 60
	if leap {
		sec = 59
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, nsec, time.FixedZone("", offset))
	if leap {
		if u := t.UTC(); u.Hour() != 23 || u.Minute() != 59 {
			return time.Time{}, false
		}
	}
	return t, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
