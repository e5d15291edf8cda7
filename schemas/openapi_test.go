package schemas_test

// These tests keep schemas/openapi.yaml honest: it parses (with a YAML 1.2 parser, so it may
// use all of YAML), every schema in it is valid JSON Schema 2020-12 with no keyword the
// validator ignores, every example validates, every documented route is served by the
// gateway, and every status the handler can answer is documented with a body that matches
// the documented schema and the documented headers.
//
// OpenAPI 3.1 schema objects are JSON Schema 2020-12, so bodies are validated with the same
// validator as events. kin-openapi (an OpenAPI 3.0 library) is not used: it drops const and
// refuses if/then/else in the event schema, and its dependencies are not in go.mod.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/ingest"
	"github.com/engage-oss/engage/internal/service"
	"github.com/engage-oss/engage/schemas/schematest"
)

// spec is the parsed OpenAPI document.
type spec struct {
	r   *schematest.Schemas
	doc map[string]any
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	r := registry(t)
	return &spec{r: r, doc: r.Doc(schematest.OpenAPI).(map[string]any)}
}

// at returns the node at a JSON Pointer of the document.
func (s *spec) at(ptr string) (any, error) {
	var cur any = s.doc
	if ptr == "" {
		return cur, nil
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: cannot descend into %T", ptr, cur)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("%s: %q not found", ptr, tok)
		}
	}
	return cur, nil
}

// deref follows a local $ref (of a path item, response, parameter, …) and returns the object
// and its JSON Pointer.
func (s *spec) deref(v any, ptr string) (map[string]any, string, error) {
	for range 8 {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, ptr, fmt.Errorf("%s: not an object", ptr)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, ptr, nil
		}
		if !strings.HasPrefix(ref, "#/") {
			return nil, ptr, fmt.Errorf("%s: $ref %q leaves the document", ptr, ref)
		}
		ptr = ref[1:]
		var err error
		if v, err = s.at(ptr); err != nil {
			return nil, ptr, err
		}
	}
	return nil, ptr, fmt.Errorf("%s: $ref chain too long", ptr)
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operation is one documented path and method.
type operation struct {
	path, method string
	op           map[string]any
	ptr          string
}

