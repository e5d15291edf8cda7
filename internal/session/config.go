package session

import (
	"errors"
	"fmt"
	"time"
)

// ErrConfig is wrapped by every error of Config.Validate.
var ErrConfig = errors.New("invalid session config")

// MaxSessionLength caps a session: an event more than this after its session's first event
// starts a new session, even without a gap longer than SessionTimeout (as PostHog does). It
// bounds what one user can make the worker hold and restore: a kiosk, a bot or a tab left
// heartbeating keeps one session open for as long as it runs otherwise. It is not a setting:
// it is part of the contract of sessions, and at 24 h no session of a person is cut.
const MaxSessionLength = 24 * time.Hour

// Config holds the sessionization rules. The zero value is not valid: start from
// DefaultConfig.
type Config struct {
	// SessionTimeout: a gap longer than this starts a new session. Default 30 min; at most
	// 24 h, so that a session never spans a UTC day without an event on it.
	SessionTimeout time.Duration
	// IdleThreshold: gaps up to this (inclusive) count as active time. Default 5 min; positive
	// and at most SessionTimeout (a longer gap would end the session anyway).
	IdleThreshold time.Duration
	// Lateness: how far an event may precede its user's newest event and still be
	// sessionized. Default 1 h; zero accepts no out-of-order event.
	Lateness time.Duration
}

// DefaultConfig returns the contract's defaults: 30 min timeout, 5 min idle, 1 h lateness.
func DefaultConfig() Config {
	return Config{SessionTimeout: 30 * time.Minute, IdleThreshold: 5 * time.Minute, Lateness: time.Hour}
}

// Validate names every field that breaks a rule (joined errors, each wrapping ErrConfig).
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"SessionTimeout", c.SessionTimeout}, {"IdleThreshold", c.IdleThreshold}, {"Lateness", c.Lateness}} {
		if err := wholeMs(f.name, f.d); err != nil {
			errs = append(errs, err)
		}
	}
	if c.SessionTimeout <= 0 || c.SessionTimeout > 24*time.Hour {
		errs = append(errs, fmt.Errorf("%w: SessionTimeout %v must be in (0, 24h]", ErrConfig, c.SessionTimeout))
	}
	if c.IdleThreshold <= 0 || c.IdleThreshold > c.SessionTimeout {
		errs = append(errs, fmt.Errorf("%w: IdleThreshold %v must be in (0, SessionTimeout=%v]", ErrConfig, c.IdleThreshold, c.SessionTimeout))
	}
	if c.Lateness < 0 {
		errs = append(errs, fmt.Errorf("%w: Lateness %v must not be negative", ErrConfig, c.Lateness))
	}
	// The cap's cuts are stable only if a session's first event can no longer move by the
	// time the session reaches MaxSessionLength: an accepted event is at most Lateness older
	// than the newest, and joins a session at most SessionTimeout after it.
	if c.Lateness >= 0 && c.SessionTimeout > 0 && c.Lateness+c.SessionTimeout >= MaxSessionLength {
		errs = append(errs, fmt.Errorf("%w: Lateness %v + SessionTimeout %v must be under MaxSessionLength %v", ErrConfig, c.Lateness, c.SessionTimeout, MaxSessionLength))
	}
	return errors.Join(errs...)
}

// wholeMs rejects sub-millisecond durations: the rules are applied to millisecond timestamps,
// and silently truncating 5m0.5ms to 5m would move the "exactly the threshold" boundary.
func wholeMs(field string, d time.Duration) error {
	if d%time.Millisecond != 0 {
		return fmt.Errorf("%w: %s %v is not a whole number of milliseconds", ErrConfig, field, d)
	}
	return nil
}

// FinalBefore returns the End below which a session of a user whose newest accepted event is
// at newest (unix ms) is final: no event accepted from then on can join or precede it.
// Restores load from the sessions that are not final (a Store receives MutableSpan in
// Restore.MutableMs and cuts at newest − MutableMs, which is this).
func (c Config) FinalBefore(newest int64) int64 {
	return newest - c.MutableSpan()
}

// MutableSpan (ms) is how far before a user's newest accepted event a session can still
// change: Lateness + SessionTimeout. An event accepted from then on has TS ≥ newest −
// Lateness and joins or precedes only a session that ended within SessionTimeout of it.
// Restores load the sessions that ended within this span, with all their events.
func (c Config) MutableSpan() int64 {
	return c.Lateness.Milliseconds() + c.SessionTimeout.Milliseconds()
}

// FoldCut returns the time before which the events of a user's open session are folded into
// totals (see Tracker): newest − Lateness − SessionTimeout, rounded down to a multiple of
// SessionTimeout. No event accepted from then on can land before it, or even next to an event
// before it (every accepted event has TS ≥ newest − Lateness), so the folded events only
// matter through the session's totals. Rounding makes the fold advance in steps, one stored
// Fold per step and user, and makes the cut a function of newest alone, so that a Tracker
// restored from a Fold folds at the same points as the one that wrote it.
func (c Config) FoldCut(newest int64) int64 {
	step := c.SessionTimeout.Milliseconds()
	h := newest - c.MutableSpan()
	q := h / step
	if h%step < 0 {
		q--
	}
	return q * step
}

// EvictHorizon (ms) is how long after a user's newest event the user is dropped from memory:
// 2·SessionTimeout + Lateness (Tracker.Evict explains the choice). A user not in memory is
// known to have its newest event before clock − EvictHorizon, which is what lets the
// Sessionizer skip reloads for users returning after a break.
func (c Config) EvictHorizon() int64 {
	return 2*c.SessionTimeout.Milliseconds() + c.Lateness.Milliseconds()
}
