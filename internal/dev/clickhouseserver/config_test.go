package clickhouseserver

import (
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" means valid
	}{
		{name: "minimal", cfg: Config{Dir: "x"}},
		{name: "explicit ports", cfg: Config{Dir: "x", TCPPort: 9000, HTTPPort: 8123}},
		{name: "no dir", cfg: Config{}, wantErr: "Config.Dir"},
		{name: "negative tcp port", cfg: Config{Dir: "x", TCPPort: -1}, wantErr: "Config.TCPPort"},
		{name: "tcp port too big", cfg: Config{Dir: "x", TCPPort: 70000}, wantErr: "Config.TCPPort"},
		{name: "http port too big", cfg: Config{Dir: "x", HTTPPort: 65536}, wantErr: "Config.HTTPPort"},
		{name: "same ports", cfg: Config{Dir: "x", TCPPort: 9000, HTTPPort: 9000}, wantErr: "both 9000"},
		{name: "negative start timeout", cfg: Config{Dir: "x", StartTimeout: -time.Second}, wantErr: "Config.StartTimeout"},
		{name: "negative stop timeout", cfg: Config{Dir: "x", StopTimeout: -time.Second}, wantErr: "Config.StopTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestFindBinary(t *testing.T) {
	bin := t.TempDir()
	for _, name := range []string{"clickhouse", "my-clickhouse-server"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	empty := t.TempDir()

	tests := []struct {
		name      string
		binary    string
		path      string   // PATH during the test
		fallbacks []string // replaces fallbackBinaries
		wantPath  string
		wantArgs  []string
		wantErr   bool
	}{
		{name: "explicit path", binary: filepath.Join(bin, "my-clickhouse-server"), path: empty,
			wantPath: filepath.Join(bin, "my-clickhouse-server")},
		{name: "explicit name in PATH", binary: "my-clickhouse-server", path: bin,
			wantPath: filepath.Join(bin, "my-clickhouse-server")},
		{name: "all-in-one binary gets server argument", binary: filepath.Join(bin, "clickhouse"), path: empty,
			wantPath: filepath.Join(bin, "clickhouse"), wantArgs: []string{"server"}},
		{name: "explicit but missing", binary: filepath.Join(empty, "clickhouse-server"), path: bin, wantErr: true},
		{name: "fallback outside PATH", path: empty, fallbacks: []string{filepath.Join(bin, "my-clickhouse-server")},
			wantPath: filepath.Join(bin, "my-clickhouse-server")},
		{name: "all-in-one in PATH after fallbacks", path: bin, fallbacks: []string{filepath.Join(empty, "nope")},
			wantPath: filepath.Join(bin, "clickhouse"), wantArgs: []string{"server"}},
		{name: "nothing installed", path: empty, fallbacks: nil, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", tt.path)
			saved := fallbackBinaries
			fallbackBinaries = tt.fallbacks
			t.Cleanup(func() { fallbackBinaries = saved })

			path, args, err := FindBinary(tt.binary)
			if tt.wantErr {
				// The message is what a developer on a fresh machine reads: it must say how to fix it.
				if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "scripts/install-deps.sh") {
					t.Fatalf("FindBinary(%q) error = %v, want ErrNotInstalled with install hint", tt.binary, err)
				}
				return
			}
			if err != nil || path != tt.wantPath || !slices.Equal(args, tt.wantArgs) {
				t.Fatalf("FindBinary(%q) = %q, %q, %v; want %q, %q", tt.binary, path, args, err, tt.wantPath, tt.wantArgs)
			}
		})
	}
}

// TestRenderConfig pins the isolation rules: loopback only, every path under Dir, no port but
// the two configured, and paths escaped so an odd directory name cannot break the XML.
func TestRenderConfig(t *testing.T) {
	dir := "/srv/engage/a&b<c>"
	raw, err := renderConfig(Config{Dir: dir}, 19000, 18123)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		XMLName    xml.Name `xml:"yandex"`
		ListenHost []string `xml:"listen_host"`
		TCPPort    int      `xml:"tcp_port"`
		HTTPPort   int      `xml:"http_port"`
		Path       string   `xml:"path"`
		TmpPath    string   `xml:"tmp_path"`
		UserFiles  string   `xml:"user_files_path"`
		Formats    string   `xml:"format_schema_path"`
		Users      string   `xml:"users_config"`
		Timezone   string   `xml:"timezone"`
		Logger     struct {
			Log      string `xml:"log"`
			ErrorLog string `xml:"errorlog"`
			Size     string `xml:"size"`
		} `xml:"logger"`
	}
	if err := xml.Unmarshal(raw, &got); err != nil {
		t.Fatalf("config.xml does not parse: %v\n%s", err, raw)
	}
	if !slices.Equal(got.ListenHost, []string{"127.0.0.1"}) {
		t.Errorf("listen_host = %q, want only 127.0.0.1", got.ListenHost)
	}
	if got.TCPPort != 19000 || got.HTTPPort != 18123 {
		t.Errorf("ports = %d, %d; want 19000, 18123", got.TCPPort, got.HTTPPort)
	}
	if got.Timezone != "UTC" {
		t.Errorf("timezone = %q, want UTC (days are UTC days)", got.Timezone)
	}
	if got.Logger.Size == "" {
		t.Errorf("logger has no size rotation")
	}
	for name, p := range map[string]string{
		"path": got.Path, "tmp_path": got.TmpPath, "user_files_path": got.UserFiles,
		"format_schema_path": got.Formats, "users_config": got.Users,
		"log": got.Logger.Log, "errorlog": got.Logger.ErrorLog,
	} {
		if !strings.HasPrefix(p, dir+"/") {
			t.Errorf("%s = %q, want a path under %q", name, p, dir)
		}
	}
	for _, banned := range []string{"interserver_http_port", "mysql_port", "postgresql_port", "keeper_server", "query_log"} {
		if strings.Contains(string(raw), banned) {
			t.Errorf("config.xml contains %s", banned)
		}
	}
}

