package ingest

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a small JSON scanner for the gateway's hot path. encoding/json decodes one
// event in about 3 µs, most of it reflection; the scanner below validates and decodes the
// fields engage knows in one pass and hands properties on as a sub-slice of the body, without
// copying or re-encoding them.
//
// It accepts exactly the documents encoding/json accepts (same grammar, same nesting limit,
// same handling of invalid UTF-8 and lone surrogates in strings); FuzzDecodeEquivalence pins
// this against encoding/json.

// maxDepth mirrors encoding/json's nesting limit: a body encoding/json refuses is refused here
// too, and recursion depth stays bounded.
const maxDepth = 10000

// syntaxError is a JSON syntax error at a byte offset of the decoded body.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return "invalid JSON at byte offset " + strconv.Itoa(e.off) + ": " + e.msg
}

func errAt(off int, msg string) error { return &syntaxError{off: off, msg: msg} }

func errUnexpected(b []byte, i int, context string) error {
	if i >= len(b) {
		return errAt(i, "unexpected end of JSON input")
	}
	return errAt(i, "invalid character "+quoteChar(b[i])+" "+context)
}

// quoteChar formats c the way encoding/json's error messages do.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// plainStr marks the bytes that need no attention inside a string: not '"', not '\\', not a
// control character, not the start of a multi-byte UTF-8 sequence.
var plainStr = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// strInfo says what a scanned string literal needs before it can be used as a Go string.
type strInfo uint8

const (
	strEscaped strInfo = 1 << iota // contains a backslash escape
	strHigh                        // contains bytes >= 0x80 (maybe invalid UTF-8)
)

// scanString scans the string literal starting at b[i] == '"' and returns the offset after
// its closing quote.
func scanString(b []byte, i int) (int, strInfo, error) {
	var info strInfo
	j := i + 1
	for {
		for j < len(b) && plainStr[b[j]] {
			j++
		}
		if j >= len(b) {
			return j, info, errAt(j, "unexpected end of JSON input")
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, info, nil
		case c == '\\':
			info |= strEscaped
			j++
			if j >= len(b) {
				return j, info, errAt(j, "unexpected end of JSON input")
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				j++
				for k := 0; k < 4; k++ {
					if j >= len(b) {
						return j, info, errAt(j, "unexpected end of JSON input")
					}
					if !isHex(b[j]) {
						return j, info, errUnexpected(b, j, "in \\u hexadecimal character escape")
					}
					j++
				}
			default:
				return j, info, errUnexpected(b, j, "in string escape code")
			}
		case c < 0x20:
			return j, info, errUnexpected(b, j, "in string literal")
		default: // >= 0x80
			info |= strHigh
			j++
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanNumber scans a number starting at b[i] ('-' or a digit).
func scanNumber(b []byte, i int) (int, error) {
	j := i
	if b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && '1' <= b[j] && b[j] <= '9':
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
	default:
		return j, errUnexpected(b, j, "in numeric literal")
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return j, errUnexpected(b, j, "after decimal point in numeric literal")
		}
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return j, errUnexpected(b, j, "in exponent of numeric literal")
		}
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
	}
	return j, nil
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(b) {
			return i + k, errAt(i+k, "unexpected end of JSON input")
		}
		if b[i+k] != lit[k] {
			return i + k, errUnexpected(b, i+k, "in literal "+lit+" (expecting "+quoteChar(lit[k])+")")
		}
	}
	return i + len(lit), nil
}

// skipValue scans the value starting at b[i] (no leading space) and returns the offset after
// it. depth is the nesting depth of the value's container.
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, errAt(i, "unexpected end of JSON input")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{':
		return skipObject(b, i, depth+1)
	case c == '[':
		return skipArray(b, i, depth+1)
	case c == '-' || '0' <= c && c <= '9':
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return i, errUnexpected(b, i, "looking for beginning of value")
}

func skipObject(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return i, errAt(i, "exceeded max depth")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, errUnexpected(b, i, "looking for beginning of object key string")
		}
		var err error
		if i, _, err = scanString(b, i); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return i, errUnexpected(b, i, "after object key")
		}
		i = skipSpace(b, i+1)
		if i, err = skipValue(b, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, errAt(i, "unexpected end of JSON input")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, errUnexpected(b, i, "after object key:value pair")
		}
	}
}

func skipArray(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return i, errAt(i, "exceeded max depth")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = skipValue(b, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, errAt(i, "unexpected end of JSON input")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, errUnexpected(b, i, "after array element")
		}
	}
}

// kindName names the JSON type of the value starting with c, for type errors.
func kindName(c byte) string {
	switch {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "bool"
	case c == 'n':
		return "null"
	}
	return "number"
}

// text is the decoded body twice: as bytes (properties are sub-slices of it) and as one
// string, so that a field without escapes becomes a substring instead of an allocation.
type text struct {
	b []byte
	s string
}

// str returns the Go string of the literal b[start:end] (quotes included), decoded the way
// encoding/json does: invalid UTF-8 and unpaired surrogates become U+FFFD.
func (t *text) str(start, end int, info strInfo) string {
	raw := t.b[start+1 : end-1]
	if info&strEscaped == 0 && (info&strHigh == 0 || utf8.Valid(raw)) {
		return t.s[start+1 : end-1]
	}
	return string(unquote(raw))
}

// unquote decodes the inside of a scanned string literal. It is the slow path: escapes or
// suspect UTF-8.
func unquote(s []byte) []byte {
	out := make([]byte, 0, len(s)+2*utf8.UTFMax)
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			r++
			switch s[r] {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				rr := getu4(s[r-1:])
				r += 5
				if utf16.IsSurrogate(rr) {
					if rr1 := getu4(s[r:]); rr1 >= 0 {
						if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
							r += 6
							out = utf8.AppendRune(out, dec)
							continue
						}
					}
					rr = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, rr)
				continue
			default: // '"', '\\', '/'
				out = append(out, s[r])
			}
			r++
		case c < utf8.RuneSelf:
			out = append(out, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			out = utf8.AppendRune(out, rr)
		}
	}
	return out
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// member is one key:value pair of an object, as offsets into the body.
type member struct {
	key        string
	start, end int // the value
}

// objectMembers scans the object at b[i] == '{' and returns its members in order (keys
// decoded, duplicates kept: callers let the last one win, as encoding/json does).
func (t *text) objectMembers(i, depth int, dst []member) ([]member, int, error) {
	b := t.b
	depth++
	if depth > maxDepth {
		return dst, i, errAt(i, "exceeded max depth")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return dst, i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return dst, i, errUnexpected(b, i, "looking for beginning of object key string")
		}
		kEnd, info, err := scanString(b, i)
		if err != nil {
			return dst, kEnd, err
		}
		key := t.str(i, kEnd, info)
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return dst, i, errUnexpected(b, i, "after object key")
		}
		vStart := skipSpace(b, i+1)
		vEnd, err := skipValue(b, vStart, depth)
		if err != nil {
			return dst, vEnd, err
		}
		dst = append(dst, member{key: key, start: vStart, end: vEnd})
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			return dst, i, errAt(i, "unexpected end of JSON input")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return dst, i + 1, nil
		default:
			return dst, i, errUnexpected(b, i, "after object key:value pair")
		}
	}
}

// typeError is a field of the wrong JSON type; it becomes a per-event error.
func typeError(field, want string, got byte) error {
	return fieldError(field, fmt.Sprintf("must be %s, got %s", want, kindName(got)))
}
