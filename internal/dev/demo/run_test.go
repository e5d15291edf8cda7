package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testRunConfig(url string) RunConfig {
	return RunConfig{
		Sim:           Config{Seed: 4, Accounts: 6, Start: testStart, Days: 5},
		Sender:        testSenderConfig(url),
		Until:         testStart.AddDate(0, 0, 5),
		HistoryOnly:   true,
		ProgressEvery: 50 * time.Millisecond,
	}
}

// A dry run with one goroutine writes the same file every time; every line is a valid event.
func TestRunDryRun(t *testing.T) {
	dir := t.TempDir()
	var files [][]byte
	for i, procs := range []int{1, 1, 3} {
		out := filepath.Join(dir, "events.ndjson")
		var log syncBuffer
		cfg := testRunConfig("http://unused.invalid")
		cfg.DryRun, cfg.Out, cfg.Procs, cfg.Log = true, out, procs, &log
		if err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
		if !strings.Contains(log.String(), "wrote ") {
			t.Errorf("run %d: no summary in %q", i, log.String())
		}
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatal("two dry runs with -procs 1 differ")
	}
	lines := bytes.Split(bytes.TrimSpace(files[0]), []byte("\n"))
	if len(lines) < 1000 {
		t.Fatalf("only %d events", len(lines))
	}
	for _, l := range lines {
		var in event.Input
		if err := json.Unmarshal(l, &in); err != nil {
			t.Fatalf("line %s: %v", l, err)
		}
		if _, err := in.Build(time.Now()); err != nil {
			t.Fatalf("line %s: %v", l, err)
		}
	}
	if got := bytes.Count(files[2], []byte("\n")); got != len(lines) {
		t.Fatalf("3 goroutines wrote %d events, 1 wrote %d", got, len(lines))
	}
}

// The history reaches the gateway completely, and a second run with the same seed sends the
// same event ids, which the gateway counts once.
func TestRunSendsHistoryAndRerunDuplicates(t *testing.T) {
	gw, srv := newFakeGateway(t)
	var log syncBuffer
	cfg := testRunConfig(srv.URL)
	cfg.Log = &log
	if err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	g := newTestGen(t, cfg.Sim)
	want := 0
	for range g.Events(cfg.Until) {
		want++
	}
	_, got, _ := gw.snapshot()
	if len(got) != want {
		t.Fatalf("gateway has %d events, want %d", len(got), want)
	}
	for _, s := range []string{"demo: 6 accounts", "sent ", "-seed 4 -start 2025-03-01 -days 5"} {
		if !strings.Contains(log.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, log.String())
		}
	}
	if err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	_, again, _ := gw.snapshot()
	if len(again) != want || gw.dups != want {
		t.Fatalf("after a re-run: %d distinct events, %d duplicates; want %d and %d", len(again), gw.dups, want, want)
	}
}

// Live mode in a time-lapse sends events stamped with the wall clock, with ids of their own,
// and stops after -live.
func TestRunLiveTimeLapse(t *testing.T) {
	gw, srv := newFakeGateway(t)
	cfg := testRunConfig(srv.URL)
	cfg.Log = &syncBuffer{}
	now := time.Now()
	cfg.Sim.Start = now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	cfg.Sim.Accounts = 30
	cfg.Until = now
	cfg.HistoryOnly, cfg.Live, cfg.Speed = false, 1500*time.Millisecond, 7200 // two hours a second
	if err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	_, got, _ := gw.snapshot()
	lapse := 0
	for _, e := range got {
		if strings.Contains(e.EventID, "-x7200-") {
			lapse++
			if e.Timestamp.Before(now.Add(-time.Second)) || e.Timestamp.After(time.Now()) {
				t.Fatalf("time-lapse event %s at %s, outside the live run", e.EventID, e.Timestamp)
			}
		}
	}
	if lapse == 0 {
		t.Fatalf("no time-lapse events among %d", len(got))
	}
}

// Rule: a wrong write key stops the run with the gateway's message.
func TestRunStopsOn401(t *testing.T) {
	_, srv := newFakeGateway(t)
	cfg := testRunConfig(srv.URL)
	cfg.Log = &syncBuffer{}
	cfg.Sender.WriteKey = "nope"
	err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "unknown write key") {
		t.Fatalf("err = %v", err)
	}
}

// Ctrl-C (a cancelled context) ends live mode without an error.
func TestRunCancelledLiveIsClean(t *testing.T) {
	_, srv := newFakeGateway(t)
	cfg := testRunConfig(srv.URL)
	cfg.Log = &syncBuffer{}
	cfg.HistoryOnly = false
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	if err := Run(ctx, cfg); err != nil {
		t.Fatalf("err = %v", err)
	}
}

func TestRunConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*RunConfig)
		wantErr string
	}{
		{"ok", func(*RunConfig) {}, ""},
		{"bad order", func(c *RunConfig) { c.Order = "random" }, "order"},
		{"slow motion", func(c *RunConfig) { c.Speed = 0.5 }, "speed"},
		{"negative live", func(c *RunConfig) { c.Live = -time.Second }, "live"},
		{"bad sim", func(c *RunConfig) { c.Sim.Days = 0 }, "days"},
		{"bad sender", func(c *RunConfig) { c.Sender.URL = "" }, "url"},
		{"dry run ignores the sender", func(c *RunConfig) { c.Sender.URL, c.DryRun = "", true }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testRunConfig("http://127.0.0.1:1")
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error starting with %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"", time.Time{}, false},
		{"2025-03-01", testStart, false},
		{"2025-03-01T10:00:00+02:00", testStart.Add(8 * time.Hour), false},
		{"yesterday", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %s, %v", tt.in, got, err)
		}
	}
}
