// Package clickhouse connects engage to ClickHouse and applies its schema migrations.
//
// Everything here works with Debian's ClickHouse 18.16 and with current releases, which
// constrains how the rest of engage talks to ClickHouse:
//   - Native protocol only (18.16's HTTP interface does not work with clickhouse-go/v2).
//     LZ4 compression is on by default; 18.16 handles it.
//   - Rows go in through PrepareBatch("INSERT INTO t (col, ...)") with an explicit column
//     list. 18.16 expects the client to parse inline data, so Exec("INSERT ... VALUES ...")
//     or "... FORMAT ..." hangs until the read timeout. The connection Open returns refuses
//     such an Exec at once with ErrInlineInsert, on every server version, so the mistake
//     shows in tests instead of as a five-minute stall. INSERT ... SELECT is fine.
//   - AsyncInsert does not exist on 18.16 ("Unknown setting async_insert").
//
// # Migrations and the database they land in
//
// Migrate applies NNNN_description.sql files in numeric order, each exactly once, recording
// version, name and SHA-256 checksum in schema_migrations in the target database. The SQL is
// written without database qualifiers and Migrate runs it on a connection whose default
// database is the target (Open with Config.Database set; Migrate checks this and refuses
// otherwise). That is enough because ClickHouse, 18.16 and current releases alike, qualifies
// every table name in CREATE VIEW / CREATE MATERIALIZED VIEW (FROM, JOIN, IN, UNION,
// subqueries, TO) with the current database when the view is created, and stores the
// qualified query: a view created in database X reads X's tables whoever queries it.
//
// The exceptions are names that a function resolves when the view is *queried*, against the
// caller's database: joinGet('table', ...) (which on 18.16 cannot be qualified at all),
// currentDatabase(), and merge(currentDatabase(), ...). Migrations must not use them in
// views. There is no {db} placeholder: it could not fix joinGet on 18.16, and a single way
// of writing migrations keeps them portable.
//
// ClickHouse has no transactional DDL, and 18.16 has no IF [NOT] EXISTS for ALTER ... COLUMN,
// so a file that failed half-way cannot simply run again from the top. When a statement
// fails, Migrate records the statements before it (by number and checksum); the next run
// skips them and resumes at the failed one, which may have been fixed meanwhile. Editing a
// statement that already ran is ErrChecksumMismatch. Only a process killed in the middle of
// a file loses that progress, so still prefer statements that tolerate a re-run (CREATE ...
// IF NOT EXISTS) where ClickHouse offers them. Run migrations from one process at a time;
// concurrent runs are harmless only for such statements (a duplicate record is ignored).
// In schema_migrations, rows with statement = 0 are the applied migrations (checksum of the
// file); rows with statement = n record statement n of a migration that failed later on.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Defaults for zero fields of Config.
const (
	DefaultAddr            = "127.0.0.1:9000"
	DefaultDatabase        = "engagement"
	DefaultUsername        = "default"
	DefaultDialTimeout     = 10 * time.Second
	DefaultReadTimeout     = 5 * time.Minute
	DefaultMaxOpenConns    = 10
	DefaultMaxIdleConns    = 5
	DefaultConnMaxLifetime = time.Hour
	DefaultCompression     = "lz4"
)

// Config describes a connection pool to one ClickHouse server.
type Config struct {
	// Addr is host:port of the native protocol. Default DefaultAddr (127.0.0.1:9000).
	Addr string
	// Database is the connection's default database: where unqualified names resolve.
	// It must exist for Open to succeed (Setup creates it). Default DefaultDatabase
	// (engagement).
	Database string
	// Username defaults to DefaultUsername (default); Password to empty.
	Username string
	Password string

	// DialTimeout bounds connecting and the handshake. Default DefaultDialTimeout (10 s).
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for each server packet. Default DefaultReadTimeout (5 min).
	ReadTimeout time.Duration
	// MaxOpenConns defaults to DefaultMaxOpenConns (10), MaxIdleConns to
	// DefaultMaxIdleConns (5), ConnMaxLifetime to DefaultConnMaxLifetime (1 h).
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration

	// Compression of the native protocol: "lz4", "zstd" or "none". Default "lz4".
	Compression string
	// Settings are sent with every query. Each must exist on the oldest server in use: 18.16
	// fails the query on an unknown setting. Default none.
	Settings map[string]any
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.Username == "" {
		c.Username = DefaultUsername
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = DefaultMaxOpenConns
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	if c.ConnMaxLifetime == 0 {
		c.ConnMaxLifetime = DefaultConnMaxLifetime
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	return c
}

var compressions = map[string]ch.CompressionMethod{
	"lz4":  ch.CompressionLZ4,
	"zstd": ch.CompressionZSTD,
	"none": ch.CompressionNone,
}

// Validate reports the first invalid field of c (after defaults), by name.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case CheckAddr(c.Addr) != nil:
		return fmt.Errorf("clickhouse: Config.Addr %q is not host:port", c.Addr)
	case c.DialTimeout < 0:
		return fmt.Errorf("clickhouse: Config.DialTimeout %s is negative", c.DialTimeout)
	case c.ReadTimeout < 0:
		return fmt.Errorf("clickhouse: Config.ReadTimeout %s is negative", c.ReadTimeout)
	case c.MaxOpenConns < 0:
		return fmt.Errorf("clickhouse: Config.MaxOpenConns %d is negative", c.MaxOpenConns)
	case c.MaxIdleConns < 0:
		return fmt.Errorf("clickhouse: Config.MaxIdleConns %d is negative", c.MaxIdleConns)
	case c.ConnMaxLifetime < 0:
		return fmt.Errorf("clickhouse: Config.ConnMaxLifetime %s is negative", c.ConnMaxLifetime)
	}
	if err := checkName(c.Database); err != nil {
		return fmt.Errorf("clickhouse: Config.Database: %w", err)
	}
	if _, ok := compressions[c.Compression]; !ok {
		return fmt.Errorf("clickhouse: Config.Compression %q is not lz4, zstd or none", c.Compression)
	}
	return nil
}

