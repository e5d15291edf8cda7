package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/service"
)

var updateConfigDoc = flag.Bool("update-config-doc", false, "rewrite this service's section of docs/CONFIG.md")

// TestConfigDoc pins the notifier's section of docs/CONFIG.md to its flags.
func TestConfigDoc(t *testing.T) {
	var cfg Config
	f := cfg.Flags()
	if err := service.CheckConfigDoc("../../docs/CONFIG.md", "notifier", service.ConfigDocSection(f, docIntro), *updateConfigDoc); err != nil {
		t.Fatal(err)
	}
}

// TestValidate: every bad setting is reported at once, each named, before any I/O.
func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("destinations:\n  - name: cs\n    url: http://127.0.0.1:9/hook\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("destinations:\n  - name: cs\n    url: nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "the shipped file", args: []string{"-dev", "-config", "../../deploy/notifier.yaml"}},
		{name: "a destination", args: []string{"-dev", "-config", good}},
		{name: "a replay", args: []string{"-dev", "-config", good, "-replay", "-destination", "cs", "-since", "24h"}},
		{name: "bad destination", args: []string{"-dev", "-config", bad}, want: []string{"notifier.config", `destinations[0].url: "nope"`}},
		{name: "missing file", args: []string{"-dev", "-config", filepath.Join(dir, "none.yaml")}, want: []string{"notifier.config", "none.yaml"}},
		{name: "everything wrong", args: []string{"-dev", "-config", good, "-admin-addr", "x", "-console-url", "/x", "-group", "", "-config-poll", "0s",
			"-replay", "-destination", "other", "-since", "yesterday"},
			want: []string{"notifier.admin_addr", "notifier.console_url", "notifier.group", "notifier.config_poll", `notifier.destination "other"`, `notifier.since "yesterday"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			if err := cfg.Flags().Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	var cfg Config
	_ = cfg.Flags().Parse([]string{"-since", "2026-12-01T00:00:00Z"})
	if got, err := cfg.since(time.Now()); err != nil || !got.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("since = %s, %v", got, err)
	}
}
