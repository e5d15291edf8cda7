package ingest

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/jsonscan"
)

// item is one element of a request body: the decoded input, or why it could not be decoded.
// An element with err set is a per-event error; the other elements of the body still count.
type item struct {
	index int // position in the body: array index, or event ordinal in NDJSON
	in    event.Input
	err   error
}

// errNoEvents answers a body that holds no event at all: an empty body, "[]", or NDJSON with
// only blank lines. It is a 400, not "200 accepted 0": such a body is a client bug (an
// exporter that serialised nothing, a wrong variable) that a 200 would hide, and no retry of
// it can lose data.
var errNoEvents = errors.New("body contains no events")

// errNotEvents answers a body whose top-level value is not an object or an array.
var errNotEvents = errors.New("body must be an event object, a JSON array of event objects, or NDJSON (Content-Type: application/x-ndjson)")

func fieldError(field, reason string) error { return &event.FieldError{Field: field, Reason: reason} }

// lineError is an NDJSON line that is not valid JSON. Each line stands alone, so one bad line
// does not make the others unreadable: it is a per-event error, unlike a syntax error inside a
// JSON array (a 400, because the elements after it cannot be found reliably).
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return "line " + strconv.Itoa(e.line) + ": " + e.err.Error() }
func (e *lineError) Unwrap() error { return e.err }

// decodeEvents decodes a POST /v1/events body into items appended to dst. err is set only
// when the body as a whole is unusable (400): a syntax error in a JSON document, a top-level
// value that is not an object or array, or no events at all.
func decodeEvents(t *text, ndjson bool, dst []item) ([]item, error) {
	if ndjson {
		return decodeNDJSON(t, dst)
	}
	b := t.b
	n0 := len(dst)
	i := jsonscan.SkipSpace(b, 0)
	if i == len(b) {
		return dst, errNoEvents
	}
	var err error
	switch b[i] {
	case '{':
		dst = append(dst, item{index: 0})
		it := &dst[len(dst)-1]
		if i, it.err, err = t.decodeInput(i, 0, &it.in); err != nil {
			return dst, err
		}
	case '[':
		i = jsonscan.SkipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			i++
			break
		}
		for {
			idx := len(dst) - n0
			if i < len(b) && b[i] == '{' {
				dst = append(dst, item{index: idx})
				it := &dst[len(dst)-1]
				if i, it.err, err = t.decodeInput(i, 1, &it.in); err != nil {
					return dst, err
				}
			} else {
				start := i
				if i, err = jsonscan.SkipValue(b, i, 1); err != nil {
					return dst, err
				}
				dst = append(dst, item{index: idx, err: errNotObject(b[start])})
			}
			i = jsonscan.SkipSpace(b, i)
			if i >= len(b) {
				return dst, jsonscan.ErrAt(i, "unexpected end of JSON input")
			}
			if b[i] == ']' {
				i++
				break
			}
			if b[i] != ',' {
				return dst, jsonscan.ErrUnexpected(b, i, "after array element")
			}
			i = jsonscan.SkipSpace(b, i+1)
		}
	default:
		if i, err = jsonscan.SkipValue(b, i, 0); err != nil {
			return dst, err
		}
		if i = jsonscan.SkipSpace(b, i); i == len(b) {
			return dst, errNotEvents
		}
	}
	if i = jsonscan.SkipSpace(b, i); i < len(b) {
		return dst, jsonscan.ErrAt(i, "invalid character "+jsonscan.QuoteChar(b[i])+" after top-level value (several JSON values need Content-Type: application/x-ndjson)")
	}
	if len(dst) == n0 {
		return dst, errNoEvents
	}
	return dst, nil
}

func errNotObject(c byte) error {
	return fieldError("event", "must be a JSON object, got "+jsonscan.KindName(c))
}

// decodeNDJSON decodes one event per non-blank line. Indexes count events, not lines, so they
// match the position of the event among the body's events as for a JSON array.
func decodeNDJSON(t *text, dst []item) ([]item, error) {
	b, s := t.b, t.s
	n0 := len(dst)
	for ls, line := 0, 1; ls < len(b); line++ {
		le := bytes.IndexByte(b[ls:], '\n')
		if le < 0 {
			le = len(b)
		} else {
			le += ls
		}
		lt := text{b: b[ls:le:le], s: s[ls:le]}
		ls = le + 1
		i := jsonscan.SkipSpace(lt.b, 0)
		if i == len(lt.b) {
			continue
		}
		dst = append(dst, item{index: len(dst) - n0})
		it := &dst[len(dst)-1]
		var err error
		if lt.b[i] == '{' {
			i, it.err, err = lt.decodeInput(i, 0, &it.in)
		} else {
			start := i
			if i, err = jsonscan.SkipValue(lt.b, i, 0); err == nil {
				it.err = errNotObject(lt.b[start])
			}
		}
		if err == nil {
			if i = jsonscan.SkipSpace(lt.b, i); i < len(lt.b) {
				err = jsonscan.ErrAt(i, "invalid character "+jsonscan.QuoteChar(lt.b[i])+" after top-level value")
			}
		}
		if err != nil {
			it.err = &lineError{line: line, err: err}
		}
	}
	if len(dst) == n0 {
		return dst, errNoEvents
	}
	return dst, nil
}