func (s *spec) operations(t *testing.T) []operation {
	t.Helper()
	var ops []operation
	for path, item := range s.doc["paths"].(map[string]any) {
		pi, ptr, err := s.deref(item, "/paths/"+escape(path))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range httpMethods {
			if op, ok := pi[m].(map[string]any); ok {
				ops = append(ops, operation{path: path, method: strings.ToUpper(m), op: op, ptr: ptr + "/" + m})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	return ops
}

func (s *spec) operation(t *testing.T, path, method string) (operation, bool) {
	for _, op := range s.operations(t) {
		if op.path == path && op.method == method {
			return op, true
		}
	}
	return operation{}, false
}

func escape(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }

// walk calls fn for every object in the document, with its JSON Pointer.
func walk(v any, ptr string, fn func(m map[string]any, ptr string)) {
	switch t := v.(type) {
	case map[string]any:
		fn(t, ptr)
		for k, c := range t {
			walk(c, ptr+"/"+escape(k), fn)
		}
	case []any:
		for i, c := range t {
			walk(c, ptr+"/"+strconv.Itoa(i), fn)
		}
	}
}

// schemaPointers lists every schema of the document: components/schemas and the schema of
// every media type, parameter and header.
func (s *spec) schemaPointers() []string {
	var ptrs []string
	for name := range s.doc["components"].(map[string]any)["schemas"].(map[string]any) {
		ptrs = append(ptrs, "/components/schemas/"+escape(name))
	}
	walk(s.doc, "", func(m map[string]any, ptr string) {
		if _, ok := m["schema"].(map[string]any); ok && !strings.HasPrefix(ptr, "/components/schemas") {
			ptrs = append(ptrs, ptr+"/schema")
		}
	})
	sort.Strings(ptrs)
	return ptrs
}

func schemaRef(ptr string) string { return schematest.OpenAPI + "#" + ptr }

// TestOpenAPIDocument checks the document on its own: version, references, schemas,
// operation ids, examples.
func TestOpenAPIDocument(t *testing.T) {
	s := loadSpec(t)
	if v := s.doc["openapi"]; v != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", v)
	}
	// Every $ref resolves, in this document or in the event schema.
	walk(s.doc, "", func(m map[string]any, ptr string) {
		ref, ok := m["$ref"].(string)
		if !ok {
			return
		}
		if strings.HasPrefix(ref, "#/") {
			if _, err := s.at(ref[1:]); err != nil {
				t.Errorf("%s: %v", ptr, err)
			}
		} else if _, err := s.r.Compile(ref); err != nil {
			t.Errorf("%s: %v", ptr, err)
		}
	})
	for _, ptr := range s.schemaPointers() {
		if _, err := s.r.Compile(schemaRef(ptr)); err != nil {
			t.Errorf("schema %s: %v", ptr, err)
		}
	}
	ids := map[string]string{}
	for _, op := range s.operations(t) {
		if id, ok := op.op["operationId"].(string); ok {
			if prev, dup := ids[id]; dup && prev != op.ptr {
				t.Errorf("operationId %s used by %s and %s", id, prev, op.ptr)
			}
			ids[id] = op.ptr
		}
		if len(op.op["responses"].(map[string]any)) == 0 {
			t.Errorf("%s %s documents no response", op.method, op.path)
		}
	}
}

// TestOpenAPIExamples: every example of a request or response body is valid by the schema
// beside it; an NDJSON example is valid line by line against the event schema.
func TestOpenAPIExamples(t *testing.T) {
	s := loadSpec(t)
	n := 0
	walk(s.doc, "", func(m map[string]any, ptr string) {
		content, ok := m["content"].(map[string]any)
		if !ok {
			return
		}
		for mt, media := range content {
			media := media.(map[string]any)
			examples, _ := media["examples"].(map[string]any)
			mptr := ptr + "/content/" + escape(mt)
			for name, ex := range examples {
				value := ex.(map[string]any)["value"]
				n++
				t.Run(mptr+"/"+name, func(t *testing.T) {
					if err := s.r.ValidateValue(schemaRef(mptr+"/schema"), value); err != nil {
						t.Error(err)
					}
					if mt != "application/x-ndjson" {
						return
					}
					for _, line := range strings.Split(strings.TrimSpace(value.(string)), "\n") {
						if err := s.r.Validate(schematest.InputRef, []byte(line)); err != nil {
							t.Errorf("line %s: %v", line, err)
						}
					}
				})
			}
		}
	})
	if n < 10 {
		t.Errorf("only %d examples found", n)
	}
}

// gateway is the HTTP handler the gateway serves: the admin endpoints and the ingest
// handler on one mux, wired as services/gateway does.
type gateway struct {
	http.Handler
	pub   *switchPublisher
	ready *readiness
}

// switchPublisher accepts events, or fails while err is set.
type switchPublisher struct {
	mu  sync.Mutex
	err error
	n   int
}

func (p *switchPublisher) Publish(_ context.Context, evs []event.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.n += len(evs)
	return nil
}

type readiness struct {
	mu  sync.Mutex
	err error
}

func (r *readiness) check(context.Context) error { r.mu.Lock(); defer r.mu.Unlock(); return r.err }

func newGateway(t *testing.T, cfg ingest.Config) *gateway {
	t.Helper()
	g := &gateway{pub: &switchPublisher{}, ready: &readiness{}}
	admin := service.NewAdmin()
	admin.AddCheck("kafka", g.ready.check)
	if cfg.Keys == nil {
		keys, err := ingest.NewKeys(ingest.KeySpec{Key: testKey})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Keys = keys
	}
	h, err := ingest.NewHandler(cfg, g.pub, nil, admin.Registry)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	admin.Register(mux)
	mux.Handle("/", h)
	g.Handler = mux
	return g
}

func (g *gateway) do(method, path string, hdr map[string]string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w
}

// bodies are valid request bodies for each kind of ingest path.
func validBody(path string) []byte {
	ts := time.Now().UTC().Format(time.RFC3339)
	switch path {
	case "/v1/events":
		return []byte(`{"event_id":"e1","account_id":"acme","user_id":"u1","name":"x","timestamp":"` + ts + `"}`)
	case "/v1/batch", "/v1/import", "/v1/b":
		return []byte(`{"batch":[{"type":"track","messageId":"m1","userId":"u1","event":"x","context":{"groupId":"acme"}},{"type":"track","messageId":"m2","userId":"u1","event":"y","context":{"groupId":"acme"}}]}`)
	}
	return []byte(`{"messageId":"m1","userId":"u1","event":"x","name":"n","groupId":"acme","context":{"groupId":"acme"}}`)
}

var bearer = map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": "application/json"}

// TestOpenAPIServesEveryDocumentedRoute drives the gateway with every documented path and
// method: none may be a 404 or 405, and each answers a documented success.
func TestOpenAPIServesEveryDocumentedRoute(t *testing.T) {
	s := loadSpec(t)
	ops := s.operations(t)
	if len(ops) < 35 {
		t.Fatalf("only %d operations documented", len(ops))
	}
	for _, op := range ops {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			g := newGateway(t, ingest.Config{})
			var body []byte
			if op.method == http.MethodPost {
				body = validBody(op.path)
			}
			w := g.do(op.method, op.path, bearer, body)
			if w.Code == http.StatusNotFound || w.Code == http.StatusMethodNotAllowed || w.Code >= 300 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			checkDocumented(t, s, op, w)
		})
	}
}

