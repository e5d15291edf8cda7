package clickhouse

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name    string
		sql     string
		want    []string
		wantErr string
	}{
		{name: "one without terminator", sql: "SELECT 1", want: []string{"SELECT 1"}},
		{name: "two at line ends", sql: "SELECT 1;\nSELECT 2;\n", want: []string{"SELECT 1", "SELECT 2"}},
		{name: "line comments stripped", sql: "-- head\nSELECT 1 -- tail\n;\n-- only a comment\n",
			want: []string{"SELECT 1"}},
		{name: "comment between tokens keeps them apart", sql: "SELECT--c\n1", want: []string{"SELECT\n1"}},
		{name: "block comment", sql: "SELECT /* ; */ 1;", want: []string{"SELECT   1"}},
		{name: "semicolon and dashes in string", sql: "SELECT 'a;b -- c';SELECT 2",
			want: []string{"SELECT 'a;b -- c'", "SELECT 2"}},
		{name: "escaped quotes", sql: `SELECT 'it\'s;', 'x'';y';`, want: []string{`SELECT 'it\'s;', 'x'';y'`}},
		{name: "quoted identifiers", sql: "SELECT 1 AS `a;b`, 2 AS \"c--d\";",
			want: []string{"SELECT 1 AS `a;b`, 2 AS \"c--d\""}},
		{name: "empty statements dropped", sql: ";;\n ; SELECT 1;;", want: []string{"SELECT 1"}},
		{name: "only comments", sql: "-- nothing\n/* here */\n", want: nil},
		{name: "unterminated string", sql: "SELECT 1;\nSELECT 'oops", wantErr: "unterminated ' quote at line 2"},
		{name: "unterminated comment", sql: "SELECT 1 /* oops", wantErr: "unterminated /* comment at line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitStatements(tt.sql)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("splitStatements error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("splitStatements = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestIsInlineInsert(t *testing.T) {
	tests := []struct {
		query string
		want  bool
	}{
		{"INSERT INTO t (a, b) VALUES (1, 2)", true},
		{"insert into t values (?)", true},
		{"  -- c\n INSERT INTO db.t FORMAT TSV", true},
		{"INSERT INTO t (a) SETTINGS x = 1 VALUES (1)", true},
		{"INSERT INTO t (a, b) SELECT a, b FROM u", false},
		{"INSERT INTO t SELECT * FROM u WHERE s = 'VALUES'", false},
		{"INSERT INTO t WITH 1 AS x SELECT x", false},
		{"INSERT INTO t (`values`, format) SELECT 1, 2", false},
		{"SELECT 'INSERT INTO t VALUES'", false},
		{"CREATE TABLE values (x UInt8) ENGINE = Memory", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			if got := isInlineInsert(tt.query); got != tt.want {
				t.Fatalf("isInlineInsert(%q) = %v, want %v", tt.query, got, tt.want)
			}
		})
	}
}

func TestAbbreviate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"  CREATE VIEW v AS\nSELECT 1", "CREATE VIEW v AS …"},
		{strings.Repeat("x", 100), strings.Repeat("x", 80) + " …"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := abbreviate(tt.in); got != tt.want {
				t.Fatalf("abbreviate(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
