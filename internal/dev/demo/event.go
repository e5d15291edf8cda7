package demo

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

// Event is one simulated event. The generator reuses the Event it passes to a callback and the
// bytes of its Properties: a callback that keeps an event beyond its return must Clone it.
type Event struct {
	AccountID string
	// UserID is empty for $account events, which describe the account, not a user.
	UserID    string
	Name      string
	Timestamp time.Time
	// Properties is a JSON object, or nil.
	Properties []byte

	// The event id is rendered from these on demand (see ID), so generating an event
	// allocates nothing.
	ns       string // namespace of the simulation
	acct     int32  // account index
	user     int32  // user index; 0 for the account's $account stream
	seq      uint64 // position in the stream, from 1
	idSuffix string // set by a time-lapse, whose events are not the simulation's originals
}

// ID returns the event id: unique in the simulation, and the same every time the same
// simulation is generated.
func (e *Event) ID() string { return string(e.AppendID(nil)) }

// AppendID appends the event id to b.
func (e *Event) AppendID(b []byte) []byte {
	b = append(b, e.ns...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(e.acct), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(e.user), 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, e.seq, 36)
	return append(b, e.idSuffix...)
}

// Clone returns a copy of e that owns its properties.
func (e *Event) Clone() Event {
	c := *e
	if e.Properties != nil {
		c.Properties = append([]byte(nil), e.Properties...)
	}
	return c
}

// Input returns the event as a client sends it, for (*event.Input).Build.
func (e *Event) Input() event.Input {
	in := event.Input{
		EventID:   e.ID(),
		AccountID: e.AccountID,
		UserID:    e.UserID,
		Name:      e.Name,
		Timestamp: string(appendTimestamp(nil, e.Timestamp.UnixMilli())),
	}
	if e.Properties != nil {
		in.Properties = json.RawMessage(append([]byte(nil), e.Properties...))
	}
	return in
}

// AppendJSON appends the event as the JSON object POST /v1/events takes.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"event_id":"`...)
	b = e.AppendID(b)
	b = append(b, `","account_id":`...)
	b = appendJSONString(b, e.AccountID)
	if e.UserID != "" {
		b = append(b, `,"user_id":`...)
		b = appendJSONString(b, e.UserID)
	}
	b = append(b, `,"name":`...)
	b = appendJSONString(b, e.Name)
	b = append(b, `,"timestamp":"`...)
	b = appendTimestamp(b, e.Timestamp.UnixMilli())
	b = append(b, '"')
	if e.Properties != nil {
		b = append(b, `,"properties":`...)
		b = append(b, e.Properties...)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. The simulation's strings are plain ASCII, so
// the common case copies s whole; escaping keeps the output valid whatever a future catalogue
// holds.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return append(appendEscaped(b, s), '"')
		}
	}
	b = append(b, s...)
	return append(b, '"')
}

func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendJSONField appends `,"key":"value"`.
func appendJSONField(b []byte, key, value string) []byte {
	b = append(b, ',')
	b = appendJSONString(b, key)
	b = append(b, ':')
	return appendJSONString(b, value)
}

// appendTimestamp appends the UTC time ms (Unix milliseconds) in RFC 3339 with milliseconds,
// e.g. 2025-03-01T09:30:00.250Z. It is time.AppendFormat without the layout interpretation,
// a measurable share of generating an event.
func appendTimestamp(b []byte, ms int64) []byte {
	days := ms / dayMs
	rem := ms % dayMs
	if rem < 0 {
		rem += dayMs
		days--
	}
	// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	var buf [24]byte // 2006-01-02T15:04:05.000Z
	put := func(i int, v int64, width int) {
		for j := i + width - 1; j >= i; j-- {
			buf[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	buf[4] = '-'
	put(5, m, 2)
	buf[7] = '-'
	put(8, d, 2)
	buf[10] = 'T'
	put(11, rem/3_600_000, 2)
	buf[13] = ':'
	put(14, rem/60_000%60, 2)
	buf[16] = ':'
	put(17, rem/1000%60, 2)
	buf[19] = '.'
	put(20, rem%1000, 3)
	buf[23] = 'Z'
	return append(b, buf[:]...)
}

const dayMs = int64(24 * time.Hour / time.Millisecond)

// mix64 is SplitMix64's finaliser: a bijection that scatters nearby inputs, used to derive
// independent random streams from the seed and an entity's indexes.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashOf folds parts into one well-mixed 64-bit value.
func hashOf(seed uint64, parts ...uint64) uint64 {
	h := mix64(seed + 0x9e3779b97f4a7c15)
	for _, p := range parts {
		h = mix64(h ^ (p + 0x9e3779b97f4a7c15))
	}
	return h
}

// Domains of the random streams, so that drawing one more number for a user's events can
// never change the population.
const (
	domainAccount uint64 = iota + 1
	domainUser
	domainUserDays
	domainNamespace
)

// newRand returns a PCG generator seeded from the seed and parts.
func newRand(seed uint64, parts ...uint64) *rand.Rand {
	h := hashOf(seed, parts...)
	return rand.New(rand.NewPCG(h, mix64(h^0xda942042e4dd58b5)))
}

// between returns a uniform value in [lo, hi).
func between(r *rand.Rand, lo, hi float64) float64 { return lo + r.Float64()*(hi-lo) }

// msBetween returns a uniform duration in [lo, hi) in milliseconds.
func msBetween(r *rand.Rand, lo, hi time.Duration) int64 {
	l, h := lo.Milliseconds(), hi.Milliseconds()
	return l + r.Int64N(h-l)
}
