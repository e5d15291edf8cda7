package event

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/engage-oss/engage/internal/jsonscan"
)

// Decode reads one record value of engagement.events. It checks the format, not the contract
// rules: the gateway validated the event before producing it, and a worker that re-validated
// would drop events accepted under an older, looser rule.
//
// Decode runs once per record on the worker's hot path, so it is written by hand
// (internal/jsonscan) instead of using encoding/json, which spent most of the worker's CPU in
// reflection. It accepts exactly the records that encoding/json decoding into the wire struct
// accepted, and returns the same events (FuzzDecode pins this against that decoder, kept in
// the tests):
//   - the record is one JSON object, surrounded by whitespace at most, nested at most
//     jsonscan.MaxDepth deep;
//   - member names match the wire fields exactly or case-insensitively ("EVENT_ID"), escapes
//     decoded; unknown members are skipped; of duplicate members the last wins;
//   - null leaves a field as an earlier member set it (a null sent_at unsets it; a null
//     properties is kept, see below); any other type than the field's is an error;
//   - strings are decoded like encoding/json does: invalid UTF-8 and unpaired surrogates
//     become U+FFFD;
//   - times are parsed as time.Time's UnmarshalJSON parses them (RFC 3339, from the raw
//     literal: escapes are not decoded) and returned in UTC;
//   - "v" must be an integer, and the last one WireVersion;
//   - event_id, account_id, name and a non-zero timestamp are required.
//
// The event's four strings share one allocation, and Properties is the member's value exactly
// as it is in b (any JSON value, not compacted; "null" when the member is null): a sub-slice
// of b, so b must not be modified while the event is in use. Errors are *WireError.
func Decode(b []byte) (Event, error) {
	var (
		e Event
		// The last string literal of event_id, account_id, user_id and name (insides, without
		// quotes); they become strings once the whole record is known to be good.
		strs [4]literal
		// Offsets of the last value of each field, for errors.
		at          [wFields]int
		version     int
		haveVersion bool
		prev        = wNone // the previous member's field
	)
	i := jsonscan.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return Event{}, notObject(b, i)
	}
	start := i
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return Event{}, wireErr(wNone, i, jsonscan.ErrUnexpected(b, i, "looking for beginning of object key string"))
			}
			// Fast path: the name AppendJSON writes next (it writes them in the order of the
			// w constants), literally, without escapes.
			var f, kEnd int
			var err error
			if p := prev + 1; p < wFields && len(b)-i >= len(quotedNames[p]) && string(b[i:i+len(quotedNames[p])]) == quotedNames[p] {
				f, kEnd = p, i+len(quotedNames[p])
			} else {
				var kInfo jsonscan.StrInfo
				if kEnd, kInfo, err = jsonscan.ScanString(b, i); err != nil {
					return Event{}, wireErr(wNone, kEnd, err)
				}
				f = wireField(b[i+1:kEnd-1], kInfo)
			}
			prev = f
			i = jsonscan.SkipSpace(b, kEnd)
			if i >= len(b) || b[i] != ':' {
				return Event{}, wireErr(wNone, i, jsonscan.ErrUnexpected(b, i, "after object key"))
			}
			vs := jsonscan.SkipSpace(b, i+1)
			var ve int
			switch {
			case f == wNone:
				ve, err = jsonscan.SkipValue(b, vs, 1)
			case f == wProperties:
				// Any JSON value, kept as it is (encoding/json's RawMessage).
				if ve, err = jsonscan.SkipValue(b, vs, 1); err == nil {
					e.Properties = b[vs:ve:ve]
				}
			case vs < len(b) && b[vs] == 'n':
				// null leaves a field as it was; a null sent_at unsets it (it was a pointer).
				if ve, err = jsonscan.SkipValue(b, vs, 1); err == nil && f == wSentAt {
					e.SentAt = time.Time{}
				}
			case f == wV:
				ve, err = jsonscan.SkipValue(b, vs, 1)
				if err == nil {
					if version, err = decodeVersion(b[vs:ve]); err != nil {
						return Event{}, wireErr(f, vs, err)
					}
					haveVersion = true
				}
			case vs < len(b) && b[vs] == '"':
				var info jsonscan.StrInfo
				if ve, info, err = jsonscan.ScanString(b, vs); err != nil {
					break
				}
				switch f {
				case wEventID, wAccountID, wUserID, wName:
					strs[f-wEventID] = literal{vs + 1, ve - 1, info}
				default: // the times
					t, terr := parseWireTime(b[vs:ve])
					if terr != nil {
						return Event{}, wireErr(f, vs, &timeError{value: string(b[vs+1 : ve-1]), err: terr})
					}
					switch f {
					case wTimestamp:
						e.Timestamp = t
					case wOriginalTimestamp:
						e.OriginalTimestamp = t
					case wSentAt:
						e.SentAt = t
					case wReceivedAt:
						e.ReceivedAt = t
					}
				}
			default:
				// A value of the wrong type (or not a value at all: then the syntax error).
				if ve, err = jsonscan.SkipValue(b, vs, 1); err == nil {
					return Event{}, wireErr(f, vs, fmt.Errorf("must be %s, got %s", wireTypes[f], jsonscan.KindName(b[vs])))
				}
			}
			if err != nil {
				return Event{}, wireErr(f, ve, err)
			}
			at[f] = vs
			i = jsonscan.SkipSpace(b, ve)
			if i >= len(b) {
				return Event{}, wireErr(wNone, i, jsonscan.ErrAt(i, "unexpected end of JSON input"))
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return Event{}, wireErr(wNone, i, jsonscan.ErrUnexpected(b, i, "after object key:value pair"))
			}
			i = jsonscan.SkipSpace(b, i+1)
		}
	}
	if j := jsonscan.SkipSpace(b, i); j < len(b) {
		return Event{}, wireErr(wNone, j, jsonscan.ErrUnexpected(b, j, "after top-level value"))
	}
	end := i - 1 // the closing brace

	switch {
	case !haveVersion:
		return Event{}, wireErr(wV, start, fmt.Errorf("is missing (wire version %d expected)", WireVersion))
	case version != WireVersion:
		return Event{}, wireErr(wV, at[wV], fmt.Errorf("unknown wire version %d (this reader knows %d)", version, WireVersion))
	}
	for _, f := range [...]int{wEventID, wAccountID, wName} {
		if s := strs[f-wEventID]; s.end == s.start {
			off := end
			if s.end > 0 {
				off = at[f]
			}
			return Event{}, wireErr(f, off, errors.New("is required: missing or empty"))
		}
	}
	if e.Timestamp.IsZero() {
		off := end
		if at[wTimestamp] > 0 {
			off = at[wTimestamp]
		}
		return Event{}, wireErr(wTimestamp, off, errors.New("is required: missing, null or the zero time"))
	}

	// One allocation for the four strings.
	n := 0
	for _, s := range strs {
		n += s.end - s.start
	}
	var sb strings.Builder
	sb.Grow(n)
	var ends [len(strs)]int
	for k, s := range strs {
		raw := b[s.start:s.end]
		if jsonscan.Verbatim(raw, s.info) {
			sb.Write(raw)
		} else {
			sb.Write(jsonscan.Unquote(raw))
		}
		ends[k] = sb.Len()
	}
	all := sb.String()
	e.EventID = all[:ends[0]]
	e.AccountID = all[ends[0]:ends[1]]
	e.UserID = all[ends[1]:ends[2]]
	e.Name = all[ends[2]:ends[3]]
	return e, nil
}

