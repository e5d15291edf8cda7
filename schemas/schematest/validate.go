package schematest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/message"
)

// Engage's keywords (see the package documentation).
const (
	MaxEncodedBytes = "x-maxEncodedBytes"
	FormatMinimum   = "formatMinimum"
)

// oasKeywords are the annotations OpenAPI 3.1's schema dialect adds to JSON Schema.
var oasKeywords = []string{"discriminator", "xml", "externalDocs", "example"}

// Schemas validates JSON documents against schemas in the published documents. It is safe for
// concurrent use (validations run one at a time).
type Schemas struct {
	docs map[string]any
	c    *jsonschema.Compiler
	// The roots of documents that are not schemas but hold some (an OpenAPI document): the
	// compiler compiles a resource's root with any schema in it, and their members are not
	// keywords.
	containers map[uintptr]bool

	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
	instance *sizes // of the instance being validated, for x-maxEncodedBytes
}

// New makes a Schemas of decoded documents (DecodeJSON, DecodeYAML) by file name; references
// between them are relative to BaseURL.
func New(docs map[string]any) (*Schemas, error) {
	s := &Schemas{docs: docs, compiled: map[string]*jsonschema.Schema{}, containers: map[uintptr]bool{}}
	for _, doc := range docs {
		if m, ok := doc.(map[string]any); ok && m["openapi"] != nil {
			s.containers[reflect.ValueOf(m).Pointer()] = true
		}
	}
	known, err := keywords2020()
	if err != nil {
		return nil, err
	}
	vocab, err := s.vocabulary(known)
	if err != nil {
		return nil, err
	}
	s.c = jsonschema.NewCompiler()
	s.c.DefaultDraft(jsonschema.Draft2020)
	s.c.AssertFormat()
	s.c.AssertVocabs()
	s.c.RegisterVocabulary(vocab)
	s.c.UseLoader(noLoader{})
	for name, doc := range docs {
		if err := s.c.AddResource(BaseURL+name, doc); err != nil {
			return nil, fmt.Errorf("schematest: adding %s: %w", name, err)
		}
	}
	return s, nil
}

// noLoader keeps the documents to themselves: a reference to anything else is an error
// rather than a download.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s is not one of the loaded documents", url)
}

// Doc returns the document loaded under name, or nil.
func (s *Schemas) Doc(name string) any { return s.docs[name] }

// Compile compiles the schema at ref, a document name with an optional JSON Pointer fragment
// ("event.schema.json#/$defs/input"), and everything it references. It fails if any of those
// schemas is not valid by the JSON Schema 2020-12 meta-schema, uses a keyword that is neither
// JSON Schema's nor engage's, or references what does not exist.
func (s *Schemas) Compile(ref string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.compile(ref)
}

func (s *Schemas) compile(ref string) (*jsonschema.Schema, error) {
	if sch, ok := s.compiled[ref]; ok {
		return sch, nil
	}
	sch, err := s.c.Compile(BaseURL + ref)
	if err != nil {
		return nil, fmt.Errorf("schematest: compiling %s: %w", ref, err)
	}
	s.compiled[ref] = sch
	return sch, nil
}

// Validate checks the JSON text instance against the schema at ref (see Compile). It returns
// a *jsonschema.ValidationError when the instance is invalid, and another error when the
// instance is not JSON or the schema cannot be compiled.
func (s *Schemas) Validate(ref string, instance []byte) error {
	v, sz, err := decodeInstance(instance)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sch, err := s.compile(ref)
	if err != nil {
		return err
	}
	s.instance = sz
	defer func() { s.instance = nil }()
	return sch.Validate(v)
}

// ValidateValue checks a decoded value (a YAML example, say) against the schema at ref, as
// its compact JSON encoding.
func (s *Schemas) ValidateValue(ref string, value any) error {
	b, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("schematest: encoding %T as JSON: %w", value, err)
	}
	return s.Validate(ref, b)
}

// keywords2020 lists the keywords of JSON Schema 2020-12's vocabularies, read from the
// meta-schema the validator ships, so that the list is the validator's own.
func keywords2020() (map[string]bool, error) {
	meta, err := jsonschema.NewCompiler().Compile("https://json-schema.org/draft/2020-12/schema")
	if err != nil {
		return nil, fmt.Errorf("schematest: compiling the 2020-12 meta-schema: %w", err)
	}
	known := map[string]bool{}
	// The meta-schema's own properties are the deprecated keywords of earlier drafts
	// (definitions, dependencies, …); the vocabularies are in its allOf.
	for _, vocab := range meta.AllOf {
		if vocab.Ref == nil {
			return nil, fmt.Errorf("schematest: unexpected 2020-12 meta-schema layout at %s", vocab.Location)
		}
		for k := range vocab.Ref.Properties {
			known[k] = true
		}
	}
	if len(known) < 40 || !known["if"] || !known["format"] {
		return nil, fmt.Errorf("schematest: found only %d keywords in the 2020-12 meta-schema", len(known))
	}
	for _, k := range append(oasKeywords, MaxEncodedBytes, FormatMinimum) {
		known[k] = true
	}
	return known, nil
}

