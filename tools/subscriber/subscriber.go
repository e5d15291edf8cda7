package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Event is a health-change event as published on engagement.health.changes (CloudEvents 1.0,
// structured mode). It is declared here from the documented format, not imported from
// engage, on purpose: this is what a CS tool written in any language would decode.
type Event struct {
	SpecVersion string `json:"specversion"`
	ID          string `json:"id"`
	Source      string `json:"source"`
	Type        string `json:"type"`
	Subject     string `json:"subject"`
	Time        string `json:"time"`
	Sequence    string `json:"sequence"`
	Data        struct {
		AccountID     string   `json:"account_id"`
		PreviousBand  *string  `json:"previous_band"` // null: the account's first band
		Band          string   `json:"band"`
		PreviousScore *float64 `json:"previous_score"`
		Score         float64  `json:"score"`
		ScoredAt      string   `json:"scored_at"`
		Components    map[string]struct {
			Score   *float64 `json:"score"` // null: no data for this component
			Weight  float64  `json:"weight"`
			Present bool     `json:"present"`
		} `json:"components"`
		Reasons      []string `json:"reasons"`
		ModelVersion string   `json:"model_version"`
		Coverage     float64  `json:"coverage"`
	} `json:"data"`
}

// eventType is the only type this subscriber handles; others on the topic are skipped.
const eventType = "engage.account.health.changed"

// Decode parses a record value.
func Decode(value []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(value, &ev); err != nil {
		return Event{}, fmt.Errorf("decoding health change: %w", err)
	}
	if ev.SpecVersion != "1.0" || ev.ID == "" || ev.Data.AccountID == "" || ev.Data.Band == "" {
		return Event{}, fmt.Errorf("decoding health change: not a CloudEvents 1.0 health change (specversion %q, id %q)", ev.SpecVersion, ev.ID)
	}
	return ev, nil
}

// FormatLine renders an event as one line for a terminal or a log:
//
//	2026-03-02T14:05:10Z acme-corp yellow → red (63.5 → 26.0) billing_past_due, usage_dropped [seq 3, id 99be36a2…]
func FormatLine(ev Event) string {
	d := ev.Data
	var b strings.Builder
	b.WriteString(d.ScoredAt)
	b.WriteByte(' ')
	b.WriteString(d.AccountID)
	b.WriteByte(' ')
	if d.PreviousBand == nil {
		fmt.Fprintf(&b, "new → %s (%.1f)", d.Band, d.Score)
	} else {
		prev := "?"
		if d.PreviousScore != nil {
			prev = fmt.Sprintf("%.1f", *d.PreviousScore)
		}
		fmt.Fprintf(&b, "%s → %s (%s → %.1f)", *d.PreviousBand, d.Band, prev, d.Score)
	}
	if len(d.Reasons) > 0 {
		b.WriteByte(' ')
		b.WriteString(strings.Join(d.Reasons, ", "))
	}
	id := ev.ID
	if len(id) > 8 {
		id = id[:8] + "…"
	}
	fmt.Fprintf(&b, " [seq %s, id %s]", strings.TrimLeft(ev.Sequence, "0"), id)
	return b.String()
}

// Handler processes one event; raw is the record value as published. An error stops the
// subscriber without committing the event, so it is delivered again after a restart.
type Handler func(ctx context.Context, ev Event, raw []byte) error

// Config says what to consume.
type Config struct {
	Brokers []string
	// Group is the consumer group. Instances of one group share the partitions; a new group
	// starts at the beginning of the topic, which holds each account's latest band when the
	// topic is compacted.
	Group string
	Topic string
}

// Run consumes cfg.Topic in cfg.Group until ctx ends, calling h for each health change and
// committing its offset after h returns nil: delivery is at least once, so h should
// de-duplicate by Event.ID (the same change always has the same id).
func Run(ctx context.Context, cfg Config, h Handler, logf func(format string, args ...any)) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers,
		GroupID: cfg.Group,
		Topic:   cfg.Topic,
		// The scorer publishes in transactions: read_committed never sees the records of a
		// transaction that a fenced or crashed scorer could not commit.
		IsolationLevel: kafka.ReadCommitted,
		StartOffset:    kafka.FirstOffset,
		MaxWait:        250 * time.Millisecond,
		CommitInterval: 0, // synchronous commits: committed means handled
	})
	defer r.Close()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading %s: %w", cfg.Topic, err)
		}
		ev, err := Decode(m.Value)
		switch {
		case err != nil:
			logf("skipping record %d@%d: %v", m.Partition, m.Offset, err)
		case ev.Type != eventType:
			logf("skipping record %d@%d of type %q", m.Partition, m.Offset, ev.Type)
		default:
			if err := h(ctx, ev, m.Value); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("handling event %s: %w", ev.ID, err)
			}
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("committing %d@%d: %w", m.Partition, m.Offset, err)
		}
	}
}

// Webhook forwards events to a URL as CloudEvents in structured mode: POST, the event as
// the body, Content-Type application/cloudevents+json.
type Webhook struct {
	URL    string
	Client *http.Client
	// MaxBackoff caps the wait between retries; default 30 s.
	MaxBackoff time.Duration
	Logf       func(format string, args ...any)
}

// errPermanent marks an answer that retrying cannot change.
var errPermanent = errors.New("refused by the webhook")

// Handle posts the event, retrying with backoff on network errors, 408, 429 and 5xx until
// ctx ends. Other 4xx answers are logged and the event is skipped: a receiver that refuses
// an event will refuse it again, and it must not block every later event.
func (w *Webhook) Handle(ctx context.Context, ev Event, raw []byte) error {
	wait := 250 * time.Millisecond
	maxWait := w.MaxBackoff
	if maxWait == 0 {
		maxWait = 30 * time.Second
	}
	for {
		err := w.post(ctx, raw)
		if err == nil {
			return nil
		}
		if errors.Is(err, errPermanent) {
			w.Logf("skipping event %s of %s: %v", ev.ID, ev.Data.AccountID, err)
			return nil
		}
		w.Logf("webhook failed for event %s (retrying in %s): %v", ev.ID, wait, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, maxWait)
	}
}

func (w *Webhook) post(ctx context.Context, raw []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := w.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook answered %s", resp.Status)
	default:
		return fmt.Errorf("%w: %s", errPermanent, resp.Status)
	}
}

// componentsLine renders component scores compactly, for verbose output.
func componentsLine(ev Event) string {
	names := make([]string, 0, len(ev.Data.Components))
	for n := range ev.Data.Components {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		c := ev.Data.Components[n]
		if c.Score == nil {
			parts = append(parts, n+"=–")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%.1f", n, *c.Score))
	}
	return strings.Join(parts, " ")
}
