package event

// Correct fills Timestamp from OriginalTimestamp, SentAt and ReceivedAt.
//
// Client clocks are wrong more often than servers' are. When the client sent sent_at, the
// difference received_at − sent_at is how far its clock is behind ours (network time is
// ignored: it is small against the skews that matter), and the same offset is added to the
// event's timestamp. This is Segment's rule, so events sent through a Segment SDK land where
// Segment would put them. Whatever the correction, an event never lies in the future: a
// timestamp after received_at is clamped to received_at.
func (e *Event) Correct() {
	ts := e.OriginalTimestamp
	if !e.SentAt.IsZero() {
		ts = ts.Add(e.ReceivedAt.Sub(e.SentAt))
	}
	if ts.After(e.ReceivedAt) {
		ts = e.ReceivedAt
	}
	e.Timestamp = ts.UTC()
}
