package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Check reports whether one dependency works right now. It must return quickly: /readyz
// runs every check with a short deadline on each request.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Admin serves the endpoints every service has: /healthz (the process is alive), /readyz
// (every dependency check passes, and the service is not shutting down) and /metrics
// (Prometheus text format).
type Admin struct {
	Registry *prometheus.Registry

	mu       sync.Mutex
	checks   []Check
	draining atomic.Bool
}

// NewAdmin returns an Admin with a fresh registry holding the Go and process collectors.
func NewAdmin() *Admin {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Admin{Registry: reg}
}

// AddCheck adds a readiness check.
func (a *Admin) AddCheck(name string, fn func(ctx context.Context) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks = append(a.checks, Check{Name: name, Fn: fn})
}

// Drain marks the service as shutting down: from now on /readyz answers 503 with status
// "draining", whatever the checks say, so that a load balancer stops sending it requests.
func (a *Admin) Drain() { a.draining.Store(true) }

// Draining reports whether Drain was called.
func (a *Admin) Draining() bool { return a.draining.Load() }

// Ready runs every check and returns the failures by name.
func (a *Admin) Ready(ctx context.Context) map[string]string {
	a.mu.Lock()
	checks := append([]Check(nil), a.checks...)
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	failed := map[string]string{}
	for _, c := range checks {
		if err := c.Fn(ctx); err != nil {
			failed[c.Name] = err.Error()
		}
	}
	return failed
}

// Register mounts /healthz, /readyz and /metrics on mux.
func (a *Admin) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if a.Draining() {
			WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		if failed := a.Ready(r.Context()); len(failed) > 0 {
			WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failed": failed})
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{Registry: a.Registry}))
}

// Mux returns a new mux with the admin endpoints, for services with no API of their own.
func (a *Admin) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	a.Register(mux)
	return mux
}

// WriteJSON writes v as the JSON response body with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// HTTPOption adjusts how an HTTPServer shuts down.
type HTTPOption func(*httpOptions)

type httpOptions struct {
	admin    *Admin
	delay    time.Duration
	answerBy func(time.Time)
}

// DrainReadiness makes the server mark a as draining (Admin.Drain: /readyz answers 503) the
// moment its shutdown begins, before it stops accepting connections.
func DrainReadiness(a *Admin) HTTPOption { return func(o *httpOptions) { o.admin = a } }

// DrainDelay keeps the server accepting and answering requests for d after its shutdown
// begins, with /readyz at 503 (DrainReadiness) and every answer closing its connection: the
// time a load balancer needs to see /readyz fail and stop sending new requests, so that none
// of them meets a closed port, and for busy keep-alive clients to move to new connections
// (and so to other instances). It is at most MaxDrainDelay.
func DrainDelay(d time.Duration) HTTPOption { return func(o *httpOptions) { o.delay = d } }

// AnswerBy makes the server call fn, when its shutdown begins, with the time by which it must
// have answered every request in flight: after it, the server closes the connections still
// open. A handler that waits on something slow (the gateway waiting for broker
// acknowledgements) uses it to answer in time rather than be cut off without an answer.
func AnswerBy(fn func(deadline time.Time)) HTTPOption {
	return func(o *httpOptions) { o.answerBy = fn }
}

// MaxDrainDelay is the longest DrainDelay: the rest of ShutdownTimeout is left for the
// requests accepted last to be answered.
const MaxDrainDelay = ShutdownTimeout - 3*time.Second

// answerMargin is how long before the server closes the connections still open AnswerBy's
// deadline falls: the time to write an answer.
const answerMargin = 500 * time.Millisecond

// HTTPServer returns a Component serving h on addr. On shutdown it stops accepting
// connections, closes idle keep-alive connections, and lets requests in flight finish
// (their answers close their connections), so a gateway request that is waiting for a
// broker acknowledgement still gets its answer; what finishes after ShutdownTimeout − 1 s is
// cut off. The options add a readiness drain and a delay before the listener closes, and
// tell handlers the deadline.
func HTTPServer(name, addr string, h http.Handler, log *zap.Logger, opts ...HTTPOption) (Component, net.Addr, error) {
	var o httpOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.delay < 0 || o.delay > MaxDrainDelay {
		return Component{}, nil, fmt.Errorf("drain delay of %s: %s, must be in [0, %s]", name, o.delay, MaxDrainDelay)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return Component{}, nil, fmt.Errorf("listening on %s for %s: %w", addr, name, err)
	}
	// draining makes every answer say "Connection: close" from the moment the shutdown
	// begins. Unlike http.Server.SetKeepAlivesEnabled(false) it leaves idle connections open
	// during the drain delay: closing one races with a client that is sending a request on
	// it, which then fails. Clients that are busy move to new connections after their next
	// answer; what is still idle at the end of the delay has been idle for all of it.
	var draining atomic.Bool
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if draining.Load() {
				w.Header().Set("Connection", "close")
			}
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		// A client trickling its body would otherwise hold its share of the gateway's
		// in-flight memory bound for as long as it likes.
		ReadTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second,
		ErrorLog:    zap.NewStdLog(log.Named(name)),
	}
	run := func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		log.Info("listening", zap.String("server", name), zap.String("addr", ln.Addr().String()))
		select {
		case err := <-errc:
			return fmt.Errorf("serving %s: %w", name, err)
		case <-ctx.Done():
		}
		begun := time.Now()
		// service.Run gives every component ShutdownTimeout in all; a second is left for the
		// components after this one and for the process to exit.
		closeBy := begun.Add(ShutdownTimeout - time.Second)
		if o.admin != nil {
			o.admin.Drain()
		}
		if o.answerBy != nil {
			o.answerBy(closeBy.Add(-answerMargin))
		}
		draining.Store(true)
		log.Info("draining", zap.String("server", name), zap.Duration("delay", o.delay))
		if o.delay > 0 {
			select {
			case err := <-errc:
				return fmt.Errorf("serving %s: %w", name, err)
			case <-time.After(o.delay):
			}
		}
		sctx, cancel := context.WithDeadline(context.Background(), closeBy)
		defer cancel()
		// Shutdown closes the listener (new connections are refused) and the idle
		// connections, then each other connection once its request is answered.
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
			return fmt.Errorf("shutting down %s: requests still in flight after %s: %w", name, time.Since(begun).Round(time.Millisecond), err)
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		log.Info("drained", zap.String("server", name), zap.Duration("took", time.Since(begun)))
		return nil
	}
	return Component{Name: name, Run: run}, ln.Addr(), nil
}
