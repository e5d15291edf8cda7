// Package layout_test keeps the dependency rule of docs/ARCHITECTURE.md true: the domain
// imports nothing of the project but the domain, use cases never import adapters or
// development tooling, adapters never import tooling, and the public pkg/ never imports
// anything under internal/dev. A new import that breaks the layout fails here, naming it.
package layout_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/engage-oss/engage/"

// layers: each project package is in the first layer whose prefix it has, and may import
// project packages of the layers listed for it only (tests are not checked: a test may use
// testenv and real adapters).
var layers = []struct {
	name     string
	prefixes []string
	may      []string
}{
	{"domain", []string{"internal/event", "internal/jsonscan", "internal/session", "internal/health", "internal/topics", "internal/retry"}, []string{"domain", "files"}},
	{"use case", []string{"internal/ingest", "internal/worker", "internal/scorer", "internal/notify"}, []string{"domain", "use case", "files"}},
	{"adapter", []string{"internal/adapters"}, []string{"domain", "use case", "adapter", "files"}},
	{"wiring", []string{"internal/service", "services/"}, []string{"domain", "use case", "adapter", "wiring", "dev", "files"}},
	{"public", []string{"pkg/"}, []string{"domain", "public", "files"}},
	{"dev", []string{"internal/dev", "tools/", "tests/"}, []string{"domain", "use case", "adapter", "wiring", "public", "dev", "files"}},
	// schemas and deploy only embed files (migrations, JSON Schema, the default health model).
	{"files", []string{"schemas", "deploy"}, nil},
}

func layerOf(pkg string) string {
	for _, l := range layers {
		for _, p := range l.prefixes {
			if pkg == strings.TrimSuffix(p, "/") || strings.HasPrefix(pkg, strings.TrimSuffix(p, "/")+"/") {
				return l.name
			}
		}
	}
	return ""
}

func TestDependencyRule(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "../../...")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(&out)
	n := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkg := strings.TrimPrefix(p.ImportPath, module)
		from := layerOf(pkg)
		if from == "" {
			t.Errorf("package %s is in no layer: add it to the layers of this test and of docs/ARCHITECTURE.md", pkg)
			continue
		}
		n++
		var may []string
		for _, l := range layers {
			if l.name == from {
				may = l.may
			}
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := layerOf(strings.TrimPrefix(imp, module))
			ok := false
			for _, m := range may {
				ok = ok || m == to
			}
			if !ok {
				t.Errorf("%s (%s) imports %s (%s)", pkg, from, strings.TrimPrefix(imp, module), to)
			}
		}
	}
	if n < 20 {
		t.Fatalf("checked %d packages; go list found too few", n)
	}
}
