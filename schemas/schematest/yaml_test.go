package schematest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestParseYAML pins the subset ParseYAML reads against what YAML 1.2 says each document
// means, written as the equivalent JSON.
func TestParseYAML(t *testing.T) {
	cases := []struct {
		name, yaml, json string
	}{
		{"mapping", "a: 1\nb: x\n", `{"a":1,"b":"x"}`},
		{"nested", "a:\n  b:\n    c: true\n", `{"a":{"b":{"c":true}}}`},
		{"sequence under a key", "a:\n  - 1\n  - two\n", `{"a":[1,"two"]}`},
		{"sequence at the key's indentation", "a:\n- 1\n- 2\nb: 3\n", `{"a":[1,2],"b":3}`},
		{"mapping in a sequence", "a:\n  - name: x\n    in: header\n  - name: z\n", `{"a":[{"name":"x","in":"header"},{"name":"z"}]}`},
		{"nested sequence", "a:\n  - - 1\n    - 2\n", `{"a":[[1,2]]}`},
		{"empty value is null", "a:\nb: ~\n", `{"a":null,"b":null}`},
		{"core schema scalars", "a: null\nb: false\nc: -1.5e3\nd: 0\ne: 0.25\n", `{"a":null,"b":false,"c":-1.5e3,"d":0,"e":0.25}`},
		{"strings that look like other things but are not", "a: 2xx\nb: 1 KiB\nc: v1.2.3\nd: /v1/events\n", `{"a":"2xx","b":"1 KiB","c":"v1.2.3","d":"/v1/events"}`},
		{"quoted keys and values", "\"200\": '#/x'\n'a b': \"c\\\"d\\u00e9\\n\"\n", `{"200":"#/x","a b":"c\"dé\n"}`},
		{"single quote escape", "a: 'it''s'\n", `{"a":"it's"}`},
		{"colon without space stays in a plain scalar", "a: http://x:80/y\n", `{"a":"http://x:80/y"}`},
		{"comments", "# top\na: 1 # trailing\n  # indented comment\nb: 'x' # after quotes\n", `{"a":1,"b":"x"}`},
		{"a value that is only a comment is null, as in YAML", "a: #/x\nb: 1\n", `{"a":null,"b":1}`},
		{"hash without space is content", "a: b#c\n", `{"a":"b#c"}`},
		{"flow collections", "a: []\nb: {}\nc: [x, 'y', 1, [true]]\nd: {k: v, 'q': [1]}\n", `{"a":[],"b":{},"c":["x","y",1,[true]],"d":{"k":"v","q":[1]}}`},
		{"literal block", "a: |\n  line 1\n    indented\n\n  line 3\nb: 1\n", `{"a":"line 1\n  indented\n\nline 3\n","b":1}`},
		{"literal block, strip", "a: |-\n  x\n  y\n\n", `{"a":"x\ny"}`},
		{"folded block", "a: >\n  one\n  two\n\n  three\n", `{"a":"one two\nthree\n"}`},
		{"folded block, strip", "- >-\n  one\n  two\n- x\n", `["one two","x"]`},
		{"block scalar keeps # as content", "a: |\n  # not a comment\n", `{"a":"# not a comment\n"}`},
		{"CRLF", "a: 1\r\nb: 2\r\n", `{"a":1,"b":2}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseYAML([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			want, err := DecodeJSON([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Errorf("got %s, want %s", g, tc.json)
			}
		})
	}
}

// TestParseYAMLRefuses pins that everything outside the subset is an error rather than a
// different reading of the document.
func TestParseYAMLRefuses(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"anchor", "a: &x 1\n", "indicator"},
		{"alias", "a: *x\n", "indicator"},
		{"tag", "a: !!str 1\n", "indicator"},
		{"multi-line plain scalar", "a: one\n  two\n", "continuation"},
		{"multi-line quoted scalar", "a: \"one\n  two\"\n", "unterminated"},
		{"plain scalar with ': '", "a: b: c\n", `": "`},
		{"duplicate key", "a: 1\na: 2\n", "duplicate"},
		{"integer key", "200: x\n", "not a string"},
		{"boolean key", "true: x\n", "not a string"},
		{"YAML 1.1 boolean", "a: yes\n", "boolean"},
		{"timestamp", "a: 2026-11-23\n", "timestamp"},
		{"hex", "a: 0x1F\n", "JSON-style number"},
		{"trailing dot", "a: 1.\n", "JSON-style number"},
		{"leading dot", "a: .5\n", "JSON-style number"},
		{"plus sign", "a: +1\n", "JSON-style number"},
		{"sexagesimal", "a: 1:30\n", "JSON-style number"},
		{"infinity", "a: .inf\n", "JSON-style number"},
		{"leading zero", "a: 007\n", "JSON-style number"},
		{"tab indentation", "a:\n\tb: 1\n", "tab"},
		{"bad indentation", "a: 1\n  b: 2\n", "continuation"},
		{"keep chomping", "a: |+\n  x\n", "not supported"},
		{"explicit indentation", "a: |2\n  x\n", "not supported"},
		{"more-indented folded line", "a: >\n  x\n    y\n", "more-indented"},
		{"unknown escape", "a: \"\\x41\"\n", "not supported"},
		{"document marker", "---\na: 1\n", "mapping or a sequence"},
		{"top-level scalar", "hello\n", "mapping or a sequence"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseYAML([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseYAML = %v, %v; want an error mentioning %s", v, err, tc.want)
			}
		})
	}
}

// TestLoad reads the shipped documents; the schemas package's tests check what they say.
func TestLoad(t *testing.T) {
	r, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if r.Doc(EventSchema) == nil || r.Doc(OpenAPI) == nil {
		t.Fatal("documents missing")
	}
	dir, _ := Dir()
	if _, err := os.Stat(filepath.Join(dir, "embed.go")); err != nil {
		t.Errorf("Dir() = %s is not the schemas package: %v", dir, err)
	}
}
