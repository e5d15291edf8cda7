package worker

import "errors"

// PermanentError marks a store error that retrying the same rows cannot fix (the store
// refuses the data itself), as opposed to an outage.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err, or an error it wraps, is a PermanentError. Everything
// else is treated as an outage and retried: losing an event to a misclassified timeout is
// worse than waiting.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
