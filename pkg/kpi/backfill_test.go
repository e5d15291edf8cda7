package kpi_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/pkg/kpi"
	"github.com/engage-oss/engage/schemas"
)

// TestMigrationBackfillsExistingEvents pins the upgrade path: on a database that already
// holds events when the KPI migration (and every later one) runs, the migration copies them into the tables its
// materialized views keep, and every view then equals the one of a database that received
// the same events after the migration.
func TestMigrationBackfillsExistingEvents(t *testing.T) {
	ctx := context.Background()
	ch := testenv.ClickHouse(t)
	evs := loadEvents(t, "testdata/fixture.ndjson", time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC))
	var raw []rawEvent
	for _, e := range evs {
		raw = append(raw, rawEvent{e.EventID, e.AccountID, e.UserID, e.Name, e.Timestamp, string(e.Properties)})
	}

	after, _ := ch.NewDatabase(t) // migrated, then the events
	insertRaw(t, after, raw)

	before, name := ch.NewEmptyDatabase(t) // the events, then the KPI migration
	// Without the KPI migration and those built on it.
	if err := clickhouse.Migrate(ctx, before, name, migrationsBefore(t, "0005_"), "clickhouse"); err != nil {
		t.Fatal(err)
	}
	insertRaw(t, before, raw)
	if err := clickhouse.Migrate(ctx, before, name, schemas.ClickHouse, "clickhouse"); err != nil {
		t.Fatal(err)
	}

	for _, q := range []struct {
		name string
		run  func(kpi.Querier) ([]string, error)
	}{
		{"mrr_movements_monthly", func(c kpi.Querier) ([]string, error) { return lines(kpi.MRRMovementsMonthly(ctx, c, kpi.Filter{})) }},
		{"nps_account_monthly", func(c kpi.Querier) ([]string, error) { return lines(kpi.NPSAccountMonthly(ctx, c, kpi.Filter{})) }},
		{"renewal_monthly", func(c kpi.Querier) ([]string, error) { return lines(kpi.RenewalMonthly(ctx, c, kpi.Filter{})) }},
		{"user_signups", func(c kpi.Querier) ([]string, error) { return lines(kpi.UserSignups(ctx, c, kpi.Filter{})) }},
		{"adoption", func(c kpi.Querier) ([]string, error) { return lines(kpi.Adoption(ctx, c, kpi.Filter{})) }},
		{"time_to_value", func(c kpi.Querier) ([]string, error) { return lines(kpi.TimeToValue(ctx, c, kpi.Filter{})) }},
		{"retention_cohorts", func(c kpi.Querier) ([]string, error) { return lines(kpi.RetentionCohorts(ctx, c, kpi.Filter{})) }},
	} {
		t.Run(q.name, func(t *testing.T) {
			want, err := q.run(after)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				t.Fatal("no rows to compare")
			}
			got, err := q.run(before)
			checkLines(t, got, err, want)
		})
	}
}

// migrationsBefore is the project's migrations up to, and not including, the file whose
// name starts with first (e.g. "0012_"): the schema as an older release left it.
func migrationsBefore(t *testing.T, first string) fstest.MapFS {
	t.Helper()
	older := fstest.MapFS{}
	all, err := fs.Glob(schemas.ClickHouse, "clickhouse/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p >= "clickhouse/"+first {
			continue
		}
		b, err := fs.ReadFile(schemas.ClickHouse, p)
		if err != nil {
			t.Fatal(err)
		}
		older[p] = &fstest.MapFile{Data: b}
	}
	return older
}
