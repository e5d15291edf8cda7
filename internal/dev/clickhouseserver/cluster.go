package clickhouseserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"syscall"
)

// ClusterSpec describes a local cluster: Shards × Replicas servers on 127.0.0.1, each in its
// own directory under Dir (shard-1-replica-1, …), coordinated by a ZooKeeper that the caller
// runs (package zookeeper).
type ClusterSpec struct {
	// Dir holds one directory per server. Required.
	Dir string
	// Name is the cluster's name in remote_servers. Default "engage".
	Name string
	// Shards and Replicas per shard. Default 2 and 2.
	Shards, Replicas int
	// ZooKeeper lists the ensemble's client addresses, used by this cluster alone. Required.
	ZooKeeper []string
	// BasePort, when not 0, fixes the ports: server i (shard by shard, from 0) listens on
	// BasePort+10·i (native), +1 (HTTP) and +2 (interserver), so that a development cluster
	// keeps its addresses across restarts. 0 picks free ports.
	BasePort int
	// Binary, StartTimeout and StopTimeout apply to every server (see Config).
	Config Config
}

// Cluster is a running local cluster.
type Cluster struct {
	spec  ClusterSpec
	mu    sync.Mutex
	nodes [][]*Server
	cfgs  [][]Config

	doneOnce sync.Once
	done     chan struct{}
}

// StartCluster starts every server of spec, with ports picked up front (every node's
// remote_servers lists the others), and returns once all of them answer. When a picked port
// is taken before its server binds it, the whole cluster is started again on new ports.
func StartCluster(ctx context.Context, spec ClusterSpec) (*Cluster, error) {
	if spec.Dir == "" {
		return nil, errors.New("clickhouseserver: ClusterSpec.Dir is required")
	}
	if spec.Name == "" {
		spec.Name = "engage"
	}
	if spec.Shards == 0 {
		spec.Shards = 2
	}
	if spec.Replicas == 0 {
		spec.Replicas = 2
	}
	for attempt := 1; ; attempt++ {
		c, err := startCluster(ctx, spec)
		if err == nil {
			return c, nil
		}
		if attempt == 3 || ctx.Err() != nil || busyPort(err) == 0 || spec.BasePort != 0 {
			return nil, err
		}
	}
}

func startCluster(ctx context.Context, spec ClusterSpec) (*Cluster, error) {
	n := spec.Shards * spec.Replicas
	var ports []int
	if spec.BasePort != 0 {
		for i := range n {
			ports = append(ports, spec.BasePort+10*i, spec.BasePort+10*i+1, spec.BasePort+10*i+2)
		}
	} else {
		var err error
		if ports, err = freePortList(3 * n); err != nil {
			return nil, err
		}
	}
	c := &Cluster{spec: spec, nodes: make([][]*Server, spec.Shards), cfgs: make([][]Config, spec.Shards)}
	addrs := make([][]string, spec.Shards)
	for s := range spec.Shards {
		for r := range spec.Replicas {
			addrs[s] = append(addrs[s], net.JoinHostPort("127.0.0.1", fmt.Sprint(ports[3*(s*spec.Replicas+r)])))
		}
	}
	for s := range spec.Shards {
		c.nodes[s] = make([]*Server, spec.Replicas)
		for r := range spec.Replicas {
			i := 3 * (s*spec.Replicas + r)
			cfg := spec.Config
			cfg.Dir = filepath.Join(spec.Dir, fmt.Sprintf("shard-%d-replica-%d", s+1, r+1))
			cfg.TCPPort, cfg.HTTPPort, cfg.InterserverPort = ports[i], ports[i+1], ports[i+2]
			cfg.Cluster = &ClusterConfig{Name: spec.Name, Shards: addrs, Shard: fmt.Sprintf("%02d", s+1), Replica: fmt.Sprintf("r%d", r+1),
				ZooKeeper: spec.ZooKeeper}
			c.cfgs[s] = append(c.cfgs[s], cfg)
		}
	}
	// One at a time: on two cores, four servers loading at once take longer than in turn.
	for s := range spec.Shards {
		for r := range spec.Replicas {
			srv, err := Start(ctx, c.cfgs[s][r])
			if err != nil {
				_ = c.Stop(context.Background())
				return nil, fmt.Errorf("clickhouseserver: starting shard %d replica %d of cluster %s: %w", s+1, r+1, spec.Name, err)
			}
			c.nodes[s][r] = srv
		}
	}
	return c, nil
}