// vocabularyMeta is the syntax of engage's keywords.
const vocabularyMeta = `{
	"properties": {
		"x-maxEncodedBytes": {"type": "integer", "minimum": 0},
		"formatMinimum": {"type": "string", "format": "date-time"}
	},
	"dependentSchemas": {
		"formatMinimum": {"required": ["format"], "properties": {"format": {"const": "date-time"}}}
	}
}`

const vocabularyURL = BaseURL + "vocab/engage"

func (s *Schemas) vocabulary(known map[string]bool) (*jsonschema.Vocabulary, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(vocabularyMeta))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(vocabularyURL, doc); err != nil {
		return nil, err
	}
	meta, err := c.Compile(vocabularyURL)
	if err != nil {
		return nil, fmt.Errorf("schematest: compiling engage's vocabulary: %w", err)
	}
	return &jsonschema.Vocabulary{
		URL:    vocabularyURL,
		Schema: meta,
		Compile: func(_ *jsonschema.CompilerContext, obj map[string]any) (jsonschema.SchemaExt, error) {
			if s.containers[reflect.ValueOf(obj).Pointer()] {
				return nil, nil
			}
			var unknown []string
			for k := range obj {
				if !known[k] && !strings.HasPrefix(k, "x-") {
					unknown = append(unknown, k)
				}
			}
			if len(unknown) > 0 {
				slices.Sort(unknown)
				return nil, fmt.Errorf("keywords %q are neither JSON Schema 2020-12's nor engage's: a misspelling would be a rule nobody checks", unknown)
			}
			return s.compileExt(obj)
		},
	}, nil
}

// ext is engage's keywords in one schema.
type ext struct {
	s        *Schemas
	maxBytes *int
	minTime  *time.Time
	min      string
}

func (s *Schemas) compileExt(obj map[string]any) (jsonschema.SchemaExt, error) {
	e := &ext{s: s}
	if v, ok := obj[MaxEncodedBytes]; ok {
		f, _ := v.(float64) // the vocabulary's meta-schema made it a non-negative integer
		n := int(f)
		e.maxBytes = &n
	}
	if v, ok := obj[FormatMinimum]; ok {
		e.min, _ = v.(string)
		t, ok := parseDateTime(e.min)
		if !ok {
			return nil, fmt.Errorf("%s %q is not a date-time", FormatMinimum, e.min)
		}
		e.minTime = &t
	}
	if e.maxBytes == nil && e.minTime == nil {
		return nil, nil
	}
	return e, nil
}

func (e *ext) Validate(ctx *jsonschema.ValidatorContext, v any) {
	if e.maxBytes != nil && e.s.instance != nil {
		if n, ok := e.s.instance.at(ctx.ValueLocation()); ok && n > *e.maxBytes {
			ctx.AddError(&tooLarge{size: n, max: *e.maxBytes})
		}
	}
	if e.minTime != nil {
		// A string that is not a date-time is the format keyword's error.
		if str, ok := v.(string); ok {
			if t, ok := parseDateTime(str); ok && t.Before(*e.minTime) {
				ctx.AddError(&tooEarly{value: str, min: e.min})
			}
		}
	}
}

// parseDateTime reads an RFC 3339 date-time as JSON Schema's format "date-time" allows it
// (lower-case t and z, a leap second), for comparing instants. A leap second (23:59:60) is
// read as 23:59:59, which it follows, since it comes before the next minute.
func parseDateTime(s string) (time.Time, bool) {
	s = strings.ToUpper(s)
	if len(s) > 19 && s[16:19] == ":60" {
		s = s[:17] + "59" + s[19:]
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

type tooLarge struct{ size, max int }

func (*tooLarge) KeywordPath() []string { return []string{MaxEncodedBytes} }
func (k *tooLarge) LocalizedString(p *message.Printer) string {
	return p.Sprintf("is %d bytes of JSON text, over %d", k.size, k.max)
}

type tooEarly struct{ value, min string }

func (*tooEarly) KeywordPath() []string { return []string{FormatMinimum} }
func (k *tooEarly) LocalizedString(p *message.Printer) string {
	return p.Sprintf("%s is before %s", k.value, k.min)
}