// literal is the inside of a string literal of a record: b[start:end], as ScanString
// described it.
type literal struct {
	start, end int
	info       jsonscan.StrInfo
}

// Wire fields, by JSON name, in the order AppendJSON writes them.
const (
	wNone = iota
	wV
	wEventID // wEventID … wName are in the order of Decode's strs
	wAccountID
	wUserID
	wName
	wTimestamp
	wOriginalTimestamp
	wSentAt
	wReceivedAt
	wProperties
	wFields
)

var wireNames = [wFields]string{
	wV:                 "v",
	wEventID:           "event_id",
	wAccountID:         "account_id",
	wUserID:            "user_id",
	wName:              "name",
	wTimestamp:         "timestamp",
	wOriginalTimestamp: "original_timestamp",
	wSentAt:            "sent_at",
	wReceivedAt:        "received_at",
	wProperties:        "properties",
}

// quotedNames are the names as AppendJSON writes them, quotes included.
var quotedNames = func() (q [wFields]string) {
	for f, n := range wireNames {
		q[f] = strconv.Quote(n)
	}
	return q
}()

// wireTypes says what each field's value must be, for type errors.
var wireTypes = [wFields]string{
	wV:                 "an integer",
	wEventID:           "a string",
	wAccountID:         "a string",
	wUserID:            "a string",
	wName:              "a string",
	wTimestamp:         "an RFC 3339 time string",
	wOriginalTimestamp: "an RFC 3339 time string",
	wSentAt:            "an RFC 3339 time string",
	wReceivedAt:        "an RFC 3339 time string",
}

