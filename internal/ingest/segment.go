package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/jsonscan"
)

// Segment compatibility: the HTTP Tracking API (https://segment.com/docs/connections/sources/
// catalog/libraries/server/http-api/) mapped onto engage events.
//
//	Segment                          engage
//	messageId                        event_id (absent: "seg-" + SHA-256 of the message, so a
//	                                 retried message keeps its id)
//	userId, else anonymousId         user_id
//	context.groupId, else            account_id; group calls: groupId first.
//	  properties.account_id, else    No account → per-event error.
//	  the batch's context.groupId
//	timestamp, else                  timestamp (time zone missing → UTC; none at all →
//	  originalTimestamp              the gateway's receive time, as Segment does)
//	sentAt, else the batch's sentAt  sent_at (clock-skew correction)
//	track                            name = event; properties = properties. A track of a
//	                                 reserved name ($nps, $ticket, …) is that signal.
//	page / screen                    name = "page:<name>" / "screen:<name>", or "page" /
//	                                 "screen" without a name; properties = properties
//	group                            name = "$account"; properties = traits, with licenses
//	                                 (or licences) copied to seats when seats is absent
//	identify, alias                  acknowledged and counted as "ignored": they describe
//	                                 people, not engagement
//
// Ids (messageId, userId, anonymousId, groupId, account_id) may be JSON strings or numbers.
// Responses keep engage's shape plus "success": true and "ignored"; Segment's SDKs read only
// the status code.

// segmentCall is the Segment call an endpoint or a batch element makes.
type segmentCall uint8

const (
	segNone segmentCall = iota // not a Segment endpoint
	segBatch
	segTrack
	segPage
	segScreen
	segIdentify
	segGroup
	segAlias
)

var segmentTypes = map[string]segmentCall{
	"track": segTrack, "page": segPage, "screen": segScreen,
	"identify": segIdentify, "group": segGroup, "alias": segAlias,
}

// segmentResult is a decoded Segment body.
type segmentResult struct {
	items           []item
	writeKey        string // from the body; used only without an Authorization header
	identify, alias int    // calls acknowledged without an event
}

func (r *segmentResult) ignored() int { return r.identify + r.alias }

// segDefaults are the batch-level fields that apply to every message of a batch.
type segDefaults struct {
	sentAt  string
	groupID string
}

// decodeSegment decodes a Segment body: a batch ({"batch":[…]}) or a single call. err is set
// only when the body as a whole is unusable (400).
func decodeSegment(t *text, call segmentCall, receivedAt time.Time, dst []item) (segmentResult, error) {
	res := segmentResult{items: dst}
	b := t.b
	i := jsonscan.SkipSpace(b, 0)
	if i == len(b) {
		return res, errors.New("empty body: expected a JSON object")
	}
	if b[i] != '{' {
		if _, err := jsonscan.SkipValue(b, i, 0); err != nil {
			return res, err
		}
		return res, errors.New("body must be a JSON object")
	}
	ms, end, err := t.objectMembers(i, 0, nil)
	if err != nil {
		return res, err
	}
	if j := jsonscan.SkipSpace(b, end); j < len(b) {
		return res, jsonscan.ErrAt(j, "invalid character "+jsonscan.QuoteChar(b[j])+" after top-level value")
	}
	var def segDefaults
	if call != segBatch {
		res.writeKey = t.memberString(ms, "writeKey")
		t.segmentMessage(ms, i, end, call, def, receivedAt, &res, 0)
		return res, nil
	}

	batch := -1
	for _, m := range ms {
		switch m.key {
		case "writeKey":
			res.writeKey = t.optString(m)
		case "sentAt":
			def.sentAt = t.optString(m)
		case "context":
			if b[m.start] == '{' {
				cms, _, err := t.objectMembers(m.start, 1, nil)
				if err != nil {
					return res, err
				}
				def.groupID = t.memberID(cms, "groupId")
			}
		case "batch":
			batch = m.start
		}
	}
	if batch < 0 || b[batch] != '[' {
		return res, errors.New(`body has no "batch" array`)
	}
	// The whole body was validated by objectMembers above: no syntax error can occur below.
	j := jsonscan.SkipSpace(b, batch+1)
	if b[j] == ']' {
		return res, nil
	}
	for idx := 0; ; idx++ {
		start := j
		if b[j] == '{' {
			ms, e, err := t.objectMembers(j, 2, ms[:0])
			if err != nil {
				return res, err
			}
			t.segmentMessage(ms, start, e, segBatch, def, receivedAt, &res, idx)
			j = e
		} else {
			e, err := jsonscan.SkipValue(b, j, 2)
			if err != nil {
				return res, err
			}
			res.items = append(res.items, item{index: idx, err: errNotObject(b[start])})
			j = e
		}
		j = jsonscan.SkipSpace(b, j)
		if b[j] == ']' {
			return res, nil
		}
		j = jsonscan.SkipSpace(b, j+1) // ','
	}
}

