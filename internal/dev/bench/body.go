package bench

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// Shape of the generated traffic.
const (
	// BatchEvents is the number of events in one request body.
	BatchEvents = 100
	// tsLayout has a fixed width (24 bytes), so timestamps are patched in place.
	tsLayout = "2006-01-02T15:04:05.000Z"
	seqWidth = 12 // digits of the batch sequence number patched into every event id
)

// Traffic describes the synthetic population the generator sends events for.
type Traffic struct {
	// Run distinguishes the event ids of one benchmark run from another's.
	Run string
	// Accounts and UsersPerAccount size the population; each user belongs to one account.
	Accounts, UsersPerAccount int
}

// Users is the population size.
func (t Traffic) Users() int { return t.Accounts * t.UsersPerAccount }

// Bodies holds pre-encoded JSON array bodies of BatchEvents events each. Next copies one into
// a buffer and patches, in place, a fresh batch sequence number into every event id and the
// current time into every timestamp and sent_at, so bodies are unique and current without
// encoding JSON on the load generator's hot path.
type Bodies struct {
	templates []template
	next      atomic.Uint64 // round-robin over templates
	seq       atomic.Uint64 // batch sequence number
}

type template struct {
	buf     []byte
	idSlots []int // offsets of the seqWidth-digit batch number
	tsSlots []int // offsets of the 24-byte timestamps (timestamp and sent_at)
}

// NewBodies builds one template per 100 users, so that every user of the population appears
// in some body. A body mixes users of different accounts, as a server-side SDK would; one in
// ten events is a $heartbeat, the rest product events over 12 feature names.
func NewBodies(t Traffic) *Bodies {
	users := t.Users()
	n := max(users/BatchEvents, 1)
	b := &Bodies{templates: make([]template, n)}
	zeroTS := time.Unix(0, 0).UTC().Format(tsLayout)
	for ti := range b.templates {
		tp := &b.templates[ti]
		tp.buf = append(tp.buf, '[')
		for i := range BatchEvents {
			// Spread a template's users over the population with a stride coprime to
			// BatchEvents, so each body touches many accounts.
			u := (ti + i*n) % users
			acct := u / t.UsersPerAccount
			if i > 0 {
				tp.buf = append(tp.buf, ',')
			}
			name := "feature." + strconv.Itoa((ti+i)%12)
			if i%10 == 9 {
				name = "$heartbeat"
			}
			account := fmt.Sprintf("acct-%05d", acct)
			tp.buf = append(tp.buf, `{"event_id":"`...)
			tp.buf = append(tp.buf, t.Run...)
			tp.buf = append(tp.buf, '-')
			tp.idSlots = append(tp.idSlots, len(tp.buf))
			tp.buf = fmt.Appendf(tp.buf, "%0*d-%03d-%04d", seqWidth, 0, i, ti)
			tp.buf = fmt.Appendf(tp.buf, `","account_id":"%s","user_id":"u%06d","name":"%s","timestamp":"`, account, u, name)
			tp.tsSlots = append(tp.tsSlots, len(tp.buf))
			tp.buf = append(tp.buf, zeroTS...)
			tp.buf = append(tp.buf, `","sent_at":"`...)
			tp.tsSlots = append(tp.tsSlots, len(tp.buf))
			tp.buf = append(tp.buf, zeroTS...)
			tp.buf = fmt.Appendf(tp.buf, `","properties":{"plan":"pro","source":"bench","n":%d}}`, (ti*7+i)%1000)
		}
		tp.buf = append(tp.buf, ']')
	}
	return b
}

// Size is the length of the longest body in bytes.
func (b *Bodies) Size() int {
	n := 0
	for i := range b.templates {
		n = max(n, len(b.templates[i].buf))
	}
	return n
}

// Next appends to dst[:0] the next body, with a new batch number and now as every timestamp,
// and returns it.
func (b *Bodies) Next(dst []byte, now time.Time) []byte {
	tp := &b.templates[(b.next.Add(1)-1)%uint64(len(b.templates))]
	dst = append(dst[:0], tp.buf...)
	var digits [seqWidth]byte
	seq := b.seq.Add(1)
	for i := seqWidth - 1; i >= 0; i-- {
		digits[i] = byte('0' + seq%10)
		seq /= 10
	}
	for _, off := range tp.idSlots {
		copy(dst[off:], digits[:])
	}
	var tsBuf [48]byte
	ts := now.UTC().AppendFormat(tsBuf[:0], tsLayout)
	for _, off := range tp.tsSlots {
		copy(dst[off:], ts)
	}
	return dst
}

// Sent is the number of bodies Next has produced.
func (b *Bodies) Sent() uint64 { return b.seq.Load() }
