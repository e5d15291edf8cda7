package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// ErrInvalid is wrapped by every validation error, so callers can tell bad input from
// infrastructure failures with errors.Is.
var ErrInvalid = errors.New("invalid event")

// FieldError says which field of an event broke which rule.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Input is an event as a client sends it to POST /v1/events, before validation.
type Input struct {
	EventID    string          `json:"event_id"`
	AccountID  string          `json:"account_id"`
	UserID     string          `json:"user_id"`
	Name       string          `json:"name"`
	Timestamp  string          `json:"timestamp"`
	SentAt     string          `json:"sent_at"`
	Properties json.RawMessage `json:"properties"`
}

// Build validates the input against the contract and returns the accepted event with its
// timestamp corrected for clock skew. receivedAt is the gateway's clock.
func (in *Input) Build(receivedAt time.Time) (Event, error) {
	ev := Event{
		EventID:    in.EventID,
		AccountID:  in.AccountID,
		UserID:     in.UserID,
		Name:       in.Name,
		ReceivedAt: receivedAt.UTC(),
		Properties: in.Properties,
	}
	if in.Timestamp == "" {
		return ev, fieldErr("timestamp", "is required")
	}
	ts, err := parseTime(in.Timestamp)
	if err != nil {
		return ev, fieldErr("timestamp", "%v", err)
	}
	ev.OriginalTimestamp = ts
	if in.SentAt != "" {
		sa, err := parseTime(in.SentAt)
		if err != nil {
			return ev, fieldErr("sent_at", "%v", err)
		}
		ev.SentAt = sa
	}
	if err := ev.Validate(); err != nil {
		return ev, err
	}
	ev.Properties = Canonical(ev.Kind(), ev.Properties)
	ev.Correct()
	if ev.Timestamp.Before(minTime) {
		// A sent_at years ahead of our clock moves the timestamp back as far (Correct adds
		// received_at − sent_at); past 2000 it is as certainly a client bug as a timestamp
		// there, and the duration saturates near 292 years anyway.
		return ev, fieldErr("sent_at", "%s is so far ahead of the gateway's clock that the corrected timestamp falls before 2000-01-01", quoteShort(in.SentAt))
	}
	return ev, nil
}

// minTime rejects timestamps that are certainly a client bug (zero values, seconds taken for
// milliseconds) rather than letting them land in 1970 partitions.
var minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func parseTime(s string) (time.Time, error) {
	// UTC with at most nine fraction digits, what SDKs send (JavaScript's toISOString), takes
	// the wire decoder's fast path: time.Parse was a third of Build. parseUTC accepts only
	// times that time.Parse and isRFC3339 accept, and returns the same instant; anything else,
	// errors included, is theirs. parseUTC only reads the bytes it is given.
	t, ok := parseUTC(unsafe.Slice(unsafe.StringData(s), len(s)))
	if !ok {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil || !isRFC3339(s) {
			return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time", quoteShort(s))
		}
	}
	if t.Before(minTime) {
		return time.Time{}, fmt.Errorf("%s is before 2000-01-01", quoteShort(s))
	}
	return t.UTC(), nil
}

