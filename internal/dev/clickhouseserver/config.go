package clickhouseserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// ErrNotInstalled is returned (wrapped) by Start when no ClickHouse server binary can be found.
var ErrNotInstalled = errors.New("ClickHouse is not installed: run scripts/install-deps.sh (make deps)")

// Defaults applied by Start to zero fields of Config.
const (
	DefaultStartTimeout = 60 * time.Second
	DefaultStopTimeout  = 10 * time.Second
)

// Config describes one local server. The zero value of every field except Dir means "use the
// default" stated on the field.
type Config struct {
	// Dir holds everything the server writes: config.xml, users.xml, data/, tmp/,
	// user_files/, format_schemas/ and logs/. Required. Starting again with the same Dir
	// finds the data of the previous run.
	Dir string

	// TCPPort is the native-protocol port on 127.0.0.1. Default 0: a free port is picked.
	TCPPort int
	// HTTPPort is the HTTP port on 127.0.0.1. Default 0: a free port is picked.
	HTTPPort int

	// InterserverPort is the port on 127.0.0.1 through which replicas fetch parts from each
	// other. Required, and only allowed, with Cluster.
	InterserverPort int
	// Cluster makes the server one node of a replicated, sharded cluster. Default nil: a
	// single server, which opens no port besides TCPPort and HTTPPort.
	Cluster *ClusterConfig

	// Binary is the server executable: a path, or a name looked up in PATH. A binary named
	// "clickhouse" is the all-in-one build and gets "server" as its first argument.
	// Default: clickhouse-server in PATH, then /usr/sbin and /usr/bin (Debian installs it in
	// /usr/sbin, which is not in an unprivileged user's PATH), then "clickhouse" in PATH.
	Binary string

	// StartTimeout bounds how long Start waits for the server to answer SELECT 1.
	// Default DefaultStartTimeout (60 s).
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
	// Default DefaultStopTimeout (10 s).
	StopTimeout time.Duration
}

// ClusterConfig is what a cluster node knows of its cluster: the remote_servers entry, the
// ZooKeeper ensemble and its own macros, which replicated tables use in their ZooKeeper paths
// ('/clickhouse/tables/{shard}/…', '{replica}').
type ClusterConfig struct {
	// Name of the cluster in remote_servers (the name Distributed tables and ON CLUSTER use).
	Name string
	// Shards lists, per shard, the native addresses (host:port) of its replicas.
	Shards [][]string
	// Shard and Replica are this node's {shard} and {replica} macros.
	Shard, Replica string
	// ZooKeeper lists the ensemble's client addresses (host:port).
	ZooKeeper []string
}

var clusterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *ClusterConfig) validate() error {
	switch {
	case !clusterName.MatchString(c.Name):
		return fmt.Errorf("clickhouseserver: Config.Cluster.Name %q is not an identifier", c.Name)
	case len(c.Shards) == 0:
		return errors.New("clickhouseserver: Config.Cluster.Shards is empty")
	case len(c.ZooKeeper) == 0:
		return errors.New("clickhouseserver: Config.Cluster.ZooKeeper is empty")
	case c.Shard == "" || c.Replica == "":
		return errors.New("clickhouseserver: Config.Cluster.Shard and Replica are required")
	}
	for i, shard := range c.Shards {
		if len(shard) == 0 {
			return fmt.Errorf("clickhouseserver: Config.Cluster.Shards[%d] has no replica", i)
		}
		for _, a := range shard {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return fmt.Errorf("clickhouseserver: Config.Cluster.Shards[%d] address %q: %w", i, a, err)
			}
		}
	}
	for _, a := range c.ZooKeeper {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("clickhouseserver: Config.Cluster.ZooKeeper address %q: %w", a, err)
		}
	}
	return nil
}

// Validate reports the first invalid field of c, by name.
func (c Config) Validate() error {
	switch {
	case c.Cluster != nil && (c.InterserverPort <= 0 || c.InterserverPort > 65535):
		return fmt.Errorf("clickhouseserver: Config.InterserverPort %d: a cluster node needs one in 1..65535", c.InterserverPort)
	case c.Cluster == nil && c.InterserverPort != 0:
		return errors.New("clickhouseserver: Config.InterserverPort is only for cluster nodes (Config.Cluster)")
	case c.Cluster != nil:
		if err := c.Cluster.validate(); err != nil {
			return err
		}
	}
	switch {
	case c.Dir == "":
		return errors.New("clickhouseserver: Config.Dir is required")
	case c.TCPPort < 0 || c.TCPPort > 65535:
		return fmt.Errorf("clickhouseserver: Config.TCPPort %d is outside 0..65535", c.TCPPort)
	case c.HTTPPort < 0 || c.HTTPPort > 65535:
		return fmt.Errorf("clickhouseserver: Config.HTTPPort %d is outside 0..65535", c.HTTPPort)
	case c.TCPPort != 0 && c.TCPPort == c.HTTPPort:
		return fmt.Errorf("clickhouseserver: Config.TCPPort and Config.HTTPPort are both %d", c.TCPPort)
	case c.StartTimeout < 0:
		return fmt.Errorf("clickhouseserver: Config.StartTimeout %s is negative", c.StartTimeout)
	case c.StopTimeout < 0:
		return fmt.Errorf("clickhouseserver: Config.StopTimeout %s is negative", c.StopTimeout)
	}
	return nil
}

func (c Config) withDefaults() (Config, error) {
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	// The generated config.xml must hold absolute paths: the server resolves relative ones
	// against its own working directory, not against the config file.
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return c, fmt.Errorf("clickhouseserver: resolving Config.Dir %q: %w", c.Dir, err)
	}
	c.Dir = abs
	return c, nil
}

// fallbackBinaries are tried after PATH, because Debian's package puts the server in /usr/sbin.
var fallbackBinaries = []string{"/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"}

// FindBinary resolves Config.Binary (or the default search when it is empty) to an executable
// and the arguments that select server mode. The error wraps ErrNotInstalled.
func FindBinary(binary string) (path string, args []string, err error) {
	if binary != "" {
		p, err := exec.LookPath(binary)
		if err != nil {
			return "", nil, fmt.Errorf("clickhouseserver: server binary %q: %w (%w)", binary, ErrNotInstalled, err)
		}
		return p, serverArgs(p), nil
	}
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return p, nil, nil
	}
	for _, p := range fallbackBinaries {
		if isExecutable(p) {
			return p, nil, nil
		}
	}
	if p, err := exec.LookPath("clickhouse"); err == nil {
		return p, serverArgs(p), nil
	}
	return "", nil, fmt.Errorf("clickhouseserver: no clickhouse-server in PATH, %v or clickhouse in PATH: %w",
		fallbackBinaries, ErrNotInstalled)
}

// serverArgs selects server mode of the all-in-one "clickhouse" binary, which otherwise
// would start a local client.
func serverArgs(path string) []string {
	if filepath.Base(path) == "clickhouse" {
		return []string{"server"}
	}
	return nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