// CheckAddr reports whether addr is a valid Config.Addr (host:port), for configuration
// checks that name the setting themselves.
func CheckAddr(addr string) error {
	if !hostPort.MatchString(addr) {
		return errors.New("not host:port")
	}
	return nil
}

// CheckDatabase reports whether name is a valid Config.Database.
func CheckDatabase(name string) error { return checkName(name) }

var hostPort = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[^:\s\[\]]+):[0-9]{1,5}$`)

// Open connects to cfg.Addr and checks the connection with a ping. The returned connection
// refuses Exec of inline-data INSERTs with ErrInlineInsert (see the package doc).
func Open(ctx context.Context, cfg Config) (driver.Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	conn, err := ch.Open(&ch.Options{
		Protocol: ch.Native,
		Addr:     []string{cfg.Addr},
		Auth: ch.Auth{
			Database: cfg.Database,
			Username: cfg.Username,
			Password: cfg.Password,
		},
		DialTimeout:     cfg.DialTimeout,
		ReadTimeout:     cfg.ReadTimeout,
		MaxOpenConns:    cfg.MaxOpenConns,
		MaxIdleConns:    cfg.MaxIdleConns,
		ConnMaxLifetime: cfg.ConnMaxLifetime,
		Compression:     &ch.Compression{Method: compressions[cfg.Compression]},
		Settings:        ch.Settings(cfg.Settings),
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: opening ClickHouse at %s: %w", cfg.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse: connecting to ClickHouse at %s, database %s: %w", cfg.Addr, cfg.Database, err)
	}
	return guardedConn{conn}, nil
}

// Setup is what a service does at start-up: create cfg.Database if needed, connect to it and
// apply the migrations in dir of migrations.
func Setup(ctx context.Context, cfg Config, migrations fs.FS, dir string) (driver.Conn, error) {
	cfg = cfg.withDefaults()
	boot := cfg
	boot.Database = "default" // exists on every server; cfg.Database may not yet
	boot.MaxOpenConns, boot.MaxIdleConns = 1, 1
	bconn, err := Open(ctx, boot)
	if err != nil {
		return nil, err
	}
	err = EnsureDatabase(ctx, bconn, cfg.Database)
	bconn.Close()
	if err != nil {
		return nil, err
	}
	conn, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, conn, cfg.Database, migrations, dir); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// EnsureDatabase creates database name unless it exists.
func EnsureDatabase(ctx context.Context, conn driver.Conn, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("clickhouse: creating database: %w", err)
	}
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(name)); err != nil {
		return fmt.Errorf("clickhouse: creating database %s: %w", name, err)
	}
	return nil
}

// DropDatabase drops database name and everything in it, if it exists.
func DropDatabase(ctx context.Context, conn driver.Conn, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("clickhouse: dropping database: %w", err)
	}
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)); err != nil {
		return fmt.Errorf("clickhouse: dropping database %s: %w", name, err)
	}
	return nil
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// checkName accepts plain identifiers only. Database names end up in file names on the
// server and in SQL built here, so nothing that would need escaping is allowed.
func checkName(name string) error {
	if !identifier.MatchString(name) {
		return fmt.Errorf("database name %q is not an identifier of letters, digits and _ (at most 128)", name)
	}
	return nil
}

func quoteIdent(name string) string { return "`" + name + "`" }

// ErrInlineInsert is returned by Exec on a connection from Open for an INSERT that carries
// its rows in the query text (VALUES or FORMAT); use PrepareBatch instead.
var ErrInlineInsert = errors.New("clickhouse: INSERT with inline VALUES/FORMAT data hangs on ClickHouse 18.16; use PrepareBatch with a column list")

// guardedConn turns the 18.16 inline-INSERT hang into an immediate error.
type guardedConn struct{ driver.Conn }

func (c guardedConn) Exec(ctx context.Context, query string, args ...any) error {
	if isInlineInsert(query) {
		return fmt.Errorf("%w: %s", ErrInlineInsert, abbreviate(query))
	}
	return c.Conn.Exec(ctx, query, args...)
}
