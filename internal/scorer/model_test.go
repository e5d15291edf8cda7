package scorer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/health"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Write to a temporary name and rename, as editors and config management do, so the
	// poller never reads half a file.
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

func TestLoadModelFile(t *testing.T) {
	tests := []struct {
		file    string
		wantVer string
		wantErr string
	}{
		{"valid.json", "default-1", ""},
		{"retuned.json", "retuned-2", ""},
		{"negative_weight.bad.json", "", "components.tickets.weight: must be a number ≥ 0, got -20"},
		{"missing.json", "", "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := LoadModelFile(filepath.Join("testdata", "model", tt.file), 0, nil, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Model().Version != tt.wantVer {
				t.Errorf("version %q, want %q", f.Model().Version, tt.wantVer)
			}
		})
	}
}

// TestModelFileReload: a changed file is picked up by polling, a bad file keeps the model in
// use and is logged with the field at fault, and SIGHUP reloads on demand.
func TestModelFileReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "health-model.json")
	copyFile(t, "testdata/model/valid.json", path)
	core, logs := observer.New(zap.InfoLevel)
	f, err := LoadModelFile(path, 10*time.Millisecond, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	version := func(want string) func() error {
		return func() error {
			if v := f.Model().Version; v != want {
				return errors.New("model version " + v + ", want " + want)
			}
			return nil
		}
	}

	copyFile(t, "testdata/model/retuned.json", path)
	testenv.EventuallyEvery(t, 5*time.Second, 10*time.Millisecond, version("retuned-2"))
	if w := f.Model().Components.NPS.Weight; w != 15 {
		t.Errorf("reloaded NPS weight %v, want 15", w)
	}

	copyFile(t, "testdata/model/negative_weight.bad.json", path)
	testenv.EventuallyEvery(t, 5*time.Second, 10*time.Millisecond, func() error {
		if logs.FilterMessage("health model not reloaded; keeping the current one").FilterField(zap.String("field", "components.tickets.weight")).Len() == 0 {
			return errors.New("no error log naming components.tickets.weight")
		}
		return nil
	})
	if v := f.Model().Version; v != "retuned-2" {
		t.Fatalf("a bad file replaced the model: version %s", v)
	}

	copyFile(t, "testdata/model/valid.json", path)
	testenv.EventuallyEvery(t, 5*time.Second, 10*time.Millisecond, version("default-1"))
}

// TestModelFileSIGHUP: SIGHUP reloads at once, without waiting for the poll.
func TestModelFileSIGHUP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "health-model.json")
	copyFile(t, "testdata/model/valid.json", path)
	f, err := LoadModelFile(path, time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	go func() { _ = f.Run(ctx, hup) }()
	copyFile(t, "testdata/model/retuned.json", path)
	hup <- syscall.SIGHUP
	testenv.EventuallyEvery(t, 5*time.Second, 10*time.Millisecond, func() error {
		if v := f.Model().Version; v != "retuned-2" {
			return errors.New("model version " + v + " after SIGHUP, want retuned-2")
		}
		return nil
	})
}

// TestScorerPicksUpReloadedModel: the next rescoring uses the new model, and the change it
// causes names model_changed.
func TestScorerPicksUpReloadedModel(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "health-model.json")
	copyFile(t, "testdata/model/valid.json", path)
	f, err := LoadModelFile(path, time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(f.Model())
	e.models = f
	s := e.scorer(t)
	// Billing decides: past_due scores 20, and a retuned model that scores past_due 90
	// moves the account up.
	in := health.Inputs{ActiveDays14: 5, MAU: 5, WAU: 3, Seats: ptr(10), FeaturesUsed30d: 5, Status: ptr(health.StatusPastDue)}
	e.source.set("acme", in)
	rescore(t, s)
	b, err := os.ReadFile("testdata/model/valid.json")
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(replaceOnce(string(b), `"past_due": 20`, `"past_due": 90`))
	b = []byte(replaceOnce(string(b), `"version": "default-1"`, `"version": "lenient-2"`))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	rescore(t, s)
	got := e.topic.changes(t)
	if len(got) != 2 || got[1].ModelVersion != "lenient-2" {
		t.Fatalf("events %v, want a change under model lenient-2", bands(got))
	}
	last := got[1].Reasons
	if len(last) == 0 || last[len(last)-1] != health.ReasonModelChanged {
		t.Errorf("reasons %v, want model_changed last", last)
	}
}

func replaceOnce(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("missing " + old)
	}
	return strings.Replace(s, old, new, 1)
}
