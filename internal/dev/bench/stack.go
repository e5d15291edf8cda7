package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/dev/clickhouseserver"
	"github.com/engage-oss/engage/internal/dev/process"
	"github.com/engage-oss/engage/internal/dev/zookeeper"
)

// WriteKey is the gateway write key the benchmark configures (dev mode).
const WriteKey = "bench-write-key"

// Env is what the scenarios of one run share: the module's source tree, a temporary
// directory holding the service binaries and all data, and a ClickHouse server started on
// first use.
type Env struct {
	Src string    // module root (holds go.mod, services/, deploy/)
	Dir string    // temporary directory, removed by Close
	Log io.Writer // progress messages

	// Cluster runs ClickHouse as a local 2 × 2 cluster with a ZooKeeper, and the services in
	// cluster mode (docs/SCALING.md). Set before the first scenario.
	Cluster bool

	mu        sync.Mutex
	built     map[string]error
	ch        *clickhouseserver.Server // the server services connect to (the first node of a cluster)
	cluster   *clickhouseserver.Cluster
	zk        *zookeeper.Server
	chErr     error
	chVersion string
}

// NewEnv creates the temporary directory. src must be the module root.
func NewEnv(src string, log io.Writer) (*Env, error) {
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return nil, fmt.Errorf("%s is not the engage module root (no go.mod): run from the repository root or set -src", src)
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "engage-bench-")
	if err != nil {
		return nil, err
	}
	return &Env{Src: abs, Dir: dir, Log: log, built: map[string]error{}}, nil
}

// Close stops ClickHouse and removes the temporary directory.
func (e *Env) Close() {
	e.mu.Lock()
	ch, cl, zk := e.ch, e.cluster, e.zk
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	switch {
	case cl != nil:
		_ = cl.Stop(ctx)
	case ch != nil:
		_ = ch.Stop(ctx)
	}
	cancel()
	if zk != nil {
		zk.Stop()
	}
	os.RemoveAll(e.Dir)
}

func (e *Env) logf(format string, args ...any) {
	fmt.Fprintf(e.Log, "bench: "+format+"\n", args...)
}

// Prepare builds the named services in one `go build`, so that they come from one snapshot
// of a source tree that others may be editing (a worker and a scorer built minutes apart
// can embed different migrations). A service that does not build is left to fail when a
// scenario needs it; the others are built one by one.
func (e *Env) Prepare(ctx context.Context, names ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var pkgs []string
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(e.Src, "services", n)); err == nil {
			pkgs = append(pkgs, n)
		}
	}
	if len(pkgs) == 0 {
		return
	}
	e.logf("building services %s", strings.Join(pkgs, ", "))
	if err := process.Build(ctx, e.Src, filepath.Join(e.Dir, "bin"), pkgs...); err == nil {
		for _, n := range pkgs {
			e.built[n] = nil
		}
	}
}

// binary builds services/<name> once and returns its path.
func (e *Env) binary(ctx context.Context, name string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	path := filepath.Join(e.Dir, "bin", name)
	if err, ok := e.built[name]; ok {
		return path, err
	}
	if _, err := os.Stat(filepath.Join(e.Src, "services", name)); err != nil {
		e.built[name] = fmt.Errorf("services/%s does not exist", name)
		return path, e.built[name]
	}
	e.logf("building services/%s", name)
	err := process.Build(ctx, e.Src, filepath.Join(e.Dir, "bin"), name)
	e.built[name] = err
	return path, err
}

// ClickHouse starts the run's ClickHouse server on first use, in the temporary directory.
func (e *Env) ClickHouse(ctx context.Context) (*clickhouseserver.Server, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch != nil || e.chErr != nil {
		return e.ch, e.chErr
	}
	var srv *clickhouseserver.Server
	if e.Cluster {
		e.logf("starting ZooKeeper and a 2 × 2 ClickHouse cluster")
		zk, err := zookeeper.Start(ctx, zookeeper.Config{Dir: filepath.Join(e.Dir, "zookeeper")})
		if err != nil {
			e.chErr = err
			return nil, err
		}
		cl, err := clickhouseserver.StartCluster(ctx, clickhouseserver.ClusterSpec{Dir: filepath.Join(e.Dir, "cluster"), Name: ClusterName, ZooKeeper: []string{zk.Addr()}})
		if err != nil {
			zk.Stop()
			e.chErr = err
			return nil, err
		}
		e.zk, e.cluster, srv = zk, cl, cl.Node(0, 0)
	} else {
		e.logf("starting ClickHouse")
		var err error
		if srv, err = clickhouseserver.Start(ctx, clickhouseserver.Config{Dir: filepath.Join(e.Dir, "clickhouse")}); err != nil {
			e.chErr = err
			return nil, err
		}
	}
	e.ch = srv
	if conn, err := e.openCH(ctx, "default"); err == nil {
		_ = conn.QueryRow(ctx, "SELECT version()").Scan(&e.chVersion)
		conn.Close()
	}
	return srv, nil
}

// ClickHouseVersion is the version the run's server reported, or "" before it started.
func (e *Env) ClickHouseVersion() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.chVersion
}

func (e *Env) openCH(ctx context.Context, database string) (driver.Conn, error) {
	return clickhouse.Open(ctx, clickhouse.Config{Addr: e.ch.TCPAddr(), Database: database, MaxOpenConns: 4, MaxIdleConns: 4})
}

// Stack is one set of service processes; Close stops them in reverse order of start.
type Stack struct {
	env   *Env
	name  string
	procs []*process.Proc

	BrokerAddr, GatewayAddr, WorkerAdmin, ScorerAddr string
	Database                                         string
}

// NewStack returns an empty stack; name keeps its data apart from other stacks of the run.
func (e *Env) NewStack(name string) *Stack { return &Stack{env: e, name: name} }

