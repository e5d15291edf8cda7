package ingest

import (
	"fmt"
	"unsafe"

	"github.com/engage-oss/engage/internal/jsonscan"
)

// The gateway decodes request bodies by hand with internal/jsonscan: encoding/json decodes one
// event in about 3 µs, most of it reflection, whereas the scanner validates the body and
// decodes the fields engage knows in one pass, and hands properties on as a sub-slice of the
// body, without copying or re-encoding them. It accepts exactly the documents encoding/json
// accepts; FuzzDecodeEquivalence pins the decoders built on it against encoding/json.

// text is the decoded body as bytes (properties are sub-slices of it) and as a string, so
// that a field without escapes becomes a substring instead of an allocation.
type text struct {
	b []byte
	s string
}

// newText returns the text of a request body without copying it: s is a view of body's
// bytes (unsafe.String), which saves a copy of every body (24 KB for 100 events).
//
// That is sound only because nothing writes to body after newText, for as long as a string
// taken from it lives: the events' strings, which the Publisher may keep after the request
// (its contract), and error messages. So the body buffer is never pooled or reused (readBody
// allocates a new one per request), properties are sub-slices capped at their length (an
// append copies them), and the decoders only read. TestBodyNeverWritten and
// TestPublishedEventsOutliveRequest hold the handler to this.
func newText(body []byte) *text {
	return &text{b: body, s: unsafe.String(unsafe.SliceData(body), len(body))}
}

// str returns the Go string of the literal b[start:end] (quotes included), decoded the way
// encoding/json does: invalid UTF-8 and unpaired surrogates become U+FFFD.
func (t *text) str(start, end int, info jsonscan.StrInfo) string {
	raw := t.b[start+1 : end-1]
	if jsonscan.Verbatim(raw, info) {
		return t.s[start+1 : end-1]
	}
	return string(jsonscan.Unquote(raw))
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
	if depth > jsonscan.MaxDepth {
		return dst, i, jsonscan.ErrAt(i, "exceeded max depth")
	}
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return dst, i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return dst, i, jsonscan.ErrUnexpected(b, i, "looking for beginning of object key string")
		}
		kEnd, info, err := jsonscan.ScanString(b, i)
		if err != nil {
			return dst, kEnd, err
		}
		key := t.str(i, kEnd, info)
		i = jsonscan.SkipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return dst, i, jsonscan.ErrUnexpected(b, i, "after object key")
		}
		vStart := jsonscan.SkipSpace(b, i+1)
		vEnd, err := jsonscan.SkipValue(b, vStart, depth)
		if err != nil {
			return dst, vEnd, err
		}
		dst = append(dst, member{key: key, start: vStart, end: vEnd})
		i = jsonscan.SkipSpace(b, vEnd)
		if i >= len(b) {
			return dst, i, jsonscan.ErrAt(i, "unexpected end of JSON input")
		}
		switch b[i] {
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
		case '}':
			return dst, i + 1, nil
		default:
			return dst, i, jsonscan.ErrUnexpected(b, i, "after object key:value pair")
		}
	}
}

// typeError is a field of the wrong JSON type; it becomes a per-event error.
func typeError(field, want string, got byte) error {
	return fieldError(field, fmt.Sprintf("must be %s, got %s", want, jsonscan.KindName(got)))
}