// segMsg holds the fields of one Segment message that engage reads.
type segMsg struct {
	typ, messageID, userID, anonymousID, event, name, groupID string
	timestamp, originalTimestamp, sentAt, contextGroupID      string
	properties, traits                                        member // end == 0: absent
}

// raw is the value of m, or nil when m is absent.
func (t *text) raw(m member) []byte {
	if m.end == 0 {
		return nil
	}
	return t.b[m.start:m.end:m.end]
}

// segmentMessage maps one Segment message, given as its members, onto an item of res (or
// counts it as ignored). call is the endpoint's call, or segBatch to read the message's type.
func (t *text) segmentMessage(ms []member, start, end int, call segmentCall, def segDefaults, receivedAt time.Time, res *segmentResult, idx int) {
	var m segMsg
	var ferr error
	setStr := func(dst *string, mb member, id bool) {
		s, err := t.stringOrID(mb, id)
		if err != nil && ferr == nil {
			ferr = err
		}
		if err == nil {
			*dst = s
		}
	}
	for _, mb := range ms {
		switch mb.key {
		case "type":
			setStr(&m.typ, mb, false)
		case "messageId":
			setStr(&m.messageID, mb, true)
		case "userId":
			setStr(&m.userID, mb, true)
		case "anonymousId":
			setStr(&m.anonymousID, mb, true)
		case "groupId":
			setStr(&m.groupID, mb, true)
		case "event":
			setStr(&m.event, mb, false)
		case "name":
			setStr(&m.name, mb, false)
		case "timestamp":
			setStr(&m.timestamp, mb, false)
		case "originalTimestamp":
			setStr(&m.originalTimestamp, mb, false)
		case "sentAt":
			setStr(&m.sentAt, mb, false)
		case "context":
			switch t.b[mb.start] {
			case '{':
				cms, _, _ := t.objectMembers(mb.start, 2, nil) // validated by the caller's scan
				m.contextGroupID = t.memberID(cms, "groupId")
			case 'n':
			default:
				if ferr == nil {
					ferr = typeError("context", "an object", t.b[mb.start])
				}
			}
		case "properties":
			m.properties = mb
		case "traits":
			m.traits = mb
		}
	}

	it := item{index: idx}
	it.in.EventID = m.messageID
	if it.in.EventID == "" {
		sum := sha256.Sum256(t.b[start:end])
		it.in.EventID = "seg-" + hex.EncodeToString(sum[:16])
	}
	if call == segBatch {
		c, ok := segmentTypes[m.typ]
		if !ok && ferr == nil {
			ferr = fieldError("type", "must be one of track, page, screen, identify, group, alias; got "+quoteTrunc(m.typ))
		}
		call = c
	}
	switch call {
	case segIdentify:
		res.identify++
		return
	case segAlias:
		res.alias++
		return
	}
	if ferr != nil {
		it.err = ferr
		res.items = append(res.items, it)
		return
	}

	in := &it.in
	in.UserID = m.userID
	if in.UserID == "" {
		in.UserID = m.anonymousID
	}
	in.Properties = t.raw(m.properties)
	switch call {
	case segTrack:
		in.Name = m.event
	case segPage:
		in.Name = prefixed("page", m.name)
	case segScreen:
		in.Name = prefixed("screen", m.name)
	case segGroup:
		in.Name = event.NameAccount
		in.Properties = t.accountTraits(m.traits)
	}

	in.AccountID = m.contextGroupID
	if call == segGroup && m.groupID != "" {
		in.AccountID = m.groupID
	}
	if in.AccountID == "" && call != segGroup && m.properties.end > 0 && t.b[m.properties.start] == '{' {
		pms, _, _ := t.objectMembers(m.properties.start, 2, nil) // validated by the caller's scan
		in.AccountID = t.memberID(pms, "account_id")
	}
	if in.AccountID == "" {
		in.AccountID = def.groupID
	}
	if in.AccountID == "" {
		it.err = fieldError("account_id", "no account: set context.groupId or properties.account_id (group calls: groupId)")
		res.items = append(res.items, it)
		return
	}

	in.Timestamp = m.timestamp
	if in.Timestamp == "" {
		in.Timestamp = m.originalTimestamp
	}
	if in.Timestamp == "" {
		// Segment stamps such a call with its receive time; the client's clock plays no part,
		// so there is no skew to correct.
		in.Timestamp = receivedAt.UTC().Format(time.RFC3339Nano)
	} else {
		in.Timestamp = withZone(in.Timestamp)
		in.SentAt = m.sentAt
		if in.SentAt == "" {
			in.SentAt = def.sentAt
		}
		in.SentAt = withZone(in.SentAt)
	}
	res.items = append(res.items, it)
}