// isRFC3339 checks what time.Parse leaves out of RFC 3339: it also takes a one-digit hour, a
// comma before the fraction and zone offsets such as +24:00 or +01:60 (Go issue 54580), which
// the contract, the JSON Schema (format date-time) and other consumers of the same timestamps
// refuse. The ranges of the date and time fields are time.Parse's job.
func isRFC3339(s string) bool {
	const shape = "dddd-dd-ddTdd:dd:dd" // then [.d+] and Z or ±dd:dd
	if len(s) < len(shape)+1 {
		return false
	}
	for i := 0; i < len(shape); i++ {
		if shape[i] == 'd' && !isDigit(s[i]) || shape[i] != 'd' && s[i] != shape[i] {
			return false
		}
	}
	zone := s[len(shape):]
	if zone[0] == '.' {
		n := 1
		for n < len(zone) && isDigit(zone[n]) {
			n++
		}
		if n == 1 {
			return false
		}
		zone = zone[n:]
	}
	if zone == "Z" {
		return true
	}
	if len(zone) != len("+07:00") || zone[0] != '+' && zone[0] != '-' || zone[3] != ':' ||
		!isDigit(zone[1]) || !isDigit(zone[2]) || !isDigit(zone[4]) || !isDigit(zone[5]) {
		return false
	}
	return zone[1:3] <= "23" && zone[4:6] <= "59"
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// quoteShort quotes a client's value for an error message, cut to 64 bytes: errors are
// echoed in responses and logs, and a megabyte-long "timestamp" must not be echoed whole.
func quoteShort(s string) string {
	const limit = 64
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	n := limit
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "…"
}

// Validate checks every field rule of the contract, including the property rules of the
// reserved names. It does not look at the timestamps: Build parses those.
func (e *Event) Validate() error {
	if err := checkString("event_id", e.EventID, MaxEventIDLen); err != nil {
		return err
	}
	if err := checkString("account_id", e.AccountID, MaxAccountIDLen); err != nil {
		return err
	}
	if err := checkString("name", e.Name, MaxNameLen); err != nil {
		return err
	}
	kind := e.Kind()
	if kind == KindUnknownReserved {
		return fieldErr("name", "%q is not a reserved name: names starting with '$' are reserved", e.Name)
	}
	if kind != KindAccount || e.UserID != "" {
		if err := checkString("user_id", e.UserID, MaxUserIDLen); err != nil {
			return err
		}
	}
	if err := checkProperties(e.Properties); err != nil {
		return err
	}
	return validateReserved(kind, e.Properties)
}

func checkString(field, v string, max int) error {
	switch {
	case v == "":
		return fieldErr(field, "is required")
	case len(v) > max*4 || utf8.RuneCountInString(v) > max:
		return fieldErr(field, "is longer than %d characters", max)
	case !utf8.ValidString(v):
		return fieldErr(field, "is not valid UTF-8")
	}
	return nil
}

func checkProperties(p json.RawMessage) error {
	if len(p) == 0 {
		return nil
	}
	if len(p) > MaxPropertiesBytes {
		return fieldErr("properties", "is %d bytes encoded, over the limit of %d", len(p), MaxPropertiesBytes)
	}
	if !utf8.Valid(p) {
		// encoding/json keeps raw bytes of a RawMessage as they came; JSON text is UTF-8
		// (RFC 8259), and ClickHouse's JSON functions and the workers rely on it.
		return fieldErr("properties", "is not valid UTF-8")
	}
	t := bytes.TrimLeft(p, " \t\r\n")
	if bytes.Equal(t, []byte("null")) {
		return nil
	}
	if len(t) == 0 || t[0] != '{' {
		return fieldErr("properties", "must be a JSON object")
	}
	return nil
}

// AccountTraits are the properties of a $account event that engage understands. Pointers are
// nil when the trait was not sent: a $account event updates only the traits it carries.
type AccountTraits struct {
	Seats  *int64   `json:"seats"`
	Plan   *string  `json:"plan"`
	MRR    *float64 `json:"mrr"`
	Status *string  `json:"status"`
}

// Account statuses (billing state) from the contract.
const (
	StatusTrialing = "trialing"
	StatusActive   = "active"
	StatusPastDue  = "past_due"
	StatusCanceled = "canceled"
)

// ParseAccountTraits decodes and checks the traits of a $account event.
func ParseAccountTraits(props json.RawMessage) (AccountTraits, error) {
	var tr AccountTraits
	var raw [4]json.RawMessage // seats, plan, mrr, status
	if err := members(props, raw[:], "seats", "plan", "mrr", "status"); err != nil {
		return tr, err
	}
	seats, plan, mrr, status := raw[0], raw[1], raw[2], raw[3]
	if isSet(seats) {
		f, err := number("properties.seats", seats)
		if err != nil {
			return tr, err
		}
		if f < 0 || f != math.Trunc(f) || f > 1e12 {
			return tr, fieldErr("properties.seats", "must be a non-negative integer, got %s", short(seats))
		}
		n := int64(f)
		tr.Seats = &n
	}
	if isSet(plan) {
		var s string
		if err := json.Unmarshal(plan, &s); err != nil || s == "" || utf8.RuneCountInString(s) > MaxTraitLen {
			return tr, fieldErr("properties.plan", "must be a non-empty string of at most %d characters, got %s", MaxTraitLen, short(plan))
		}
		tr.Plan = &s
	}
	if isSet(mrr) {
		f, err := number("properties.mrr", mrr)
		if err != nil {
			return tr, err
		}
		if f < 0 {
			return tr, fieldErr("properties.mrr", "must not be negative, got %s", short(mrr))
		}
		tr.MRR = &f
	}
	if isSet(status) {
		var s string
		_ = json.Unmarshal(status, &s)
		switch s {
		case StatusTrialing, StatusActive, StatusPastDue, StatusCanceled:
		default:
			return tr, fieldErr("properties.status", "must be one of trialing, active, past_due, canceled, got %s", short(status))
		}
		tr.Status = &s
	}
	return tr, nil
}

// MaxTraitLen bounds the string properties engage interprets ($account plan, $ticket
// severity), in characters like every other length limit.
const MaxTraitLen = 64

// members finds the top-level members of a properties object that engage interprets, by exact
// name, and stores each value in dst at its name's position (nil when absent). Names are
// case-sensitive and a name may appear once: ClickHouse reads these members back by exact name
// from the stored JSON, so a validator that folded case ("Score") or let the last of two
// "score" members win would pass a value other than the one that is counted.
func members(props json.RawMessage, dst []json.RawMessage, names ...string) error {
	if len(props) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(props))
	tok, err := dec.Token()
	if err != nil {
		return fieldErr("properties", "%v", err)
	}
	if tok == nil {
		return nil // null: no properties
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fieldErr("properties", "must be a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fieldErr("properties", "%v", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fieldErr("properties", "%v", err)
		}
		for i, n := range names {
			if key != n {
				continue
			}
			if dst[i] != nil {
				return fieldErr("properties."+n, "appears more than once")
			}
			dst[i] = v
		}
	}
	return nil
}

