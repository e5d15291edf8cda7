package clickhouse

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Errors of Migrate, wrapped with the file or database they concern.
var (
	// ErrChecksumMismatch: a migration file changed after it was applied. Add a new
	// migration instead of editing an applied one.
	ErrChecksumMismatch = errors.New("migration changed after it was applied")
	// ErrUnknownMigration: the database has a migration that is not in the set, typically
	// because it was migrated by a newer build.
	ErrUnknownMigration = errors.New("database has a migration this build does not know")
	// ErrWrongDatabase: the connection's default database is not the migration target, so
	// unqualified names in the migrations would land elsewhere.
	ErrWrongDatabase = errors.New("connection's default database is not the migration target")
)

// MigrationsTable records applied migrations in each migrated database.
const MigrationsTable = "schema_migrations"

// Migration is one NNNN_description.sql file.
type Migration struct {
	Version    uint32
	Name       string // file name, e.g. 0001_events.sql
	Checksum   string // hex SHA-256 of the file's bytes
	Statements []string
}

var migrationName = regexp.MustCompile(`^([0-9]+)_([^/]+)\.sql$`)

// LoadMigrations reads the *.sql files in dir of fsys, sorted by version. Every .sql file
// must be named NNNN_description.sql with a positive, unique version and hold at least one
// statement; other files are ignored.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: reading migrations in %s: %w", dir, err)
	}
	var ms []Migration
	byVersion := map[uint32]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		m := migrationName.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("clickhouse: migration %s: name is not NNNN_description.sql", name)
		}
		v, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("clickhouse: migration %s: version %s is not in 1..%d", name, m[1], uint32(1<<32-1))
		}
		version := uint32(v)
		if other, dup := byVersion[version]; dup {
			return nil, fmt.Errorf("clickhouse: migrations %s and %s have the same version %d", other, name, version)
		}
		byVersion[version] = name

		raw, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("clickhouse: reading migration %s: %w", name, err)
		}
		stmts, err := splitStatements(string(raw))
		if err != nil {
			return nil, fmt.Errorf("clickhouse: migration %s: %w", name, err)
		}
		if len(stmts) == 0 {
			return nil, fmt.Errorf("clickhouse: migration %s has no statements", name)
		}
		ms = append(ms, Migration{Version: version, Name: name, Checksum: checksum(raw), Statements: stmts})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return ms, nil
}

// applied is what schema_migrations holds about one version.
type applied struct {
	name     string
	checksum string            // the file's, once every statement ran; "" before
	done     map[uint32]string // statement number → checksum, for a migration that failed part-way
}

// Migrate applies the migrations in dir of migrations that database has not recorded yet,
// in version order. conn's default database must be database (see the package doc).
//
// Before applying anything it checks every recorded migration against its file: a changed
// checksum is ErrChecksumMismatch and a recorded version without a file is
// ErrUnknownMigration. Re-running on an up-to-date database changes nothing.
func Migrate(ctx context.Context, conn driver.Conn, database string, migrations fs.FS, dir string) error {
	if err := checkName(database); err != nil {
		return fmt.Errorf("clickhouse: migrating: %w", err)
	}
	ms, err := LoadMigrations(migrations, dir)
	if err != nil {
		return err
	}
	var current string
	if err := conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&current); err != nil {
		return fmt.Errorf("clickhouse: migrating %s: reading the connection's database: %w", database, err)
	}
	if current != database {
		return fmt.Errorf("clickhouse: migrating %s: %w: it is %s; open the connection with Config.Database %q",
			database, ErrWrongDatabase, current, database)
	}

	table := quoteIdent(database) + "." + MigrationsTable
	// statement is 0 on the row saying the whole file ran (checksum of the file), and n on a
	// row saying statement n ran before a later one failed (checksum of the statement).
	// A plain MergeTree: concurrent migrators may record a row twice, and reading keeps the
	// first, which is simpler to reason about than a background merge.
	if err := conn.Exec(ctx, migrationsTableDDL(table, "MergeTree")); err != nil {
		return fmt.Errorf("clickhouse: creating %s: %w", table, err)
	}
	state, err := readApplied(ctx, conn, table)
	if err != nil {
		return err
	}

	known := map[uint32]bool{}
	for _, m := range ms {
		known[m.Version] = true
		if a := state[m.Version]; a != nil && a.checksum != "" && a.checksum != m.Checksum {
			return fmt.Errorf("clickhouse: migration %s in %s: %w (recorded as %s with checksum %s, file now has %s)",
				m.Name, database, ErrChecksumMismatch, a.name, a.checksum, m.Checksum)
		}
	}
	for v, a := range state {
		if !known[v] {
			return fmt.Errorf("clickhouse: migrating %s: %w: version %d (%s) is not in %s",
				database, ErrUnknownMigration, v, a.name, dir)
		}
	}

	for _, m := range ms {
		a := state[m.Version]
		if a != nil && a.checksum != "" {
			continue
		}
		if err := apply(ctx, conn, database, table, m, a); err != nil {
			return err
		}
	}
	return nil
}

