package service

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/adapters/kafka"
)

// testConfig is a service configuration made of the shared groups.
type testConfig struct {
	Common
	Kafka      Kafka
	ClickHouse ClickHouse
}

func (c *testConfig) flags() *Flags {
	f := NewFlags("svc")
	c.Kafka.Register(f)
	c.ClickHouse.Register(f)
	c.Common.Register(f, "dev mode")
	return f
}

func (c testConfig) Validate() error {
	return errors.Join(c.Common.Validate(), c.Kafka.Validate(), c.ClickHouse.Validate())
}

// TestGroupsValidate: the shared groups name every bad setting, all at once.
func TestGroupsValidate(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "defaults"},
		{
			name: "every group wrong",
			args: []string{"-kafka-brokers", "a:1,nope", "-topic-partitions", "0", "-topic-replication", "-2",
				"-clickhouse-addr", "ch", "-clickhouse-database", "a-b", "-clickhouse-user", "", "-log-level", "chatty"},
			want: []string{`kafka.brokers "nope": not host:port`, "topic.partitions 0: must be at least 1", "topic.replication -2",
				`clickhouse.addr "ch": not host:port`, `clickhouse.database "a-b"`, "clickhouse.user: must not be empty", `log.level "chatty"`},
		},
		{name: "no brokers", args: []string{"-kafka-brokers", " , "}, want: []string{"kafka.brokers: must not be empty"}},
		{name: "cluster mode", args: []string{"-clickhouse-cluster", "engage", "-clickhouse-zookeeper", "zk1:2181,zk2:2181"}},
		{name: "cluster without ZooKeeper", args: []string{"-clickhouse-cluster", "engage"}, want: []string{"clickhouse.zookeeper: cluster mode needs"}},
		{name: "cluster without ZooKeeper, no migrations", args: []string{"-clickhouse-cluster", "engage", "-migrate=false"}},
		{name: "bad cluster name", args: []string{"-clickhouse-cluster", "my-cluster", "-clickhouse-zookeeper", "zk:2181"}, want: []string{`clickhouse.cluster "my-cluster"`}},
		{name: "ZooKeeper without cluster", args: []string{"-clickhouse-zookeeper", "zk:2181"}, want: []string{"clickhouse.zookeeper: only used in cluster mode"}},
		{name: "bad ZooKeeper address", args: []string{"-clickhouse-cluster", "engage", "-clickhouse-zookeeper", "zk"}, want: []string{`clickhouse.zookeeper "zk": not host:port`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c testConfig
			if err := c.flags().Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if got := len(Flatten(err)); got != len(tt.want) {
				t.Errorf("%d errors, want %d:\n%v", got, len(tt.want), err)
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestTopicReplicationDefault: 3 outside dev mode, 1 in dev mode, an explicit value always.
func TestTopicReplicationDefault(t *testing.T) {
	tests := []struct {
		args []string
		dev  bool
		want int
	}{
		{nil, false, kafka.DefaultReplication},
		{nil, true, kafka.DevReplication},
		{[]string{"-topic-replication", "1"}, false, 1},
		{[]string{"-topic-replication", "3"}, true, 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.args, tt.dev), func(t *testing.T) {
			var k Kafka
			f := NewFlags("t")
			k.Register(f)
			if err := f.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got := k.Topics(tt.dev).Replication; got != tt.want {
				t.Errorf("replication %d, want %d", got, tt.want)
			}
		})
	}
}

// TestConfigure walks the start of service.Main: -h, flag errors, invalid configuration,
// and -validate.
func TestConfigure(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantDone   bool
		wantStdout string
		wantStderr []string
	}{
		{"valid starts", nil, 0, false, "", nil},
		{"-validate valid", []string{"-validate"}, 0, true, "configuration ok\n", nil},
		{"-validate invalid", []string{"-validate", "-topic-partitions", "0", "-clickhouse-addr", "x"}, 1, true, "",
			[]string{"svc: invalid configuration:\n", "\n  topic.partitions 0: must be at least 1\n", "\n  clickhouse.addr \"x\": not host:port\n"}},
		{"invalid without -validate", []string{"-log-level", "x"}, 1, true, "", []string{`log.level "x"`}},
		{"help", []string{"-h"}, 0, true, "", []string{"-topic-replication (env TOPIC_REPLICATION, default \"3 (1 in dev mode)\")", "-validate (env none"}},
		{"unknown flag", []string{"-nope"}, 2, true, "", []string{"-nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c testConfig
			var stdout, stderr bytes.Buffer
			code, done := Configure(tt.args, c.flags(), &c.Common, &c, &stdout, &stderr)
			if code != tt.wantCode || done != tt.wantDone || stdout.String() != tt.wantStdout {
				t.Fatalf("code %d done %v stdout %q (stderr %q); want %d %v %q", code, done, stdout.String(), stderr.String(), tt.wantCode, tt.wantDone, tt.wantStdout)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

// TestFlatten: joined errors, also inside one wrapper, come out one by one.
func TestFlatten(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	err := errors.Join(a, fmt.Errorf("wrapped: %w", errors.Join(b, c)), nil)
	var got []string
	for _, e := range Flatten(err) {
		got = append(got, e.Error())
	}
	if strings.Join(got, "|") != "a|wrapped: b|wrapped: c" {
		t.Errorf("Flatten = %q", got)
	}
	if Flatten(nil) != nil || Section("s", nil) != nil {
		t.Error("nil is not flattened to nothing")
	}
	if s := Section("ingest", errors.Join(a, b)); len(s) != 2 || s[1].Error() != "ingest: b" || !errors.Is(s[1], b) {
		t.Errorf("Section = %v", s)
	}
}

// TestTable: the documented defaults are the declared ones, whatever the environment says,
// in declaration order, with '|' escaped.
func TestTable(t *testing.T) {
	t.Setenv("ENGAGE_TEST_B", "from-env")
	var a, b string
	var n int
	f := NewFlags("t")
	f.String(&b, "b", "ENGAGE_TEST_B", "def-b", "second | with a pipe")
	f.String(&a, "a", "", "", "first")
	f.Int(&n, "n", "ENGAGE_TEST_N", 0, "depends")
	f.DocDefault("n", "the number of CPUs")
	want := "| flag | environment | default | meaning |\n|---|---|---|---|\n" +
		"| `-b` | `ENGAGE_TEST_B` | `def-b` | second \\| with a pipe |\n" +
		"| `-a` | — | empty | first |\n" +
		"| `-n` | `ENGAGE_TEST_N` | the number of CPUs | depends |\n"
	if got := f.Table(); got != want {
		t.Errorf("Table:\n%s\nwant:\n%s", got, want)
	}
}

// TestCheckConfigDoc: a stale or missing section fails with the regeneration command, and
// update mode writes the section in place or appends it.
func TestCheckConfigDoc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "CONFIG.md")
	doc := "# Intro\n\n<!-- BEGIN a -->\nold a\n<!-- END a -->\n\ntail\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckConfigDoc(path, "a", "old a\n", false); err != nil {
		t.Errorf("fresh section: %v", err)
	}
	for _, section := range []string{"a", "b"} {
		err := CheckConfigDoc(path, section, "new "+section+"\n", false)
		if err == nil || !strings.Contains(err.Error(), ConfigDocUpdateHint) {
			t.Errorf("section %s: err %v, want one saying %q", section, err, ConfigDocUpdateHint)
		}
	}
	for _, section := range []string{"a", "b"} {
		if err := CheckConfigDoc(path, section, "new "+section+"\n", true); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Intro\n\n<!-- BEGIN a -->\nnew a\n<!-- END a -->\n\ntail\n\n<!-- BEGIN b -->\nnew b\n<!-- END b -->\n"
	if string(got) != want {
		t.Errorf("updated file:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Stat(path + ".lock"); !os.IsNotExist(err) {
		t.Errorf("lock file left behind: %v", err)
	}
}

// TestExplain: an error naming a Go field gets the flag and variable that set it; a field
// name two flags share, or a message naming no field, is left as it is.
func TestExplain(t *testing.T) {
	type inner struct {
		Addr    string
		Timeout time.Duration
	}
	var cfg struct {
		A, B  inner
		Limit int
	}
	f := NewFlags("svc")
	f.String(&cfg.A.Addr, "a-addr", "A_ADDR", "", "")
	f.String(&cfg.B.Addr, "b-addr", "B_ADDR", "", "")
	f.Duration(&cfg.A.Timeout, "timeout", "TIMEOUT", 0, "")
	f.Int(&cfg.Limit, "limit", "", 0, "")
	for _, tc := range []struct{ in, want string }{
		{"Timeout -1s: must be positive", "Timeout -1s: must be positive (set by -timeout or TIMEOUT)"},
		{"Limit 0 must exceed Timeout", "Limit 0 must exceed Timeout (set by -limit)"},
		{"Addr: not host:port", "Addr: not host:port"},
		{"LimitX is no field", "LimitX is no field"},
	} {
		got := f.Explain(&cfg, errors.New(tc.in))
		if got == nil || got.Error() != tc.want {
			t.Errorf("Explain(%q) = %v, want %q", tc.in, got, tc.want)
		}
	}
	if f.Explain(&cfg, nil) != nil {
		t.Error("Explain(nil) is not nil")
	}
}