// checkDocumented checks that the response is documented for op: its status, its body
// against the documented schema, its required headers.
func checkDocumented(t *testing.T, s *spec, op operation, w *httptest.ResponseRecorder) {
	t.Helper()
	code := strconv.Itoa(w.Code)
	resp, ok := op.op["responses"].(map[string]any)[code]
	if !ok {
		t.Fatalf("%s %s answered %d, which is not documented: %s", op.method, op.path, w.Code, w.Body)
	}
	checkResponse(t, s, resp, op.ptr+"/responses/"+code, w)
}

func checkResponse(t *testing.T, s *spec, resp any, ptr string, w *httptest.ResponseRecorder) {
	t.Helper()
	r, rptr, err := s.deref(resp, ptr)
	if err != nil {
		t.Fatal(err)
	}
	headers, _ := r["headers"].(map[string]any)
	for name, h := range headers {
		hd, _, err := s.deref(h, rptr+"/headers/"+escape(name))
		if err != nil {
			t.Fatal(err)
		}
		if hd["required"] == true && w.Header().Get(name) == "" {
			t.Errorf("%d without the documented header %s", w.Code, name)
		}
	}
	content, _ := r["content"].(map[string]any)
	if len(content) == 0 {
		if w.Body.Len() > 0 {
			t.Errorf("%d has a body the document does not describe: %s", w.Code, w.Body)
		}
		return
	}
	ct, _, _ := strings.Cut(w.Header().Get("Content-Type"), ";")
	if _, ok := content[ct]; !ok {
		t.Fatalf("%d is %s, documented as %v", w.Code, ct, keysOf(content))
	}
	if ct != "application/json" {
		return
	}
	if err := s.r.Validate(schemaRef(rptr+"/content/application~1json/schema"), w.Body.Bytes()); err != nil {
		t.Errorf("%d body %s does not match the document: %v", w.Code, w.Body, err)
	}
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestOpenAPIDocumentsEveryStatus makes the gateway produce each status it can answer on the
// ingest paths and checks each against the document; and each status documented for the
// POST operations must be one of them, so the document lists no answer that cannot happen.
func TestOpenAPIDocumentsEveryStatus(t *testing.T) {
	s := loadSpec(t)
	big := bytes.Repeat([]byte(" "), 2048)
	for _, path := range []string{"/v1/events", "/v1/batch", "/v1/track", "/v1/identify"} {
		bad := []byte(`[]`)
		badType := "text/csv"
		if path != "/v1/events" {
			badType = "application/x-ndjson" // NDJSON is engage's, not Segment's
		}
		scenarios := []struct {
			name    string
			cfg     ingest.Config
			prepare func(*gateway)
			method  string
			hdr     map[string]string
			body    []byte
			want    int
		}{
			{name: "accepted", body: validBody(path), want: 200},
			{name: "partly rejected", body: partlyInvalid(path), want: 200},
			{name: "gzip", hdr: map[string]string{"Authorization": "Bearer " + testKey, "Content-Encoding": "gzip"}, body: gz(t, validBody(path)), want: 200},
			{name: "unreadable body", body: bad, want: 400},
			{name: "no key", hdr: map[string]string{}, body: validBody(path), want: 401},
			{name: "unknown key", hdr: map[string]string{"Authorization": "Bearer nope"}, body: validBody(path), want: 401},
			{name: "body over the limit", cfg: ingest.Config{MaxBodyBytes: 1024}, body: append(validBody(path), big...), want: 413},
			{name: "unsupported content type", hdr: map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": badType}, body: validBody(path), want: 415},
			{name: "unsupported content encoding", hdr: map[string]string{"Authorization": "Bearer " + testKey, "Content-Encoding": "br"}, body: validBody(path), want: 415},
			{name: "rate limited", cfg: ingest.Config{RateLimit: 1, RateBurst: 1}, prepare: func(g *gateway) {
				g.do(http.MethodPost, "/v1/events", bearer, []byte("["+string(validBody("/v1/events"))+","+string(validBody("/v1/events"))+"]"))
			}, body: validBody(path), want: 429},
			{name: "broker down", prepare: func(g *gateway) { g.pub.err = errors.New("broker down") }, body: validBody(path), want: 503},
			{name: "preflight", method: http.MethodOptions, want: 204},
			{name: "wrong method", method: http.MethodGet, want: 405},
		}
		if path == "/v1/identify" {
			// identify publishes nothing, so the broker plays no part.
			scenarios = append(scenarios[:10], scenarios[11:]...)
		}
		reached := map[string]bool{}
		for _, sc := range scenarios {
			t.Run(path+"/"+sc.name, func(t *testing.T) {
				g := newGateway(t, sc.cfg)
				if sc.prepare != nil {
					sc.prepare(g)
				}
				method, hdr := sc.method, sc.hdr
				if method == "" {
					method = http.MethodPost
				}
				if hdr == nil {
					hdr = bearer
				}
				w := g.do(method, path, hdr, sc.body)
				if w.Code != sc.want {
					t.Fatalf("status %d, want %d: %s", w.Code, sc.want, w.Body)
				}
				if w.Code == http.StatusMethodNotAllowed {
					checkResponse(t, s, map[string]any{"$ref": "#/components/responses/MethodNotAllowed"}, "", w)
					return
				}
				op, ok := s.operation(t, path, method)
				if !ok {
					t.Fatalf("%s %s is not documented", method, path)
				}
				checkDocumented(t, s, op, w)
				reached[method+" "+strconv.Itoa(w.Code)] = true
			})
		}
		op, _ := s.operation(t, path, http.MethodPost)
		for code := range op.op["responses"].(map[string]any) {
			if !reached["POST "+code] && !(path == "/v1/identify" && code == "503") {
				t.Errorf("POST %s documents %s, which no scenario produced", path, code)
			}
		}
	}

	t.Run("unknown path", func(t *testing.T) {
		g := newGateway(t, ingest.Config{})
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			w := g.do(method, "/v1/nope", bearer, validBody("/v1/events"))
			if w.Code != http.StatusNotFound {
				t.Fatalf("%s: status %d", method, w.Code)
			}
			checkResponse(t, s, map[string]any{"$ref": "#/components/responses/NotFound"}, "", w)
		}
	})
	t.Run("not ready", func(t *testing.T) {
		g := newGateway(t, ingest.Config{})
		g.ready.err = errors.New("pinging brokers: context deadline exceeded")
		w := g.do(http.MethodGet, "/readyz", nil, nil)
		op, _ := s.operation(t, "/readyz", http.MethodGet)
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d", w.Code)
		}
		checkDocumented(t, s, op, w)
	})
}

