package kpi_test

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/schemas"
)

// TestRewrittenViewsMatch0005 pins migration 0006, which rewrote adoption, time_to_value
// and retention_cohorts for speed only: on a synthetic history with trials, cancellations,
// late sign-ups, users in several accounts and duplicate deliveries, each must return
// exactly the rows of its 0005 definition. The 0005 statements are taken from the migration file itself (renamed
// *_0005, with the user_name_months table they read), so the oracle cannot drift from
// what was released.
func TestRewrittenViewsMatch0005(t *testing.T) {
	ctx := context.Background()
	conn, _ := testenv.ClickHouse(t).NewDatabase(t)
	synthetic{accounts: 300, usersPerAccount: 4, eventsPerUser: 40}.load(t, conn)

	ms, err := clickhouse.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	var v5, v6 []string
	for _, m := range ms {
		switch m.Version {
		case 5:
			v5 = m.Statements
		case 6:
			v6 = m.Statements
		}
	}
	// What the new tables must be immune to: a tenth of the events delivered twice (the
	// materialized views see the copies), and 0006's backfill run again, as after a crash.
	for _, stmt := range []string{
		`INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, received_at, properties, ver)
SELECT event_id, account_id, user_id, name, ts, ts_ms, received_at, properties, ver
FROM events_raw WHERE cityHash64(event_id) % 10 = 0`,
		statementOf(t, v6, regexp.MustCompile(`(?m)^INSERT INTO feature_user_months\b`)),
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%v\n%s", err, stmt)
		}
	}

	views := []struct{ name, order string }{
		{"adoption", "account_id, feature, month"},
		{"time_to_value", "account_id, user_id"},
		{"retention_cohorts", "cohort_week"},
	}
	// The 0005 statements to run again, found by what they create or fill.
	wanted := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^CREATE TABLE IF NOT EXISTS user_name_months\b`),
		regexp.MustCompile(`(?m)^INSERT INTO user_name_months\b`),
	}
	for _, v := range views {
		wanted = append(wanted, regexp.MustCompile(`(?m)^CREATE VIEW IF NOT EXISTS `+v.name+` AS\b`))
	}
	for _, re := range wanted {
		stmt := statementOf(t, v5, re)
		for _, v := range views {
			stmt = strings.Replace(stmt, "CREATE VIEW IF NOT EXISTS "+v.name+" AS", "CREATE VIEW "+v.name+"_0005 AS", 1)
		}
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%v\n%s", err, stmt)
		}
	}

	for _, v := range views {
		t.Run(v.name, func(t *testing.T) {
			query := func(view string) ([]string, error) {
				return queryLines(ctx, conn, "SELECT * FROM "+view+" ORDER BY "+v.order)
			}
			want, err := query(v.name + "_0005")
			if err != nil {
				t.Fatal(err)
			}
			if len(want) < 10 {
				t.Fatalf("the 0005 definition returns %d rows: too few to compare", len(want))
			}
			got, err := query(v.name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range max(len(got), len(want)) {
				if i >= len(got) || i >= len(want) || got[i] != want[i] {
					t.Fatalf("%d rows, 0005 has %d; first difference at row %d:\n\tgot  %s\n\twant %s",
						len(got), len(want), i, at(got, i), at(want, i))
				}
			}
		})
	}
}

// statementOf returns the statement of a migration that re matches.
func statementOf(t *testing.T, stmts []string, re *regexp.Regexp) string {
	t.Helper()
	for _, s := range stmts {
		if re.MatchString(s) {
			return s
		}
	}
	t.Fatalf("no statement of the migration matches %s", re)
	return ""
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(none)"
}

// queryLines runs query and renders its rows as lines does, whatever its columns.
func queryLines(ctx context.Context, conn driver.Conn, query string) ([]string, error) {
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	var out []string
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		parts := make([]string, len(dest))
		for i, d := range dest {
			parts[i] = render(reflect.ValueOf(d).Elem())
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out, rows.Err()
}
