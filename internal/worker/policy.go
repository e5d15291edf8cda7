package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/retry"
	"github.com/engage-oss/engage/internal/session"
)

// The store policy: what the worker does when the store fails.
//
//   - An outage (any error IsPermanent does not recognise) is waited out with retry.Default,
//     however long it lasts: consumption pauses, nothing is lost.
//   - Raw events are written first. When the store refuses them permanently, the batch is
//     halved until the refused events are found; the others are written and the refused ones
//     go to the dead-letter topic. A refused event that the sessionizer had accepted changed
//     its partition's sessions, so that partition's state is reloaded from the store (which
//     holds nothing of this batch's sessions yet) and its other events are sessionized again:
//     a refused event leaves no trace in sessions, whether or not a restart follows.
//   - Session rows are written last. They are computed, not client data: a store that refuses
//     them has a schema problem that the dead-letter topic cannot fix, so the worker stops
//     with an error, without committing.

// storeBatch sessionizes and writes a batch's events and returns the events the store refused.
func (w *Worker) storeBatch(ctx context.Context, evs []RawEvent) ([]RawEvent, error) {
	recs, at := w.sessionRecords(evs, nil)
	rows, err := w.sess.Apply(ctx, recs)
	if err != nil {
		return nil, err
	}
	markOutcomes(evs, recs, at)

	rejected, err := w.writeEvents(ctx, evs)
	if err != nil {
		return nil, err
	}
	if len(rejected) > 0 {
		if rows, err = w.resessionize(ctx, evs, rejected, rows); err != nil {
			return nil, err
		}
	}
	if rows.Len() > 0 {
		err := w.write(ctx, "writing session rows", rows.Len(), func() error { return w.store.WriteRows(ctx, &rows) })
		if err != nil {
			if IsPermanent(err) {
				return nil, fmt.Errorf("store refuses session rows: %w", err)
			}
			return nil, err
		}
	}
	return rejected, nil
}

// sessionRecords returns the sessionizer records of the sessionizable events of evs (of the
// given partitions only, when parts is not nil), and for each the index of its event.
func (w *Worker) sessionRecords(evs []RawEvent, parts map[int32]bool) ([]session.Record, []int) {
	var recs []session.Record
	var at []int
	for i := range evs {
		e := &evs[i]
		if !e.Kind().Sessionized() || (parts != nil && !parts[e.Partition]) {
			continue
		}
		recs = append(recs, session.Record{Partition: e.Partition, Key: session.Key{Account: e.AccountID, User: e.UserID},
			EventID: e.EventID, TsMs: e.Timestamp.UnixMilli(), Kind: e.Kind()})
		at = append(at, i)
	}
	return recs, at
}

func markOutcomes(evs []RawEvent, recs []session.Record, at []int) {
	for j, r := range recs {
		evs[at[j]].Sessionized = r.Outcome == session.Accepted
		evs[at[j]].Late = r.Outcome == session.Late
	}
}

// resessionize repairs the batch's session rows after the store refused some of its events.
// Only a refused event that the sessionizer accepted changed state; the partitions of those
// are reloaded and their stored events sessionized again. Events whose flags changed are
// written again (same version: the rewrite replaces the row).
func (w *Worker) resessionize(ctx context.Context, evs, rejected []RawEvent, rows session.Rows) (session.Rows, error) {
	tainted := map[int32]bool{}
	for _, e := range rejected {
		if e.Sessionized {
			tainted[e.Partition] = true
		}
	}
	if len(tainted) == 0 {
		return rows, nil // duplicates and late events change no state
	}
	parts := make([]int32, 0, len(tainted))
	for p := range tainted {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	w.log.Warn("the store refused events that were sessionized; re-sessionizing their partitions without them",
		zap.Int32s("partitions", parts), zap.Int("refused", len(rejected)))
	if err := w.sess.Reload(ctx, parts); err != nil {
		return rows, err
	}
	refused := map[int64]bool{} // by offset within the tainted partitions
	for _, e := range rejected {
		if tainted[e.Partition] {
			refused[int64(e.Partition)<<48^e.Offset] = true
		}
	}
	kept := make([]RawEvent, 0, len(evs))
	for _, e := range evs {
		if !tainted[e.Partition] || !refused[int64(e.Partition)<<48^e.Offset] {
			kept = append(kept, e)
		}
	}
	recs, at := w.sessionRecords(kept, tainted)
	again, err := w.sess.Apply(ctx, recs)
	if err != nil {
		return rows, err
	}
	before := make([]RawEvent, len(at))
	for j, i := range at {
		before[j] = kept[i]
	}
	markOutcomes(kept, recs, at)
	var changed []RawEvent
	for j, i := range at {
		if kept[i].Late != before[j].Late || kept[i].Sessionized != before[j].Sessionized {
			changed = append(changed, kept[i])
		}
	}
	if len(changed) > 0 {
		// Accepted a moment ago, so a refusal now is not about the data.
		err := w.write(ctx, "rewriting re-sessionized events", len(changed), func() error { return w.store.WriteEvents(ctx, changed) })
		if err != nil {
			return rows, fmt.Errorf("rewriting %d re-sessionized events: %w", len(changed), err)
		}
	}
	out := rows.Without(tainted)
	out.Append(again)
	return out, nil
}

// writeEvents writes evs, waiting out outages. When the store refuses them permanently it
// halves the batch until the refused events are found, writes the others, and returns the
// refused ones. Each call makes at most one attempt that ends in a permanent error, so a batch
// of n events with k refused ones costs O(k·log n) writes.
func (w *Worker) writeEvents(ctx context.Context, evs []RawEvent) ([]RawEvent, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	err := w.write(ctx, "writing events", len(evs), func() error { return w.store.WriteEvents(ctx, evs) })
	switch {
	case err == nil:
		return nil, nil
	case !IsPermanent(err):
		return nil, fmt.Errorf("writing %d events: %w", len(evs), err)
	case len(evs) == 1:
		w.log.Error("store refused an event", zap.String("event_id", evs[0].EventID), zap.String("account_id", evs[0].AccountID), zap.Error(err))
		return evs, nil
	}
	mid := len(evs) / 2
	left, err := w.writeEvents(ctx, evs[:mid])
	if err != nil {
		return nil, err
	}
	right, err := w.writeEvents(ctx, evs[mid:])
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}

// write runs one store write with the outage policy: it returns nil, a permanent error at
// once, or the context's error once ctx ends.
func (w *Worker) write(ctx context.Context, what string, rows int, op func() error) error {
	return w.retry(ctx, what, func() error {
		start := w.now()
		err := op()
		w.m.writeSeconds.Observe(w.now().Sub(start).Seconds())
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrLostGeneration) {
			return err // fenced, not written (fence.go); already permanent
		}
		w.m.writeErrors.Inc()
		if IsPermanent(err) {
			return permanent(err)
		}
		w.log.Debug("store write failed", zap.String("what", what), zap.Int("rows", rows), zap.Error(err))
		return err
	})
}

// retry waits out an outage of what op talks to (retry.Default, logged at warn).
func (w *Worker) retry(ctx context.Context, what string, op func() error) error {
	return w.policy.Do(ctx, w.log, what, op)
}

// permanent stops retry at once; the error it returns is err itself.
func permanent(err error) error { return retry.Permanent(err) }
