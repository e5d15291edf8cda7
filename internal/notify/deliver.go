package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Outcome is what became of one delivery attempt.
type Outcome string

// Outcomes of an attempt, as the delivery log and the metrics name them.
const (
	Delivered    Outcome = "delivered"     // 2xx
	Retry        Outcome = "retry"         // timeout, connection error, 429, 5xx: tried again
	Rejected     Outcome = "rejected"      // another status: not tried again, dead-lettered
	DeadLettered Outcome = "dead_lettered" // the last attempt failed, or it was too old
)

// Attempt is one HTTP request to a destination and its result.
type Attempt struct {
	Status  int // 0 when no response came
	Latency time.Duration
	Err     error // transport error, or the status as an error
	// RetryAfter is the wait a 429 or 503 asked for (Retry-After), 0 when none.
	RetryAfter time.Duration
	Outcome    Outcome
}

// Sender makes one delivery attempt of a change to a destination: it builds the body in the
// destination's format, signs it, and classifies the answer.
type Sender struct {
	Client     *http.Client
	ConsoleURL string // the base of account links in Slack messages
	UserAgent  string
	Now        func() time.Time
}

// Body is what a destination receives for a change.
func (s *Sender) Body(d Destination, c Change) ([]byte, string, error) {
	if d.Format == FormatSlack {
		b, err := SlackMessage(c, s.ConsoleURL)
		return b, "application/json", err
	}
	return c.Body, "application/cloudevents+json", nil
}

// Send delivers c to d once.
func (s *Sender) Send(ctx context.Context, d Destination, c Change) Attempt {
	body, ctype, err := s.Body(d, c)
	if err != nil {
		return Attempt{Err: err, Outcome: Rejected}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(d.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return Attempt{Err: fmt.Errorf("building the request to %s: %w", d.Name, err), Outcome: Rejected}
	}
	now := s.Now()
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", s.UserAgent)
	req.Header.Set(HeaderID, c.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	if d.secret != nil {
		req.Header.Set(HeaderSignature, Sign(d.secret, c.ID, now, body))
	}
	start := time.Now()
	resp, err := s.Client.Do(req)
	lat := time.Since(start)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", time.Duration(d.Timeout), err)
		}
		return Attempt{Latency: lat, Err: err, Outcome: Retry}
	}
	// Read a little of the body so the connection can be reused; the answer is not used.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	a := Attempt{Status: resp.StatusCode, Latency: lat}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		a.Outcome = Delivered
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		a.Outcome = Retry
		a.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
		a.Err = fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		a.Outcome = Rejected
		a.Err = fmt.Errorf("HTTP %d: not retried (only timeouts, connection errors, 408, 429 and 5xx are)", resp.StatusCode)
	}
	return a
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