// Fields of event.Input, by JSON name.
const (
	fNone = iota
	fEventID
	fAccountID
	fUserID
	fName
	fTimestamp
	fSentAt
	fProperties
)

var inputFields = [...]string{
	fEventID:    "event_id",
	fAccountID:  "account_id",
	fUserID:     "user_id",
	fName:       "name",
	fTimestamp:  "timestamp",
	fSentAt:     "sent_at",
	fProperties: "properties",
}

// inputField maps an object key to a field of event.Input the way encoding/json does: an
// exact match, else a case-insensitive (Unicode simple folding) one.
func (t *text) inputField(kStart, kEnd int, info jsonscan.StrInfo) int {
	raw := t.b[kStart+1 : kEnd-1]
	if info == 0 {
		switch string(raw) { // no allocation: the compiler compares in place
		case "event_id":
			return fEventID
		case "account_id":
			return fAccountID
		case "user_id":
			return fUserID
		case "name":
			return fName
		case "timestamp":
			return fTimestamp
		case "sent_at":
			return fSentAt
		case "properties":
			return fProperties
		}
	} else {
		raw = []byte(t.str(kStart, kEnd, info))
		for f := fEventID; f <= fProperties; f++ {
			if string(raw) == inputFields[f] {
				return f
			}
		}
	}
	// Folded match: rare (a client that writes "Event_ID"), so it may be slow. Every letter in
	// the names above is ASCII, but 's' and 'k' have non-ASCII fold partners (U+017F, U+212A),
	// so the first byte filters only ASCII keys.
	if len(raw) == 0 || len(raw) > 64 {
		return fNone
	}
	c := raw[0] | 0x20
	if raw[0] < 0x80 && c != 'e' && c != 'a' && c != 'u' && c != 'n' && c != 't' && c != 's' && c != 'p' {
		return fNone
	}
	for f := fEventID; f <= fProperties; f++ {
		if bytes.EqualFold(raw, []byte(inputFields[f])) {
			return f
		}
	}
	return fNone
}

// decodeInput decodes the object at t.b[i] == '{' into in and returns the offset after it.
// ferr is a per-event type error (a field of the wrong JSON type: the first one, as
// encoding/json reports it; the other fields are still decoded so that event_id can be echoed);
// err is a syntax error. depth is the nesting depth of the object's container.
func (t *text) decodeInput(i, depth int, in *event.Input) (end int, ferr, err error) {
	b := t.b
	depth++
	if depth > jsonscan.MaxDepth {
		return i, nil, jsonscan.ErrAt(i, "exceeded max depth")
	}
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, ferr, jsonscan.ErrUnexpected(b, i, "looking for beginning of object key string")
		}
		kEnd, kInfo, err := jsonscan.ScanString(b, i)
		if err != nil {
			return kEnd, ferr, err
		}
		f := t.inputField(i, kEnd, kInfo)
		i = jsonscan.SkipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return i, ferr, jsonscan.ErrUnexpected(b, i, "after object key")
		}
		vs := jsonscan.SkipSpace(b, i+1)
		var ve int
		switch {
		case f == fNone:
			ve, err = jsonscan.SkipValue(b, vs, depth)
		case f == fProperties:
			// Any JSON value, kept raw (encoding/json's RawMessage); Validate wants an object.
			if ve, err = jsonscan.SkipValue(b, vs, depth); err == nil {
				in.Properties = b[vs:ve:ve]
			}
		case vs < len(b) && b[vs] == '"':
			var info jsonscan.StrInfo
			if ve, info, err = jsonscan.ScanString(b, vs); err == nil {
				s := t.str(vs, ve, info)
				switch f {
				case fEventID:
					in.EventID = s
				case fAccountID:
					in.AccountID = s
				case fUserID:
					in.UserID = s
				case fName:
					in.Name = s
				case fTimestamp:
					in.Timestamp = s
				case fSentAt:
					in.SentAt = s
				}
			}
		default:
			// null leaves a string field as it was (encoding/json); other types are errors.
			if ve, err = jsonscan.SkipValue(b, vs, depth); err == nil && b[vs] != 'n' && ferr == nil {
				ferr = typeError(inputFields[f], "a string", b[vs])
			}
		}
		if err != nil {
			return ve, ferr, err
		}
		i = jsonscan.SkipSpace(b, ve)
		if i >= len(b) {
			return i, ferr, jsonscan.ErrAt(i, "unexpected end of JSON input")
		}
		switch b[i] {
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
		case '}':
			return i + 1, ferr, nil
		default:
			return i, ferr, jsonscan.ErrUnexpected(b, i, "after object key:value pair")
		}
	}
}
