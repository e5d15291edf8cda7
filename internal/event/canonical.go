package event

import (
	"bytes"
	"encoding/json"
	"slices"
)

// readKeys are the properties of each reserved name that engage reads downstream.
var readKeys = map[Kind][]string{
	KindAccount: {"seats", "plan", "mrr", "status"},
	KindNPS:     {"score"},
	KindCSAT:    {"score"},
	KindRenewal: {"renewed"},
	KindTicket:  {"severity"},
}

// Canonical rewrites the properties of a reserved event so that ClickHouse reads the same
// values the gateway validated. ClickHouse 18.16 reads JSON with visitParamExtract*, which
// takes the first occurrence of `"score":` anywhere in the text, nested objects included,
// and does not decode escaped key names. So the keys engage reads are written first, with
// their names unescaped, followed by the other members in sorted order. Product events keep
// their properties as sent. Properties that do not decode are returned unchanged (Validate
// has already refused them for reserved names).
func Canonical(kind Kind, props json.RawMessage) json.RawMessage {
	keys, ok := readKeys[kind]
	if !ok || len(props) == 0 {
		return props
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(props, &members); err != nil || members == nil {
		return props
	}
	var b bytes.Buffer
	b.Grow(len(props))
	b.WriteByte('{')
	write := func(k string, v json.RawMessage) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.Write(appendString(nil, k))
		b.WriteByte(':')
		_ = json.Compact(&b, v)
	}
	for _, k := range keys {
		if v, ok := members[k]; ok {
			write(k, v)
		}
	}
	rest := make([]string, 0, len(members))
	for k := range members {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		write(k, members[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}
