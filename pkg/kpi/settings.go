package kpi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Conn is what the configuration functions need: reads, and inserts through PrepareBatch
// (an INSERT with inline VALUES hangs on ClickHouse 18.16). driver.Conn implements it.
type Conn interface {
	Querier
	PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error)
}

// Settings in kpi_settings.
const (
	// SettingLTVChurnWindowMonths is the trailing window, in whole months, over which the
	// ltv view averages the customer churn rate. Default 3, allowed 1..120.
	SettingLTVChurnWindowMonths = "ltv_churn_window_months"
)

// ErrInvalidSetting is wrapped by SetSetting's errors about a name or a value.
var ErrInvalidSetting = errors.New("kpi: invalid setting")

type settingRule struct {
	min, max float64
	integer  bool
}

var settingRules = map[string]settingRule{
	SettingLTVChurnWindowMonths: {min: 1, max: 120, integer: true},
}

// CheckSetting reports whether value is allowed for the setting name.
func CheckSetting(name string, value float64) error {
	r, ok := settingRules[name]
	switch {
	case !ok:
		return fmt.Errorf("%w: unknown setting %q", ErrInvalidSetting, name)
	case math.IsNaN(value) || value < r.min || value > r.max:
		return fmt.Errorf("%w: %s = %v is outside %v..%v", ErrInvalidSetting, name, value, r.min, r.max)
	case r.integer && value != math.Trunc(value):
		return fmt.Errorf("%w: %s = %v is not a whole number", ErrInvalidSetting, name, value)
	}
	return nil
}

// SetSetting changes a setting of the KPI views. It takes effect on the next query.
func SetSetting(ctx context.Context, c Conn, name string, value float64) error {
	if err := CheckSetting(name, value); err != nil {
		return err
	}
	at, err := nextVersion(ctx, c, "kpi_settings", "name", name)
	if err != nil {
		return err
	}
	return insertRow(ctx, c, "INSERT INTO kpi_settings (name, value, updated_at)", name, value, at)
}

// Settings returns the settings in force (kpi_settings_current).
func Settings(ctx context.Context, q Querier) (map[string]float64, error) {
	var rows []struct {
		Name  string  `ch:"name"`
		Value float64 `ch:"value"`
	}
	if err := q.Select(ctx, &rows, "SELECT name, value FROM kpi_settings_current"); err != nil {
		return nil, fmt.Errorf("kpi: reading kpi_settings_current: %w", err)
	}
	out := make(map[string]float64, len(rows))
	for _, r := range rows {
		out[r.Name] = r.Value
	}
	return out, nil
}

// SetCoreFeature adds a product event name to the core features (enabled) or removes it.
func SetCoreFeature(ctx context.Context, c Conn, feature string, enabled bool) error {
	if feature == "" || feature[0] == '$' {
		return fmt.Errorf("%w: core feature %q must be a product event name", ErrInvalidSetting, feature)
	}
	at, err := nextVersion(ctx, c, "core_features", "feature", feature)
	if err != nil {
		return err
	}
	var e uint8
	if enabled {
		e = 1
	}
	return insertRow(ctx, c, "INSERT INTO core_features (feature, enabled, updated_at)", feature, e, at)
}

// CoreFeatures returns the core features in force, sorted.
func CoreFeatures(ctx context.Context, q Querier) ([]string, error) {
	var rows []struct {
		Feature string `ch:"feature"`
	}
	if err := q.Select(ctx, &rows, "SELECT feature FROM core_features_current ORDER BY feature"); err != nil {
		return nil, fmt.Errorf("kpi: reading core_features_current: %w", err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Feature
	}
	return out, nil
}

// nextVersion returns the updated_at for a new row of key: now, or one second after the
// key's newest row when that is not earlier. updated_at has whole seconds, and two changes
// within one second would otherwise tie, leaving either one in force.
func nextVersion(ctx context.Context, q Querier, table, keyCol, key string) (time.Time, error) {
	var rows []struct {
		Latest time.Time `ch:"latest"`
	}
	query := "SELECT max(updated_at) AS latest FROM " + table + " WHERE " + keyCol + " = ?"
	if err := q.Select(ctx, &rows, query, key); err != nil {
		return time.Time{}, fmt.Errorf("kpi: reading %s: %w", table, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	if len(rows) == 1 && !rows[0].Latest.Before(now) {
		return rows[0].Latest.UTC().Add(time.Second), nil
	}
	return now, nil
}

func insertRow(ctx context.Context, c Conn, insert string, values ...any) error {
	b, err := c.PrepareBatch(ctx, insert)
	if err != nil {
		return fmt.Errorf("kpi: %s: %w", insert, err)
	}
	if err := b.Append(values...); err != nil {
		_ = b.Abort()
		return fmt.Errorf("kpi: %s: %w", insert, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("kpi: %s: %w", insert, err)
	}
	return nil
}
