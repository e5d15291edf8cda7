package kpi_test

import (
	"testing"

	"github.com/engage-oss/engage/internal/dev/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
