package notify

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// FeedOpener opens a destination's feed (its consumer group); close releases it.
type FeedOpener func(d Destination) (feed Feed, close func(), err error)

// Supervisor runs one Runner per configured destination and follows configuration changes:
// a destination added starts, one removed stops, one changed restarts (from its group's
// committed offsets, so nothing is lost or skipped).
type Supervisor struct {
	deps RunnerDeps
	log  *zap.Logger

	mu      sync.Mutex
	ctx     context.Context
	cfg     Config
	running map[string]*running
}

// RunnerDeps are what every Runner of a Supervisor shares.
type RunnerDeps struct {
	Open      FeedOpener
	Transport Transport
	DLQ       DeadLetters
	Log       DeliveryLog
	Metrics   *Metrics
	Config    RunnerConfig
}

type running struct {
	d      Destination
	feed   Feed
	cancel context.CancelFunc
	done   chan struct{}
}

// NewSupervisor returns a Supervisor; Run starts it.
func NewSupervisor(deps RunnerDeps, log *zap.Logger) *Supervisor {
	if log == nil {
		log = zap.NewNop()
	}
	return &Supervisor{deps: deps, log: log, running: map[string]*running{}}
}

// Run runs the destinations of cfg, then those of every configuration passed to Apply,
// until ctx ends; it returns once every runner has stopped.
func (s *Supervisor) Run(ctx context.Context, cfg Config) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	s.Apply(cfg)
	// A destination that could not start (the broker away) is tried again.
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			s.mu.Lock()
			c := s.cfg
			s.mu.Unlock()
			s.Apply(c)
		}
	}
	s.mu.Lock()
	var waits []chan struct{}
	for name, r := range s.running {
		r.cancel()
		waits = append(waits, r.done)
		delete(s.running, name)
	}
	s.mu.Unlock()
	for _, w := range waits {
		<-w
	}
	return nil
}

// Apply makes the running destinations those of cfg.
func (s *Supervisor) Apply(cfg Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil || s.ctx.Err() != nil {
		return
	}
	s.cfg = cfg
	want := map[string]Destination{}
	for _, d := range cfg.Destinations {
		want[d.Name] = d
	}
	for name, r := range s.running {
		if d, ok := want[name]; ok && d.Equal(r.d) {
			continue
		}
		r.cancel()
		<-r.done
		delete(s.running, name)
		if _, ok := want[name]; !ok {
			s.deps.Metrics.Forget(name)
			s.log.Info("destination removed", zap.String("destination", name))
		}
	}
	for name, d := range want {
		if _, ok := s.running[name]; ok {
			continue
		}
		if err := s.start(d); err != nil {
			s.log.Error("destination not started", zap.String("destination", name), zap.Error(err))
		}
	}
}

func (s *Supervisor) start(d Destination) error {
	feed, closeFeed, err := s.deps.Open(d)
	if err != nil {
		return fmt.Errorf("opening the feed of destination %s: %w", d.Name, err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	r := &running{d: d, feed: feed, cancel: cancel, done: make(chan struct{})}
	s.running[d.Name] = r
	runner := NewRunner(d, s.deps.Config, feed, s.deps.Transport, s.deps.DLQ, s.deps.Log, s.deps.Metrics, s.log)
	go func() {
		defer close(r.done)
		defer closeFeed()
		if err := runner.Run(ctx); err != nil {
			s.log.Error("destination stopped", zap.String("destination", d.Name), zap.Error(err))
		}
	}()
	s.log.Info("destination started", zap.String("destination", d.Name), zap.String("url", d.URL), zap.String("format", d.Format),
		zap.Strings("bands", d.Bands), zap.Strings("plans", d.Plans))
	return nil
}

// Ready reports whether every destination's feed has joined its group (a feed that cannot
// tell is taken as ready): changes published from then on are delivered.
func (s *Supervisor) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.cfg.Destinations {
		if s.running[d.Name] == nil {
			return fmt.Errorf("destination %s: not started (see the log)", d.Name)
		}
	}
	for name, r := range s.running {
		if f, ok := r.feed.(interface{ Ready() bool }); ok && !f.Ready() {
			return fmt.Errorf("destination %s: its consumer group has not assigned partitions yet", name)
		}
	}
	return nil
}

// Destinations returns the names of the running destinations.
func (s *Supervisor) Destinations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.running))
	for name := range s.running {
		out = append(out, name)
	}
	return out
}
