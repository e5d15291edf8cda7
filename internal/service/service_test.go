package service

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestFlagsPrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"default", "", nil, "def"},
		{"environment over default", "from-env", nil, "from-env"},
		{"flag over environment", "from-env", []string{"-x", "from-flag"}, "from-flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("ENGAGE_TEST_X", tc.env)
			}
			var got string
			f := NewFlags("t")
			f.String(&got, "x", "ENGAGE_TEST_X", "def", "x")
			if err := f.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFlagsBadEnvironment(t *testing.T) {
	tests := []struct {
		name, env string
		define    func(f *Flags)
	}{
		{"bool", "maybe", func(f *Flags) { var b bool; f.Bool(&b, "x", "ENGAGE_TEST_X", false, "") }},
		{"int", "ten", func(f *Flags) { var n int; f.Int(&n, "x", "ENGAGE_TEST_X", 0, "") }},
		{"duration", "5", func(f *Flags) { var d time.Duration; f.Duration(&d, "x", "ENGAGE_TEST_X", 0, "") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ENGAGE_TEST_X", tc.env)
			f := NewFlags("t")
			tc.define(f)
			err := f.Parse(nil)
			if err == nil || !strings.Contains(err.Error(), "ENGAGE_TEST_X") {
				t.Fatalf("want an error naming ENGAGE_TEST_X, got %v", err)
			}
		})
	}
}

func TestSplitList(t *testing.T) {
	if got := SplitList(" a, b,,c ,"); strings.Join(got, "|") != "a|b|c" {
		t.Fatalf("got %q", got)
	}
}

// TestRunStopsInReverseOrder pins the shutdown order: later components (consumers, HTTP
// servers) stop before the earlier ones they depend on.
func TestRunStopsInReverseOrder(t *testing.T) {
	var mu sync.Mutex
	var stopped []string
	comp := func(name string) Component {
		return Component{Name: name, Run: func(ctx context.Context) error {
			<-ctx.Done()
			mu.Lock()
			stopped = append(stopped, name)
			mu.Unlock()
			return nil
		}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := Run(ctx, zap.NewNop(), comp("store"), comp("consumer"), comp("http")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stopped, ","); got != "http,consumer,store" {
		t.Fatalf("stop order %s", got)
	}
}

// TestRunFailureStopsTheRest: one failing component ends Run with its error, named.
func TestRunFailureStopsTheRest(t *testing.T) {
	boom := errors.New("boom")
	waiting := Component{Name: "waiting", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }}
	failing := Component{Name: "failing", Run: func(ctx context.Context) error { return boom }}
	err := Run(context.Background(), zap.NewNop(), waiting, failing)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "failing") {
		t.Fatalf("got %v", err)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 500 * time.Millisecond: "500ms", 10 * time.Second: "10s", 30 * time.Minute: "30m",
		time.Hour: "1h", 90 * time.Minute: "1h30m", 61 * time.Second: "1m1s", 25 * time.Hour: "25h",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
