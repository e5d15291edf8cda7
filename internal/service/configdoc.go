package service

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// ConfigDocUpdateHint is how to regenerate docs/CONFIG.md; every stale-section error says it.
const ConfigDocUpdateHint = "go test ./services/... -update-config-doc"

// ConfigDocSection renders a service's section of docs/CONFIG.md: a heading, intro (one
// hand-written paragraph about the service, may be empty) and the table of f.
func ConfigDocSection(f *Flags, intro string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n", f.Name())
	if intro = strings.TrimSpace(intro); intro != "" {
		b.WriteString(intro + "\n\n")
	}
	b.WriteString(f.Table())
	return b.String()
}

func markers(section string) (begin, end string) {
	return "<!-- BEGIN " + section + " -->\n", "<!-- END " + section + " -->\n"
}

// CheckConfigDoc compares the part of the Markdown file at path between
// "<!-- BEGIN section -->" and "<!-- END section -->" with want. With update it writes want
// there instead (appending the markers when the section is new), so that each service's
// test can regenerate its own section; concurrent updates of one file by several test
// binaries are serialised with a lock file beside it.
func CheckConfigDoc(path, section, want string, update bool) error {
	if update {
		return updateConfigDoc(path, section, want)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w (regenerate with %s)", path, err, ConfigDocUpdateHint)
	}
	got, ok := sectionOf(string(b), section)
	if !ok {
		return fmt.Errorf("%s has no %q section between its markers; regenerate with %s", path, section, ConfigDocUpdateHint)
	}
	if got != want {
		return fmt.Errorf("%s: section %q is stale (first difference: %s); regenerate with %s", path, section, firstDiff(got, want), ConfigDocUpdateHint)
	}
	return nil
}

func sectionOf(doc, section string) (string, bool) {
	begin, end := markers(section)
	_, rest, ok := strings.Cut(doc, begin)
	if !ok {
		return "", false
	}
	body, _, ok := strings.Cut(rest, end)
	return body, ok
}

func updateConfigDoc(path, section, want string) error {
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	doc := string(b)
	begin, end := markers(section)
	if old, ok := sectionOf(doc, section); ok {
		doc = strings.Replace(doc, begin+old+end, begin+want+end, 1)
	} else {
		if doc != "" && !strings.HasSuffix(doc, "\n\n") {
			doc = strings.TrimRight(doc, "\n") + "\n\n"
		}
		doc += begin + want + end
	}
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// lockFile takes an exclusive lock by creating path, waiting up to 30 s for another holder.
// A lock older than a minute is left over from a killed run and is taken over.
func lockFile(path string) (unlock func(), err error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
			return func() { _ = os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if st, serr := os.Stat(path); serr == nil && time.Since(st.ModTime()) > time.Minute {
			_ = os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("locking %s: still held after 30s; remove it if no test is running", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d is %q, want %q", i+1, gl, wl)
		}
	}
	return "none"
}
