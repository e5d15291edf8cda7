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

// Fencing: what keeps a worker that the group has removed (a zombie) from writing.
//
// A worker can lose its partitions while it holds a batch: frozen (SIGSTOP, a stalled VM, a
// long pause) for longer than the group session timeout, or blocking a rebalance for longer
// than the rebalance timeout while it waits out a ClickHouse outage. Another worker is then
// given the partitions, restores their sessions from the store and consumes from the last
// committed offset. The removed worker does not know yet when it resumes: its client learns
// it from its next heartbeat, and the partitions-lost callback waits until the batch in hand
// is finished, since rebalances are blocked while a batch is processed. Unfenced, it would
// store the batch: raw events, harmless, as they collapse to one row per event whoever
// writes them; but also session rows computed from state that is stale by now, versioned with its clock, so
// later than the rows the new owner wrote meanwhile. The stale rows would win, and a
// session would lose the events the new owner had added (tests/e2e TestZombieWorker).
//
// So every write to the store (raw events, session rows, the retractions of a restore) is
// preceded by Consumer.CheckMembership, one round trip to the group coordinator, the broker
// that moves partitions. When it answers that the group moved on without this member, the
// write is not made and the rest of the batch is dropped: nothing more of it is stored and
// nothing committed, the sessions of every partition are forgotten, and records still polled from those partitions
// are dropped until the consumer reports them revoked or assigns them again (then restored
// from the store). The new owner stores them all.
//
// The check and the write are not atomic: a worker frozen between the two for longer than
// the session timeout still writes afterwards. Two things bound what that write does:
//
//   - Versions. Its rows were computed, and versioned with its clock, before the check; the
//     check proves that it was still a member when the coordinator answered, so no other
//     worker held the partition then. The new owner is assigned it later: at least a session
//     timeout later, as the check restarted the member's session timer, unless a rebalance
//     was already waiting for this worker and its rebalance timeout runs out sooner. The new
//     owner versions every row it writes with its clock from then on, so a session row of
//     the late write loses to the new owner's rows of the same session, whichever is stored
//     last, as long as worker clocks agree to within that margin (NTP keeps them within
//     milliseconds). Sessionized events are identical rows whoever writes them.
//   - Retraction at restore. A session that only the late write holds (the new owner merged
//     its events into another session) is not explained by the stored events, and the next
//     restore of the partition that reaches it retracts it, as it retracts what a crash
//     leaves behind (session.Sessionizer).

// fencedStore is the Store as the worker and its sessionizer write to it: every write is
// preceded by the worker's membership check.
type fencedStore struct {
	Store
	w *Worker
}

func (f fencedStore) WriteEvents(ctx context.Context, evs []RawEvent) error {
	if err := f.w.checkMembership(ctx); err != nil {
		return err
	}
	return f.Store.WriteEvents(ctx, evs)
}

func (f fencedStore) WriteRows(ctx context.Context, rows *session.Rows) error {
	if err := f.w.checkMembership(ctx); err != nil {
		return err
	}
	return f.Store.WriteRows(ctx, rows)
}

// checkMembership fences one write. It returns nil when this worker still holds its
// partitions, or has no consumer yet (tests that drive process alone); the group's verdict
// wrapping ErrLostGeneration, marked permanent so that no retry loop waits for it to change;
// or the coordinator's failure to answer, an outage that the caller's retry waits out.
func (w *Worker) checkMembership(ctx context.Context) error {
	c := w.member.Load()
	if c == nil {
		return nil
	}
	err := (*c).CheckMembership(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrLostGeneration):
		return retry.Permanent(fmt.Errorf("not writing: %w", err))
	}
	return fmt.Errorf("checking the group membership before writing: %w", err)
}

// dropFenced drops a batch of n records that the group took away (a write was refused with
// ErrLostGeneration) and forgets the sessions of every partition: they are no longer this
// worker's, and its state includes the dropped batch, which the store does not.
func (w *Worker) dropFenced(n int, cause error) {
	lost := w.fenceAll()
	w.m.fenced.Inc()
	w.m.dropped.Add(float64(n))
	w.log.Warn("the group moved on without this worker while it held a batch; the batch is dropped uncommitted, for the partitions' new owners to store",
		zap.Int("records", n), zap.Int32s("partitions", lost), zap.Error(cause))
}

// fenceAll marks every assigned partition fenced, forgets its sessions, and returns them.
func (w *Worker) fenceAll() []int32 {
	w.mu.Lock()
	lost := make([]int32, 0, len(w.parts))
	for p := range w.parts {
		w.fenced[p] = true
		lost = append(lost, p)
	}
	clear(w.parts)
	w.m.assigned.Set(0)
	w.mu.Unlock()
	slices.Sort(lost)
	w.sess.Revoke(lost)
	return lost
}

// withoutFenced returns recs without the records of fenced partitions, and how many it
// dropped. Until the consumer reports a fenced partition revoked, a poll can still return
// records it fetched for it earlier.
func (w *Worker) withoutFenced(recs []Record) ([]Record, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.fenced) == 0 {
		return recs, 0
	}
	kept := recs[:0:0]
	for _, r := range recs {
		if !w.fenced[r.Partition] {
			kept = append(kept, r)
		}
	}
	return kept, len(recs) - len(kept)
}
