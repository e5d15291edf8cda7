package schemas_test

// These tests keep schemas/openapi.yaml honest: it is a valid OpenAPI 3.1 document, every
// schema in it is valid JSON Schema 2020-12 with no keyword the validator ignores, every
// example validates, every documented route is served by the gateway, and every status the
// handler can answer is documented, with a body and headers that match the document.
//
// The document is read by github.com/pb33f/libopenapi and exchanges with the gateway are
// checked by github.com/pb33f/libopenapi-validator (both support OpenAPI 3.1; kin-openapi,
// an OpenAPI 3.0 library, refuses this document): the validator checks the document against
// the OpenAPI 3.1 schema (ValidateDocument), finds the operation of each request the test
// sends to the in-process gateway, and validates that request (parameters, security, body)
// and the gateway's answer (status documented, content type, body, headers) with its own
// JSON Schema 2020-12 validator. libopenapi's model and index list the operations, media
// types and schemas, so no code here walks the YAML.
//
// schematest (santhosh-tekuri/jsonschema with engage's vocabulary) is still used where it is
// stricter than the library: it refuses unknown and misspelt keywords, reads numbers as the
// gateway does (IEEE 754 doubles), checks engage's keywords (x-maxEncodedBytes,
// formatMinimum), which the library ignores, and validates the examples, which the library
// does not look at.

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
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi/datamodel"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"
	analytics "github.com/segmentio/analytics-go/v3"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/ingest"
	"github.com/engage-oss/engage/internal/service"
	"github.com/engage-oss/engage/schemas/schematest"
)

// spec is the OpenAPI document, read once for all tests.
type spec struct {
	doc   libopenapi.Document
	model *v3.Document
	v     validator.Validator
	r     *schematest.Schemas // the same files, for the checks the library does not make
	// The JSON Pointer of every schema of openapi.yaml, from libopenapi's index, and by the
	// node of its key ("schema:" in a media type), so that schematest can compile the schema
	// of a media type of the model.
	schemaPtrs []string
	schemaAt   map[any]string
}

var loadSpecOnce = sync.OnceValues(func() (*spec, error) {
	dir, err := schematest.Dir()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, schematest.OpenAPI))
	if err != nil {
		return nil, err
	}
	// libopenapi.NewDocument would leave components/schemas/Event's reference to
	// event.schema.json unresolved; the configuration lets it read that file (and no other).
	cfg := datamodel.NewDocumentConfiguration()
	cfg.BasePath = dir
	cfg.SpecFilePath = schematest.OpenAPI
	cfg.FileFilter = []string{schematest.OpenAPI, schematest.EventSchema}
	doc, err := libopenapi.NewDocumentWithConfiguration(b, cfg)
	if err != nil {
		return nil, fmt.Errorf("libopenapi: %w", err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("libopenapi: building the model: %w", err)
	}
	// Formats are assertions, as in schematest: a timestamp that is not a date-time is an error.
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("libopenapi-validator: %w", errors.Join(errs...))
	}
	r, err := schematest.Load()
	if err != nil {
		return nil, err
	}
	s := &spec{doc: doc, model: &m.Model, v: v, r: r, schemaAt: map[any]string{}}
	for _, ref := range m.Model.Index.GetAllSchemas() {
		ptr := strings.TrimPrefix(ref.Definition, "#")
		s.schemaPtrs = append(s.schemaPtrs, ptr)
		if ref.KeyNode != nil {
			s.schemaAt[ref.KeyNode] = ptr
		}
	}
	return s, nil
})

func loadSpec(t *testing.T) *spec {
	t.Helper()
	s, err := loadSpecOnce()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func schemaRef(ptr string) string { return schematest.OpenAPI + "#" + ptr }

// operation is one documented path and method (upper case).
type operation struct {
	path, method string
	op           *v3.Operation
}

func (s *spec) operations() []operation {
	var ops []operation
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			ops = append(ops, operation{path: path, method: strings.ToUpper(method), op: op})
		}
	}
	return ops
}

// operation returns the operation documented for path and method, or nil.
func (s *spec) operation(path, method string) *v3.Operation {
	item := s.model.Paths.PathItems.GetOrZero(path)
	if item == nil {
		return nil
	}
	return item.GetOperations().GetOrZero(strings.ToLower(method))
}

