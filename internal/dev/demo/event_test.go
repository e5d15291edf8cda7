package demo

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestAppendJSONString(t *testing.T) {
	tests := []string{"", "acme-co-1", `say "hi"`, `back\slash`, "tab\tnew\nline\x01", "naïve ✓"}
	for _, s := range tests {
		b := appendJSONString([]byte("x"), s)
		var got string
		if err := json.Unmarshal(b[1:], &got); err != nil || got != s {
			t.Errorf("appendJSONString(%q) = %s: decodes to %q, %v", s, b[1:], got, err)
		}
	}
}

// AppendJSON, what the sender posts, says the same as Input, what the tests validate.
func TestAppendJSONMatchesInput(t *testing.T) {
	for _, e := range someEvents(t, 300) {
		var got map[string]any
		if err := json.Unmarshal(e.AppendJSON(nil), &got); err != nil {
			t.Fatalf("%s: %v", e.AppendJSON(nil), err)
		}
		in := e.Input()
		b, _ := json.Marshal(in)
		var want map[string]any
		_ = json.Unmarshal(b, &want)
		for k, v := range want {
			if v == "" || v == nil {
				delete(want, k) // AppendJSON leaves out what is empty
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("AppendJSON gives %v, Input %v", got, want)
		}
	}
}
