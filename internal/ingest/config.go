package ingest

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of Config. A zero field of Config means its default.
const (
	DefaultMaxBodyBytes     = 5 << 20  // 5 MiB decoded, the contract's limit
	DefaultMaxInflightBytes = 64 << 20 // 64 MiB
	DefaultRetryAfter       = 2 * time.Second
	DefaultPublishTimeout   = 10 * time.Second
)

// DevWriteKey is the write key of dev mode: the gateway's -write-key default, what make run
// and the demo send. It is defined here once; the gateway's configuration decides when it is
// accepted, and the Handler only ever sees Keys.
const DevWriteKey = "dev-write-key"

// Config configures a Handler. The zero value of every field except Keys means its default.
type Config struct {
	// MaxBodyBytes is the largest request body accepted, counted after gzip decoding, so a
	// small compressed body cannot expand without bound. Larger bodies get 413.
	// Default 5 MiB (DefaultMaxBodyBytes).
	MaxBodyBytes int64

	// MaxInflightBytes bounds the memory held by requests being read, decoded or published:
	// each request is charged twice its decoded body (the body, and the events' wire
	// encoding held while they are published) while it is served. A request that would go over the bound gets 503 with
	// Retry-After at once instead of waiting, so a slow broker sheds load instead of growing
	// the heap. Must be at least 2 × MaxBodyBytes. Default 64 MiB (DefaultMaxInflightBytes).
	MaxInflightBytes int64

	// RateLimit is the sustained rate of events per second allowed per write key, refilled
	// continuously into a token bucket of RateBurst events; a request arriving while the
	// key's bucket is empty gets 429 with Retry-After. A request's events are taken after it
	// is decoded and may overdraw the bucket, so a large batch is never refused half-way.
	// Default 0: no rate limit.
	RateLimit float64

	// RateBurst is the token bucket size in events. Default: RateLimit × 10 (ten seconds of
	// traffic), at least 1000. Ignored without RateLimit.
	RateBurst int

	// Keys are the write keys accepted, with their optional account allow-lists. Required.
	Keys *Keys

	// RetryAfter is sent in the Retry-After header of a 503 (broker not acknowledging, or
	// the in-flight bound reached), rounded up to whole seconds. Default 2 s
	// (DefaultRetryAfter).
	RetryAfter time.Duration

	// PublishTimeout bounds how long a request waits for the broker to acknowledge its
	// events before it gets 503. Default 10 s (DefaultPublishTimeout).
	PublishTimeout time.Duration

	// now is the gateway's clock (received_at); tests set it.
	now func() time.Time
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if c.RateBurst == 0 && c.RateLimit > 0 {
		c.RateBurst = max(int(c.RateLimit*10), 1000)
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Validate reports every invalid field of c by name, after defaults are applied, joined
// with errors.Join.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes must be positive, got %d", c.MaxBodyBytes))
	}
	if c.MaxInflightBytes < 2*c.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("MaxInflightBytes must be at least 2 × MaxBodyBytes (%d), got %d", 2*c.MaxBodyBytes, c.MaxInflightBytes))
	}
	if c.RateLimit < 0 || c.RateLimit != c.RateLimit {
		errs = append(errs, fmt.Errorf("RateLimit must be 0 (off) or positive, got %v", c.RateLimit))
	}
	if c.RateBurst < 0 {
		errs = append(errs, fmt.Errorf("RateBurst must not be negative, got %d", c.RateBurst))
	}
	if c.Keys.Len() == 0 {
		errs = append(errs, errors.New("Keys: no write key configured"))
	}
	if c.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("RetryAfter must be positive, got %v", c.RetryAfter))
	}
	if c.PublishTimeout < 0 {
		errs = append(errs, fmt.Errorf("PublishTimeout must be positive, got %v", c.PublishTimeout))
	}
	return errors.Join(errs...)
}
