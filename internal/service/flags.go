package service

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Flags is a flag.FlagSet in which every flag can also be set by an environment variable.
// The precedence is flag, then environment, then default, so a container sets environment
// and a developer overrides one value on the command line.
//
// Flags also remembers each flag's declared default and the order of declaration, so that
// Table documents the same defaults on every machine, whatever its environment.
type Flags struct {
	fs    *flag.FlagSet
	envs  map[string]string // flag name -> env name
	defs  map[string]string // flag name -> documented default
	prose map[string]bool   // flag name -> defs holds a description, not a value
	order []string          // flag names in declaration order
	errs  []error
}

// NewFlags returns an empty set for the named service.
func NewFlags(name string) *Flags {
	f := &Flags{fs: flag.NewFlagSet(name, flag.ContinueOnError), envs: map[string]string{}, defs: map[string]string{}, prose: map[string]bool{}}
	f.fs.Usage = f.usage
	return f
}

// Name is the name the set was created with.
func (f *Flags) Name() string { return f.fs.Name() }

func (f *Flags) usage() {
	out := f.fs.Output()
	fmt.Fprintf(out, "Usage of %s (each flag also reads the environment variable shown):\n", f.fs.Name())
	for _, name := range f.order {
		fl := f.fs.Lookup(name)
		env := f.envs[name]
		if env == "" {
			env = "none"
		}
		fmt.Fprintf(out, "  -%s (env %s, default %q)\n      %s\n", fl.Name, env, f.defs[name], fl.Usage)
	}
}

// declare records a flag and returns its environment value, if the variable is set.
func (f *Flags) declare(name, env, def string) (string, bool) {
	f.envs[name] = env
	f.defs[name] = def
	f.order = append(f.order, name)
	if env == "" {
		return "", false
	}
	v, ok := os.LookupEnv(env)
	return v, ok
}

// String defines a string flag with an environment fallback.
func (f *Flags) String(p *string, name, env, def, usage string) {
	v := def
	if e, ok := f.declare(name, env, def); ok {
		v = e
	}
	f.fs.StringVar(p, name, v, usage)
}

// Bool defines a bool flag with an environment fallback.
func (f *Flags) Bool(p *bool, name, env string, def bool, usage string) {
	v := def
	if e, ok := f.declare(name, env, strconv.FormatBool(def)); ok {
		b, err := strconv.ParseBool(e)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("environment %s=%q: not a boolean", env, e))
		}
		v = b
	}
	f.fs.BoolVar(p, name, v, usage)
}

// Int defines an int flag with an environment fallback.
func (f *Flags) Int(p *int, name, env string, def int, usage string) {
	v := def
	if e, ok := f.declare(name, env, strconv.Itoa(def)); ok {
		n, err := strconv.Atoi(e)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("environment %s=%q: not an integer", env, e))
		}
		v = n
	}
	f.fs.IntVar(p, name, v, usage)
}

// Duration defines a duration flag with an environment fallback.
func (f *Flags) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	v := def
	if e, ok := f.declare(name, env, formatDuration(def)); ok {
		d, err := time.ParseDuration(e)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("environment %s=%q: not a duration (e.g. 30s, 5m)", env, e))
		}
		v = d
	}
	f.fs.DurationVar(p, name, v, usage)
}

// List defines a comma-separated list flag with an environment fallback.
func (f *Flags) List(p *[]string, name, env, def, usage string) {
	v := def
	if e, ok := f.declare(name, env, def); ok {
		v = e
	}
	*p = SplitList(v)
	f.fs.Func(name, usage+" (comma-separated)", func(s string) error {
		*p = SplitList(s)
		return nil
	})
	f.fs.Lookup(name).DefValue = v
}

// DocDefault replaces the default shown for flag name in -h and Table. It is for defaults
// that depend on where or how the service runs (the host name, dev mode), which the
// documentation must describe rather than print.
func (f *Flags) DocDefault(name, text string) {
	if _, ok := f.defs[name]; !ok {
		panic("service: DocDefault of undefined flag " + name)
	}
	f.defs[name] = text
	f.prose[name] = true
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

// Table returns the flags as a Markdown table (flag, environment variable, default,
// meaning) in declaration order: the reference of docs/CONFIG.md, generated so that it
// cannot drift from the code.
func (f *Flags) Table() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	for _, name := range f.order {
		env := "—"
		if e := f.envs[name]; e != "" {
			env = "`" + e + "`"
		}
		def := "empty"
		switch d := f.defs[name]; {
		case f.prose[name]:
			def = mdCell(d)
		case d != "":
			def = "`" + d + "`"
		}
		fmt.Fprintf(&b, "| `-%s` | %s | %s | %s |\n", name, env, def, mdCell(f.fs.Lookup(name).Usage))
	}
	return b.String()
}

// formatDuration writes d as a person would: 30m rather than time.Duration's 30m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// mdCell escapes what would end a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
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
