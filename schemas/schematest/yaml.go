package schematest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseYAML reads a YAML 1.2 document written in the block-style subset below and returns it
// as map[string]any, []any, string, json.Number, bool and nil values.
//
// The subset: block mappings and sequences (a sequence may sit at its key's indentation, and a
// sequence item may start a mapping: "- name: x"); plain, 'single-quoted' and "double-quoted"
// one-line scalars; literal (|, |-) and folded (>, >-) block scalars; one-line flow sequences
// and mappings ([a, "b"], {}); full-line and trailing comments. Plain scalars resolve by the
// core schema (null, true/false, JSON-style numbers; anything else is a string).
//
// Everything outside the subset is an error, not a guess: anchors and aliases, tags,
// directives and several documents, tabs in indentation, plain scalars that span lines or
// contain ": ", keys that are not strings, duplicate keys, numbers that are not written as in
// JSON (1., .5, 0x1F, 007, .inf) and unquoted scalars that some YAML 1.1 parsers read as
// something else (yes, no, on, off, timestamps).
func ParseYAML(src []byte) (any, error) {
	if !utf8.Valid(src) {
		return nil, fmt.Errorf("yaml: not UTF-8")
	}
	text := strings.ReplaceAll(string(src), "\r\n", "\n")
	p := &yamlParser{lines: strings.Split(text, "\n")}
	if !p.skipBlank() {
		return nil, fmt.Errorf("yaml: empty document")
	}
	if ind, _ := p.indent(); ind != 0 {
		return nil, p.errf("the document must start at column 1")
	}
	v, err := p.block(0)
	if err != nil {
		return nil, err
	}
	if p.skipBlank() {
		return nil, p.errf("unexpected content (wrong indentation?)")
	}
	return v, nil
}

type yamlParser struct {
	lines []string
	i     int // current line
}

func (p *yamlParser) errf(format string, args ...any) error {
	return fmt.Errorf("yaml: line %d: %s", p.i+1, fmt.Sprintf(format, args...))
}

// skipBlank moves to the next line with content, and reports whether there is one.
func (p *yamlParser) skipBlank() bool {
	for ; p.i < len(p.lines); p.i++ {
		t := strings.TrimLeft(p.lines[p.i], " ")
		if t != "" && t[0] != '#' {
			return true
		}
	}
	return false
}

// indent is the indentation of the current line and its content.
func (p *yamlParser) indent() (int, string) {
	l := p.lines[p.i]
	t := strings.TrimLeft(l, " ")
	return len(l) - len(t), t
}

// block reads the block node whose first line is the current line, at indentation ind.
func (p *yamlParser) block(ind int) (any, error) {
	_, content := p.indent()
	if strings.HasPrefix(content, "\t") {
		return nil, p.errf("tab in indentation")
	}
	if isSeqItem(content) {
		return p.sequence(ind)
	}
	if _, _, ok, err := splitKey(content); err != nil {
		return nil, p.errf("%v", err)
	} else if ok {
		return p.mapping(ind)
	}
	return nil, p.errf("a block must be a mapping or a sequence; got %q", content)
}

func isSeqItem(content string) bool { return content == "-" || strings.HasPrefix(content, "- ") }

