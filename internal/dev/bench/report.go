package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Table is a Markdown table.
type Table struct {
	Header []string
	Rows   [][]string
}

// Add appends a row; values are formatted with fmt.Sprint.
func (t *Table) Add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = fmt.Sprint(c)
	}
	t.Rows = append(t.Rows, row)
}

// Write renders the table.
func (t *Table) Write(w io.Writer) {
	line := func(cells []string) {
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	line(t.Header)
	sep := make([]string, len(t.Header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range t.Rows {
		line(r)
	}
}

// Section is one scenario's output: a heading, tables and notes.
type Section struct {
	Title  string
	Tables []*Table
	Notes  []string
}

// Note adds a line under the tables.
func (s *Section) Note(format string, args ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}

// Write renders the section.
func (s *Section) Write(w io.Writer) {
	fmt.Fprintf(w, "\n### %s\n\n", s.Title)
	first := true
	for _, t := range s.Tables {
		if len(t.Rows) == 0 {
			continue // the scenario failed before measuring anything for it
		}
		if !first {
			fmt.Fprintln(w)
		}
		first = false
		t.Write(w)
	}
	if len(s.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range s.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// verdict renders a target check.
func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**missed**"
}

// Machine describes the host a run measured.
type Machine struct {
	Date       time.Time
	CPUs       int
	CPUModel   string
	MemTotal   string
	GoVersion  string
	ClickHouse string
	LoadAvg    string
	Commit     string // of the source tree measured, "+ uncommitted changes" when dirty
}

// ReadMachine collects the host's description and the commit of the source tree at src;
// ClickHouse is filled in later, when a server ran.
func ReadMachine(src string) Machine {
	m := Machine{Date: time.Now().UTC(), CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = src
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if m.Commit = git("rev-parse", "--short", "HEAD"); m.Commit != "" && git("status", "--porcelain", "--untracked-files=no") != "" {
		m.Commit += " + uncommitted changes"
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && k == "MemTotal" {
				var kb int64
				fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
				m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(strings.TrimPrefix(string(out), "go version "))
	}
	m.LoadAvg = LoadAvg()
	return m
}

// LoadAvg is the first three fields of /proc/loadavg: other work on a shared machine.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// WriteHeader writes the report's title, the command that produced it and, for the
// scenarios, how to read their CPU columns.
func (m Machine) WriteHeader(w io.Writer, command string, scenarios bool) {
	fmt.Fprintf(w, "## engage benchmark, %s\n\n`%s`\n", m.Date.Format("2006-01-02 15:04 UTC"), command)
	if scenarios {
		fmt.Fprintln(w, "\nCPU columns: CPU seconds per wall second of each process over the measured window "+
			"(/proc/<pid>/stat; the load generator is the benchmark process); \"stall\": share of the window in which "+
			"some runnable task on the machine waited for a CPU (/proc/pressure/cpu), i.e. how much other work competed.")
	}
}

// Write renders the machine as a table.
func (m Machine) Write(w io.Writer) {
	t := &Table{Header: []string{"machine", ""}}
	t.Add("date (UTC)", m.Date.Format("2006-01-02 15:04"))
	t.Add("nproc", m.CPUs)
	t.Add("CPU", m.CPUModel)
	t.Add("memory", m.MemTotal)
	t.Add("Go", m.GoVersion)
	ch := m.ClickHouse
	if ch == "" {
		ch = "(not started)"
	}
	t.Add("ClickHouse", ch)
	t.Add("load average at start (1, 5, 15 min)", m.LoadAvg)
	if m.Commit != "" {
		t.Add("source", m.Commit)
	}
	t.Write(w)
}