// wireField maps a member name (the inside of its literal) to a wire field the way
// encoding/json maps it to a struct field: the decoded name matches exactly, or else under
// Unicode simple case folding.
func wireField(raw []byte, info jsonscan.StrInfo) int {
	if info != 0 {
		var buf [64]byte
		raw = jsonscan.AppendUnquoted(buf[:0], raw)
	}
	switch string(raw) { // no allocation: the compiler compares in place
	case "v":
		return wV
	case "event_id":
		return wEventID
	case "account_id":
		return wAccountID
	case "user_id":
		return wUserID
	case "name":
		return wName
	case "timestamp":
		return wTimestamp
	case "original_timestamp":
		return wOriginalTimestamp
	case "sent_at":
		return wSentAt
	case "received_at":
		return wReceivedAt
	case "properties":
		return wProperties
	}
	// Folded match: rare ("EVENT_ID", or "ſent_at" with U+017F, which folds to 's'). A fold
	// partner of an ASCII letter is at most 3 bytes long, and the longest name is 18 bytes.
	if len(raw) == 0 || len(raw) > 3*len("original_timestamp") {
		return wNone
	}
	for f := wV; f < wFields; f++ {
		if bytes.EqualFold(raw, []byte(wireNames[f])) {
			return f
		}
	}
	return wNone
}

// decodeVersion reads the number literal of "v" the way encoding/json stores a number in an
// int: an integer that fits, or an error.
func decodeVersion(lit []byte) (int, error) {
	if len(lit) == 1 && lit[0] == '1' {
		return 1, nil
	}
	if c := lit[0]; c != '-' && (c < '0' || c > '9') {
		return 0, fmt.Errorf("must be %s, got %s", wireTypes[wV], jsonscan.KindName(c))
	}
	n, err := strconv.ParseInt(string(lit), 10, strconv.IntSize)
	if err != nil {
		// strconv.ErrSyntax or ErrRange; the literal is cut, it may be megabytes long.
		return 0, fmt.Errorf("must be %s, got %s: %w", wireTypes[wV], short(lit), err.(*strconv.NumError).Err)
	}
	return int(n), nil
}

// parseWireTime parses a time member's string literal (quotes included) exactly as
// time.Time's UnmarshalJSON does, and returns it in UTC. What AppendJSON writes, UTC with up to
// nine fraction digits, takes a fast path; anything else goes to UnmarshalJSON.
func parseWireTime(lit []byte) (time.Time, error) {
	if t, ok := parseUTC(lit[1 : len(lit)-1]); ok {
		return t, nil
	}
	var t time.Time
	err := t.UnmarshalJSON(lit)
	return t.UTC(), err
}

