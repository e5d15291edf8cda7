package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// rawConn is one client connection, spoken to in HTTP/1.1 by hand, so that the test sees
// exactly when the server answers and when it closes the connection.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// get sends GET path on the connection, keep-alive.
func (c *rawConn) get(t *testing.T, path string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
}

// answer reads one response and returns it with its body.
func (c *rawConn) answer(t *testing.T) (*http.Response, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatalf("reading an answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// closed reports whether the server closed the connection (reads see EOF) within 5 s.
func (c *rawConn) closed() bool {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.r.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// TestHTTPServerDrain pins what an HTTP server does from the moment its shutdown begins:
// /readyz answers 503 "draining"; during the drain delay the server still serves, on new
// connections and on idle keep-alive ones, each answer closing its connection; then it
// refuses new connections and closes the idle ones; a request in flight is answered, its
// connection closed after the answer; handlers learn the deadline; and the server returns
// without error.
func TestHTTPServerDrain(t *testing.T) {
	for _, delay := range []time.Duration{0, 300 * time.Millisecond} {
		t.Run("delay "+delay.String(), func(t *testing.T) {
			admin := NewAdmin()
			mux := admin.Mux()
			entered, release := make(chan struct{}), make(chan struct{})
			mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				<-release
				_, _ = io.WriteString(w, "answered")
			})
			answerBy := make(chan time.Time, 1)
			comp, addr, err := HTTPServer("api", "127.0.0.1:0", mux, zaptest.NewLogger(t),
				DrainReadiness(admin), DrainDelay(delay), AnswerBy(func(d time.Time) { answerBy <- d }))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan error, 1)
			go func() { stopped <- comp.Run(ctx) }()

			// Two idle keep-alive connections: idle is used during the drain delay, quiet
			// stays idle throughout.
			idle, quiet := dial(t, addr.String()), dial(t, addr.String())
			for _, c := range []*rawConn{idle, quiet} {
				c.get(t, "/readyz")
				if resp, body := c.answer(t); resp.StatusCode != 200 {
					t.Fatalf("/readyz before the shutdown: %d %s", resp.StatusCode, body)
				}
			}
			busy := dial(t, addr.String())
			busy.get(t, "/slow")
			<-entered

			begun := time.Now()
			cancel() // SIGTERM
			select {
			case d := <-answerBy:
				if want := begun.Add(ShutdownTimeout - time.Second - answerMargin); d.Before(want.Add(-time.Second)) || d.After(want.Add(time.Second)) {
					t.Errorf("AnswerBy deadline %s after the shutdown began, want about %s", d.Sub(begun), want.Sub(begun))
				}
			case <-time.After(5 * time.Second):
				t.Fatal("AnswerBy was not called")
			}
			if !admin.Draining() {
				t.Error("/readyz is not draining")
			}
			if delay > 0 {
				// Still served, on a new connection and on the idle one: a load balancer
				// polling /readyz sees the drain, and clients move to new connections.
				for _, c := range []*rawConn{dial(t, addr.String()), idle} {
					c.get(t, "/readyz")
					resp, body := c.answer(t)
					if resp.StatusCode != 503 || !strings.Contains(body, "draining") {
						t.Errorf("/readyz during the drain delay: %d %s, want 503 draining", resp.StatusCode, body)
					}
					if !resp.Close || !c.closed() {
						t.Error("a connection answered during the drain delay was kept alive")
					}
				}
			} else if !idle.closed() {
				t.Error("an idle keep-alive connection stayed open after the shutdown began")
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				c, err := net.Dial("tcp", addr.String())
				if err != nil {
					break // refused: the listener is closed
				}
				c.Close()
				if time.Now().After(deadline) {
					t.Fatal("new connections still accepted 5 s after the shutdown began")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if took := time.Since(begun); took < delay {
				t.Errorf("the listener closed %s after the shutdown began, before the %s drain delay", took, delay)
			}
			if !quiet.closed() {
				t.Error("an idle keep-alive connection stayed open after the listener closed")
			}

			close(release)
			resp, body := busy.answer(t)
			if resp.StatusCode != 200 || body != "answered" {
				t.Errorf("request in flight: %d %q, want 200 answered", resp.StatusCode, body)
			}
			if !resp.Close || !busy.closed() {
				t.Error("the connection of the request in flight was kept alive")
			}
			select {
			case err := <-stopped:
				if err != nil {
					t.Fatalf("server: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the server did not return once its requests were answered")
			}
		})
	}
}

// TestHTTPServerDrainDelayBounds: a drain delay longer than the shutdown leaves room for is
// refused when the server is built.
func TestHTTPServerDrainDelayBounds(t *testing.T) {
	if _, _, err := HTTPServer("api", "127.0.0.1:0", http.NewServeMux(), zaptest.NewLogger(t), DrainDelay(MaxDrainDelay+time.Second)); err == nil {
		t.Fatal("a drain delay past MaxDrainDelay was accepted")
	}
}
