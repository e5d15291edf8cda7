package service

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
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
	ptrs  map[any]string    // pointer to the value a flag sets -> flag name
	errs  []error
}

// NewFlags returns an empty set for the named service.
func NewFlags(name string) *Flags {
	f := &Flags{fs: flag.NewFlagSet(name, flag.ContinueOnError), envs: map[string]string{}, defs: map[string]string{}, prose: map[string]bool{}, ptrs: map[any]string{}}
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

// declare records a flag that sets *p and returns its environment value, if the variable
// is set.
func (f *Flags) declare(p any, name, env, def string) (string, bool) {
	f.ptrs[p] = name
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
	if e, ok := f.declare(p, name, env, def); ok {
		v = e
	}
	f.fs.StringVar(p, name, v, usage)
}

// Bool defines a bool flag with an environment fallback.
func (f *Flags) Bool(p *bool, name, env string, def bool, usage string) {
	v := def
	if e, ok := f.declare(p, name, env, strconv.FormatBool(def)); ok {
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
	if e, ok := f.declare(p, name, env, strconv.Itoa(def)); ok {
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
	if e, ok := f.declare(p, name, env, formatDuration(def)); ok {
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
	if e, ok := f.declare(p, name, env, def); ok {
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
		return errors.Join(f.errs...)
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

// Explain adds to each error joined in err the flag and environment variable that set the
// field it names, so that `-validate` tells an operator what to change: a domain package's
// Validate names its Go fields ("FlushInterval 10s: must be in (0, 5s]"), and cfg, a pointer
// to the service's Config, links those fields to the flags defined on them. A field name
// that two flags share (Addr, say) is left as it is rather than guessed.
func (f *Flags) Explain(cfg any, err error) error {
	if err == nil {
		return nil
	}
	byField := map[string]string{}
	ambiguous := map[string]bool{}
	var walk func(v reflect.Value, depth int)
	walk = func(v reflect.Value, depth int) {
		for i := 0; i < v.NumField(); i++ {
			fv, sf := v.Field(i), v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			if name, ok := f.ptrs[fv.Addr().Interface()]; ok {
				if prev, dup := byField[sf.Name]; dup && prev != name {
					ambiguous[sf.Name] = true
				}
				byField[sf.Name] = name
			}
			if fv.Kind() == reflect.Struct && depth < 4 {
				walk(fv, depth+1)
			}
		}
	}
	if v := reflect.ValueOf(cfg); v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		walk(v.Elem(), 0)
	}
	var out []error
	for _, e := range Flatten(err) {
		msg := e.Error()
		at, flagName := -1, ""
		for field, name := range byField {
			if ambiguous[field] {
				continue
			}
			loc := regexp.MustCompile(`\b` + field + `\b`).FindStringIndex(msg)
			if loc != nil && (at < 0 || loc[0] < at) {
				at, flagName = loc[0], name
			}
		}
		if flagName == "" {
			out = append(out, e)
			continue
		}
		set := "-" + flagName
		if env := f.envs[flagName]; env != "" {
			set += " or " + env
		}
		out = append(out, fmt.Errorf("%w (set by %s)", e, set))
	}
	return errors.Join(out...)
}
