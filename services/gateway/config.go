package main

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/engage-oss/engage/internal/ingest"
	"github.com/engage-oss/engage/internal/service"
)

// docIntro introduces the gateway's section of docs/CONFIG.md.
const docIntro = "`services/gateway`: the HTTP ingest API. Outside dev mode it refuses to start without `WRITE_KEYS` or `WRITE_KEYS_FILE`; in dev mode without either it accepts `WRITE_KEY` alone."

// Config is the gateway's whole configuration.
type Config struct {
	service.Common
	Kafka service.Kafka

	Addr string
	// WriteKey is the one key of dev mode without WriteKeys or KeysFile.
	WriteKey string
	// WriteKeys is the WRITE_KEYS list: `key` or `key:account1|account2`, comma-separated.
	WriteKeys string
	// KeysFile holds one WRITE_KEYS item per line.
	KeysFile string

	MaxBodyBytes     int
	MaxInflightBytes int
	RateLimit        int
	PublishTimeout   time.Duration
	// DrainDelay is how long the gateway keeps serving, with /readyz at 503, after SIGTERM
	// before it stops accepting connections.
	DrainDelay time.Duration
}

// Flags defines every flag of the gateway on c.
func (c *Config) Flags() *service.Flags {
	f := service.NewFlags("gateway")
	f.String(&c.Addr, "addr", "GATEWAY_ADDR", ":8080", "HTTP listen address (API, /healthz, /readyz, /metrics)")
	c.Kafka.Register(f)
	f.String(&c.WriteKey, "write-key", "WRITE_KEY", ingest.DevWriteKey, "the write key accepted in dev mode when neither -write-keys nor -write-keys-file is set")
	f.String(&c.WriteKeys, "write-keys", "WRITE_KEYS", "", "accepted write keys, comma-separated: each 'key' or 'key:account1|account2' to restrict it to those accounts")
	f.String(&c.KeysFile, "write-keys-file", "WRITE_KEYS_FILE", "", "file of write keys instead of -write-keys: one 'key' or 'key:account1|account2' per line, '#' starts a comment")
	f.Int(&c.MaxBodyBytes, "max-body-bytes", "GATEWAY_MAX_BODY_BYTES", ingest.DefaultMaxBodyBytes, "largest request body after gzip decoding (413 above)")
	f.Int(&c.MaxInflightBytes, "max-inflight-bytes", "GATEWAY_MAX_INFLIGHT_BYTES", ingest.DefaultMaxInflightBytes, "memory bound for requests in flight (503 above); at least twice -max-body-bytes")
	f.Int(&c.RateLimit, "rate-limit", "GATEWAY_RATE_LIMIT", 0, "events per second per write key (0: unlimited)")
	f.Duration(&c.PublishTimeout, "publish-timeout", "GATEWAY_PUBLISH_TIMEOUT", ingest.DefaultPublishTimeout, "longest wait for broker acknowledgements before 503")
	f.Duration(&c.DrainDelay, "drain-delay", "GATEWAY_DRAIN_DELAY", 0, "on SIGTERM, keep serving this long with /readyz at 503 (keep-alive off) before refusing connections: the time a load balancer needs to see /readyz fail (at most "+service.MaxDrainDelay.String()+")")
	c.Common.Register(f, "dev mode: console logs, topics with replication 1, and -write-key is accepted when no write keys are configured")
	return f
}

// Validate reports every bad setting, reading the key file but connecting nowhere.
func (c Config) Validate() error {
	errs := []error{c.Common.Validate(), c.Kafka.Validate()}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, service.FieldValue("gateway.addr", c.Addr, "not host:port (or :port)"))
	}
	if c.DrainDelay < 0 || c.DrainDelay > service.MaxDrainDelay {
		// The rest of the shutdown deadline is for the requests accepted last.
		errs = append(errs, service.FieldValue("gateway.drain_delay", c.DrainDelay, "must be in [0, %s]", service.MaxDrainDelay))
	}
	keys, err := c.keys()
	if err != nil {
		errs = append(errs, err)
		// Stand-in keys, so that the other ingest settings are still checked.
		keys, _ = ingest.ParseKeyList("stand-in")
	}
	errs = append(errs, service.Section("ingest", c.ingest(keys).Validate())...)
	return errors.Join(errs...)
}

// keys resolves the accepted write keys: the key file or the list, or in dev mode without
// either, WriteKey. This is the only place that decides whether the dev key is accepted.
func (c Config) keys() (*ingest.Keys, error) {
	switch {
	case c.KeysFile != "" && c.WriteKeys != "":
		return nil, service.Field("gateway.write_keys_file", "set either WRITE_KEYS_FILE or WRITE_KEYS, not both")
	case c.KeysFile != "":
		k, err := ingest.LoadKeyFile(c.KeysFile)
		if err == nil && k.Len() == 0 {
			err = fmt.Errorf("%s has no key", c.KeysFile)
		}
		if err != nil {
			return nil, service.Field("gateway.write_keys_file", "%w", err)
		}
		return k, nil
	case c.WriteKeys != "":
		k, err := ingest.ParseKeyList(c.WriteKeys)
		if err == nil && k.Len() == 0 {
			err = errors.New("no key in the list")
		}
		if err != nil {
			return nil, service.Field("gateway.write_keys", "%w", err)
		}
		return k, nil
	case c.Dev:
		k, err := ingest.ParseKeyList(c.WriteKey)
		if err == nil && k.Len() == 0 {
			err = errors.New("empty")
		}
		if err != nil {
			return nil, service.Field("gateway.write_key", "%w", err)
		}
		return k, nil
	}
	return nil, service.Field("gateway.write_keys", "no write keys: set WRITE_KEYS or WRITE_KEYS_FILE (or ENGAGE_DEV=true for the dev key)")
}

// ingest is the handler configuration of c with keys.
func (c Config) ingest(keys *ingest.Keys) ingest.Config {
	return ingest.Config{
		Keys:             keys,
		MaxBodyBytes:     int64(c.MaxBodyBytes),
		MaxInflightBytes: int64(c.MaxInflightBytes),
		RateLimit:        float64(c.RateLimit),
		PublishTimeout:   c.PublishTimeout,
	}
}
