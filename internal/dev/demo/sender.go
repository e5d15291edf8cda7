package demo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engage-oss/engage/internal/ingest"
)

// SenderConfig configures a Sender. DefaultSenderConfig holds the defaults.
type SenderConfig struct {
	// URL is the gateway's base URL; events go to URL/v1/events. Default http://127.0.0.1:8080.
	URL string
	// WriteKey is sent as "Authorization: Bearer <key>"; default ingest.DevWriteKey.
	WriteKey string
	// BatchSize is the most events in one request; default 500.
	BatchSize int
	// MaxBatchBytes closes a batch early when its body reaches this size, far below the
	// gateway's 5 MiB limit; default 1 MiB.
	MaxBatchBytes int
	// Lanes is the number of concurrent requests; default 4. Each account's events always
	// go through the same lane, in order: see Sender.
	Lanes int
	// Gzip compresses request bodies (Content-Encoding: gzip); default true.
	Gzip bool
	// NDJSON sends application/x-ndjson bodies instead of a JSON array; default false.
	NDJSON bool
	// Rate caps the events sent per second; default 0, unlimited.
	Rate float64
	// MaxAttempts is how often one request is tried before the Sender gives up; default 10.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts, which doubles from
	// MinBackoff with jitter; a Retry-After header takes precedence. Defaults 250 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	// Client sends the requests; default a client with a 30 s timeout.
	Client *http.Client
}

// DefaultSenderConfig returns the defaults: the dev gateway and write key of `make run`.
func DefaultSenderConfig() SenderConfig {
	return SenderConfig{
		URL: "http://127.0.0.1:8080", WriteKey: ingest.DevWriteKey, BatchSize: 500, MaxBatchBytes: 1 << 20,
		Lanes: 4, Gzip: true, MaxAttempts: 10, MinBackoff: 250 * time.Millisecond, MaxBackoff: 10 * time.Second,
	}
}

// Validate reports the first bad field.
func (c SenderConfig) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("url: want http(s)://host[:port], got %q", c.URL)
	case c.WriteKey == "":
		return errors.New("write key: must not be empty")
	case c.BatchSize < 1 || c.BatchSize > 100_000:
		return fmt.Errorf("batch size: must be 1..100000, got %d", c.BatchSize)
	case c.MaxBatchBytes < 1024:
		return fmt.Errorf("max batch bytes: must be at least 1024, got %d", c.MaxBatchBytes)
	case c.Lanes < 1 || c.Lanes > 256:
		return fmt.Errorf("lanes: must be 1..256, got %d", c.Lanes)
	case c.Rate < 0:
		return fmt.Errorf("rate: must not be negative, got %g", c.Rate)
	case c.MaxAttempts < 1:
		return fmt.Errorf("max attempts: must be at least 1, got %d", c.MaxAttempts)
	case c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("backoff: want 0 < min ≤ max, got %s and %s", c.MinBackoff, c.MaxBackoff)
	}
	return nil
}

// StatusError is an answer of the gateway that is not a success.
type StatusError struct {
	Code    int
	Status  string // e.g. "401 Unauthorized"
	Message string // the gateway's {"error": …}, or its raw body
	URL     string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("gateway answered %s to POST %s: %s", e.Status, e.URL, e.Message)
	switch e.Code {
	case http.StatusUnauthorized, http.StatusForbidden:
		msg += " (set the write key with -write-key or WRITE_KEY)"
	case http.StatusNotFound:
		msg += " (is -gateway / GATEWAY_URL the gateway's address?)"
	}
	return msg
}

// IsRetryable reports whether a request that failed with err may succeed if sent again:
// network errors, 408, 429 and 5xx other than 501. Resending is safe: the gateway counts an
// event_id once. 400, 401, 413, 415 and the other answers fail the same way every time.
func IsRetryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return retryableStatus(se.Code)
	}
	return err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests ||
		code >= 500 && code != http.StatusNotImplemented
}

// Stats counts what a Sender did. Events counts events handed to Send; the others are the
// gateway's answers.
type Stats struct {
	Events   int64 // handed to Send
	Accepted int64 // accepted by the gateway
	Rejected int64 // refused one by one in a 200 answer (invalid events)
	Requests int64 // HTTP requests, retries included
	Retries  int64 // requests sent again after a retryable failure
	Bytes    int64 // request bodies on the wire, retries included
	// LastRejection describes the latest refused event.
	LastRejection string
}

