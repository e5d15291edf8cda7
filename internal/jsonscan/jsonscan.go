// Package jsonscan is a small JSON scanner for the hot paths that decode documents of a known
// shape by hand: the gateway's request bodies (internal/ingest) and the worker's Kafka records
// (internal/event's wire decoder). encoding/json spends most of its time in reflection; with the
// functions below a decoder validates a document, finds the values it knows by byte offset,
// decodes their strings and skips everything else in one pass, without allocating.
//
// It accepts exactly the documents encoding/json accepts: the same grammar, the same nesting
// limit (MaxDepth), and strings decoded the same way (invalid UTF-8 and unpaired surrogates
// become U+FFFD). The equivalence fuzz tests of its users (internal/ingest FuzzDecodeEquivalence,
// internal/event FuzzDecode) and FuzzScan here pin this against encoding/json.
//
// Offsets are byte offsets into the scanned document; errors are *SyntaxError values that
// carry the offset of the offending byte.
package jsonscan

import (
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth mirrors encoding/json's nesting limit: a document encoding/json refuses is refused
// here too, and recursion depth stays bounded.
const MaxDepth = 10000

// SyntaxError is a JSON syntax error at a byte offset of the scanned document.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "invalid JSON at byte offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// ErrAt returns a *SyntaxError.
func ErrAt(off int, msg string) error { return &SyntaxError{Offset: off, Msg: msg} }

// ErrUnexpected is the syntax error for the byte at b[i] (or the end of b) in the given
// context, worded like encoding/json's.
func ErrUnexpected(b []byte, i int, context string) error {
	if i >= len(b) {
		return ErrAt(i, "unexpected end of JSON input")
	}
	return ErrAt(i, "invalid character "+QuoteChar(b[i])+" "+context)
}

// QuoteChar formats c the way encoding/json's error messages do.
func QuoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

// IsSpace reports whether c is JSON whitespace.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// SkipSpace returns the offset of the first byte at or after i that is not whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && IsSpace(b[i]) {
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

// StrInfo says what a scanned string literal needs before it can be used as a Go string.
type StrInfo uint8

const (
	Escaped StrInfo = 1 << iota // contains a backslash escape
	High                        // contains bytes >= 0x80 (maybe invalid UTF-8)
)

// Verbatim reports whether raw, the inside of a string literal that ScanString described with
// info, decodes to itself: no escapes, and valid UTF-8.
func Verbatim(raw []byte, info StrInfo) bool {
	return info&Escaped == 0 && (info&High == 0 || utf8.Valid(raw))
}

// ScanString scans the string literal starting at b[i] == '"' and returns the offset after
// its closing quote.
func ScanString(b []byte, i int) (int, StrInfo, error) {
	var info StrInfo
	j := i + 1
	for {
		for j < len(b) && plainStr[b[j]] {
			j++
		}
		if j >= len(b) {
			return j, info, ErrAt(j, "unexpected end of JSON input")
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, info, nil
		case c == '\\':
			info |= Escaped
			j++
			if j >= len(b) {
				return j, info, ErrAt(j, "unexpected end of JSON input")
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				j++
				for k := 0; k < 4; k++ {
					if j >= len(b) {
						return j, info, ErrAt(j, "unexpected end of JSON input")
					}
					if !isHex(b[j]) {
						return j, info, ErrUnexpected(b, j, "in \\u hexadecimal character escape")
					}
					j++
				}
			default:
				return j, info, ErrUnexpected(b, j, "in string escape code")
			}
		case c < 0x20:
			return j, info, ErrUnexpected(b, j, "in string literal")
		default: // >= 0x80
			info |= High
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
		return j, ErrUnexpected(b, j, "in numeric literal")
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return j, ErrUnexpected(b, j, "after decimal point in numeric literal")
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
			return j, ErrUnexpected(b, j, "in exponent of numeric literal")
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
			return i + k, ErrAt(i+k, "unexpected end of JSON input")
		}
		if b[i+k] != lit[k] {
			return i + k, ErrUnexpected(b, i+k, "in literal "+lit+" (expecting "+QuoteChar(lit[k])+")")
		}
	}
	return i + len(lit), nil
}

// SkipValue scans the value starting at b[i] (no leading space) and returns the offset after
// it. depth is the nesting depth of the value's container: 0 for a top-level value, 1 for a
// member of a top-level object, and so on.
func SkipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, ErrAt(i, "unexpected end of JSON input")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := ScanString(b, i)
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
	return i, ErrUnexpected(b, i, "looking for beginning of value")
}

func skipObject(b []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, ErrAt(i, "exceeded max depth")
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, ErrUnexpected(b, i, "looking for beginning of object key string")
		}
		var err error
		if i, _, err = ScanString(b, i); err != nil {
			return i, err
		}
		i = SkipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return i, ErrUnexpected(b, i, "after object key")
		}
		i = SkipSpace(b, i+1)
		if i, err = SkipValue(b, i, depth); err != nil {
			return i, err
		}
		i = SkipSpace(b, i)
		if i >= len(b) {
			return i, ErrAt(i, "unexpected end of JSON input")
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, ErrUnexpected(b, i, "after object key:value pair")
		}
	}
}

func skipArray(b []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, ErrAt(i, "exceeded max depth")
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = SkipValue(b, i, depth); err != nil {
			return i, err
		}
		i = SkipSpace(b, i)
		if i >= len(b) {
			return i, ErrAt(i, "unexpected end of JSON input")
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, ErrUnexpected(b, i, "after array element")
		}
	}
}

// KindName names the JSON type of the value starting with c, for type errors.
func KindName(c byte) string {
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

// Unquote decodes the inside of a string literal that ScanString accepted into a new slice.
func Unquote(s []byte) []byte {
	return AppendUnquoted(make([]byte, 0, len(s)+2*utf8.UTFMax), s)
}

// AppendUnquoted appends the decoded inside of a string literal that ScanString accepted to
// dst, the way encoding/json decodes it: invalid UTF-8 bytes and unpaired surrogate escapes
// become U+FFFD. It is the slow path of a decoder: strings that are Verbatim need no decoding.
func AppendUnquoted(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			r++
			switch s[r] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(s[r-1:])
				r += 5
				if utf16.IsSurrogate(rr) {
					if rr1 := getu4(s[r:]); rr1 >= 0 {
						if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
							r += 6
							dst = utf8.AppendRune(dst, dec)
							continue
						}
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, s[r])
			}
			r++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
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
