package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// GoBench is one result line of `go test -bench`.
type GoBench struct {
	Pkg     string // import path
	Name    string // without the Benchmark prefix and the -GOMAXPROCS suffix
	Procs   int    // GOMAXPROCS (1 when go test printed no suffix)
	N       int64
	Metrics map[string]float64 // by unit: ns/op, B/op, allocs/op, events/s, …
	Units   []string           // in the order printed
}

var procsSuffix = regexp.MustCompile(`-(\d+)$`)

// ParseGoBench reads `go test -bench` output (several packages may follow each other).
// Lines that are not results are ignored.
func ParseGoBench(r io.Reader) ([]GoBench, error) {
	var out []GoBench
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue // a benchmark's log line, or its name alone before a failure
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := GoBench{Pkg: pkg, Name: strings.TrimPrefix(f[0], "Benchmark"), Procs: 1, N: n, Metrics: map[string]float64{}}
		if m := procsSuffix.FindStringSubmatch(b.Name); m != nil {
			b.Procs, _ = strconv.Atoi(m[1])
			b.Name = strings.TrimSuffix(b.Name, m[0])
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			b.Metrics[f[i+1]] = v
			b.Units = append(b.Units, f[i+1])
		}
		out = append(out, b)
	}
	return out, sc.Err()
}

// Micro summarises the `go test -bench` output in the file at path as a section written to w.
func (r *Runner) Micro(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("-scenario micro needs -gotest FILE: %w", err)
	}
	defer f.Close()
	bs, err := ParseGoBench(f)
	if err != nil {
		return err
	}
	if len(bs) == 0 {
		return fmt.Errorf("no benchmark results in %s", path)
	}
	r.MicroSection(bs).Write(w)
	return nil
}

// ParseFloats parses a comma-separated list of positive numbers.
func ParseFloats(s string) ([]float64, error) {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q: want positive numbers separated by commas", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// microTarget is a contract target on one micro-benchmark metric.
type microTarget struct {
	pkg, name string // name prefix
	unit      string
	goal      string
	ok        func(float64) bool
}

var microTargets = []microTarget{
	{"internal/ingest", "DecodeValidate/batch100", "ns/event", "< 2 µs/event", func(v float64) bool { return v < 2000 }},
	{"internal/ingest", "DecodeValidate/single", "ns/event", "< 2 µs/event", func(v float64) bool { return v < 2000 }},
	{"internal/ingest", "Handler100/json", "events/s", "≥ 150,000 events/s", func(v float64) bool { return v >= 150_000 }},
	{"internal/session", "TrackerAdd/", "events/s", "≥ 1,000,000 events/s per core", func(v float64) bool { return v >= 1_000_000 }},
	{"internal/scorer", "Rescore100k/", "total-ms/op", "≤ 2,000 ms per 100k accounts", func(v float64) bool { return v <= 2000 }},
}

func shortPkg(p string) string {
	const module = "github.com/engage-oss/engage/"
	return strings.TrimPrefix(p, module)
}

// MicroSection summarises micro-benchmark results as a table, checking the contract's
// targets.
func (r *Runner) MicroSection(bs []GoBench) *Section {
	sec := &Section{Title: "Hot-path micro-benchmarks"}
	t := &Table{Header: []string{"package", "benchmark", "-cpu", "ns/op", "B/op", "allocs/op", "other metrics", "target", ""}}
	for _, b := range bs {
		var extra []string
		for _, u := range b.Units {
			switch u {
			case "ns/op", "B/op", "allocs/op", "MB/s":
				continue
			}
			extra = append(extra, fmtMetric(b.Metrics[u])+" "+u)
		}
		metric := func(u string) string {
			v, ok := b.Metrics[u]
			if !ok {
				return "–"
			}
			return fmtMetric(v)
		}
		goal, mark := "", ""
		for _, mt := range microTargets {
			if shortPkg(b.Pkg) != mt.pkg || !strings.HasPrefix(b.Name, mt.name) {
				continue
			}
			v, ok := b.Metrics[mt.unit]
			if !ok {
				continue
			}
			goal, mark = mt.goal, verdict(mt.ok(v))
			r.target(shortPkg(b.Pkg)+" "+b.Name, mt.goal, fmtMetric(v)+" "+mt.unit, mt.ok(v))
		}
		t.Add(shortPkg(b.Pkg), b.Name, b.Procs, metric("ns/op"), metric("B/op"), metric("allocs/op"), strings.Join(extra, ", "), goal, mark)
	}
	sec.Tables = append(sec.Tables, t)
	return sec
}

// fmtMetric renders a benchmark value: integers with separators, small values with 3
// significant digits.
func fmtMetric(v float64) string {
	switch {
	case v >= 10_000 || v == float64(int64(v)) && v >= 100:
		return fmtInt(int64(v + 0.5))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}
