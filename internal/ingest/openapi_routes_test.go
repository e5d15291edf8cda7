package ingest

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/engage-oss/engage/schemas/schematest"
)

// TestRoutesAreDocumented: every path in the handler's routing table is in
// schemas/openapi.yaml with POST and OPTIONS, and every /v1/ path the document lists is in the
// table. (The schemas package drives each documented route through the handler; only this
// package can see the table itself, so a route added here without documentation fails here.)
func TestRoutesAreDocumented(t *testing.T) {
	r, err := schematest.Load()
	if err != nil {
		t.Fatal(err)
	}
	doc := r.Doc(schematest.OpenAPI).(map[string]any)
	paths := doc["paths"].(map[string]any)
	components := doc["components"].(map[string]any)
	item := func(path string) map[string]any {
		pi, _ := paths[path].(map[string]any)
		if ref, ok := pi["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/components/pathItems/")
			pi, _ = components["pathItems"].(map[string]any)[name].(map[string]any)
		}
		return pi
	}
	var served []string
	for path := range routes {
		served = append(served, path)
	}
	sort.Strings(served)
	for _, path := range served {
		pi := item(path)
		if pi == nil {
			t.Errorf("%s is served but not in openapi.yaml", path)
			continue
		}
		for _, m := range []string{"post", "options"} {
			if _, ok := pi[m]; !ok {
				t.Errorf("%s: %s is served but not documented", path, strings.ToUpper(m))
			}
		}
	}
	for path := range paths {
		if _, ok := routes[path]; !ok && strings.HasPrefix(path, "/v1/") {
			t.Errorf("openapi.yaml documents %s, which the handler does not route", path)
		}
	}

	// And the table is what the handler serves: every other /v1/ path is a 404.
	h, _ := newTestHandler(t, Config{}, &fakePublisher{})
	for _, path := range []string{"/v1/event", "/v1/events/", "/v1/Batch", "/v2/events", "/v1/x"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(ev("e1"))))
		if w.Code != http.StatusNotFound {
			t.Errorf("POST %s: status %d, want 404", path, w.Code)
		}
	}
}