// parseUTC parses "2006-01-02T15:04:05Z" with an optional fraction of one to nine digits, and
// the ranges time's RFC 3339 parser checks; ok is false for anything else, including what that
// parser would accept.
func parseUTC(s []byte) (t time.Time, ok bool) {
	const n = len("2006-01-02T15:04:05")
	if len(s) < n+1 || len(s) > n+11 || s[len(s)-1] != 'Z' ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return t, false
	}
	// Each digit minus '0' as an unsigned byte: > 9 for anything else.
	d := func(i int) uint { return uint(s[i] - '0') }
	y0, y1, y2, y3 := d(0), d(1), d(2), d(3)
	m0, m1, d0, d1 := d(5), d(6), d(8), d(9)
	h0, h1, i0, i1, s0, s1 := d(11), d(12), d(14), d(15), d(17), d(18)
	if y0|y1|y2|y3|m0|m1|d0|d1|h0|h1|i0|i1|s0|s1 > 9 {
		return t, false
	}
	year := int(y0*1000 + y1*100 + y2*10 + y3)
	month, day := int(m0*10+m1), int(d0*10+d1)
	hour, minute, sec := int(h0*10+h1), int(i0*10+i1), int(s0*10+s1)
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return t, false
	}
	nsec := 0
	if frac := s[n : len(s)-1]; len(frac) > 0 {
		if len(frac) < 2 || frac[0] != '.' {
			return t, false
		}
		for _, c := range frac[1:] {
			if c-'0' > 9 {
				return t, false
			}
			nsec = nsec*10 + int(c-'0')
		}
		for range 10 - len(frac) {
			nsec *= 10
		}
	}
	return time.Unix(daysSinceEpoch(year, month, day)*86400+int64(hour*3600+minute*60+sec), int64(nsec)).UTC(), true
}

func daysIn(month, year int) int {
	switch {
	case month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0):
		return 29
	case month == 2:
		return 28
	case month == 4 || month == 6 || month == 9 || month == 11:
		return 30
	}
	return 31
}

// daysSinceEpoch counts the days from 1970-01-01 to a date of years 0–9999 of the proleptic
// Gregorian calendar: Howard Hinnant's days_from_civil, with years starting in March and
// shifted by 400 years (146097 days) so that the arithmetic stays unsigned.
func daysSinceEpoch(year, month, day int) int64 {
	y := uint(year) + 400
	m := uint(month)
	if m <= 2 {
		y--
		m += 9
	} else {
		m -= 3
	}
	era := y / 400
	yoe := y - era*400
	doy := (153*m+2)/5 + uint(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097+doe) - 146097 - 719468
}

// notObject is the error for a record that does not start with '{' at offset i.
func notObject(b []byte, i int) error {
	if _, err := jsonscan.SkipValue(b, i, 0); err != nil {
		return wireErr(wNone, i, err)
	}
	return wireErr(wNone, i, fmt.Errorf("record must be a JSON object, got %s", jsonscan.KindName(b[i])))
}

// WireError is why Decode refused a record value: the problem, the wire field it concerns
// ("" when it is the record's structure), and the byte offset in the record where it was
// found. Err is a *jsonscan.SyntaxError when the record is not JSON.
type WireError struct {
	Field  string
	Offset int
	Err    error
}

func (e *WireError) Error() string {
	s := "decoding event record"
	if e.Field != "" {
		s += ": field " + e.Field
	}
	if _, ok := e.Err.(*jsonscan.SyntaxError); ok {
		return s + ": " + e.Err.Error() // it names its offset
	}
	return s + " at byte offset " + strconv.Itoa(e.Offset) + ": " + e.Err.Error()
}

func (e *WireError) Unwrap() error { return e.Err }

func wireErr(f, off int, err error) error {
	return &WireError{Field: wireNames[f], Offset: off, Err: err}
}

// timeError is a time that time.Time's UnmarshalJSON refused. Its message quotes at most 64
// bytes of the value, because the worker logs it and puts it in a DLQ header (time's own
// message quotes the whole value, twice); Unwrap returns the time package's error.
type timeError struct {
	value string
	err   error
}

func (e *timeError) Error() string {
	msg := quoteShort(e.value) + " is not an RFC 3339 time"
	if pe, ok := e.err.(*time.ParseError); ok && pe.Message != "" && len(pe.Message) <= 64 {
		msg += pe.Message // ": month out of range"
	}
	return msg
}

func (e *timeError) Unwrap() error { return e.err }
