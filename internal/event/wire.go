package event

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// WireVersion is written in every record's "v" field. A reader refuses versions it does not
// know instead of guessing, so a rolling upgrade that changes the format is noticed.
const WireVersion = 1

// AppendJSON appends the event's wire encoding to dst (the JSON shape of an event on
// engagement.events, schemas/event.schema.json). It is written by hand because it runs once
// per accepted event on the gateway's hot path; Decode reads it back.
func (e *Event) AppendJSON(dst []byte) []byte {
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
	dst = e.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","original_timestamp":"`...)
	dst = e.OriginalTimestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
	if !e.SentAt.IsZero() {
		dst = append(dst, `","sent_at":"`...)
		dst = e.SentAt.UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	dst = append(dst, `","received_at":"`...)
	dst = e.ReceivedAt.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if len(e.Properties) > 0 && string(e.Properties) != "null" {
		dst = append(dst, `,"properties":`...)
		dst = appendCompact(dst, e.Properties)
	}
	return append(dst, '}')
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
