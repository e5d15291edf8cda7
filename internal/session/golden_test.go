package session

import (
	"bufio"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestGolden replays testdata/*.events, scripted users' days in arrival order, and compares
// every outcome and flush with testdata/*.golden. Run with -update to accept a change after
// reviewing the diff.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.events"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.events: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".events")
		t.Run(name, func(t *testing.T) {
			got, err := replay(t, f)
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(f, ".events") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if string(got) != string(want) {
				t.Fatalf("output differs from %s (run with -update after checking):\n%s", golden, got)
			}
		})
	}
}

func replay(t *testing.T, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	k := Key{Account: "acme", User: "alice"}
	w := newWorld(t, DefaultConfig())
	var out strings.Builder
	flushes := 0
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if text == "flush" {
			flushes++
			ch := w.flush(int64(flushes))
			fmt.Fprintf(&out, "flush %d\n", flushes)
			for _, s := range ch.Upserts {
				fmt.Fprintf(&out, "  upsert %s\n", fmtSession(s))
			}
			for _, r := range ch.Retractions {
				fmt.Fprintf(&out, "  retract %s\n", r.ID)
			}
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: want \"<timestamp> <name> <event_id>\"", path, line)
		}
		ts, err := time.Parse(time.RFC3339Nano, fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		e := Event{ID: HashID(fields[2]), TS: ts.UnixMilli(), Kind: event.KindOf(fields[1])}
		fmt.Fprintf(&out, "%s %s %s: %s\n", fields[0], fields[1], fields[2], w.deliver(delivery{k, e}))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	w.verify(int64(flushes + 1))
	fmt.Fprintf(&out, "table\n")
	rows := slices.Collect(maps.Values(w.sessions))
	slices.SortFunc(rows, func(a, b Session) int { return int(a.Start - b.Start) })
	for _, s := range rows {
		fmt.Fprintf(&out, "  %s\n", fmtSession(s))
	}
	return []byte(out.String()), nil
}
