package scorer

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/health"
)

// DefaultModelPoll is how often a ModelFile looks at its file's modification time.
const DefaultModelPoll = 3 * time.Second

// ModelFile is a health model loaded from a JSON file and reloaded when the file changes or
// when Reload is called (on SIGHUP). Every poll interval it compares the file's modification
// time, size, identity and content hash with those it last loaded: the hash, because a file
// replaced within the file system's timestamp granularity, or copied with its times kept,
// changes nothing else. A file that does not load keeps the current model: the error is
// logged with the field at fault and counted, and the next change of the file is tried.
type ModelFile struct {
	path string
	poll time.Duration
	log  *zap.Logger

	cur     atomic.Pointer[health.Model]
	mu      sync.Mutex // serialises reloads
	seen    fileState  // the file as last loaded (or tried)
	reloads *prometheus.CounterVec
	info    *prometheus.GaugeVec
}

// LoadModelFile loads the model at path; it fails when the file does not load, so a
// service does not start with a model nobody asked for. poll 0 means DefaultModelPoll.
func LoadModelFile(path string, poll time.Duration, log *zap.Logger, reg prometheus.Registerer) (*ModelFile, error) {
	if poll <= 0 {
		poll = DefaultModelPoll
	}
	if log == nil {
		log = zap.NewNop()
	}
	f := &ModelFile{
		path: path, poll: poll, log: log,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "engage_scorer_model_reloads_total",
			Help: "Health model reloads by result: ok, or error (the previous model stays)."}, []string{"result"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "engage_scorer_model_info",
			Help: "1 for the health model version in use."}, []string{"version"}),
	}
	f.reloads.WithLabelValues("ok")
	f.reloads.WithLabelValues("error")
	if reg != nil {
		reg.MustRegister(f.reloads, f.info)
	}
	f.seen = stateOf(path)
	m, err := health.LoadModel(path)
	if err != nil {
		return nil, err
	}
	f.set(m)
	return f, nil
}

// fileState identifies a version of the model file.
type fileState struct {
	info os.FileInfo // nil when the file could not be read
	sum  [sha256.Size]byte
}

func stateOf(path string) fileState {
	info, err := os.Stat(path)
	if err != nil {
		return fileState{}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fileState{}
	}
	return fileState{info: info, sum: sha256.Sum256(b)}
}

func (a fileState) same(b fileState) bool {
	if a.info == nil || b.info == nil {
		return a.info == nil && b.info == nil
	}
	return os.SameFile(a.info, b.info) && a.info.ModTime().Equal(b.info.ModTime()) &&
		a.info.Size() == b.info.Size() && a.sum == b.sum
}

// Model returns the current model.
func (f *ModelFile) Model() *health.Model { return f.cur.Load() }

// Path is the model file's path.
func (f *ModelFile) Path() string { return f.path }

func (f *ModelFile) set(m *health.Model) {
	if old := f.cur.Swap(m); old != nil {
		f.info.DeleteLabelValues(old.Version)
	}
	f.info.WithLabelValues(m.Version).Set(1)
}

// Reload loads the file again. On error the current model stays and the error, naming the
// field for an invalid model, is logged and returned.
func (f *ModelFile) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Recorded before loading, so a bad file is reported once, not at every poll.
	f.seen = stateOf(f.path)
	m, err := health.LoadModel(f.path)
	if err != nil {
		f.reloads.WithLabelValues("error").Inc()
		fields := []zap.Field{zap.String("path", f.path), zap.String("kept_version", f.Model().Version), zap.Error(err)}
		var fe *health.FieldError
		if errors.As(err, &fe) {
			fields = append(fields, zap.String("field", fe.Field))
		}
		f.log.Error("health model not reloaded; keeping the current one", fields...)
		return err
	}
	f.reloads.WithLabelValues("ok").Inc()
	old := f.Model()
	f.set(m)
	f.log.Info("health model reloaded", zap.String("path", f.path), zap.String("version", m.Version), zap.String("previous_version", old.Version))
	return nil
}

// changed reports whether the file differs from the one last loaded.
func (f *ModelFile) changed() bool {
	now := stateOf(f.path)
	if now.info == nil {
		return false // a file being replaced may be missing for a moment; keep the model
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return !now.same(f.seen)
}

// Run reloads the model when the file changes or a value arrives on hup (wire SIGHUP to it
// with signal.Notify), until ctx ends. hup may be nil.
func (f *ModelFile) Run(ctx context.Context, hup <-chan os.Signal) error {
	t := time.NewTicker(f.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			_ = f.Reload() // logged
		case <-t.C:
			if f.changed() {
				_ = f.Reload()
			}
		}
	}
}
