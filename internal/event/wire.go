package event

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// WireVersion is written in every record's "v" field. A reader refuses versions it does not
// know instead of guessing, so a rolling upgrade that changes the format is noticed.
const WireVersion = 1

// AppendJSON appends the event's wire encoding to dst (the JSON shape of an event on
// engagement.events, schemas/event.schema.json). It is written by hand because it runs once
// per accepted event on the gateway's hot path; Decode reads it back. An Encoder writes the
// same bytes, formatting a received_at shared by consecutive events once.
func (e *Event) AppendJSON(dst []byte) []byte {
	return e.appendJSON(dst, nil)
}

// Encoder appends events' wire encodings exactly as AppendJSON does, and remembers the last
// received_at it formatted: the events of one gateway request share it, so a request formats
// it once instead of once per event. The zero value is ready to use; an Encoder is not safe
// for concurrent use.
type Encoder struct {
	at  time.Time // the ReceivedAt formatted in buf[:n], when n > 0
	n   int
	buf [maxUTCLen]byte
}

// AppendJSON appends e's wire encoding to dst: the bytes of e.AppendJSON(dst).
func (enc *Encoder) AppendJSON(dst []byte, e *Event) []byte {
	// Equal, not ==: the text depends only on the instant, not on the location or the
	// monotonic reading, which == would compare too.
	if enc.n == 0 || !e.ReceivedAt.Equal(enc.at) {
		enc.at = e.ReceivedAt
		enc.n = len(appendUTC(enc.buf[:0], e.ReceivedAt))
		if enc.n > len(enc.buf) {
			// A year beyond 9999 (never one the gateway writes), too long for buf: appendUTC
			// allocated. Not worth caching.
			enc.n = 0
			return e.appendJSON(dst, nil)
		}
	}
	return e.appendJSON(dst, enc.buf[:enc.n])
}

// appendJSON is AppendJSON with received_at already formatted, or formatted here when nil.
func (e *Event) appendJSON(dst, receivedAt []byte) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, WireVersion, 10)
	dst = append(dst, `,"event_id":`...)
	dst = appendString(dst, e.EventID)
	dst = append(dst, `,"account_id":`...)
	dst = appendString(dst, e.AccountID)
	dst = append(dst, `,"user_id":`...)
	dst = appendString(dst, e.UserID)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, e.Name)
	dst = append(dst, `,"timestamp":"`...)
	dst = appendUTC(dst, e.Timestamp)
	dst = append(dst, `","original_timestamp":"`...)
	dst = appendUTC(dst, e.OriginalTimestamp)
	if !e.SentAt.IsZero() {
		dst = append(dst, `","sent_at":"`...)
		dst = appendUTC(dst, e.SentAt)
	}
	dst = append(dst, `","received_at":"`...)
	if receivedAt != nil {
		dst = append(dst, receivedAt...)
	} else {
		dst = appendUTC(dst, e.ReceivedAt)
	}
	dst = append(dst, '"')
	if len(e.Properties) > 0 && string(e.Properties) != "null" {
		dst = append(dst, `,"properties":`...)
		dst = appendCompact(dst, e.Properties)
	}
	return append(dst, '}')
}

// maxUTCLen is the longest text appendUTC writes for a year within 0–9999.
const maxUTCLen = len("2006-01-02T15:04:05.999999999Z")

// twoDigits holds "00" to "99", two bytes each.
const twoDigits = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// The instants appendUTC writes itself: from 0000-03-01, where the day arithmetic below
// starts, to the end of year 9999, after which the year no longer has four digits.
const (
	utcFastMin = -62162035200 // 0000-03-01T00:00:00Z in Unix seconds
	utcFastMax = 253402300800 // 10000-01-01T00:00:00Z
)

// appendUTC appends t.UTC().AppendFormat(dst, time.RFC3339Nano), byte for byte. Every time
// the gateway writes lies after 2000, and for those the date is computed from the Unix
// seconds and the digits written straight into a fixed layout: AppendFormat interprets the
// layout string and computes the date and the clock separately on every call, which was
// half of AppendJSON's time with four timestamps per event. Other instants (years before
// 0000-03-01 or after 9999, which AppendFormat writes its own way) go to AppendFormat.
func appendUTC(dst []byte, t time.Time) []byte {
	u := t.Unix()
	if u < utcFastMin || u >= utcFastMax {
		return t.UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	// Days since 0000-03-01 to a civil date (Howard Hinnant's days_from_civil inverse, on
	// years that start in March so that the leap day is the last day of a year).
	s := uint64(u - utcFastMin)
	days, sod := s/86400, s%86400
	era, doe := days/146097, days%146097 // 400-year eras, day of era
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100) // day of the March-based year
	mp := (5*doy + 2) / 153                  // month, 0 = March
	day := doy - (153*mp+2)/5 + 1
	month, year := mp+3, era*400+yoe
	if month > 12 {
		month -= 12
		year++
	}

	n := len(dst)
	dst = slices.Grow(dst, maxUTCLen)[:n+maxUTCLen]
	b := dst[n : n+maxUTCLen]
	put2 := func(i int, v uint64) { b[i], b[i+1] = twoDigits[2*v], twoDigits[2*v+1] }
	put2(0, year/100)
	put2(2, year%100)
	b[4] = '-'
	put2(5, month)
	b[7] = '-'
	put2(8, day)
	b[10] = 'T'
	put2(11, sod/3600)
	b[13] = ':'
	put2(14, sod/60%60)
	b[16] = ':'
	put2(17, sod%60)
	i := 19
	if ns := t.Nanosecond(); ns != 0 {
		// RFC3339Nano's ".999999999": nine digits with the trailing zeros dropped.
		b[i] = '.'
		for j := i + 9; j > i; j-- {
			b[j] = byte('0' + ns%10)
			ns /= 10
		}
		i += 9
		for b[i] == '0' {
			i--
		}
		i++
	}
	b[i] = 'Z'
	return dst[:n+i+1]
}

// appendCompact copies a JSON value that Validate already accepted, dropping insignificant
// whitespace so that stored properties are canonical.
func appendCompact(dst []byte, v json.RawMessage) []byte {
	for _, c := range v {
		if c != ' ' && c != '\n' && c != '\t' && c != '\r' {
			goto compact
		}
	}
	return dst
compact:
	start := len(dst)
	dst = append(dst, v...)
	// Fast path: no whitespace outside strings is the common case for machine-written JSON.
	inStr, esc, ws := false, false, false
	for _, c := range v {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == ' ' || c == '\n' || c == '\t' || c == '\r'):
			ws = true
		}
	}
	if !ws {
		return dst
	}
	out := dst[:start]
	inStr, esc = false, false
	for _, c := range v {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == ' ' || c == '\n' || c == '\t' || c == '\r'):
			continue
		}
		out = append(out, c)
	}
	return out
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 never reaches here (Validate).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xF])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
