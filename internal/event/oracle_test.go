package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// This file keeps Decode as it was before the hand-written decoder: encoding/json into the
// wire struct. It is the oracle of the tests (FuzzDecode, FuzzDecodeEvent, the tables of
// decode_test.go): Decode must accept exactly the records decodeStdlib accepts and return the
// same events. Do not "fix" it: it defines what Decode does.

// stdWire is the JSON shape of an event on engagement.events (schemas/event.schema.json).
type stdWire struct {
	V                 int             `json:"v"`
	EventID           string          `json:"event_id"`
	AccountID         string          `json:"account_id"`
	UserID            string          `json:"user_id"`
	Name              string          `json:"name"`
	Timestamp         time.Time       `json:"timestamp"`
	OriginalTimestamp time.Time       `json:"original_timestamp"`
	SentAt            *time.Time      `json:"sent_at,omitempty"`
	ReceivedAt        time.Time       `json:"received_at"`
	Properties        json.RawMessage `json:"properties,omitempty"`
}

func decodeStdlib(b []byte) (Event, error) {
	var w stdWire
	if err := json.Unmarshal(b, &w); err != nil {
		return Event{}, fmt.Errorf("decoding event record: %w", err)
	}
	if w.V != WireVersion {
		return Event{}, fmt.Errorf("decoding event record: unknown wire version %d", w.V)
	}
	if w.EventID == "" || w.AccountID == "" || w.Name == "" || w.Timestamp.IsZero() {
		return Event{}, fmt.Errorf("decoding event record: missing event_id, account_id, name or timestamp")
	}
	e := Event{
		EventID:           w.EventID,
		AccountID:         w.AccountID,
		UserID:            w.UserID,
		Name:              w.Name,
		Timestamp:         w.Timestamp.UTC(),
		OriginalTimestamp: w.OriginalTimestamp.UTC(),
		ReceivedAt:        w.ReceivedAt.UTC(),
		Properties:        w.Properties,
	}
	if w.SentAt != nil {
		e.SentAt = w.SentAt.UTC()
	}
	return e, nil
}