func prefixed(kind, name string) string {
	if name == "" {
		return kind
	}
	return kind + ":" + name
}

// withZone makes an ISO 8601 time without a zone (some Segment libraries send local times
// that way) RFC 3339 by reading it as UTC. Anything else is returned as is for Build to judge.
func withZone(s string) string {
	if len(s) < len("2006-01-02T15:04:05") || s[10] != 'T' && s[10] != 't' && s[10] != ' ' {
		return s
	}
	tail := s[19:]
	if strings.ContainsAny(tail, "Zz+-") {
		return s
	}
	if _, err := time.Parse("2006-01-02T15:04:05.999999999", s[:10]+"T"+s[11:]); err != nil {
		return s
	}
	return s[:10] + "T" + s[11:] + "Z"
}

// accountTraits turns group traits into $account properties: licenses/licences stand for
// seats when seats itself is absent; every other trait is kept as it is.
func (t *text) accountTraits(tm member) []byte {
	traits := t.raw(tm)
	if len(traits) == 0 || traits[0] != '{' {
		return traits
	}
	ms, _, err := t.objectMembers(tm.start, 2, nil)
	if err != nil {
		return traits
	}
	var alias *member
	for i := range ms {
		switch ms[i].key {
		case "seats":
			return traits
		case "licenses", "licences":
			alias = &ms[i]
		}
	}
	if alias == nil {
		return traits
	}
	out := make([]byte, 0, len(traits)+len(`"seats":,`)+alias.end-alias.start)
	out = append(out, `{"seats":`...)
	out = append(out, t.b[alias.start:alias.end]...)
	out = append(out, ',')
	return append(out, traits[1:]...)
}

// optString is the string value of m, or "" if it is not a string.
func (t *text) optString(m member) string {
	if t.b[m.start] != '"' {
		return ""
	}
	_, info, _ := jsonscan.ScanString(t.b, m.start)
	return t.str(m.start, m.end, info)
}

// memberString is the string value of the last member named key, or "".
func (t *text) memberString(ms []member, key string) string {
	s := ""
	for _, m := range ms {
		if m.key == key {
			s = t.optString(m)
		}
	}
	return s
}

// memberID is the id (string or number) of the last member named key, or "".
func (t *text) memberID(ms []member, key string) string {
	s := ""
	for _, m := range ms {
		if m.key == key {
			if v, err := t.stringOrID(m, true); err == nil {
				s = v
			}
		}
	}
	return s
}

// stringOrID decodes a string member; with id, a number is taken as its decimal text. null
// is "".
func (t *text) stringOrID(m member, id bool) (string, error) {
	switch c := t.b[m.start]; {
	case c == '"':
		_, info, _ := jsonscan.ScanString(t.b, m.start)
		return t.str(m.start, m.end, info), nil
	case c == 'n':
		return "", nil
	case id && (c == '-' || '0' <= c && c <= '9'):
		return t.s[m.start:m.end], nil
	case id:
		return "", typeError(m.key, "a string or a number", c)
	}
	return "", typeError(m.key, "a string", t.b[m.start])
}

func quoteTrunc(s string) string {
	if s == "" {
		return "nothing"
	}
	return `"` + truncate(s, 64) + `"`
}
