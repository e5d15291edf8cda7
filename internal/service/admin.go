package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
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
// (every dependency check passes) and /metrics (Prometheus text format).
type Admin struct {
	Registry *prometheus.Registry

	mu     sync.Mutex
	checks []Check
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

// HTTPServer returns a Component serving h on addr. On shutdown it stops accepting
// connections and lets in-flight requests finish, so a gateway request that is waiting for a
// broker acknowledgement still gets its answer.
func HTTPServer(name, addr string, h http.Handler, log *zap.Logger) (Component, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return Component{}, nil, fmt.Errorf("listening on %s for %s: %w", addr, name, err)
	}
	srv := &http.Server{
		Handler:           h,
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
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout-time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
			return fmt.Errorf("shutting down %s: %w", name, err)
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	return Component{Name: name, Run: run}, ln.Addr(), nil
}