// TestRenderClusterConfig: a cluster node gets remote_servers with every replica of every
// shard, the ZooKeeper ensemble, its macros and the interserver port, and still listens on
// loopback only.
func TestRenderClusterConfig(t *testing.T) {
	cfg := Config{Dir: "/srv/engage/n", InterserverPort: 19009, Cluster: &ClusterConfig{
		Name:      "engage",
		Shards:    [][]string{{"127.0.0.1:19001", "127.0.0.1:19002"}, {"127.0.0.1:19003", "127.0.0.1:19004"}},
		Shard:     "02",
		Replica:   "r1",
		ZooKeeper: []string{"127.0.0.1:12181"},
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	raw, err := renderConfig(cfg, 19003, 18123)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ListenHost      []string `xml:"listen_host"`
		InterserverHost string   `xml:"interserver_http_host"`
		InterserverPort int      `xml:"interserver_http_port"`
		Shards          []struct {
			Internal bool `xml:"internal_replication"`
			Replicas []struct {
				Host string `xml:"host"`
				Port int    `xml:"port"`
			} `xml:"replica"`
		} `xml:"remote_servers>engage>shard"`
		ZooKeeper []struct {
			Host string `xml:"host"`
			Port int    `xml:"port"`
		} `xml:"zookeeper>node"`
		Shard   string `xml:"macros>shard"`
		Replica string `xml:"macros>replica"`
		Cluster string `xml:"macros>cluster"`
	}
	if err := xml.Unmarshal(raw, &got); err != nil {
		t.Fatalf("config.xml does not parse: %v\n%s", err, raw)
	}
	if !slices.Equal(got.ListenHost, []string{"127.0.0.1"}) || got.InterserverHost != "127.0.0.1" || got.InterserverPort != 19009 {
		t.Errorf("listen %q, interserver %s:%d", got.ListenHost, got.InterserverHost, got.InterserverPort)
	}
	if len(got.Shards) != 2 || len(got.Shards[0].Replicas) != 2 || len(got.Shards[1].Replicas) != 2 ||
		got.Shards[1].Replicas[1].Port != 19004 || !got.Shards[0].Internal {
		t.Errorf("remote_servers = %+v", got.Shards)
	}
	if len(got.ZooKeeper) != 1 || got.ZooKeeper[0].Port != 12181 {
		t.Errorf("zookeeper = %+v", got.ZooKeeper)
	}
	if got.Shard != "02" || got.Replica != "r1" || got.Cluster != "engage" {
		t.Errorf("macros = %s %s %s", got.Cluster, got.Shard, got.Replica)
	}

	for _, bad := range []Config{
		{Dir: "x", InterserverPort: 1},
		{Dir: "x", Cluster: cfg.Cluster},
		{Dir: "x", InterserverPort: 1, Cluster: &ClusterConfig{Name: "a-b", Shards: cfg.Cluster.Shards, Shard: "1", Replica: "1", ZooKeeper: cfg.Cluster.ZooKeeper}},
		{Dir: "x", InterserverPort: 1, Cluster: &ClusterConfig{Name: "a", Shards: [][]string{{"nohost"}}, Shard: "1", Replica: "1", ZooKeeper: cfg.Cluster.ZooKeeper}},
	} {
		if bad.Validate() == nil {
			t.Errorf("Validate accepted %+v", bad)
		}
	}
}

func TestTailFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		content  string
		from     int64
		maxBytes int64
		maxLines int
		want     string
	}{
		{name: "whole file", content: "a\nb\nc\n", maxBytes: 100, maxLines: 10, want: "a\nb\nc"},
		{name: "last lines", content: "a\nb\nc\n", maxBytes: 100, maxLines: 2, want: "b\nc"},
		{name: "only after mark", content: "old\nnew\n", from: 4, maxBytes: 100, maxLines: 10, want: "new"},
		{name: "rotated file read from start", content: "x\n", from: 50, maxBytes: 100, maxLines: 10, want: "x"},
		{name: "byte limit drops partial line", content: "aaaa\nbb\ncc\n", maxBytes: 7, maxLines: 10, want: "bb\ncc"},
		{name: "empty", content: "", maxBytes: 100, maxLines: 10, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tt.name, " ", "_"), tt.content)
			if got := tailFile(p, tt.from, tt.maxBytes, tt.maxLines); got != tt.want {
				t.Fatalf("tailFile = %q, want %q", got, tt.want)
			}
		})
	}
	if got := tailFile(filepath.Join(dir, "missing"), 0, 100, 10); got != "" {
		t.Fatalf("tailFile(missing) = %q, want empty", got)
	}
}

func TestBusyPort(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{errors.New("... <Error> Application: Net Exception: Address already in use: 127.0.0.1:40729\n..."), 40729},
		{errors.New("Address already in use: [::1]:9000"), 9000},
		{errors.New("Cannot lock file"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			if got := busyPort(tt.err); got != tt.want {
				t.Fatalf("busyPort = %d, want %d", got, tt.want)
			}
		})
	}
}
