package health

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/score/*.want.json from the current code")

// TestGolden scores each testdata/score/NAME.in.json (Inputs) with the default model and
// compares the Result, as JSON, with NAME.want.json. After an intended change of the model or
// the formulas, run go test -run TestGolden -update and review the diff.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "score", "*.in.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	m := DefaultModel()
	for _, inPath := range inputs {
		name := strings.TrimSuffix(filepath.Base(inPath), ".in.json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(inPath)
			if err != nil {
				t.Fatal(err)
			}
			var in Inputs
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				t.Fatalf("decoding %s: %v", inPath, err)
			}
			got, err := json.MarshalIndent(Score(m, in), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			wantPath := filepath.Join("testdata", "score", name+".want.json")
			if *update {
				if err := os.WriteFile(wantPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", wantPath, got, want)
			}
		})
	}
}
