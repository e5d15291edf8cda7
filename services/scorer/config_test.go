package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/engage-oss/engage/deploy"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/service"
)

var updateConfigDoc = flag.Bool("update-config-doc", false, "rewrite this service's section of docs/CONFIG.md")

// TestConfigDoc pins the scorer's section of docs/CONFIG.md to its flags.
func TestConfigDoc(t *testing.T) {
	var cfg Config
	f := cfg.Flags()
	if err := service.CheckConfigDoc("../../docs/CONFIG.md", "scorer", service.ConfigDocSection(f, docIntro), *updateConfigDoc); err != nil {
		t.Fatal(err)
	}
}

func parse(t *testing.T, args ...string) Config {
	t.Helper()
	var cfg Config
	if err := cfg.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestValidate: every bad setting is reported at once, each named, before any I/O.
func TestValidate(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-model.json")
	tests := []struct {
		name string
		args []string
		want []string // every one must be named; none: valid
	}{
		{name: "dev defaults", args: []string{"-dev"}},
		{name: "read keys and the shipped model", args: []string{"-read-keys", "k1", "-model", "../../deploy/health-model.json"}},
		// Like the gateway, the scorer does not start open to anyone outside dev mode.
		{name: "no read keys outside dev mode", want: []string{"scorer.read_keys: no read keys"}},
		{name: "missing model file", args: []string{"-dev", "-model", missing}, want: []string{"health.model: ", missing}},
		{name: "invalid model file", args: []string{"-dev", "-model", "../../internal/health/testdata/model/bands_order.bad.json"},
			want: []string{"health.model: ", "bands_order.bad.json", "bands: must satisfy"}},
		{
			name: "everything wrong at once",
			args: []string{"-kafka-brokers", "", "-clickhouse-addr", "x", "-addr", "nope", "-interval", "1ms", "-contraction-days", "-1", "-model-poll", "0s", "-model", missing},
			want: []string{"kafka.brokers: must not be empty", `clickhouse.addr "x": not host:port`, `scorer.addr "nope"`,
				"scorer: Interval 1ms", "scorer: ContractionDays -1", "scorer.read_keys", "health.model: ", "health.model_poll 0s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parse(t, tt.args...).Validate()
			testenv.WantErrors(t, err, tt.want...)
		})
	}
}

// TestValidateFlag: `scorer -validate` with a missing model exits non-zero naming it.
func TestValidateFlag(t *testing.T) {
	var cfg Config
	var stdout, stderr bytes.Buffer
	code, done := service.Configure([]string{"-validate", "-dev", "-model", "nope.json"}, cfg.Flags(), &cfg.Common, &cfg, &stdout, &stderr)
	if !done || code == 0 || !strings.Contains(stderr.String(), "health.model: ") || !strings.Contains(stderr.String(), "nope.json") {
		t.Fatalf("done %v, code %d, stdout %q, stderr %q", done, code, stdout.String(), stderr.String())
	}
}

// TestBuiltInModelWherever: without HEALTH_MODEL the scorer runs the built-in model, which
// is deploy/health-model.json as embedded, whatever the working directory holds; it says so
// in its log. (It used to read deploy/health-model.json relative to the working directory,
// so the model depended on where it was started.)
func TestBuiltInModelWherever(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(string(deploy.HealthModel), `"version": "default-1"`, `"version": "stray-file"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "deploy", "health-model.json"), []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	cfg := parse(t, "-dev")
	core, logs := observer.New(zap.InfoLevel)
	src, comp, err := openModel(cfg, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	if comp != nil {
		t.Error("the built-in model has a reload component")
	}
	if got, want := src.Model().Version, health.DefaultModel().Version; got != want {
		t.Errorf("model version %q, want the built-in %q", got, want)
	}
	entries := logs.FilterMessage("health model").FilterField(zap.String("source", "built-in")).FilterField(zap.String("version", "default-1"))
	if entries.Len() != 1 {
		t.Errorf("no log of the built-in model's source and version: %v", logs.All())
	}
}

// TestModelFileLogged: a configured file is the model, and the log names its path.
func TestModelFileLogged(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "health-model.json")
	cfg := parse(t, "-dev", "-model", path)
	core, logs := observer.New(zap.InfoLevel)
	src, comp, err := openModel(cfg, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	if comp == nil || src.Model().Version != "default-1" {
		t.Fatalf("component %v, version %q", comp, src.Model().Version)
	}
	if logs.FilterMessage("health model").FilterField(zap.String("source", path)).Len() != 1 {
		t.Errorf("no log naming the model file: %v", logs.All())
	}
}