// start runs a service and waits until its HTTP server named ready answers /readyz. Every
// listener of the service is configured on port 0; the addresses it got are read from its
// log (process.Proc.Addr), so no port is picked here and bound there.
func (s *Stack) start(ctx context.Context, name, ready string, env ...string) (*process.Proc, error) {
	bin, err := s.env.binary(ctx, name)
	if err != nil {
		return nil, err
	}
	// info, not less: the "listening" lines carrying the addresses are info lines. Services
	// log little else at info once running.
	env = append(env, "LOG_LEVEL=info")
	p, err := process.Start(ctx, name, bin, s.env.Src, ready, env...)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	return p, nil
}

// anyPort is the listen address of every service of a stack: the kernel picks the port.
const anyPort = "127.0.0.1:0"

// StartBroker starts the embedded broker with a fresh data directory.
func (s *Stack) StartBroker(ctx context.Context) error {
	p, err := s.start(ctx, "broker", "admin", "BROKER_ADDR="+anyPort, "BROKER_ADMIN_ADDR="+anyPort,
		"BROKER_DATA_DIR="+filepath.Join(s.env.Dir, s.name, "broker"))
	if err != nil {
		return err
	}
	s.BrokerAddr = p.Addr("broker ready")
	return nil
}

// StartGateway starts the gateway in dev mode with WriteKey, producing to the broker.
func (s *Stack) StartGateway(ctx context.Context) error {
	p, err := s.start(ctx, "gateway", "api", "GATEWAY_ADDR="+anyPort, "KAFKA_BROKERS="+s.BrokerAddr,
		"ENGAGE_DEV=true", "WRITE_KEY="+WriteKey)
	if err != nil {
		return err
	}
	s.GatewayAddr = p.Addr("api")
	return nil
}

// StartWorker starts a worker with the dev defaults, writing to database (created and
// migrated by the worker).
func (s *Stack) StartWorker(ctx context.Context, database string) error {
	ch, err := s.env.ClickHouse(ctx)
	if err != nil {
		return err
	}
	p, err := s.start(ctx, "worker", "admin", append(s.env.clusterEnv(), "WORKER_ADMIN_ADDR="+anyPort, "KAFKA_BROKERS="+s.BrokerAddr,
		"CLICKHOUSE_ADDR="+ch.TCPAddr(), "CLICKHOUSE_DATABASE="+database)...)
	if err != nil {
		return err
	}
	s.WorkerAdmin, s.Database = p.Addr("admin"), database
	return nil
}

// StartScorer starts the scorer with the dev defaults and the repository's health model.
func (s *Stack) StartScorer(ctx context.Context, database string) error {
	ch, err := s.env.ClickHouse(ctx)
	if err != nil {
		return err
	}
	env := append(s.env.clusterEnv(), "SCORER_ADDR="+anyPort, "KAFKA_BROKERS="+s.BrokerAddr, "CLICKHOUSE_ADDR="+ch.TCPAddr(),
		"CLICKHOUSE_DATABASE="+database, "ENGAGE_DEV=true")
	p, err := s.start(ctx, "scorer", "api", env...)
	if err != nil {
		return err
	}
	s.ScorerAddr = p.Addr("api")
	return nil
}

// PIDs names every running process of the stack, and ClickHouse when it runs.
func (s *Stack) PIDs() map[string]int {
	out := map[string]int{}
	for _, p := range s.procs {
		out[p.Name] = p.PID()
	}
	s.env.mu.Lock()
	switch {
	case s.env.cluster != nil:
		for sh := range s.env.cluster.Shards() {
			for r := range s.env.cluster.Replicas() {
				if n := s.env.cluster.Node(sh, r); n != nil {
					out[fmt.Sprintf("clickhouse-%d%c", sh+1, 'a'+r)] = n.PID()
				}
			}
		}
		out["zookeeper"] = s.env.zk.PID()
	case s.env.ch != nil:
		out["clickhouse"] = s.env.ch.PID()
	}
	s.env.mu.Unlock()
	return out
}

// ClusterName is the local cluster's name in remote_servers.
const ClusterName = "engage"

// clusterEnv is the environment that puts a service in cluster mode, or nothing.
func (e *Env) clusterEnv() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cluster == nil {
		return nil
	}
	return []string{"CLICKHOUSE_CLUSTER=" + ClusterName, "CLICKHOUSE_ZOOKEEPER=" + e.zk.Addr()}
}

// chAddrs are the native addresses of every ClickHouse server of the run.
func (e *Env) chAddrs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cluster != nil {
		return e.cluster.Addrs()
	}
	if e.ch != nil {
		return []string{e.ch.TCPAddr()}
	}
	return nil
}

// Logs returns the tail of the named process's output, or "".
func (s *Stack) Logs(name string) string {
	for _, p := range s.procs {
		if p.Name == name {
			return p.Output()
		}
	}
	return ""
}

// Check returns an error naming a process of the stack that exited.
func (s *Stack) Check() error {
	for _, p := range s.procs {
		if gone, msg := p.Exited(); gone {
			return fmt.Errorf("%s", msg)
		}
	}
	return nil
}

// Close stops the processes in reverse order of start and removes the stack's data.
func (s *Stack) Close() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].Stop()
	}
	s.procs = nil
	os.RemoveAll(filepath.Join(s.env.Dir, s.name))
}

// Scrape fetches http://addr/metrics and returns each metric name's value summed over its
// label sets (histograms as name_sum and name_count), and each series as printed
// (name{label="value"}).
func Scrape(ctx context.Context, addr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", addr, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		series := strings.TrimSpace(line[:sp])
		name := series
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		out[name] += v
		if name != series {
			out[series] = v
		}
	}
	return out, sc.Err()
}