// partlyInvalid is a body with one valid and one invalid event.
func partlyInvalid(path string) []byte {
	switch path {
	case "/v1/events":
		return []byte(`[` + string(validBody(path)) + `,{"event_id":"e2","account_id":"acme","user_id":"u1","name":"$nps","timestamp":"2026-11-23T11:00:00Z","properties":{"score":11}}]`)
	case "/v1/batch":
		return []byte(`{"batch":[{"type":"track","messageId":"m1","userId":"u1","event":"x","context":{"groupId":"acme"}},{"type":"track","messageId":"m2","userId":"u1","event":"y"},"not a message",{"type":"identify","userId":"u1"}]}`)
	}
	return []byte(`{"messageId":"m1","userId":"u1","event":"x"}`) // no account: a per-event error
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// statusValues are the net/http status constants the ingest code may name.
var statusValues = map[string]int{
	"StatusOK": 200, "StatusAccepted": 202, "StatusNoContent": 204, "StatusBadRequest": 400,
	"StatusUnauthorized": 401, "StatusForbidden": 403, "StatusNotFound": 404,
	"StatusMethodNotAllowed": 405, "StatusRequestTimeout": 408, "StatusConflict": 409,
	"StatusLengthRequired": 411, "StatusRequestEntityTooLarge": 413,
	"StatusUnsupportedMediaType": 415, "StatusUnprocessableEntity": 422,
	"StatusTooManyRequests": 429, "StatusInternalServerError": 500, "StatusBadGateway": 502,
	"StatusServiceUnavailable": 503, "StatusGatewayTimeout": 504,
}

// TestOpenAPIStatusCodesInSource reads internal/ingest's source: every status constant it uses
// must be documented for POST or OPTIONS /v1/events, or be the 404/405 of the document's
// components. A new status in the handler fails here until the document has it.
func TestOpenAPIStatusCodesInSource(t *testing.T) {
	s := loadSpec(t)
	documented := map[int]bool{404: true, 405: true}
	for _, m := range []string{http.MethodPost, http.MethodOptions} {
		op, ok := s.operation(t, "/v1/events", m)
		if !ok {
			t.Fatalf("%s /v1/events is not documented", m)
		}
		for code := range op.op["responses"].(map[string]any) {
			n, _ := strconv.Atoi(code)
			documented[n] = true
		}
	}
	files, err := filepath.Glob(filepath.Join("..", "internal", "ingest", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ingest sources: %v", err)
	}
	used := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "http" && strings.HasPrefix(sel.Sel.Name, "Status") {
					used[sel.Sel.Name] = true
				}
			}
			return true
		})
	}
	if len(used) < 5 {
		t.Fatalf("found only %v in internal/ingest", used)
	}
	for name := range used {
		code, ok := statusValues[name]
		switch {
		case !ok:
			t.Errorf("internal/ingest uses http.%s: add it to statusValues and document it", name)
		case !documented[code]:
			t.Errorf("internal/ingest can answer %d (http.%s), which schemas/openapi.yaml does not document", code, name)
		}
	}
}