// Sender posts events to the gateway's POST /v1/events in batches, over a few concurrent
// lanes. An account's events always take the same lane, and a lane sends its batches one
// after the other, retrying each until it succeeds: so each user's events reach the gateway
// in the order they were given to Send, which the pipeline's lateness rule needs. Send, Flush
// and Close are safe for concurrent use, but only one goroutine's order is kept.
type Sender struct {
	cfg      SenderConfig
	endpoint string
	lanes    []*lane
	seed     maphash.Seed
	limit    *limiter
	ctx      context.Context // cancelled when a lane fails for good, or by Close
	cancel   context.CancelCauseFunc
	wg       sync.WaitGroup

	events, accepted, rejected, requests, retries, bytes atomic.Int64
	lastRejection                                        atomic.Pointer[string]
	closeOnce                                            sync.Once
}

type lane struct {
	mu  sync.Mutex
	buf []byte // the batch being filled
	n   int    // events in buf
	ch  chan batch
	gz  *gzip.Writer
	out bytes.Buffer
}

type batch struct {
	body []byte
	n    int
}

// NewSender starts a Sender's lanes. Close stops them.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sender config: %w", err)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	s := &Sender{cfg: cfg, endpoint: strings.TrimRight(cfg.URL, "/") + "/v1/events", seed: maphash.MakeSeed()}
	if cfg.Rate > 0 {
		s.limit = &limiter{rate: cfg.Rate}
	}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	for range cfg.Lanes {
		l := &lane{ch: make(chan batch, 1)}
		if cfg.Gzip {
			l.gz, _ = gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
		}
		s.lanes = append(s.lanes, l)
		s.wg.Add(1)
		go s.run(l)
	}
	return s, nil
}

// Send adds e to its lane's batch, and hands the batch to the lane when it is full. It blocks
// while the lane is busy with earlier batches, and returns the error that stopped the Sender,
// if any. e is encoded before Send returns.
func (s *Sender) Send(ctx context.Context, e *Event) error {
	if err := s.err(); err != nil {
		return err
	}
	l := s.lanes[maphash.String(s.seed, e.AccountID)%uint64(len(s.lanes))]
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		if !s.cfg.NDJSON {
			l.buf = append(l.buf[:0], '[')
		} else {
			l.buf = l.buf[:0]
		}
	} else if !s.cfg.NDJSON {
		l.buf = append(l.buf, ',')
	}
	l.buf = e.AppendJSON(l.buf)
	if s.cfg.NDJSON {
		l.buf = append(l.buf, '\n')
	}
	l.n++
	s.events.Add(1)
	if l.n >= s.cfg.BatchSize || len(l.buf) >= s.cfg.MaxBatchBytes {
		return s.handOff(ctx, l)
	}
	return nil
}

// Flush hands every partly filled batch to its lane, without waiting for it to be sent. Live
// mode calls it every tick so that events do not wait for a full batch.
func (s *Sender) Flush(ctx context.Context) error {
	for _, l := range s.lanes {
		l.mu.Lock()
		var err error
		if l.n > 0 {
			err = s.handOff(ctx, l)
		}
		l.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return s.err()
}

// handOff passes l's batch to its goroutine; l.mu is held, so a lane's batches keep their
// order.
func (s *Sender) handOff(ctx context.Context, l *lane) error {
	if !s.cfg.NDJSON {
		l.buf = append(l.buf, ']')
	}
	b := batch{body: l.buf, n: l.n}
	// A new buffer, not a reused one: the lane goroutine owns the old one until it is sent.
	l.buf, l.n = make([]byte, 0, len(b.body)+len(b.body)/8), 0
	select {
	case l.ch <- b:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sending events: %w", context.Cause(ctx))
	case <-s.ctx.Done():
		return s.err()
	}
}

// Close sends what is buffered and waits until every batch has been answered, or ctx ends:
// then requests in flight are abandoned. It returns the error that stopped the Sender, if any.
func (s *Sender) Close(ctx context.Context) error {
	err := s.Flush(ctx)
	s.closeOnce.Do(func() {
		for _, l := range s.lanes {
			l.mu.Lock()
			close(l.ch)
			l.mu.Unlock()
		}
	})
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel(fmt.Errorf("closing the sender: %w", context.Cause(ctx)))
		<-done
		if err == nil {
			err = s.err()
		}
	}
	if err == nil {
		err = s.err()
	}
	return err
}

// err returns why the Sender stopped, or nil.
func (s *Sender) err() error {
	if s.ctx.Err() == nil {
		return nil
	}
	return context.Cause(s.ctx)
}

// Stats returns the counters so far.
func (s *Sender) Stats() Stats {
	st := Stats{
		Events: s.events.Load(), Accepted: s.accepted.Load(), Rejected: s.rejected.Load(),
		Requests: s.requests.Load(), Retries: s.retries.Load(), Bytes: s.bytes.Load(),
	}
	if p := s.lastRejection.Load(); p != nil {
		st.LastRejection = *p
	}
	return st
}

