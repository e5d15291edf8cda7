package process

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/service"
)

// The test binary doubles as the child process, selected by envChild:
//   - "serve": a service as internal/service builds them. It logs "child ready" with a made-up
//     addr field (as the broker logs its Kafka address), serves /readyz with 200 on its
//     "admin" server bound to 127.0.0.1:0, and exits 0 on SIGTERM. envDev=1 selects the
//     console log encoding, envLevel the log level.
//   - "unready": the same, but /readyz answers 503.
//   - "fail": prints a line and exits 3.
const (
	envChild = "ENGAGE_PROCESS_TEST_CHILD"
	envDev   = "ENGAGE_PROCESS_TEST_DEV"
	envLevel = "ENGAGE_PROCESS_TEST_LOG_LEVEL"
)

// otherAddr is what the child logs as "child ready": not a listener, only a logged address.
const otherAddr = "192.0.2.1:9092"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(envChild); mode {
	case "":
		os.Exit(m.Run())
	case "fail":
		fmt.Println("child: bad configuration")
		os.Exit(3)
	case "serve", "unready":
		os.Exit(serve(mode == "serve"))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", envChild, mode)
		os.Exit(2)
	}
}

func serve(ready bool) int {
	level := os.Getenv(envLevel)
	if level == "" {
		level = "info"
	}
	log, err := service.NewLogger("child", os.Getenv(envDev) == "1", level)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer log.Sync() //nolint:errcheck // stderr
	log.Info("child ready", zap.String("addr", otherAddr))
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	srv, _, err := service.HTTPServer("admin", "127.0.0.1:0", mux, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := service.SignalContext()
	defer stop()
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func self(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestStartStopKill: Start finds the port the child bound from its log, in both encodings,
// waits for /readyz there, and Stop and Kill end the child.
func TestStartStopKill(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		dev  string
		end  func(t *testing.T, p *Proc)
	}{
		{"json log, stop", "0", func(t *testing.T, p *Proc) {
			if !p.Stop() {
				t.Error("Stop: the child did not exit on SIGTERM")
			}
		}},
		{"console log, kill", "1", func(t *testing.T, p *Proc) {
			p.Kill()
			if gone, msg := p.Exited(); !gone || !strings.Contains(msg, "killed") {
				t.Errorf("after Kill: exited %v, %q", gone, msg)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(ctx, "child", self(t), "", "admin", envChild+"=serve", envDev+"="+tt.dev)
			if err != nil {
				t.Fatal(err)
			}
			if gone, _ := p.Exited(); gone || p.PID() <= 0 {
				t.Fatalf("after Start: exited %v, pid %d", gone, p.PID())
			}
			addr := p.Addr("admin")
			if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
				t.Errorf("Addr(admin) = %q, want the port the child bound on 127.0.0.1", addr)
			}
			if resp, err := http.Get("http://" + addr + "/readyz"); err != nil || resp.StatusCode != 200 {
				t.Errorf("GET /readyz on Addr(admin): %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			if got := p.Addr("child ready"); got != otherAddr {
				t.Errorf("Addr(child ready) = %q, want %q", got, otherAddr)
			}
			if got := p.Addr("api"); got != "" {
				t.Errorf("Addr(api) = %q for a server the child does not have", got)
			}
			tt.end(t, p)
		})
	}
}

func TestStartFails(t *testing.T) {
	tests := []struct {
		name, bin string
		env       []string
		timeout   time.Duration
		want      []string
	}{
		{"exits before ready", "", []string{envChild + "=fail"}, time.Minute,
			[]string{"child exited before it was ready", "exit status 3", "bad configuration"}},
		{"never ready", "", []string{envChild + "=unready"}, 2 * time.Second,
			[]string{"child not ready on 127.0.0.1:", "context deadline exceeded"}},
		{"logs no address", "", []string{envChild + "=serve", envLevel + "=warn"}, 2 * time.Second,
			[]string{`child not ready (it logged no address for its "admin" server)`, "context deadline exceeded"}},
		{"no binary", "/nonexistent/engage-service", nil, time.Minute,
			[]string{"starting child"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := tt.bin
			if bin == "" {
				bin = self(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			p, err := Start(ctx, "child", bin, "", "admin", tt.env...)
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

// TestLoggedAddr pins how addresses are read from zap's two encodings.
func TestLoggedAddr(t *testing.T) {
	tests := []struct {
		name, line      string
		wantKey, wantAd string
	}{
		{"json listening", `{"level":"info","ts":"2026-01-02T03:04:05Z","msg":"listening","service":"gateway","server":"api","addr":"127.0.0.1:4321"}`,
			"api", "127.0.0.1:4321"},
		{"console listening with caller", "03:04:05.000\tINFO\tservice/admin.go:114\tlistening\t{\"server\": \"admin\", \"addr\": \"127.0.0.1:4322\"}",
			"admin", "127.0.0.1:4322"},
		{"console with logger name", "03:04:05.000\tINFO\tbroker\tbroker ready\t{\"addr\": \"127.0.0.1:4323\", \"data_dir\": \"/tmp/x\"}",
			"broker ready", "127.0.0.1:4323"},
		{"json other message", `{"level":"info","msg":"broker ready","addr":"127.0.0.1:4324"}`, "broker ready", "127.0.0.1:4324"},
		{"no addr field", `{"level":"info","msg":"listening","server":"api"}`, "", ""},
		{"addr only in the message", "03:04:05.000\tWARN\tdialing \"addr\" failed", "", ""},
		{"not a log line", `panic: "addr" {`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, addr := loggedAddr([]byte(tt.line))
			if key != tt.wantKey || addr != tt.wantAd {
				t.Errorf("loggedAddr = %q, %q; want %q, %q", key, addr, tt.wantKey, tt.wantAd)
			}
		})
	}
}

// TestLogWriterSplitLines: a line that arrives in pieces is parsed once complete, and the
// address stays known after the line has left the output tail.
func TestLogWriterSplitLines(t *testing.T) {
	w := newLogWriter(16)
	line := `{"msg":"listening","server":"api","addr":"127.0.0.1:4321"}` + "\n"
	for _, piece := range []string{line[:10], line[10:30], line[30:]} {
		if w.addr("api") != "" {
			t.Fatal("address known before its line was complete")
		}
		if _, err := io.WriteString(w, piece); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.addr("api"); got != "127.0.0.1:4321" {
		t.Errorf("addr(api) = %q", got)
	}
	if got := w.String(); len(got) != 16 || !strings.HasSuffix(line, got) {
		t.Errorf("tail %q, want the last 16 bytes of the output", got)
	}
}
