// Package retry is engage's one policy for waiting out an outage of Kafka or ClickHouse:
// exponential backoff with jitter, no deadline, until the operation succeeds, reports a
// Permanent error, or the context ends. Every retry loop of the services goes through it, so
// an outage looks the same in every log: one warning per failed attempt, naming the operation
// and the wait before the next.
package retry

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
)

// Policy is the backoff between attempts.
type Policy struct {
	// Initial is the first wait. Later waits grow by 1.5× with ±50 % jitter.
	Initial time.Duration
	// Max caps one wait.
	Max time.Duration
}

// Default waits 200 ms first and at most 5 s: short enough that a ClickHouse or broker
// restart is noticed within seconds, long enough not to hammer a server that is starting.
var Default = Policy{Initial: 200 * time.Millisecond, Max: 5 * time.Second}

// Permanent wraps err so that Do returns it at once instead of retrying.
func Permanent(err error) error { return backoff.Permanent(err) }

// Do runs op until it returns nil or a Permanent error, or ctx ends. It returns nil, the
// permanent error (unwrapped), or the last error joined with ctx's error. Each failed attempt
// is logged at warn with what and the wait before the next; log may be nil.
func (p Policy) Do(ctx context.Context, log *zap.Logger, what string, op func() error) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = p.Initial
	bo.MaxInterval = p.Max
	bo.MaxElapsedTime = 0 // an outage is waited out, however long
	var last error
	err := backoff.RetryNotify(func() error {
		err := op()
		last = err
		return err
	}, backoff.WithContext(bo, ctx), func(err error, d time.Duration) {
		if log != nil {
			log.Warn(what+" failed, retrying", zap.Error(err), zap.Duration("in", d))
		}
	})
	if err != nil && last != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) && !errors.Is(last, ctx.Err()) {
		// backoff reports only the context's error; the cause of the retries matters more.
		return errors.Join(err, last)
	}
	return err
}

// Do runs op with the Default policy.
func Do(ctx context.Context, log *zap.Logger, what string, op func() error) error {
	return Default.Do(ctx, log, what, op)
}
