// Package deploy holds what production deployments use: the Dockerfile, the default health
// model, and the test that keeps docker-compose.yml in step with the services (no Docker
// engine runs in development or CI, so nothing else would notice it drifting).
package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/engage-oss/engage/schemas/schematest"
)

// TestComposeMatchesServices: every engage service in docker-compose.yml is built from
// deploy/Dockerfile, runs a binary the Dockerfile builds, and sets only environment
// variables that the README documents; Kafka runs in KRaft mode and the broker is reachable
// by the name the services use.
func TestComposeMatchesServices(t *testing.T) {
	src, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := schematest.ParseYAML(src)
	if err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := doc.(map[string]any)
	services, _ := root["services"].(map[string]any)
	for _, want := range []string{"kafka", "clickhouse", "gateway", "worker", "scorer"} {
		if services[want] == nil {
			t.Errorf("service %s missing", want)
		}
	}
	kafka, _ := services["kafka"].(map[string]any)
	kenv, _ := kafka["environment"].(map[string]any)
	if roles, _ := kenv["KAFKA_PROCESS_ROLES"].(string); !strings.Contains(roles, "controller") {
		t.Errorf("kafka is not in KRaft mode: KAFKA_PROCESS_ROLES=%q", roles)
	}
	for _, name := range []string{"gateway", "worker", "scorer"} {
		svc, _ := services[name].(map[string]any)
		build, _ := svc["build"].(map[string]any)
		if df, _ := build["dockerfile"].(string); df != "deploy/Dockerfile" {
			t.Errorf("%s: built from %q, want deploy/Dockerfile", name, df)
		}
		cmd, _ := svc["command"].([]any)
		if len(cmd) == 0 || cmd[0] != name {
			t.Errorf("%s: command %v, want [%s]", name, cmd, name)
		}
		if !strings.Contains(string(dockerfile), "./services/"+name) {
			t.Errorf("%s: deploy/Dockerfile does not build ./services/%s", name, name)
		}
		if _, err := os.Stat(filepath.Join("..", "services", name, "main.go")); err != nil {
			t.Errorf("%s: no services/%s/main.go", name, name)
		}
		env, _ := svc["environment"].(map[string]any)
		keys := []string{"KAFKA_BROKERS", "CLICKHOUSE_ADDR"}
		for k := range env {
			if k != "<<" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			if !strings.Contains(string(readme), "`"+k+"`") {
				t.Errorf("%s: environment %s is not documented in the README", name, k)
			}
		}
	}
}
