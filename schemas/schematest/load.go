package schematest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Names of the published schema documents in the schemas directory, and references to the
// two event schemas.
const (
	EventSchema = "event.schema.json"
	OpenAPI     = "openapi.yaml"

	// InputRef is one event as a client POSTs it to /v1/events.
	InputRef = EventSchema + "#/$defs/input"
	// RecordRef is one record value on engagement.events.
	RecordRef = EventSchema + "#/$defs/record"
)

const modulePath = "github.com/engage-oss/engage"

// Dir finds the schemas directory of the engage module from the working directory upward
// (go test runs a test in its package directory), so that tests in any package read the
// files the repository ships rather than a copy.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && isModule(string(b)) {
			return filepath.Join(dir, "schemas"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("schematest: no go.mod of " + modulePath + " above the working directory")
		}
		dir = parent
	}
}

func isModule(gomod string) bool {
	for _, l := range strings.Split(gomod, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "module" && f[1] == modulePath {
			return true
		}
	}
	return false
}

// Load reads event.schema.json and openapi.yaml into a registry under their file names.
func Load() (*Registry, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	r := NewRegistry()
	b, err := os.ReadFile(filepath.Join(dir, EventSchema))
	if err != nil {
		return nil, err
	}
	if err := r.AddJSON(EventSchema, b); err != nil {
		return nil, err
	}
	b, err = os.ReadFile(filepath.Join(dir, OpenAPI))
	if err != nil {
		return nil, err
	}
	doc, err := ParseYAML(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", OpenAPI, err)
	}
	r.Add(OpenAPI, doc)
	return r, nil
}
