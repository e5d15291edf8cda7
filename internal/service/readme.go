package service

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CheckDocumented returns an error naming every environment variable of f that the README
// at readmePath does not mention in backquotes. Each service's tests call it, so a new flag
// cannot ship undocumented.
func CheckDocumented(f *Flags, readmePath string) error {
	b, err := os.ReadFile(filepath.Clean(readmePath))
	if err != nil {
		return fmt.Errorf("reading %s: %w", readmePath, err)
	}
	var missing []string
	for _, e := range f.Envs() {
		if !strings.Contains(string(b), "`"+e+"`") {
			missing = append(missing, e)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s does not document %s", readmePath, strings.Join(missing, ", "))
	}
	return nil
}
