package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/engage-oss/engage/internal/health"
)

// Formats of a destination.
const (
	FormatCloudEvents = "cloudevents"
	FormatSlack       = "slack"
)

// Defaults of a Destination.
const (
	DefaultMaxAge      = 24 * time.Hour
	DefaultTimeout     = 10 * time.Second
	DefaultConcurrency = 4
)

// Destination is one receiver of health changes, as the configuration file names it.
type Destination struct {
	// Name identifies the destination in logs, metrics, the delivery log and the dead
	// letters; it also names its consumer group, so renaming a destination starts it over
	// from the topic's beginning.
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Secret is a Standard Webhooks secret, "whsec_" + base64; empty: requests are not signed.
	Secret string `yaml:"secret"`
	// Format is FormatCloudEvents (the event as on the topic) or FormatSlack.
	Format string `yaml:"format"`
	// Bands delivers only changes into these bands; empty: all.
	Bands []string `yaml:"bands"`
	// Plans delivers only changes of accounts on these plans; empty: all.
	Plans []string `yaml:"plans"`
	// MaxAge is how long a change is retried, from when it was published (default 24 h).
	MaxAge Duration `yaml:"max_age"`
	// Timeout bounds one request (default 10 s).
	Timeout Duration `yaml:"timeout"`
	// RetryMax caps the wait between two attempts of a change (default 5 min); the waits
	// grow from 1 s, doubling, with jitter, and a Retry-After can ask for more.
	RetryMax Duration `yaml:"retry_max"`
	// Concurrency is how many accounts are delivered to at once (default 4); one account's
	// changes are always delivered one after the other, in order.
	Concurrency int `yaml:"concurrency"`

	secret []byte
}

// Duration is a time.Duration written as a Go duration string ("24h", "90s").
type Duration time.Duration

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 24h or 90s", n.Value)
	}
	*d = Duration(v)
	return nil
}

// Config is the notifier's configuration file.
type Config struct {
	Destinations []Destination `yaml:"destinations"`
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ParseConfig reads and checks a configuration; the error names every bad field.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return Config{}, fmt.Errorf("notifier configuration: %w", err)
	}
	var errs []error
	seen := map[string]bool{}
	for i := range c.Destinations {
		d := &c.Destinations[i]
		field := func(f, format string, args ...any) {
			errs = append(errs, fmt.Errorf("destinations[%d].%s: %s", i, f, fmt.Sprintf(format, args...)))
		}
		switch {
		case !namePattern.MatchString(d.Name):
			field("name", "%q: want 1–63 of a-z, 0-9, - and _, starting with a letter or digit", d.Name)
		case seen[d.Name]:
			field("name", "%q is used twice", d.Name)
		}
		seen[d.Name] = true
		if u, err := url.Parse(d.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			field("url", "%q is not an http or https URL", d.URL)
		}
		if d.Secret != "" {
			s, err := ParseSecret(d.Secret)
			if err != nil {
				field("secret", "%v", err)
			}
			d.secret = s
		}
		if d.Format == "" {
			d.Format = FormatCloudEvents
		}
		if d.Format != FormatCloudEvents && d.Format != FormatSlack {
			field("format", "%q: want cloudevents or slack", d.Format)
		}
		for j, b := range d.Bands {
			if bd, err := health.ParseBand(b); err != nil || bd == health.BandNone {
				field(fmt.Sprintf("bands[%d]", j), "%q: want red, yellow, green or power", b)
			}
		}
		if d.MaxAge == 0 {
			d.MaxAge = Duration(DefaultMaxAge)
		}
		if d.MaxAge < Duration(time.Second) {
			field("max_age", "%s: must be at least 1s", time.Duration(d.MaxAge))
		}
		if d.Timeout == 0 {
			d.Timeout = Duration(DefaultTimeout)
		}
		if d.Timeout < Duration(10*time.Millisecond) || d.Timeout > Duration(5*time.Minute) {
			field("timeout", "%s: must be between 10ms and 5m", time.Duration(d.Timeout))
		}
		if d.RetryMax == 0 {
			d.RetryMax = Duration(DefaultBackoff.Max)
		}
		if d.RetryMax < Duration(time.Second) {
			field("retry_max", "%s: must be at least 1s", time.Duration(d.RetryMax))
		}
		if d.Concurrency == 0 {
			d.Concurrency = DefaultConcurrency
		}
		if d.Concurrency < 1 || d.Concurrency > 256 {
			field("concurrency", "%d: must be between 1 and 256", d.Concurrency)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("notifier configuration: %w", err)
	}
	return c, nil
}

// Find returns the destination named name.
func (c Config) Find(name string) (Destination, bool) {
	i := slices.IndexFunc(c.Destinations, func(d Destination) bool { return d.Name == name })
	if i < 0 {
		return Destination{}, false
	}
	return c.Destinations[i], true
}

// Equal reports whether two destinations are configured the same.
func (d Destination) Equal(o Destination) bool {
	return d.Name == o.Name && d.URL == o.URL && d.Secret == o.Secret && d.Format == o.Format &&
		slices.Equal(d.Bands, o.Bands) && slices.Equal(d.Plans, o.Plans) && d.MaxAge == o.MaxAge &&
		d.Timeout == o.Timeout && d.RetryMax == o.RetryMax && d.Concurrency == o.Concurrency
}

// ConfigFile is a configuration file that is reloaded when it changes and on SIGHUP. A file
// that does not load keeps the running configuration.
type ConfigFile struct {
	path string
	poll time.Duration
	log  *zap.Logger

	mu   sync.Mutex
	cur  Config
	sum  [sha256.Size]byte
	subs []func(Config)
}

// LoadConfigFile reads path; it fails when the first load fails.
func LoadConfigFile(path string, poll time.Duration, log *zap.Logger) (*ConfigFile, error) {
	if log == nil {
		log = zap.NewNop()
	}
	f := &ConfigFile{path: path, poll: poll, log: log}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading notifier configuration: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.cur, f.sum = c, sha256.Sum256(b)
	return f, nil
}

// Config returns the configuration in force.
func (f *ConfigFile) Config() Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

// OnChange registers fn, called with every new configuration after a successful reload.
func (f *ConfigFile) OnChange(fn func(Config)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, fn)
}

// Reload reads the file again; on error the configuration in force stays.
func (f *ConfigFile) Reload() error {
	b, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("reading notifier configuration: %w", err)
	}
	sum := sha256.Sum256(b)
	f.mu.Lock()
	if sum == f.sum {
		f.mu.Unlock()
		return nil
	}
	c, err := ParseConfig(b)
	if err != nil {
		f.sum = sum // logged once, not at every poll
		f.mu.Unlock()
		return fmt.Errorf("%s: %w", f.path, err)
	}
	f.cur, f.sum = c, sum
	subs := slices.Clone(f.subs)
	f.mu.Unlock()
	for _, fn := range subs {
		fn(c)
	}
	return nil
}

// Run reloads on every poll tick and every value on hup until ctx ends.
func (f *ConfigFile) Run(ctx context.Context, hup <-chan os.Signal) error {
	t := time.NewTicker(f.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-hup:
			f.log.Info("SIGHUP: reloading the notifier configuration", zap.String("file", f.path))
			f.mu.Lock()
			f.sum = [sha256.Size]byte{} // a SIGHUP reloads even an unchanged file
			f.mu.Unlock()
		}
		if err := f.Reload(); err != nil {
			f.log.Error("notifier configuration not reloaded; the running one stays", zap.Error(err))
		}
	}
}
