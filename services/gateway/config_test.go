package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/ingest"
	"github.com/engage-oss/engage/internal/service"
)

var updateConfigDoc = flag.Bool("update-config-doc", false, "rewrite this service's section of docs/CONFIG.md")

// TestConfigDoc pins the gateway's section of docs/CONFIG.md to its flags.
func TestConfigDoc(t *testing.T) {
	var cfg Config
	f := cfg.Flags()
	if err := service.CheckConfigDoc("../../docs/CONFIG.md", "gateway", service.ConfigDocSection(f, docIntro), *updateConfigDoc); err != nil {
		t.Fatal(err)
	}
}

// parse returns the configuration that args and env (NAME=value) give.
func parse(t *testing.T, args []string, env ...string) Config {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var cfg Config
	if err := cfg.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestValidate: every bad setting is reported at once, each named, before any I/O.
func TestValidate(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(keyFile, []byte("k1\nk2:acme,globex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  []string
		want []string // every one must be named; none: valid
	}{
		{name: "dev defaults", args: []string{"-dev"}},
		{name: "keys from the list", args: []string{"-write-keys", "k1-0123456789abcdef,k2:acme|globex"}},
		{name: "an account written with the old separator", args: []string{"-write-keys", "k2:acme,globex"}, want: []string{"separate accounts with '|'"}},
		{name: "no keys outside dev mode", want: []string{"gateway.write_keys: no write keys"}},
		{
			name: "everything wrong at once",
			args: []string{"-kafka-brokers", "", "-topic-partitions", "0", "-topic-replication", "-1", "-addr", "nope",
				"-write-keys", "k1:", "-max-body-bytes", "-1", "-rate-limit", "-5", "-log-level", "loud"},
			want: []string{"kafka.brokers: must not be empty", "topic.partitions", "topic.replication", "gateway.addr \"nope\"",
				"gateway.write_keys: ", "ingest: MaxBodyBytes", "ingest: RateLimit", "log.level \"loud\""},
		},
		{name: "drain delay", args: []string{"-dev", "-drain-delay", "5s"}},
		{name: "drain delay past the shutdown deadline", args: []string{"-dev", "-drain-delay", "6s"}, want: []string{"gateway.drain_delay 6s: must be in [0, 5s]"}},
		{name: "broker without port", args: []string{"-dev", "-kafka-brokers", "kafka"}, want: []string{`kafka.brokers "kafka": not host:port`}},
		{name: "in-flight below two bodies", args: []string{"-dev", "-max-body-bytes", "1000", "-max-inflight-bytes", "1500"}, want: []string{"ingest: MaxInflightBytes"}},
		{name: "key file with the old account separator", env: []string{"WRITE_KEYS_FILE=" + keyFile},
			want: []string{"gateway.write_keys_file: ", "line 2", "separate accounts with '|'"}},
		{name: "missing key file", args: []string{"-write-keys-file", filepath.Join(t.TempDir(), "nope.txt")}, want: []string{"gateway.write_keys_file: ", "nope.txt"}},
		{name: "both key sources", args: []string{"-write-keys", "k1", "-write-keys-file", keyFile}, want: []string{"gateway.write_keys_file: set either"}},
		{name: "bad environment value is named", env: []string{"WRITE_KEYS=k 1"}, want: []string{"gateway.write_keys: ", "spaces"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parse(t, tt.args, tt.env...).Validate()
			testenv.WantErrors(t, err, tt.want...)
		})
	}
}

// TestValidateFlag runs the path of `gateway -validate` in process: "configuration ok" and
// exit 0, or every problem on stderr and a non-zero exit, without connecting anywhere (the
// brokers named here do not exist).
func TestValidateFlag(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string
		wantErrOut []string
	}{
		{"ok", []string{"-validate", "-dev", "-kafka-brokers", "nowhere.invalid:9092"}, 0, "configuration ok\n", nil},
		{"bad", []string{"-validate", "-kafka-brokers", "nowhere.invalid:9092", "-topic-partitions", "0"}, 1, "",
			[]string{"gateway: invalid configuration:", "  topic.partitions 0: must be at least 1", "  gateway.write_keys: no write keys"}},
		{"bad without -validate stops too", []string{"-topic-partitions", "0", "-dev"}, 1, "", []string{"topic.partitions"}},
		{"unparsable flag", []string{"-validate", "-topic-partitions", "many"}, 2, "", []string{"-topic-partitions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			f := cfg.Flags()
			var stdout, stderr bytes.Buffer
			code, done := service.Configure(tt.args, f, &cfg.Common, &cfg, &stdout, &stderr)
			if !done || code != tt.wantCode || stdout.String() != tt.wantOut {
				t.Fatalf("done %v, code %d, stdout %q, stderr %q; want code %d, stdout %q", done, code, stdout.String(), stderr.String(), tt.wantCode, tt.wantOut)
			}
			for _, w := range tt.wantErrOut {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

// TestDevKey: the dev key is accepted only in dev mode and only when no key is configured;
// -write-key replaces it.
func TestDevKey(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		key     string
		allowed bool
	}{
		{"dev mode, no keys", []string{"-dev"}, ingest.DevWriteKey, true},
		{"dev mode, own dev key", []string{"-dev", "-write-key", "mine"}, "mine", true},
		{"dev mode, own dev key replaces the default", []string{"-dev", "-write-key", "mine"}, ingest.DevWriteKey, false},
		{"dev mode with configured keys", []string{"-dev", "-write-keys", "real"}, ingest.DevWriteKey, false},
		{"production", []string{"-write-keys", "real"}, ingest.DevWriteKey, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := parse(t, tt.args).keys()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := keys.Authenticate(tt.key); ok != tt.allowed {
				t.Errorf("key %q accepted = %v, want %v", tt.key, ok, tt.allowed)
			}
		})
	}
}

// TestTopicReplication: topics created outside dev mode are replicated 3 times unless 1 is
// asked for explicitly; dev mode's single broker gets 1.
func TestTopicReplication(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		want int
	}{
		{"production default", nil, nil, kafka.DefaultReplication},
		{"dev mode", []string{"-dev"}, nil, kafka.DevReplication},
		{"explicit 1 outside dev mode", nil, []string{"TOPIC_REPLICATION=1"}, 1},
		{"explicit 2 in dev mode", []string{"-dev", "-topic-replication", "2"}, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parse(t, tt.args, tt.env...)
			if got := cfg.Kafka.Topics(cfg.Dev).Replication; got != tt.want {
				t.Errorf("replication %d, want %d", got, tt.want)
			}
		})
	}
}
