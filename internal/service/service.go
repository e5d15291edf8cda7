// Package service is the runtime every engage service shares: configuration from flags with
// environment fallbacks (Flags, and the flag groups Common, Kafka and ClickHouse that several
// services use), validation of a whole configuration before any I/O (Configure, -validate),
// the generated reference docs/CONFIG.md (Flags.Table, CheckConfigDoc), the zap logger, the
// admin endpoints (/healthz, /readyz, /metrics), the HTTP server with its graceful drain
// (HTTPServer: /readyz 503, an optional delay, then no new connections and every request in
// flight answered), and a run group that starts components and stops them in reverse order.
//
// It holds no domain logic. A service's config.go defines its Config, flags and Validate;
// its main.go hands them to Main with a function that builds the components from the domain
// packages; everything that makes services behave alike (configuration errors, log format,
// health semantics, shutdown order and deadline) lives here once.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Component is one long-running part of a service: an HTTP server, a consumer loop.
// Run blocks until ctx is cancelled or the component fails; after ctx is cancelled it must
// finish its in-flight work and return within the shutdown deadline.
type Component struct {
	Name string
	Run  func(ctx context.Context) error
	// Finite marks a one-off task (a replay): when it returns nil the service has done its
	// job and stops cleanly, where any other component returning is a failure.
	Finite bool
}

// ShutdownTimeout bounds how long Run waits for components after the first one stops.
// make run promises that Ctrl-C stops everything within 10 s, and the supervisor gives each
// service a little less than that.
const ShutdownTimeout = 8 * time.Second

// SignalContext returns a context cancelled on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Run starts every component and returns when ctx is cancelled or any component returns.
// Components are stopped in reverse order of start: a consumer stops before the store it
// writes to, an HTTP server before the producer behind it. The first component error is
// returned; a clean shutdown after ctx is cancelled returns nil.
func Run(ctx context.Context, log *zap.Logger, comps ...Component) error {
	type result struct {
		idx int
		err error
	}
	cancels := make([]context.CancelFunc, len(comps))
	done := make([]chan struct{}, len(comps))
	results := make(chan result, len(comps))
	for i, c := range comps {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cancels[i] = cancel
		done[i] = make(chan struct{})
		go func(i int, c Component) {
			defer close(done[i])
			err := c.Run(cctx)
			results <- result{i, err}
		}(i, c)
		log.Debug("component started", zap.String("component", c.Name))
	}

	var first error
	select {
	case <-ctx.Done():
		log.Info("shutting down", zap.String("cause", context.Cause(ctx).Error()))
	case r := <-results:
		switch {
		case r.err != nil && !errors.Is(r.err, context.Canceled):
			first = fmt.Errorf("%s: %w", comps[r.idx].Name, r.err)
			log.Error("component failed, shutting down", zap.String("component", comps[r.idx].Name), zap.Error(r.err))
		case r.err == nil && comps[r.idx].Finite:
			log.Info("done, shutting down", zap.String("component", comps[r.idx].Name))
		default:
			first = fmt.Errorf("%s stopped unexpectedly", comps[r.idx].Name)
			log.Error("component stopped unexpectedly, shutting down", zap.String("component", comps[r.idx].Name))
		}
	}

	deadline := time.NewTimer(ShutdownTimeout)
	defer deadline.Stop()
	for i := len(comps) - 1; i >= 0; i-- {
		cancels[i]()
		select {
		case <-done[i]:
			log.Debug("component stopped", zap.String("component", comps[i].Name))
		case <-deadline.C:
			log.Error("component did not stop in time", zap.String("component", comps[i].Name), zap.Duration("deadline", ShutdownTimeout))
			if first == nil {
				first = fmt.Errorf("%s did not stop within %s", comps[i].Name, ShutdownTimeout)
			}
			return first
		}
	}
	for len(results) > 0 {
		r := <-results
		if r.err != nil && !errors.Is(r.err, context.Canceled) && first == nil {
			first = fmt.Errorf("%s: %w", comps[r.idx].Name, r.err)
		}
	}
	return first
}

// App is what a service builds from its configuration: its components, in start order, and
// what to release once they have all stopped.
type App struct {
	Components []Component
	Close      func()
}

// Main is the rest of every service's main function once its flags are defined: parse
// os.Args, validate cfg (every problem at once, before any I/O; with -validate, stop there),
// build the logger, build the app, run it until SIGINT or SIGTERM, and shut it down. It
// exits non-zero when the configuration is invalid, the service fails to start, or it stops
// with an error.
func Main(f *Flags, common *Common, cfg Validator, build func(context.Context, *zap.Logger) (*App, error)) {
	name := f.Name()
	if code, done := Configure(os.Args[1:], f, common, cfg, os.Stdout, os.Stderr); done {
		os.Exit(code)
	}
	log, err := NewLogger(name, common.Dev, common.LogLevel)
	if err != nil {
		Fatal(name, err)
	}
	ctx, stop := SignalContext()
	app, err := build(ctx, log)
	if err != nil {
		log.Error(name+" failed to start", zap.Error(err))
		_ = log.Sync()
		stop()
		os.Exit(1)
	}
	err = Run(ctx, log, app.Components...)
	stop()
	if app.Close != nil {
		app.Close()
	}
	if err != nil {
		log.Error(name+" stopped with error", zap.Error(err))
		_ = log.Sync()
		os.Exit(1)
	}
	_ = log.Sync()
}

// Configure parses args into f and validates cfg, which includes common. It returns done when the
// process should exit now, with code: after -h (0), a flag or environment value that does
// not parse (2), an invalid configuration (1, every problem printed to stderr), or
// -validate (0 and "configuration ok" on stdout when valid). It touches no network, so
// `<service> -validate` is safe to run anywhere, for instance in a deployment pipeline.
func Configure(args []string, f *Flags, common *Common, cfg Validator, stdout, stderr io.Writer) (code int, done bool) {
	name := f.Name()
	f.fs.SetOutput(stderr)
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2, true
	}
	if err := cfg.Validate(); err != nil {
		printErrors(stderr, name, f.Explain(cfg, err))
		return 1, true
	}
	if common.ValidateOnly {
		fmt.Fprintln(stdout, "configuration ok")
		return 0, true
	}
	return 0, false
}