// schemaRoots lists the JSON Pointer of every schema of the document that is not inside
// another: components/schemas and the schema of every media type, parameter and header.
// (libopenapi's index also lists the schemas inside them, which compiling the outer one
// compiles, and takes the members of a property named "properties" for schemas.)
func (s *spec) schemaRoots() []string {
	all := slices.Sorted(slices.Values(s.schemaPtrs))
	var roots []string
	for _, ptr := range all {
		if n := len(roots); n == 0 || !strings.HasPrefix(ptr, roots[n-1]+"/") {
			roots = append(roots, ptr)
		}
	}
	return roots
}

// mediaType is one media type of a request body or response, with the JSON Pointer of its
// schema.
type mediaType struct {
	name      string
	schemaPtr string
	mt        *v3.MediaType
}

// mediaTypes lists the media types of every request body and response of the document, once
// each (the model repeats a component at each reference to it).
func (s *spec) mediaTypes(t *testing.T) []mediaType {
	t.Helper()
	var out []mediaType
	seen := map[string]bool{}
	add := func(content *orderedmap.Map[string, *v3.MediaType]) {
		for name, mt := range content.FromOldest() {
			if mt.Schema == nil {
				if orderedmap.Len(mt.Examples) > 0 {
					t.Errorf("media type %s has examples and no schema", name)
				}
				continue
			}
			ptr, ok := s.schemaAt[mt.GoLow().Schema.KeyNode]
			if !ok {
				t.Errorf("media type %s: libopenapi's index does not list its schema", name)
				continue
			}
			if !seen[ptr] {
				seen[ptr] = true
				out = append(out, mediaType{name: name, schemaPtr: ptr, mt: mt})
			}
		}
	}
	addResponses := func(rs *v3.Responses) {
		if rs == nil {
			return
		}
		for _, r := range rs.Codes.FromOldest() {
			add(r.Content)
		}
		if rs.Default != nil {
			add(rs.Default.Content)
		}
	}
	for _, op := range s.operations() {
		if op.op.RequestBody != nil {
			add(op.op.RequestBody.Content)
		}
		addResponses(op.op.Responses)
	}
	if c := s.model.Components; c != nil {
		for _, rb := range c.RequestBodies.FromOldest() {
			add(rb.Content)
		}
		for _, r := range c.Responses.FromOldest() {
			add(r.Content)
		}
	}
	return out
}

// failures formats the library's validation errors, one a line.
func failures(errs []*liberrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n\t" + e.Error())
		if e.HowToFix != "" {
			b.WriteString(" (fix: " + e.HowToFix + ")")
		}
	}
	return b.String()
}

// TestOpenAPIDocument checks the document on its own: version, validity by the OpenAPI 3.1
// schema, references, schemas, operation ids.
func TestOpenAPIDocument(t *testing.T) {
	s := loadSpec(t)
	if v := s.doc.GetVersion(); v != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", v)
	}
	// The OpenAPI 3.1 schema also requires each operation to document a response.
	if ok, errs := s.v.ValidateDocument(); !ok {
		t.Errorf("openapi.yaml is not a valid OpenAPI 3.1 document:%s", failures(errs))
	}
	// libopenapi resolved every $ref it met while building the model (loadSpec fails
	// otherwise); schematest compiles every schema with what it references, in this document
	// or in the event schema, refusing keywords JSON Schema 2020-12 does not have.
	roots := s.schemaRoots()
	if len(roots) < 30 {
		t.Fatalf("libopenapi's index lists only %d schemas: %v", len(roots), roots)
	}
	for _, ptr := range roots {
		if _, err := s.r.Compile(schemaRef(ptr)); err != nil {
			t.Errorf("schema %s: %v", ptr, err)
		}
	}
	// An operation id names one operation; an operation of a path item that several paths
	// share (components/pathItems) is one operation, at one place in the document.
	type use struct {
		where string
		node  any
	}
	ids := map[string]use{}
	for _, op := range s.operations() {
		where := op.method + " " + op.path
		if id := op.op.OperationId; id != "" {
			node := any(op.op.GoLow().OperationId.ValueNode)
			if prev, dup := ids[id]; dup && prev.node != node {
				t.Errorf("operationId %s used by %s and %s", id, prev.where, where)
			}
			ids[id] = use{where, node}
		}
	}
}