func (p *yamlParser) mapping(ind int) (map[string]any, error) {
	m := map[string]any{}
	for p.skipBlank() {
		n, content := p.indent()
		if n < ind {
			break
		}
		if n > ind {
			return nil, p.errf("unexpected indentation")
		}
		if isSeqItem(content) {
			return nil, p.errf("a sequence item where a mapping key is expected")
		}
		key, rest, ok, err := splitKey(content)
		if err != nil {
			return nil, p.errf("%v", err)
		}
		if !ok {
			return nil, p.errf("expected \"key: value\", got %q", content)
		}
		if _, dup := m[key]; dup {
			return nil, p.errf("duplicate key %q", key)
		}
		p.i++
		v, err := p.value(rest, ind, true)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	return m, nil
}

func (p *yamlParser) sequence(ind int) ([]any, error) {
	seq := []any{}
	for p.skipBlank() {
		n, content := p.indent()
		if n < ind || !isSeqItem(content) {
			if n > ind {
				return nil, p.errf("unexpected indentation")
			}
			break
		}
		if n > ind {
			return nil, p.errf("unexpected indentation")
		}
		rest := strings.TrimLeft(strings.TrimPrefix(content, "-"), " ")
		col := len(p.lines[p.i]) - len(rest)
		if rest != "" && rest[0] != '#' && (isSeqItem(rest) || isKeyLine(rest)) {
			// "- key: v" or "- - v": the item is a block node starting at this column.
			p.lines[p.i] = strings.Repeat(" ", col) + rest
			v, err := p.block(col)
			if err != nil {
				return nil, err
			}
			seq = append(seq, v)
			continue
		}
		p.i++
		v, err := p.value(rest, ind, false)
		if err != nil {
			return nil, err
		}
		seq = append(seq, v)
	}
	return seq, nil
}

func isKeyLine(s string) bool {
	_, _, ok, err := splitKey(s)
	return ok && err == nil
}

// value reads the value after "key:" or "- " (rest, already on the consumed line) of a node at
// indentation ind. inMapping allows a sequence at the key's own indentation.
func (p *yamlParser) value(rest string, ind int, inMapping bool) (any, error) {
	rest = strings.TrimSpace(rest)
	if rest == "" || rest[0] == '#' {
		if !p.skipBlank() {
			return nil, nil
		}
		n, content := p.indent()
		switch {
		case n > ind:
			return p.block(n)
		case n == ind && inMapping && isSeqItem(content):
			return p.sequence(ind)
		}
		return nil, nil
	}
	if rest[0] == '|' || rest[0] == '>' {
		return p.blockScalar(rest, ind)
	}
	p.i-- // for error line numbers
	v, err := p.inline(rest)
	p.i++
	if err != nil {
		return nil, err
	}
	// A plain scalar continued on the next, deeper line is a multi-line scalar: refused.
	if p.skipBlank() {
		if n, _ := p.indent(); n > ind {
			return nil, p.errf("continuation lines of a scalar are not supported; use a block scalar (| or >)")
		}
	}
	return v, nil
}

// inline reads a scalar or flow collection that makes up the rest of a line.
func (p *yamlParser) inline(s string) (any, error) {
	v, end, err := p.flowValue(s, 0, false)
	if err != nil {
		return nil, err
	}
	if tail := strings.TrimSpace(s[end:]); tail != "" && tail[0] != '#' {
		return nil, p.errf("unexpected %q after the value", tail)
	}
	if end > 0 && end < len(s) && s[end] == '#' && s[end-1] != ' ' {
		return nil, p.errf("a comment needs a space before '#'")
	}
	return v, nil
}

// flowValue reads one value starting at s[i]; inFlow is set inside [ ] or { }.
func (p *yamlParser) flowValue(s string, i int, inFlow bool) (any, int, error) {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i >= len(s) {
		return nil, i, p.errf("missing value")
	}
	switch s[i] {
	case '"':
		return p.doubleQuoted(s, i)
	case '\'':
		return p.singleQuoted(s, i)
	case '[':
		seq := []any{}
		i++
		for {
			for i < len(s) && s[i] == ' ' {
				i++
			}
			if i < len(s) && s[i] == ']' {
				return seq, i + 1, nil
			}
			v, j, err := p.flowValue(s, i, true)
			if err != nil {
				return nil, j, err
			}
			seq = append(seq, v)
			for j < len(s) && s[j] == ' ' {
				j++
			}
			switch {
			case j < len(s) && s[j] == ',':
				i = j + 1
			case j < len(s) && s[j] == ']':
				return seq, j + 1, nil
			default:
				return nil, j, p.errf("flow sequence: expected ',' or ']'")
			}
		}
	case '{':
		m := map[string]any{}
		i++
		for {
			for i < len(s) && s[i] == ' ' {
				i++
			}
			if i < len(s) && s[i] == '}' {
				return m, i + 1, nil
			}
			kv, j, err := p.flowValue(s, i, true)
			if err != nil {
				return nil, j, err
			}
			k, ok := kv.(string)
			if !ok || j >= len(s) || s[j] != ':' {
				return nil, j, p.errf("flow mapping: expected a string key and ':'")
			}
			if _, dup := m[k]; dup {
				return nil, j, p.errf("duplicate key %q", k)
			}
			v, j, err := p.flowValue(s, j+1, true)
			if err != nil {
				return nil, j, err
			}
			m[k] = v
			for j < len(s) && s[j] == ' ' {
				j++
			}
			switch {
			case j < len(s) && s[j] == ',':
				i = j + 1
			case j < len(s) && s[j] == '}':
				return m, j + 1, nil
			default:
				return nil, j, p.errf("flow mapping: expected ',' or '}'")
			}
		}
	}
	// Plain scalar: up to " #", and inside a flow collection up to ",", ":", "]" or "}".
	j := i
	for j < len(s) {
		c := s[j]
		if c == '#' && j > i && s[j-1] == ' ' {
			break
		}
		if inFlow && (c == ',' || c == ']' || c == '}' || c == ':' || c == '[' || c == '{') {
			break
		}
		j++
	}
	raw := strings.TrimRight(s[i:j], " ")
	v, err := resolvePlain(raw)
	if err != nil {
		return nil, j, p.errf("%v", err)
	}
	return v, j, nil
}

func (p *yamlParser) singleQuoted(s string, i int) (any, int, error) {
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		if s[j] != '\'' {
			b.WriteByte(s[j])
			continue
		}
		if j+1 < len(s) && s[j+1] == '\'' {
			b.WriteByte('\'')
			j++
			continue
		}
		return b.String(), j + 1, nil
	}
	return nil, len(s), p.errf("unterminated single-quoted scalar (multi-line quoted scalars are not supported)")
}