func (s *Sender) run(l *lane) {
	defer s.wg.Done()
	for b := range l.ch {
		if s.ctx.Err() != nil {
			continue // stopped: drain so that Close does not block
		}
		if err := s.post(l, b); err != nil {
			s.cancel(err)
		}
	}
}

// post sends one batch, retrying what IsRetryable allows, with backoff.
func (s *Sender) post(l *lane, b batch) error {
	body := b.body
	if l.gz != nil {
		l.out.Reset()
		l.gz.Reset(&l.out)
		_, _ = l.gz.Write(body) // writes to a bytes.Buffer do not fail
		if err := l.gz.Close(); err != nil {
			return fmt.Errorf("compressing a batch: %w", err)
		}
		body = l.out.Bytes()
	}
	if s.limit != nil {
		if err := s.limit.wait(s.ctx, b.n); err != nil {
			return err
		}
	}
	var last error
	for attempt := 1; ; attempt++ {
		wait, err := s.attempt(body, b.n)
		if err == nil {
			return nil
		}
		if s.ctx.Err() != nil {
			return context.Cause(s.ctx)
		}
		if !IsRetryable(err) {
			return err
		}
		last = err
		if attempt >= s.cfg.MaxAttempts {
			return fmt.Errorf("giving up on a batch of %d events after %d attempts: %w", b.n, attempt, last)
		}
		if wait <= 0 {
			d := s.cfg.MinBackoff << min(attempt-1, 20)
			d = min(d, s.cfg.MaxBackoff)
			wait = d/2 + rand.N(d/2+1) // jitter, so that lanes do not retry in lockstep
		}
		s.retries.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return context.Cause(s.ctx)
		}
	}
}

// attempt sends the body once. wait is the server's Retry-After, if it sent one.
func (s *Sender) attempt(body []byte, n int) (wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.WriteKey)
	req.Header.Set("User-Agent", "engage-demo")
	if s.cfg.NDJSON {
		req.Header.Set("Content-Type", "application/x-ndjson")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	s.requests.Add(1)
	s.bytes.Add(int64(len(body)))
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("posting %d events: %w", n, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("reading the gateway's answer: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		s.count(answer, n)
		return 0, nil
	}
	se := &StatusError{Code: resp.StatusCode, Status: resp.Status, Message: errorMessage(answer), URL: s.endpoint}
	if retryableStatus(resp.StatusCode) {
		wait = retryAfter(resp.Header.Get("Retry-After"), s.cfg.MaxBackoff*3)
	}
	return wait, se
}

// count reads a 2xx answer {"accepted":N,"rejected":M,"errors":[…]}. An answer without
// counts means the whole batch was taken.
func (s *Sender) count(answer []byte, n int) {
	var r struct {
		Accepted *int64 `json:"accepted"`
		Rejected int64  `json:"rejected"`
		Errors   []struct {
			EventID string `json:"event_id"`
			Error   string `json:"error"`
		} `json:"errors"`
	}
	if json.Unmarshal(answer, &r) != nil || r.Accepted == nil {
		s.accepted.Add(int64(n))
		return
	}
	s.accepted.Add(*r.Accepted)
	s.rejected.Add(r.Rejected)
	if len(r.Errors) > 0 {
		msg := fmt.Sprintf("event %s: %s", r.Errors[0].EventID, r.Errors[0].Error)
		s.lastRejection.Store(&msg)
	}
}

// errorMessage extracts {"error": "…"} from an answer, or returns the body itself, trimmed.
func errorMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 1024 {
		msg = msg[:1024] + "…"
	}
	if msg == "" {
		msg = "(empty body)"
	}
	return msg
}

// retryAfter parses a Retry-After header (seconds or an HTTP date), capped at most.
func retryAfter(h string, most time.Duration) time.Duration {
	if h == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(h); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), most)
}

// limiter spaces requests so that at most rate events per second are sent on average.
type limiter struct {
	mu   sync.Mutex
	rate float64
	next time.Time
}

func (l *limiter) wait(ctx context.Context, n int) error {
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	l.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// WaitReady polls the gateway's GET /readyz until it answers 200, or timeout passes. A
// gateway that answers 404 (no readiness endpoint) counts as ready.
func WaitReady(ctx context.Context, client *http.Client, baseURL string, timeout time.Duration) error {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := strings.TrimRight(baseURL, "/") + "/readyz"
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return fmt.Errorf("checking the gateway: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotFound {
				return nil
			}
			err = fmt.Errorf("GET %s answered %s", u, resp.Status)
		}
		last = err
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("gateway at %s not ready after %s (is `make run` running?): %w", baseURL, timeout, last)
			}
			return ctx.Err()
		}
	}
}
