package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/engage-oss/engage/internal/service"
)

var updateConfigDoc = flag.Bool("update-config-doc", false, "rewrite this service's section of docs/CONFIG.md")

// TestConfigDoc pins the broker's section of docs/CONFIG.md to its flags.
func TestConfigDoc(t *testing.T) {
	var cfg Config
	f := cfg.Flags()
	if err := service.CheckConfigDoc("../../docs/CONFIG.md", "broker", service.ConfigDocSection(f, docIntro), *updateConfigDoc); err != nil {
		t.Fatal(err)
	}
}

// TestValidate: every bad setting is reported at once, each named, before listening.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "defaults"},
		{name: "everything wrong at once", args: []string{"-addr", "nope", "-data-dir", "", "-partitions", "0", "-admin-addr", "x", "-log-level", "loud"},
			want: []string{`broker: broker addr "nope"`, "broker: broker data dir", "broker: broker partitions 0", `broker.admin_addr "x"`, `log.level "loud"`}},
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
					t.Fatalf("valid configuration refused: %v", err)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestValidateFlag: `broker -validate` neither listens nor creates its data directory.
func TestValidateFlag(t *testing.T) {
	var cfg Config
	var stdout, stderr bytes.Buffer
	dir := t.TempDir() + "/never-created"
	code, done := service.Configure([]string{"-validate", "-data-dir", dir}, cfg.Flags(), &cfg.Common, &cfg, &stdout, &stderr)
	if !done || code != 0 || stdout.String() != "configuration ok\n" {
		t.Fatalf("done %v, code %d, stdout %q, stderr %q", done, code, stdout.String(), stderr.String())
	}
}