// TestOpenAPIExamples: every example of a request or response body is valid by the schema
// beside it; an NDJSON example is valid line by line against the event schema.
func TestOpenAPIExamples(t *testing.T) {
	s := loadSpec(t)
	n := 0
	for _, m := range s.mediaTypes(t) {
		for name, ex := range m.mt.Examples.FromOldest() {
			n++
			t.Run(strings.TrimSuffix(m.schemaPtr, "/schema")+"/"+name, func(t *testing.T) {
				// The example as YAML, read as schematest reads the document.
				y, err := ex.Render()
				if err != nil {
					t.Fatal(err)
				}
				doc, err := schematest.DecodeYAML(y)
				if err != nil {
					t.Fatal(err)
				}
				value := doc.(map[string]any)["value"]
				if err := s.r.ValidateValue(schemaRef(m.schemaPtr), value); err != nil {
					t.Error(err)
				}
				if m.name != "application/x-ndjson" {
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
	if n < 15 {
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

// exchange is one request sent to the gateway, and its answer.
type exchange struct {
	*httptest.ResponseRecorder
	method, path string
	header       http.Header
	body         []byte
}

func (g *gateway) do(method, path string, hdr map[string]string, body []byte) *exchange {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	x := &exchange{ResponseRecorder: httptest.NewRecorder(), method: method, path: path, header: r.Header.Clone(), body: body}
	g.ServeHTTP(x.ResponseRecorder, r)
	return x
}

// request rebuilds the request of x for the validator, as the document describes it. Two
// rules of the gateway are prose in the document, since OpenAPI cannot state them, so the
// library does not know them: a request without Content-Type is read as JSON, and the schemas
// describe the body with its Content-Encoding undone (the library would validate the gzip
// bytes). The validator gets the JSON type and the decoded body (or the body as sent, if it is
// not gzip); the Content-Encoding header is still checked against the documented parameter.
func (x *exchange) request() *http.Request {
	body := x.body
	switch strings.ToLower(x.header.Get("Content-Encoding")) {
	case "gzip", "x-gzip":
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			if b, err := io.ReadAll(zr); err == nil {
				body = b
			}
		}
	}
	r := httptest.NewRequest(x.method, x.path, bytes.NewReader(body))
	r.Header = x.header.Clone()
	if r.Header.Get("Content-Type") == "" && len(body) > 0 {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// response is the gateway's answer to req, with a body of its own.
func (x *exchange) response(req *http.Request) *http.Response {
	resp := *x.Result()
	resp.Body = io.NopCloser(bytes.NewReader(x.Body.Bytes()))
	resp.Request = req
	return &resp
}

func (x *exchange) String() string { return x.method + " " + x.path }

// answer is the body of the gateway's answer, for messages.
func (x *exchange) answer() string { return strings.TrimSpace(x.Body.String()) }

// check validates the exchange x with the library. The answer must be documented for the
// request's operation: its status, content type, body and headers. The request must be valid
// by the document, unless refused: then the document must refuse it too (a request the
// gateway turns down for what it is, not for a key, a limit or the broker).
func check(t *testing.T, s *spec, x *exchange, refused bool) {
	t.Helper()
	ok, errs := s.v.ValidateHttpRequest(x.request())
	switch {
	case !ok && !refused:
		t.Errorf("%s: the document refuses the request (%s), which the gateway answered %d:%s", x, x.body, x.Code, failures(errs))
	case ok && refused:
		t.Errorf("%s: the document allows the request (%s), which the gateway refused with %d: %s", x, x.body, x.Code, x.answer())
	}
	req := x.request()
	if ok, errs := s.v.ValidateHttpResponse(req, x.response(req)); !ok {
		t.Errorf("%s: the answer %d %s does not match the document:%s", x, x.Code, x.answer(), failures(errs))
	}
	// The library validates a body only against the content the document gives the status.
	if op := s.operation(x.path, x.method); op != nil && op.Responses != nil {
		r := op.Responses.Codes.GetOrZero(strconv.Itoa(x.Code))
		if r != nil && orderedmap.Len(r.Content) == 0 && x.Body.Len() > 0 {
			t.Errorf("%s: %d has a body the document does not describe: %s", x, x.Code, x.answer())
		}
	}
}

// checkUnrouted validates an answer that belongs to no operation, the 404 of a path the
// gateway does not serve or the 405 of a method a path does not have, against the component
// response that describes it: the library's response validator checks it on an operation made
// of that response alone.
func checkUnrouted(t *testing.T, s *spec, x *exchange, component string) {
	t.Helper()
	if ok, _ := s.v.ValidateHttpRequest(x.request()); ok {
		t.Errorf("%s is documented, and the gateway answered %d: %s", x, x.Code, x.answer())
	}
	r := s.model.Components.Responses.GetOrZero(component)
	if r == nil {
		t.Fatalf("components/responses/%s is not documented", component)
	}
	op := &v3.Operation{Responses: &v3.Responses{Codes: orderedmap.FromPairs(orderedmap.NewPair(strconv.Itoa(x.Code), r))}}
	item := &v3.PathItem{Get: op, Put: op, Post: op, Delete: op, Options: op, Head: op, Patch: op, Trace: op}
	req := x.request()
	if ok, errs := s.v.GetResponseBodyValidator().ValidateResponseBodyWithPathItem(req, x.response(req), item, x.path); !ok {
		t.Errorf("%s: the answer %d %s does not match components/responses/%s:%s", x, x.Code, x.answer(), component, failures(errs))
	}
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
// method: none may be a 404 or 405, each answers a documented success, and the library finds
// request and answer valid by the document.
func TestOpenAPIServesEveryDocumentedRoute(t *testing.T) {
	s := loadSpec(t)
	ops := s.operations()
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
			x := g.do(op.method, op.path, bearer, body)
			if x.Code == http.StatusNotFound || x.Code == http.StatusMethodNotAllowed || x.Code >= 300 {
				t.Fatalf("status %d: %s", x.Code, x.Body)
			}
			check(t, s, x, false)
		})
	}
}

// TestOpenAPIDocumentsEveryStatus makes the gateway produce each status it can answer on the
// ingest paths and checks each exchange against the document; and each status documented for
// the POST operations must be one of them, so the document lists no answer that cannot happen.
func TestOpenAPIDocumentsEveryStatus(t *testing.T) {
	s := loadSpec(t)
	big := bytes.Repeat([]byte(" "), 2048)
	for _, path := range []string{"/v1/events", "/v1/batch", "/v1/track", "/v1/identify"} {
		bad := []byte(`[]`)
		badType := "text/csv"
		if path != "/v1/events" {
			badType = "application/x-ndjson" // NDJSON is engage's, not Segment's
		}
		// refused: the document refuses the request too (see check). A partly invalid batch
		// breaks the batch schemas, while one Segment call without an account is of the right
		// shape; the Segment endpoints document a key in the body as an alternative to the
		// Authorization header, so a request without the header is not refused there.
		batch := path == "/v1/events" || path == "/v1/batch"
		scenarios := []struct {
			name    string
			cfg     ingest.Config
			prepare func(*gateway)
			method  string
			hdr     map[string]string
			body    []byte
			want    int
			refused bool
		}{
			{name: "accepted", body: validBody(path), want: 200},
			{name: "partly rejected", body: partlyInvalid(path), want: 200, refused: batch},
			{name: "gzip", hdr: map[string]string{"Authorization": "Bearer " + testKey, "Content-Encoding": "gzip"}, body: gz(t, validBody(path)), want: 200},
			{name: "unreadable body", body: bad, want: 400, refused: true},
			{name: "no key", hdr: map[string]string{}, body: validBody(path), want: 401, refused: path == "/v1/events"},
			{name: "unknown key", hdr: map[string]string{"Authorization": "Bearer nope"}, body: validBody(path), want: 401},
			{name: "body over the limit", cfg: ingest.Config{MaxBodyBytes: 1024}, body: append(validBody(path), big...), want: 413},
			{name: "unsupported content type", hdr: map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": badType}, body: validBody(path), want: 415, refused: true},
			{name: "unsupported content encoding", hdr: map[string]string{"Authorization": "Bearer " + testKey, "Content-Encoding": "br"}, body: validBody(path), want: 415, refused: true},
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
				x := g.do(method, path, hdr, sc.body)
				if x.Code != sc.want {
					t.Fatalf("status %d, want %d: %s", x.Code, sc.want, x.Body)
				}
				if x.Code == http.StatusMethodNotAllowed {
					checkUnrouted(t, s, x, "MethodNotAllowed")
					return
				}
				if s.operation(path, method) == nil {
					t.Fatalf("%s %s is not documented", method, path)
				}
				check(t, s, x, sc.refused)
				reached[method+" "+strconv.Itoa(x.Code)] = true
			})
		}
		op := s.operation(path, http.MethodPost)
		if op == nil || op.Responses == nil {
			t.Fatalf("POST %s documents no response", path)
		}
		for code := range op.Responses.Codes.KeysFromOldest() {
			if !reached["POST "+code] && !(path == "/v1/identify" && code == "503") {
				t.Errorf("POST %s documents %s, which no scenario produced", path, code)
			}
		}
	}

	t.Run("unknown path", func(t *testing.T) {
		g := newGateway(t, ingest.Config{})
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			x := g.do(method, "/v1/nope", bearer, validBody("/v1/events"))
			if x.Code != http.StatusNotFound {
				t.Fatalf("%s: status %d", method, x.Code)
			}
			checkUnrouted(t, s, x, "NotFound")
		}
	})
	t.Run("not ready", func(t *testing.T) {
		g := newGateway(t, ingest.Config{})
		g.ready.err = errors.New("pinging brokers: context deadline exceeded")
		x := g.do(http.MethodGet, "/readyz", nil, nil)
		if x.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d", x.Code)
		}
		check(t, s, x, false)
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
		op := s.operation("/v1/events", m)
		if op == nil || op.Responses == nil {
			t.Fatalf("%s /v1/events is not documented", m)
		}
		for code := range op.Responses.Codes.KeysFromOldest() {
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
// schemas: a captured analytics.js batch, and what analytics-go v3 sends, captured here (the
// library validates its whole request: path, method, Basic auth, content type, body).
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
	var sent []*exchange
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r.Body)
		mu.Lock()
		sent = append(sent, &exchange{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: b.Bytes()})
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
	if len(sent) != 1 {
		t.Fatalf("analytics-go sent %d requests", len(sent))
	}
	x := sent[0]
	if ok, errs := s.v.ValidateHttpRequest(x.request()); !ok {
		t.Errorf("analytics-go's request %s does not match the document:%s", x, failures(errs))
	}
	if err := s.r.Validate(schemaRef("/components/schemas/SegmentBatch"), x.body); err != nil {
		t.Errorf("analytics-go batch %s: %v", x.body, err)
	}
}

// TestOpenAPIBasicAuth: the documented Basic scheme (key as user name, password ignored)
// works on both kinds of endpoint, as does the Segment endpoints' key in the body.
func TestOpenAPIBasicAuth(t *testing.T) {
	s := loadSpec(t)
	g := newGateway(t, ingest.Config{})
	for _, path := range []string{"/v1/events", "/v1/batch"} {
		hdr := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey+":whatever"))}
		x := g.do(http.MethodPost, path, hdr, validBody(path))
		if x.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", path, x.Code, x.Body)
		}
		check(t, s, x, false)
	}
	var res map[string]any
	x := g.do(http.MethodPost, "/v1/batch", map[string]string{}, []byte(`{"writeKey":"`+testKey+`","batch":[]}`))
	if err := json.Unmarshal(x.Body.Bytes(), &res); x.Code != http.StatusOK || err != nil {
		t.Errorf("writeKey in the body: status %d: %s", x.Code, x.Body)
	}
	check(t, s, x, false)
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
	codes := map[string]bool{"404": true, "405": true}
	for _, op := range s.operations() {
		if op.op.Responses != nil {
			for code := range op.op.Responses.Codes.KeysFromOldest() {
				codes[code] = true
			}
		}
	}
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