// short is a client's JSON value for an error message, cut to 64 bytes like quoteShort.
func short(raw json.RawMessage) string {
	const limit = 64
	if len(raw) <= limit {
		return string(raw)
	}
	n := limit
	for n > 0 && !utf8.RuneStart(raw[n]) {
		n--
	}
	return string(raw[:n]) + "…"
}

func isSet(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

func number(field string, raw json.RawMessage) (float64, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fieldErr(field, "must be a number, got %s", short(raw))
	}
	return f, nil
}

// Score decodes properties.score of a $nps or $csat answer and checks its range.
func Score(props json.RawMessage, min, max int) (int, error) {
	var raw [1]json.RawMessage
	if err := members(props, raw[:], "score"); err != nil {
		return 0, err
	}
	if !isSet(raw[0]) {
		return 0, fieldErr("properties.score", "is required")
	}
	f, err := number("properties.score", raw[0])
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || f < float64(min) || f > float64(max) {
		return 0, fieldErr("properties.score", "must be an integer from %d to %d, got %s", min, max, short(raw[0]))
	}
	return int(f), nil
}

// Renewed decodes properties.renewed of a $renewal event.
func Renewed(props json.RawMessage) (bool, error) {
	var raw [1]json.RawMessage
	if err := members(props, raw[:], "renewed"); err != nil {
		return false, err
	}
	if !isSet(raw[0]) {
		return false, fieldErr("properties.renewed", "is required (true or false)")
	}
	var b bool
	if err := json.Unmarshal(raw[0], &b); err != nil {
		return false, fieldErr("properties.renewed", "must be a boolean, got %s", short(raw[0]))
	}
	return b, nil
}

func validateReserved(kind Kind, props json.RawMessage) error {
	var err error
	switch kind {
	case KindAccount:
		_, err = ParseAccountTraits(props)
	case KindNPS:
		_, err = Score(props, 0, 10)
	case KindCSAT:
		_, err = Score(props, 1, 5)
	case KindRenewal:
		_, err = Renewed(props)
	case KindTicket:
		err = checkSeverity(props)
	}
	return err
}

func checkSeverity(props json.RawMessage) error {
	var raw [1]json.RawMessage
	if err := members(props, raw[:], "severity"); err != nil {
		return err
	}
	if !isSet(raw[0]) {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw[0], &s); err != nil || utf8.RuneCountInString(s) > MaxTraitLen {
		return fieldErr("properties.severity", "must be a string of at most %d characters, got %s", MaxTraitLen, short(raw[0]))
	}
	return nil
}
