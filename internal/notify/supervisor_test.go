package notify

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestConfigFileReload: a changed file is picked up by the poll, an unchanged one is picked
// up again by SIGHUP, and a file that does not load keeps the running configuration and logs
// the bad field.
func TestConfigFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notifier.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("destinations:\n  - name: a\n    url: http://127.0.0.1:1/a\n")
	core, logs := observer.New(zap.InfoLevel)
	f, err := LoadConfigFile(path, 10*time.Millisecond, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []int
	f.OnChange(func(c Config) { mu.Lock(); seen = append(seen, len(c.Destinations)); mu.Unlock() })
	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = f.Run(ctx, hup) }()
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	write("destinations:\n  - name: a\n    url: http://127.0.0.1:1/a\n  - name: b\n    url: http://127.0.0.1:1/b\n")
	wait("a changed file is reloaded", func() bool { return len(f.Config().Destinations) == 2 })
	write("destinations:\n  - name: a\n    url: not a url\n")
	wait("the bad field is logged", func() bool {
		return slices.ContainsFunc(logs.All(), func(e observer.LoggedEntry) bool {
			return strings.Contains(e.ContextMap()["error"].(string), `destinations[0].url: "not a url"`)
		})
	})
	if n := len(f.Config().Destinations); n != 2 {
		t.Fatalf("after a bad file: %d destinations, want the running 2", n)
	}
	hup <- syscall.SIGHUP
	wait("SIGHUP logs", func() bool { return logs.FilterMessageSnippet("SIGHUP").Len() > 0 })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, []int{2}) {
		t.Errorf("subscribers saw %v, want one change to 2 destinations", seen)
	}
}

// TestSupervisorFollowsConfiguration: a destination added starts, one changed restarts,
// one removed stops; the others run on untouched.
func TestSupervisorFollowsConfiguration(t *testing.T) {
	var mu sync.Mutex
	opened := map[string]int{}
	closed := map[string]int{}
	sup := NewSupervisor(RunnerDeps{
		Open: func(d Destination) (Feed, func(), error) {
			mu.Lock()
			opened[d.Name]++
			mu.Unlock()
			return &memFeed{}, func() { mu.Lock(); closed[d.Name]++; mu.Unlock() }, nil
		},
		Transport: &fakeTransport{script: func(Change, int) Attempt { return Attempt{Outcome: Delivered} }},
		DLQ:       &memDLQ{}, Log: &memLog{}, Metrics: NewMetrics(nil),
	}, nil)
	cfg := func(yaml string) Config {
		c, err := ParseConfig([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = sup.Run(ctx, cfg("destinations:\n  - name: a\n    url: http://x/a\n  - name: b\n    url: http://x/b\n"))
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	sup.Apply(cfg("destinations:\n  - name: a\n    url: http://x/a\n  - name: b\n    url: http://x/b2\n  - name: c\n    url: http://x/c\n"))
	sup.Apply(cfg("destinations:\n  - name: b\n    url: http://x/b2\n  - name: c\n    url: http://x/c\n"))
	got := sup.Destinations()
	slices.Sort(got)
	if !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("running %v, want [b c]", got)
	}
	if err := sup.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if opened["a"] != 1 || opened["b"] != 2 || opened["c"] != 1 || closed["a"] != 1 || closed["b"] != 2 || closed["c"] != 1 {
		t.Errorf("opened %v closed %v: want a once, b twice (changed), c once, all closed at the end", opened, closed)
	}
}
