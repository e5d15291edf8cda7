package main

import (
	"testing"

	"github.com/engage-oss/engage/internal/service"
)

// TestEveryFlagDocumented pins the README's configuration table to the flags.
func TestEveryFlagDocumented(t *testing.T) {
	cfg := defaultConfig()
	if err := service.CheckDocumented(cfg.flags(), "../../README.md"); err != nil {
		t.Fatal(err)
	}
}