// apply runs the statements of m that a failed earlier run did not, then records m. When a
// statement fails it records the ones this run got through, so the next run resumes at the
// failed statement: 18.16 has no ALTER ... IF NOT EXISTS, so running them again could fail.
func apply(ctx context.Context, conn driver.Conn, database, table string, m Migration, prev *applied) error {
	var ran []migrationRow
	for i, stmt := range m.Statements {
		n, sum := uint32(i+1), checksum([]byte(stmt))
		if prev != nil {
			if old, ok := prev.done[n]; ok {
				if old != sum {
					return fmt.Errorf("clickhouse: migration %s in %s: %w: statement %d (%s) ran before the migration failed and was edited since",
						m.Name, database, ErrChecksumMismatch, n, abbreviate(stmt))
				}
				continue
			}
		}
		if err := conn.Exec(ctx, stmt); err != nil {
			err = fmt.Errorf("clickhouse: migration %s in %s, statement %d (%s): %w", m.Name, database, n, abbreviate(stmt), err)
			if len(ran) > 0 {
				// ctx may be what failed the statement; the progress must be saved regardless.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				if rerr := record(rctx, conn, table, ran); rerr != nil {
					err = errors.Join(err, rerr)
				}
			}
			return err
		}
		ran = append(ran, migrationRow{m.Version, m.Name, sum, n})
	}
	return record(ctx, conn, table, []migrationRow{{m.Version, m.Name, m.Checksum, 0}})
}

// migrationsTableDDL creates a table of applied migrations (schema_migrations and, on a
// cluster, schema_migrations_cluster) with the given engine.
func migrationsTableDDL(table, engine string) string {
	return "CREATE TABLE IF NOT EXISTS " + table + ` (
		version    UInt32,
		name       String,
		checksum   String,
		statement  UInt32,
		applied_at DateTime
	) ENGINE = ` + engine + ` ORDER BY (version, statement)`
}

func checksum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func readApplied(ctx context.Context, conn driver.Conn, table string) (map[uint32]*applied, error) {
	rows, err := conn.Query(ctx, "SELECT version, name, checksum, statement FROM "+table+" ORDER BY version, statement, applied_at")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: reading %s: %w", table, err)
	}
	defer rows.Close()
	state := map[uint32]*applied{}
	for rows.Next() {
		var r migrationRow
		if err := rows.Scan(&r.version, &r.name, &r.checksum, &r.statement); err != nil {
			return nil, fmt.Errorf("clickhouse: reading %s: %w", table, err)
		}
		a := state[r.version]
		if a == nil {
			a = &applied{name: r.name, done: map[uint32]string{}}
			state[r.version] = a
		}
		// Rows come oldest first, so a duplicate from a concurrent migrator is dropped.
		switch {
		case r.statement == 0 && a.checksum == "":
			a.checksum = r.checksum
		case r.statement > 0:
			if _, dup := a.done[r.statement]; !dup {
				a.done[r.statement] = r.checksum
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: reading %s: %w", table, err)
	}
	return state, nil
}

type migrationRow struct {
	version   uint32
	name      string
	checksum  string
	statement uint32
}

func record(ctx context.Context, conn driver.Conn, table string, rows []migrationRow) error {
	name := rows[0].name
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" (version, name, checksum, statement, applied_at)")
	if err != nil {
		return fmt.Errorf("clickhouse: recording migration %s: %w", name, err)
	}
	now := time.Now().UTC()
	for _, r := range rows {
		if err := batch.Append(r.version, r.name, r.checksum, r.statement, now); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("clickhouse: recording migration %s: %w", name, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("clickhouse: recording migration %s: %w", name, err)
	}
	return nil
}
