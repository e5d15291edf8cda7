package kpi_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/pkg/kpi"
)

// TestSettingsAndCoreFeatures pins the configuration tables: the migration's defaults, that
// the newest row wins even for changes within one second, and that bad values are refused
// before anything is written.
func TestSettingsAndCoreFeatures(t *testing.T) {
	ctx := context.Background()
	conn, _ := testenv.ClickHouse(t).NewDatabase(t)

	settings, err := kpi.Settings(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]float64{kpi.SettingLTVChurnWindowMonths: 3}; !reflect.DeepEqual(settings, want) {
		t.Errorf("default settings = %v, want %v", settings, want)
	}
	features, err := kpi.CoreFeatures(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dashboard.viewed", "invoice.created", "invoice.sent", "report.created", "report.viewed"}; !reflect.DeepEqual(features, want) {
		t.Errorf("default core features = %q, want %q", features, want)
	}

	for _, v := range []float64{6, 12, 2} {
		if err := kpi.SetSetting(ctx, conn, kpi.SettingLTVChurnWindowMonths, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := kpi.SetSetting(ctx, conn, kpi.SettingLTVChurnWindowMonths, 0); !errors.Is(err, kpi.ErrInvalidSetting) {
		t.Errorf("SetSetting(0) = %v, want ErrInvalidSetting", err)
	}
	settings, err = kpi.Settings(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if got := settings[kpi.SettingLTVChurnWindowMonths]; got != 2 {
		t.Errorf("after setting 6, 12, 2: %v, want the last, 2", got)
	}

	steps := []struct {
		feature string
		enabled bool
	}{
		{"dashboard.viewed", false},
		{"workflow.run", true},
		{"invoice.sent", false},
		{"invoice.sent", true},
	}
	for _, s := range steps {
		if err := kpi.SetCoreFeature(ctx, conn, s.feature, s.enabled); err != nil {
			t.Fatal(err)
		}
	}
	if err := kpi.SetCoreFeature(ctx, conn, "$heartbeat", true); !errors.Is(err, kpi.ErrInvalidSetting) {
		t.Errorf("SetCoreFeature($heartbeat) = %v, want ErrInvalidSetting", err)
	}
	features, err = kpi.CoreFeatures(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"invoice.created", "invoice.sent", "report.created", "report.viewed", "workflow.run"}; !reflect.DeepEqual(features, want) {
		t.Errorf("core features = %q, want %q", features, want)
	}
}
