package service

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Flags is a flag.FlagSet in which every flag can also be set by an environment variable.
// The precedence is flag, then environment, then default, so a container sets environment
// and a developer overrides one value on the command line.
type Flags struct {
	fs   *flag.FlagSet
	envs map[string]string // flag name -> env name
	errs []error
}

// NewFlags returns an empty set for the named service.
func NewFlags(name string) *Flags {
	f := &Flags{fs: flag.NewFlagSet(name, flag.ContinueOnError), envs: map[string]string{}}
	f.fs.Usage = f.usage
	return f
}

func (f *Flags) usage() {
	out := f.fs.Output()
	fmt.Fprintf(out, "Usage of %s (each flag also reads the environment variable shown):\n", f.fs.Name())
	f.fs.VisitAll(func(fl *flag.Flag) {
		fmt.Fprintf(out, "  -%s (env %s, default %q)\n      %s\n", fl.Name, f.envs[fl.Name], fl.DefValue, fl.Usage)
	})
}

func (f *Flags) env(name, env string) (string, bool) {
	f.envs[name] = env
	if env == "" {
		return "", false
	}
	v, ok := os.LookupEnv(env)
	return v, ok
}

// String defines a string flag with an environment fallback.
func (f *Flags) String(p *string, name, env, def, usage string) {
	if v, ok := f.env(name, env); ok {
		def = v
	}
	f.fs.StringVar(p, name, def, usage)
}

// Bool defines a bool flag with an environment fallback.
func (f *Flags) Bool(p *bool, name, env string, def bool, usage string) {
	if v, ok := f.env(name, env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("environment %s=%q: not a boolean", env, v))
		}
		def = b
	}
	f.fs.BoolVar(p, name, def, usage)
}

// Int defines an int flag with an environment fallback.
func (f *Flags) Int(p *int, name, env string, def int, usage string) {
	if v, ok := f.env(name, env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("environment %s=%q: not an integer", env, v))
		}
		def = n
	}
	f.fs.IntVar(p, name, def, usage)
}

// Duration defines a duration flag with an environment fallback.
func (f *Flags) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := f.env(name, env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("environment %s=%q: not a duration (e.g. 30s, 5m)", env, v))
		}
		def = d
	}
	f.fs.DurationVar(p, name, def, usage)
}

// List defines a comma-separated list flag with an environment fallback.
func (f *Flags) List(p *[]string, name, env, def, usage string) {
	if v, ok := f.env(name, env); ok {
		def = v
	}
	*p = SplitList(def)
	f.fs.Func(name, usage+" (comma-separated)", func(s string) error {
		*p = SplitList(s)
		return nil
	})
	f.fs.Lookup(name).DefValue = def
}

// Parse parses args (os.Args[1:]) and reports environment values that did not parse.
func (f *Flags) Parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if len(f.errs) > 0 {
		return f.errs[0]
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(f.fs.Args(), " "))
	}
	return nil
}

// Table returns the flags as Markdown table rows (flag, env, default, meaning), sorted, for
// the README's configuration section.
func (f *Flags) Table() string {
	var rows []string
	f.fs.VisitAll(func(fl *flag.Flag) {
		rows = append(rows, fmt.Sprintf("| `-%s` | `%s` | `%s` | %s |", fl.Name, f.envs[fl.Name], fl.DefValue, fl.Usage))
	})
	sort.Strings(rows)
	return strings.Join(rows, "\n")
}

// SplitList splits a comma-separated list, trimming blanks and dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Envs returns the environment variable of every flag, sorted.
func (f *Flags) Envs() []string {
	var out []string
	for _, e := range f.envs {
		if e != "" {
			out = append(out, e)
		}
	}
	sort.Strings(out)
	return out
}
