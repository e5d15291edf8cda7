package eventstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/session"
)

// TestRestoreLongSession runs a kiosk that heartbeats every 5 s for 6 h, next to users with
// short sessions, through a Sessionizer that stores its rows here, then restores the partition
// into a second Sessionizer, as after a restart. The restore must start the long session from
// its latest stored fold (loading about the last two hours of its events, not six) and be
// exact: fed the same next hour, both Sessionizers produce the same rows.
func TestRestoreLongSession(t *testing.T) {
	inModes(t, func(t *testing.T, mode string) {
		ctx := context.Background()
		conn, _ := testenv.Database(t, mode)
		st := New(conn)
		cfg := session.DefaultConfig()
		log := zaptest.NewLogger(t)
		first, err := session.NewSessionizer(cfg, st, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := first.Assign(ctx, []int32{0}); err != nil {
			t.Fatal(err)
		}

		t0 := time.Date(2026, 3, 2, 21, 0, 0, 0, time.UTC).UnixMilli()
		kiosk := session.Key{Account: "acme", User: "kiosk"}
		// Records of [from, to): the kiosk every 5 s, and a user per 10 min with three events.
		batch := func(from, to int64) []session.Record {
			var recs []session.Record
			for ts := from; ts < to; ts += 5_000 {
				recs = append(recs, session.Record{Key: kiosk, EventID: fmt.Sprintf("k-%d", ts), TsMs: ts, Kind: event.KindHeartbeat})
				if ts%600_000 == 0 {
					u := session.Key{Account: "acme", User: fmt.Sprintf("u-%d", ts)}
					for i := range int64(3) {
						recs = append(recs, session.Record{Key: u, EventID: fmt.Sprintf("u-%d-%d", ts, i), TsMs: ts + i*60_000, Kind: event.KindProduct})
					}
				}
			}
			return recs
		}
		apply := func(s *session.Sessionizer, from, to int64) session.Rows {
			t.Helper()
			rows, err := s.Apply(ctx, batch(from, to))
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}
		const step = 5 * 60_000 // a batch: 5 min of event time
		end := t0 + 6*3_600_000
		folds := 0
		for from := t0; from < end; from += step {
			rows := apply(first, from, from+step)
			folds += len(rows.Folds)
			if err := st.WriteRows(ctx, &rows); err != nil {
				t.Fatal(err)
			}
		}
		if folds == 0 {
			t.Fatal("the six-hour session was never folded")
		}

		res, err := st.Load(ctx, session.Restore{Partition: 0, ActiveSinceMs: end - cfg.EvictHorizon(), MutableMs: cfg.MutableSpan()})
		if err != nil {
			t.Fatal(err)
		}
		kioskEvents := 0
		for _, e := range res.Events {
			if e.Key == kiosk {
				kioskEvents++
			}
		}
		// The fold cut trails the newest event by Lateness + SessionTimeout, plus up to one
		// SessionTimeout step: at most 2 h of the kiosk's events, 1 440, where its session
		// holds 4 320.
		t.Logf("restore: %d folds, %d events (%d of the kiosk)", len(res.Folds), len(res.Events), kioskEvents)
		if len(res.Folds) != 1 || res.Folds[0].Key != kiosk || kioskEvents > int(cfg.EvictHorizon()/5_000)+1 {
			t.Fatalf("restore loaded %d folds and %d events of the kiosk", len(res.Folds), kioskEvents)
		}

		second, err := session.NewSessionizer(cfg, st, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := second.Assign(ctx, []int32{0}); err != nil {
			t.Fatal(err)
		}
		for from := end; from < end+3_600_000; from += step {
			a, b := apply(first, from, from+step), apply(second, from, from+step)
			if g, w := rowsText(b), rowsText(a); g != w {
				t.Fatalf("after the restore, batch at %s:\n got %s\nwant %s", time.UnixMilli(from).UTC(), g, w)
			}
		}
	})
}

// rowsText renders rows without their versions (each Sessionizer versions by its clock).
func rowsText(r session.Rows) string {
	var lines []string
	for _, s := range r.Sessions {
		s.Ver = 0
		lines = append(lines, fmt.Sprintf("%+v", s))
	}
	for _, d := range r.Days {
		d.Ver = 0
		lines = append(lines, fmt.Sprintf("%+v", d))
	}
	for _, f := range r.Folds {
		lines = append(lines, fmt.Sprintf("%+v", f))
	}
	slices.Sort(lines)
	return fmt.Sprint(len(r.Events), " events\n", lines)
}

// inModes runs test once per ClickHouse mode (single server and cluster).
func inModes(t *testing.T, test func(t *testing.T, mode string)) {
	for _, mode := range testenv.Modes {
		t.Run(mode, func(t *testing.T) { test(t, mode) })
	}
}