// freePortList picks n distinct free ports, holding each until all are picked.
func freePortList(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("clickhouseserver: picking a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Name is the cluster's name in remote_servers.
func (c *Cluster) Name() string { return c.spec.Name }

// Node returns the server of shard s, replica r (both from 0), or nil while it is down.
func (c *Cluster) Node(s, r int) *Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[s][r]
}

// Shards and Replicas are the cluster's shape.
func (c *Cluster) Shards() int   { return c.spec.Shards }
func (c *Cluster) Replicas() int { return c.spec.Replicas }

// Addrs returns the native addresses of every server, shard by shard.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, shard := range c.cfgs {
		for _, cfg := range shard {
			out = append(out, net.JoinHostPort("127.0.0.1", fmt.Sprint(cfg.TCPPort)))
		}
	}
	return out
}

// Kill kills shard s, replica r with SIGKILL, as a crash would, and waits for its exit.
func (c *Cluster) Kill(s, r int) {
	c.mu.Lock()
	srv := c.nodes[s][r]
	c.nodes[s][r] = nil
	c.mu.Unlock()
	if srv == nil {
		return
	}
	srv.mu.Lock()
	srv.stopping = true
	srv.mu.Unlock()
	srv.signal(syscall.SIGKILL)
	<-srv.Done()
}

// Restart starts shard s, replica r again, on its ports and with its data. It stops the
// server first when it is running.
func (c *Cluster) Restart(ctx context.Context, s, r int) error {
	c.mu.Lock()
	srv := c.nodes[s][r]
	c.nodes[s][r] = nil
	c.mu.Unlock()
	if srv != nil {
		_ = srv.Stop(ctx)
	}
	srv, err := Start(ctx, c.cfgs[s][r])
	if err != nil {
		return fmt.Errorf("clickhouseserver: restarting shard %d replica %d: %w", s+1, r+1, err)
	}
	c.mu.Lock()
	c.nodes[s][r] = srv
	c.mu.Unlock()
	return nil
}

// Stop stops every running server, and returns the first error.
func (c *Cluster) Stop(ctx context.Context) error {
	var first error
	for s := range c.nodes {
		for r := range c.nodes[s] {
			c.mu.Lock()
			srv := c.nodes[s][r]
			c.nodes[s][r] = nil
			c.mu.Unlock()
			if srv == nil {
				continue
			}
			if err := srv.Stop(ctx); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// Done is closed when any server the cluster ran at the first call has exited (a
// supervisor's view: Restart is for tests, which do not watch Done).
func (c *Cluster) Done() <-chan struct{} {
	c.doneOnce.Do(c.watch)
	return c.done
}

func (c *Cluster) watch() {
	c.done = make(chan struct{})
	done := c.done
	c.mu.Lock()
	var chans []<-chan struct{}
	for _, shard := range c.nodes {
		for _, srv := range shard {
			if srv != nil {
				chans = append(chans, srv.Done())
			}
		}
	}
	c.mu.Unlock()
	var once sync.Once
	for _, ch := range chans {
		go func() {
			<-ch
			once.Do(func() { close(done) })
		}()
	}
}

// Err is the first unexpected exit of a server, or nil.
func (c *Cluster) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, shard := range c.nodes {
		for _, srv := range shard {
			if srv != nil {
				if err := srv.Err(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