func (p *yamlParser) doubleQuoted(s string, i int) (any, int, error) {
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '"':
			return b.String(), j + 1, nil
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		j++
		if j >= len(s) {
			break
		}
		switch e := s[j]; e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'u', 'U':
			n := 4
			if e == 'U' {
				n = 8
			}
			if j+n >= len(s) {
				return nil, j, p.errf("short \\%c escape", e)
			}
			r, err := strconv.ParseUint(s[j+1:j+1+n], 16, 32)
			if err != nil || !utf8.ValidRune(rune(r)) {
				return nil, j, p.errf("bad \\%c escape", e)
			}
			b.WriteRune(rune(r))
			j += n
		default:
			return nil, j, p.errf("escape \\%c is not supported", e)
		}
	}
	return nil, len(s), p.errf("unterminated double-quoted scalar (multi-line quoted scalars are not supported)")
}

// blockScalar reads a literal or folded block scalar whose header is on the consumed line.
func (p *yamlParser) blockScalar(header string, ind int) (any, error) {
	h, _, _ := strings.Cut(header, " #")
	h = strings.TrimSpace(h)
	if h != "|" && h != "|-" && h != ">" && h != ">-" {
		return nil, fmt.Errorf("yaml: line %d: block scalar header %q is not supported (use |, |-, > or >-)", p.i, h)
	}
	var lines []string
	blockInd := -1
	for ; p.i < len(p.lines); p.i++ {
		l := p.lines[p.i]
		t := strings.TrimLeft(l, " ")
		if t == "" {
			if blockInd < 0 {
				return nil, p.errf("blank lines at the start of a block scalar are not supported")
			}
			if len(l) > blockInd {
				return nil, p.errf("a whitespace-only line in a block scalar: remove the trailing spaces")
			}
			lines = append(lines, "")
			continue
		}
		n := len(l) - len(t)
		if blockInd < 0 {
			if n <= ind {
				break
			}
			blockInd = n
		}
		if n < blockInd {
			if n > ind {
				return nil, p.errf("block scalar line indented less than its first line")
			}
			break
		}
		if strings.HasPrefix(t, "\t") {
			return nil, p.errf("tab in block scalar indentation")
		}
		if strings.TrimSpace(t) == "" {
			return nil, p.errf("a whitespace-only line in a block scalar: remove the trailing spaces")
		}
		lines = append(lines, l[blockInd:])
	}
	// Trailing blank lines belong to chomping, not content.
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return "", nil
	}
	var out string
	if h[0] == '|' {
		out = strings.Join(lines, "\n")
	} else {
		var b strings.Builder
		for k, l := range lines {
			if strings.HasPrefix(l, " ") {
				return nil, fmt.Errorf("yaml: folded block scalar near line %d: more-indented lines are not supported; use |", p.i)
			}
			switch {
			case k == 0:
			case l == "":
				b.WriteByte('\n')
			case lines[k-1] == "":
			default:
				b.WriteByte(' ')
			}
			b.WriteString(l)
		}
		out = b.String()
	}
	if !strings.HasSuffix(h, "-") {
		out += "\n"
	}
	return out, nil
}

