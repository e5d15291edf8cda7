package process

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the child process: with envServe set it serves /readyz on that
// address until SIGTERM, with envFail set it prints a line and exits 3.
const (
	envServe = "ENGAGE_PROCESS_TEST_SERVE"
	envFail  = "ENGAGE_PROCESS_TEST_FAIL"
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(envFail) != "":
		fmt.Println("child: bad configuration")
		os.Exit(3)
	case os.Getenv(envServe) != "":
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM)
		mux := http.NewServeMux()
		mux.HandleFunc("/readyz", func(http.ResponseWriter, *http.Request) {})
		go func() { _ = http.ListenAndServe(os.Getenv(envServe), mux) }()
		<-stop
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStartStopKill(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name string
		end  func(t *testing.T, p *Proc)
	}{
		{"stop", func(t *testing.T, p *Proc) {
			if !p.Stop() {
				t.Error("Stop: the child did not exit on SIGTERM")
			}
		}},
		{"kill", func(t *testing.T, p *Proc) {
			p.Kill()
			if gone, msg := p.Exited(); !gone || !strings.Contains(msg, "killed") {
				t.Errorf("after Kill: exited %v, %q", gone, msg)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, err := FreeAddr()
			if err != nil {
				t.Fatal(err)
			}
			p, err := Start(ctx, "child", self, "", addr, envServe+"="+addr)
			if err != nil {
				t.Fatal(err)
			}
			if gone, _ := p.Exited(); gone || p.PID() <= 0 {
				t.Fatalf("after Start: exited %v, pid %d", gone, p.PID())
			}
			tt.end(t, p)
		})
	}
}

func TestStartFails(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, bin string
		env       []string
		timeout   time.Duration
		want      []string
	}{
		{"exits before ready", self, []string{envFail + "=1"}, time.Minute,
			[]string{"child exited before it was ready", "exit status 3", "bad configuration"}},
		{"never ready", self, []string{envServe + "=127.0.0.1:0"}, 300 * time.Millisecond,
			[]string{"child not ready on " + addr, "context deadline exceeded"}},
		{"no binary", "/nonexistent/engage-service", nil, time.Minute,
			[]string{"starting child"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			p, err := Start(ctx, "child", tt.bin, "", addr, tt.env...)
			if err == nil {
				p.Kill()
				t.Fatal("Start succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