// TestOpenAPISegmentBodies: what real Segment clients send matches the document's Segment
// schemas: a captured analytics.js batch, and what analytics-go v3 sends, captured here.
func TestOpenAPISegmentBodies(t *testing.T) {
	s := loadSpec(t)
	ajs, err := os.ReadFile(filepath.Join("..", "internal", "ingest", "testdata", "segment", "analytics_js_batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.r.Validate(schemaRef("/components/schemas/SegmentBatch"), ajs); err != nil {
		t.Errorf("analytics.js batch: %v", err)
	}

	var mu sync.Mutex
	var bodies [][]byte
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r.Body)
		mu.Lock()
		bodies, paths = append(bodies, b.Bytes()), append(paths, r.URL.Path)
		mu.Unlock()
		user, _, _ := r.BasicAuth()
		if user != testKey {
			t.Errorf("analytics-go sent the key as %q", user)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	client, err := analytics.NewWithConfig(testKey, analytics.Config{Endpoint: srv.URL, BatchSize: 100, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []analytics.Message{
		analytics.Track{UserId: "u1", Event: "Report Exported", Properties: analytics.NewProperties().Set("format", "pdf"), Context: &analytics.Context{GroupID: "acme"}},
		analytics.Page{AnonymousId: "a1", Name: "Pricing"},
		analytics.Screen{UserId: "u1", Name: "Settings"},
		analytics.Identify{UserId: "u1", Traits: analytics.NewTraits().SetEmail("ada@example.com")},
		analytics.Group{UserId: "u1", GroupId: "acme", Traits: analytics.NewTraits().Set("licenses", 25)},
		analytics.Alias{PreviousId: "a1", UserId: "u1"},
	} {
		if err := client.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 1 {
		t.Fatalf("analytics-go sent %d requests", len(bodies))
	}
	if _, ok := s.operation(t, paths[0], http.MethodPost); !ok {
		t.Errorf("analytics-go posts to %s, which is not documented", paths[0])
	}
	if err := s.r.Validate(schemaRef("/components/schemas/SegmentBatch"), bodies[0]); err != nil {
		t.Errorf("analytics-go batch %s: %v", bodies[0], err)
	}
}

// TestOpenAPIBasicAuth: the documented Basic scheme (key as user name, password ignored)
// works on both kinds of endpoint.
func TestOpenAPIBasicAuth(t *testing.T) {
	g := newGateway(t, ingest.Config{})
	for _, path := range []string{"/v1/events", "/v1/batch"} {
		hdr := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey+":whatever"))}
		if w := g.do(http.MethodPost, path, hdr, validBody(path)); w.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", path, w.Code, w.Body)
		}
	}
	var res map[string]any
	w := g.do(http.MethodPost, "/v1/batch", map[string]string{}, []byte(`{"writeKey":"`+testKey+`","batch":[]}`))
	if err := json.Unmarshal(w.Body.Bytes(), &res); w.Code != http.StatusOK || err != nil {
		t.Errorf("writeKey in the body: status %d: %s", w.Code, w.Body)
	}
}

