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

// BaseURL is where the documents are published; references are resolved against it, so that
// the OpenAPI document's "event.schema.json#/…" names the event schema by its $id.
const BaseURL = "https://github.com/engage-oss/engage/schemas/"

const modulePath = "github.com/engage-oss/engage"

// Dir finds the schemas directory of the engage module from the working directory upward
// (go test runs a test in its package directory), so that tests in any package read the
// files the repository ships rather than a copy.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("schematest: finding the module: %w", err)
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

// Load reads event.schema.json and openapi.yaml from the schemas directory.
func Load() (*Schemas, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	docs := map[string]any{}
	for name, decode := range map[string]func([]byte) (any, error){EventSchema: DecodeJSON, OpenAPI: DecodeYAML} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("schematest: %w", err)
		}
		if docs[name], err = decode(b); err != nil {
			return nil, fmt.Errorf("schematest: reading %s: %w", name, err)
		}
	}
	return New(docs)
}
