package testenv

import (
	"strings"
	"testing"
)

// WantErrors checks a validation result: with no want, err must be nil; otherwise err must
// name every one of want (as substrings), which is how the configuration tests pin that every
// bad setting is reported at once.
func WantErrors(t testing.TB, err error, want ...string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("valid configuration refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted, want errors naming %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}
