package main

import (
	"errors"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/engage-oss/engage/internal/notify"
	"github.com/engage-oss/engage/internal/service"
)

// docIntro introduces the notifier's section of docs/CONFIG.md.
const docIntro = "`services/notifier`: delivers health changes to the destinations of `NOTIFIER_CONFIG` (docs/NOTIFIER.md), one consumer group per destination. `-replay -destination NAME -since T` re-delivers and exits."

// Config is the notifier's whole configuration.
type Config struct {
	service.Common
	Kafka      service.Kafka
	ClickHouse service.ClickHouse

	AdminAddr  string
	File       string
	FilePoll   time.Duration
	Group      string
	ConsoleURL string

	Replay      bool
	Destination string
	Since       string
}

// Flags defines every flag of the notifier on c.
func (c *Config) Flags() *service.Flags {
	f := service.NewFlags("notifier")
	f.String(&c.AdminAddr, "admin-addr", "NOTIFIER_ADMIN_ADDR", ":8087", "HTTP listen address of /healthz, /readyz and /metrics")
	c.Kafka.Register(f)
	c.ClickHouse.Register(f)
	f.String(&c.File, "config", "NOTIFIER_CONFIG", "deploy/notifier.yaml", "destinations file (YAML), reloaded on change and on SIGHUP; a file that does not load keeps the running configuration")
	f.Duration(&c.FilePoll, "config-poll", "NOTIFIER_CONFIG_POLL", 2*time.Second, "how often the destinations file is checked for changes")
	f.String(&c.Group, "group", "NOTIFIER_GROUP", "engage-notifier", "prefix of the consumer groups: destination NAME consumes in group <prefix>.NAME")
	f.String(&c.ConsoleURL, "console-url", "NOTIFIER_CONSOLE_URL", "http://127.0.0.1:8083", "base URL of the console, for the account links of Slack messages")
	f.Bool(&c.Replay, "replay", "NOTIFIER_REPLAY", false, "re-deliver the changes published since -since to -destination, then exit")
	f.String(&c.Destination, "destination", "NOTIFIER_REPLAY_DESTINATION", "", "with -replay: the destination (its name in the configuration file)")
	f.String(&c.Since, "since", "NOTIFIER_REPLAY_SINCE", "", "with -replay: an RFC 3339 time, or a duration back from now (24h)")
	c.Common.Register(f, "dev mode: console logs, topics with replication 1")
	return f
}

// since resolves -since.
func (c Config) since(now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(c.Since); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339, c.Since)
}

// Validate reports every bad setting; it loads the destinations file, but connects nowhere.
func (c Config) Validate() error {
	errs := []error{c.Common.Validate(), c.Kafka.Validate(), c.ClickHouse.Validate()}
	if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
		errs = append(errs, service.FieldValue("notifier.admin_addr", c.AdminAddr, "not host:port (or :port)"))
	}
	b, err := os.ReadFile(c.File)
	var file notify.Config
	if err != nil {
		errs = append(errs, service.Field("notifier.config", "%w", err))
	} else if file, err = notify.ParseConfig(b); err != nil {
		errs = append(errs, service.Field("notifier.config", "%s: %w", c.File, err))
	}
	if c.FilePoll <= 0 {
		errs = append(errs, service.FieldValue("notifier.config_poll", c.FilePoll, "must be positive"))
	}
	if c.Group == "" {
		errs = append(errs, service.Field("notifier.group", "must not be empty"))
	}
	if u, err := url.Parse(c.ConsoleURL); err != nil || u.Scheme == "" || u.Host == "" {
		errs = append(errs, service.FieldValue("notifier.console_url", c.ConsoleURL, "not an absolute URL"))
	}
	if c.Replay {
		if _, ok := file.Find(c.Destination); !ok && err == nil {
			errs = append(errs, service.FieldValue("notifier.destination", c.Destination, "no such destination in "+c.File))
		}
		if _, err := c.since(time.Now()); err != nil {
			errs = append(errs, service.FieldValue("notifier.since", c.Since, "want an RFC 3339 time or a duration such as 24h"))
		}
	}
	return errors.Join(errs...)
}