// TestAPIDocExamples keeps docs/API.md's examples true: every JSON example in it is valid by
// the schema it illustrates, and every example answer has a documented status.
func TestAPIDocExamples(t *testing.T) {
	s := loadSpec(t)
	b, err := os.ReadFile(filepath.Join("..", "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	checked := 0
	check := func(what, ref string, v []byte) {
		t.Helper()
		checked++
		if err := s.r.Validate(ref, v); err != nil {
			t.Errorf("%s %s: %v", what, v, err)
		}
	}
	// ```json blocks: an event, a record or an answer.
	for _, block := range fenced(doc, "json") {
		var probe map[string]any
		if err := json.Unmarshal([]byte(block), &probe); err != nil {
			t.Errorf("json block is not JSON: %v\n%s", err, block)
			continue
		}
		switch {
		case probe["v"] != nil:
			check("record", schematest.RecordRef, []byte(block))
		case probe["success"] != nil:
			check("Segment answer", schemaRef("/components/schemas/SegmentResult"), []byte(block))
		case probe["accepted"] != nil:
			check("answer", schemaRef("/components/schemas/IngestResult"), []byte(block))
		default:
			check("event", schematest.InputRef, []byte(block))
		}
	}
	// curl bodies (-d '…') and NDJSON lines (printf '%s\n' '…' …).
	for _, block := range fenced(doc, "sh") {
		for _, m := range regexp.MustCompile(`(?s)-d '(.*?)'`).FindAllStringSubmatch(block, -1) {
			check("curl body", schemaRef("/paths/~1v1~1events/post/requestBody/content/application~1json/schema"), []byte(m[1]))
		}
		for _, m := range regexp.MustCompile(`(?m)^\s+'(\{.*\})' \\$`).FindAllStringSubmatch(block, -1) {
			check("NDJSON line", schematest.InputRef, []byte(m[1]))
		}
	}
	// Example answers: "NNN {json}".
	codes := map[string]bool{}
	for _, op := range s.operations(t) {
		for code := range op.op["responses"].(map[string]any) {
			codes[code] = true
		}
	}
	codes["404"], codes["405"] = true, true
	for _, m := range regexp.MustCompile(`(?m)^(\d{3}) (\{.*?\})(\s|$)`).FindAllStringSubmatch(doc, -1) {
		if !codes[m[1]] {
			t.Errorf("docs/API.md shows a %s answer, which openapi.yaml does not document", m[1])
		}
		check("error answer", schemaRef("/components/schemas/Error"), []byte(m[2]))
	}
	if checked < 25 {
		t.Errorf("checked only %d examples; did the format of docs/API.md change?", checked)
	}
}

// fenced returns the bodies of the ```lang blocks of a Markdown document.
func fenced(doc, lang string) []string {
	var out []string
	for _, part := range strings.Split(doc, "```"+lang+"\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		out = append(out, body)
	}
	return out
}
