package main

import (
	"bytes"
	"flag"
	"testing"

	"github.com/engage-oss/engage/internal/dev/testenv"
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
			want: []string{`broker: Addr "nope"`, "broker: DataDir: must be set (data must survive a restart) (set by -data-dir or BROKER_DATA_DIR)",
				"broker: Partitions 0: must be 1..1024 (set by -partitions or BROKER_PARTITIONS)", `broker.admin_addr "x"`, `log.level "loud"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			f := cfg.Flags()
			if err := f.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			testenv.WantErrors(t, f.Explain(&cfg, cfg.Validate()), tt.want...)
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
