// Package event defines engage's event: the unit that flows from the gateway through the
// engagement.events topic to the stream workers, the rules that make an event valid, and its
// wire format on Kafka.
//
// Invariants: an Event that passed Validate has every required field within its length limit,
// a UTC Timestamp already corrected for client clock skew, and Properties that are either empty
// or a JSON object of at most MaxPropertiesBytes. Everything downstream relies on this and
// does not validate again.
package event

import (
	"encoding/json"
	"strings"
	"time"
)

// Reserved event names. Any other name that starts with '$' is rejected, so that new reserved
// names can be added without colliding with a customer's feature names.
const (
	NameHeartbeat = "$heartbeat" // the user is active; keeps a session alive, not a feature
	NameHidden    = "$hidden"    // the app went to the background; the next gap is idle
	NameAccount   = "$account"   // account traits: seats, plan, mrr, status
	NameNPS       = "$nps"       // an NPS answer: properties.score 0..10
	NameTicket    = "$ticket"    // a support ticket was opened
	NameReferral  = "$referral"  // the user referred someone
	NameCSAT      = "$csat"      // a CSAT answer: properties.score 1..5
	NameRenewal   = "$renewal"   // a contract came up for renewal: properties.renewed bool
	NameSignup    = "$signup"    // the user's first day in the product
)

// Limits from the public contract.
const (
	MaxEventIDLen      = 128
	MaxAccountIDLen    = 256
	MaxUserIDLen       = 256
	MaxNameLen         = 256
	MaxPropertiesBytes = 32 << 10
)

// Kind says what role an event plays downstream. Sessions are built only from KindProduct,
// KindHeartbeat and KindHidden; the other kinds are business signals.
type Kind uint8

const (
	KindProduct Kind = iota
	KindHeartbeat
	KindHidden
	KindAccount
	KindNPS
	KindTicket
	KindReferral
	KindCSAT
	KindRenewal
	KindSignup
	KindUnknownReserved
)

var reservedKinds = map[string]Kind{
	NameHeartbeat: KindHeartbeat,
	NameHidden:    KindHidden,
	NameAccount:   KindAccount,
	NameNPS:       KindNPS,
	NameTicket:    KindTicket,
	NameReferral:  KindReferral,
	NameCSAT:      KindCSAT,
	NameRenewal:   KindRenewal,
	NameSignup:    KindSignup,
}

// KindOf classifies an event name.
func KindOf(name string) Kind {
	if !strings.HasPrefix(name, "$") {
		return KindProduct
	}
	if k, ok := reservedKinds[name]; ok {
		return k
	}
	return KindUnknownReserved
}

// Sessionized reports whether events of this kind take part in sessions (contract §4).
func (k Kind) Sessionized() bool {
	return k == KindProduct || k == KindHeartbeat || k == KindHidden
}

// Active reports whether an event of this kind makes its user active on its day (contract §5):
// a product event or a heartbeat, never a bare $hidden.
func (k Kind) Active() bool { return k == KindProduct || k == KindHeartbeat }

// Event is one accepted event.
type Event struct {
	EventID   string
	AccountID string
	UserID    string
	Name      string
	// Timestamp is when the event happened, corrected for client clock skew (see Correct).
	Timestamp time.Time
	// OriginalTimestamp is the timestamp exactly as the client sent it.
	OriginalTimestamp time.Time
	// SentAt is the client clock at send time; zero when the client did not send it.
	SentAt time.Time
	// ReceivedAt is the gateway clock when the request arrived.
	ReceivedAt time.Time
	// Properties is a JSON object, or nil.
	Properties json.RawMessage
}

// Kind classifies the event by its name.
func (e *Event) Kind() Kind { return KindOf(e.Name) }