// splitKey splits "key: rest" (or "key:") and reports whether content is a mapping entry.
func splitKey(content string) (key, rest string, ok bool, err error) {
	if content == "" {
		return "", "", false, nil
	}
	switch content[0] {
	case '"', '\'':
		p := &yamlParser{}
		var v any
		var end int
		if content[0] == '"' {
			v, end, err = p.doubleQuoted(content, 0)
		} else {
			v, end, err = p.singleQuoted(content, 0)
		}
		if err != nil {
			return "", "", false, nil // a quoted scalar, not a key
		}
		after := strings.TrimLeft(content[end:], " ")
		if after == "" || after[0] != ':' || len(after) > 1 && after[1] != ' ' {
			return "", "", false, nil
		}
		return v.(string), after[1:], true, nil
	case '[', '{', '&', '*', '!', '?', '%', '@', '`', '|', '>':
		if strings.Contains(content, ": ") || strings.HasSuffix(content, ":") {
			return "", "", false, fmt.Errorf("unsupported YAML syntax %q", content)
		}
		return "", "", false, nil
	}
	i := strings.Index(content, ": ")
	if j := strings.Index(content, " #"); j >= 0 && (i < 0 || j < i) {
		i = -1
		if strings.HasSuffix(strings.TrimSpace(content[:j]), ":") {
			i = len(strings.TrimSpace(content[:j])) - 1
		}
	}
	if i < 0 {
		if !strings.HasSuffix(content, ":") {
			return "", "", false, nil
		}
		i = len(content) - 1
	}
	raw := strings.TrimRight(content[:i], " ")
	v, err := resolvePlain(raw)
	if err != nil {
		return "", "", false, err
	}
	k, isStr := v.(string)
	if !isStr {
		return "", "", false, fmt.Errorf("key %q is not a string: quote it", raw)
	}
	return k, content[i+1:], true, nil
}

var (
	jsonNumberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)
	// Scalars that YAML 1.2 or 1.1 parsers resolve as numbers in forms JSON does not have
	// (+1, 1., .5, 1_000, 0x1F, 0o17, 0b1, 1:30, .inf, .nan): refused unquoted.
	numberishRE = regexp.MustCompile(`^[-+]?(\.[0-9]|[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?$)|` +
		`^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$|^[-+]?0[oxbOXB][0-9a-fA-F_]+$|^[-+]?[0-9]+(:[0-5]?[0-9])+(\.[0-9_]*)?$`)
	ambiguous   = set("y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF")
	timestampRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}`)
)

// resolvePlain resolves a plain scalar by the YAML 1.2 core schema.
func resolvePlain(s string) (any, error) {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil, nil
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	}
	if jsonNumberRE.MatchString(s) {
		if len(s) > 1 && s[0] == '0' && s[1] != '.' && s[1] != 'e' && s[1] != 'E' {
			return nil, fmt.Errorf("number %q with a leading zero: quote it", s)
		}
		return json.Number(s), nil
	}
	switch {
	case numberishRE.MatchString(s):
		return nil, fmt.Errorf("scalar %q is not a JSON-style number: quote it or write it as in JSON", s)
	case ambiguous[s]:
		return nil, fmt.Errorf("scalar %q is a boolean to YAML 1.1 parsers: quote it", s)
	case timestampRE.MatchString(s):
		return nil, fmt.Errorf("scalar %q is a timestamp to some YAML parsers: quote it", s)
	case strings.Contains(s, ": ") || strings.HasSuffix(s, ":"):
		return nil, fmt.Errorf("plain scalar %q contains \": \": quote it", s)
	case strings.ContainsAny(s[:1], "&*!|>%@`{}[],?#'\""), s[0] == '-' && (len(s) == 1 || s[1] == ' '):
		return nil, fmt.Errorf("plain scalar %q starts with an indicator character: quote it", s)
	case strings.Contains(s, "\t"):
		return nil, fmt.Errorf("tab in plain scalar %q: quote it", s)
	}
	return s, nil
}
