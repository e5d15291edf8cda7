package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/service"
)

var updateConfigDoc = flag.Bool("update-config-doc", false, "rewrite this service's section of docs/CONFIG.md")

// TestConfigDoc pins the worker's section of docs/CONFIG.md to its flags.
func TestConfigDoc(t *testing.T) {
	var cfg Config
	f := cfg.Flags()
	if err := service.CheckConfigDoc("../../docs/CONFIG.md", "worker", service.ConfigDocSection(f, docIntro), *updateConfigDoc); err != nil {
		t.Fatal(err)
	}
}

// TestValidate: every bad setting is reported at once, each named, before any I/O.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // every one must be named; none: valid
	}{
		{name: "defaults", args: nil},
		{
			name: "everything wrong at once",
			args: []string{"-kafka-brokers", "", "-topic-partitions", "0", "-clickhouse-addr", "clickhouse", "-clickhouse-database", "my-db",
				"-admin-addr", "nope", "-max-batch", "0", "-flush-interval", "10s", "-log-level", "loud"},
			want: []string{"kafka.brokers: must not be empty", "topic.partitions 0", `clickhouse.addr "clickhouse"`, `clickhouse.database "my-db"`,
				`worker.admin_addr "nope"`, "worker: MaxBatchRecords 0: must be positive (set by -max-batch or WORKER_MAX_BATCH)",
				"worker: FlushInterval 10s: must be in (0, 5s] to keep views fresh (set by -flush-interval or WORKER_FLUSH_INTERVAL)", `log.level "loud"`},
		},
		{name: "session rules", args: []string{"-idle-threshold", "1h"}, want: []string{"worker: Session: ", "IdleThreshold 1h0m0s must be in (0, SessionTimeout=30m0s] (set by -idle-threshold or IDLE_THRESHOLD)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			f := cfg.Flags()
			if err := f.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := f.Explain(&cfg, cfg.Validate())
			testenv.WantErrors(t, err, tt.want...)
		})
	}
}

// TestValidateFlag: `worker -validate` checks without connecting (nothing listens on the
// addresses given) and exits non-zero naming the bad setting.
func TestValidateFlag(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"-validate", "-kafka-brokers", "127.0.0.1:1", "-clickhouse-addr", "127.0.0.1:1"}, 0, "configuration ok"},
		{[]string{"-validate", "-max-batch", "-3"}, 1, "MaxBatchRecords -3: must be positive (set by -max-batch or WORKER_MAX_BATCH)"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var cfg Config
			var stdout, stderr bytes.Buffer
			code, done := service.Configure(tt.args, cfg.Flags(), &cfg.Common, &cfg, &stdout, &stderr)
			if !done || code != tt.wantCode || !strings.Contains(stdout.String()+stderr.String(), tt.want) {
				t.Fatalf("done %v, code %d, stdout %q, stderr %q; want code %d and %q", done, code, stdout.String(), stderr.String(), tt.wantCode, tt.want)
			}
		})
	}
}
