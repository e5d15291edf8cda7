package clickhouse

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "zero value uses defaults", cfg: Config{}},
		{name: "full", cfg: Config{Addr: "db.internal:9440", Database: "engagement_2", Compression: "zstd"}},
		{name: "ipv6", cfg: Config{Addr: "[::1]:9000"}},
		{name: "no port", cfg: Config{Addr: "localhost"}, wantErr: "Config.Addr"},
		{name: "url not addr", cfg: Config{Addr: "clickhouse://localhost:9000"}, wantErr: "Config.Addr"},
		{name: "database with dash", cfg: Config{Database: "my-db"}, wantErr: "Config.Database"},
		{name: "database injection", cfg: Config{Database: "x; DROP DATABASE y"}, wantErr: "Config.Database"},
		{name: "unknown compression", cfg: Config{Compression: "snappy"}, wantErr: "Config.Compression"},
		{name: "negative dial timeout", cfg: Config{DialTimeout: -time.Second}, wantErr: "Config.DialTimeout"},
		{name: "negative read timeout", cfg: Config{ReadTimeout: -time.Second}, wantErr: "Config.ReadTimeout"},
		{name: "negative max open", cfg: Config{MaxOpenConns: -1}, wantErr: "Config.MaxOpenConns"},
		{name: "negative max idle", cfg: Config{MaxIdleConns: -1}, wantErr: "Config.MaxIdleConns"},
		{name: "negative lifetime", cfg: Config{ConnMaxLifetime: -time.Second}, wantErr: "Config.ConnMaxLifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name      string
		files     fstest.MapFS
		wantNames []string
		wantErr   string
	}{
		{
			name: "numeric not lexical order, other files ignored",
			files: fstest.MapFS{
				"m/10_ten.sql":     file("SELECT 10"),
				"m/9_nine.sql":     file("SELECT 9"),
				"m/0001_one.sql":   file("SELECT 1; SELECT 11"),
				"m/README.md":      file("not sql"),
				"m/sub/0002_x.sql": file("SELECT 2"),
			},
			wantNames: []string{"0001_one.sql", "9_nine.sql", "10_ten.sql"},
		},
		{name: "empty dir", files: fstest.MapFS{"m/.keep": file("")}, wantNames: nil},
		{name: "bad name", files: fstest.MapFS{"m/add_users.sql": file("SELECT 1")},
			wantErr: "add_users.sql: name is not NNNN_description.sql"},
		{name: "version zero", files: fstest.MapFS{"m/0000_zero.sql": file("SELECT 1")},
			wantErr: "0000_zero.sql: version 0000"},
		{name: "version too big", files: fstest.MapFS{"m/99999999999_big.sql": file("SELECT 1")},
			wantErr: "99999999999_big.sql: version"},
		{name: "duplicate version", files: fstest.MapFS{
			"m/0002_a.sql": file("SELECT 1"), "m/2_b.sql": file("SELECT 2"),
		}, wantErr: "have the same version 2"},
		{name: "no statements", files: fstest.MapFS{"m/0001_empty.sql": file("-- todo\n")},
			wantErr: "0001_empty.sql has no statements"},
		{name: "lex error names file", files: fstest.MapFS{"m/0001_bad.sql": file("SELECT 'x")},
			wantErr: "0001_bad.sql: unterminated"},
		{name: "missing dir", files: fstest.MapFS{}, wantErr: "reading migrations in m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := LoadMigrations(tt.files, "m")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadMigrations error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, m := range ms {
				names = append(names, m.Name)
				if len(m.Checksum) != 64 {
					t.Errorf("%s: checksum %q is not hex SHA-256", m.Name, m.Checksum)
				}
			}
			if strings.Join(names, ",") != strings.Join(tt.wantNames, ",") {
				t.Fatalf("order = %q, want %q", names, tt.wantNames)
			}
		})
	}
}

// TestLoadFixtures keeps the fixtures used by the integration tests well-formed.
func TestLoadFixtures(t *testing.T) {
	ms, err := LoadMigrations(os.DirFS("testdata"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name       string
		statements int
	}{{"0001_tables.sql", 2}, {"0002_views.sql", 3}, {"0010_alter.sql", 1}}
	if len(ms) != len(want) {
		t.Fatalf("got %d migrations, want %d", len(ms), len(want))
	}
	for i, w := range want {
		if ms[i].Name != w.name || len(ms[i].Statements) != w.statements {
			t.Errorf("migration %d = %s with %d statements, want %s with %d",
				i, ms[i].Name, len(ms[i].Statements), w.name, w.statements)
		}
	}
}
