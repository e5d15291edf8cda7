// Package zklock is a lock held in ZooKeeper (or ClickHouse Keeper, which speaks its
// protocol): the migration lock of cluster mode, so that services starting together on a
// ClickHouse cluster apply each migration once. The cluster needs ZooKeeper anyway for its
// replicated tables.
//
// The lock is ZooKeeper's lock recipe (an ephemeral sequential node per contender; the lowest
// holds it), through github.com/go-zookeeper/zk. A holder that dies loses its session, and
// with it the lock, after the session timeout.
package zklock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"
)

// SessionTimeout is how long a dead holder keeps the lock.
const SessionTimeout = 10 * time.Second

// Lock is a named lock in a ZooKeeper ensemble.
type Lock struct {
	servers []string
	path    string
}

// New returns the lock at path (e.g. /engage/engagement/migrations) on the ensemble servers
// (host:port).
func New(servers []string, path string) (*Lock, error) {
	if len(servers) == 0 {
		return nil, errors.New("zklock: no ZooKeeper servers")
	}
	if len(path) < 2 || path[0] != '/' || path[len(path)-1] == '/' {
		return nil, fmt.Errorf("zklock: lock path %q must start with / and not end with it", path)
	}
	return &Lock{servers: servers, path: path}, nil
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// Lock connects, waits until it holds the lock or ctx ends, and returns the function that
// releases it and closes the connection.
func (l *Lock) Lock(ctx context.Context) (func(), error) {
	conn, events, err := zk.Connect(l.servers, SessionTimeout, zk.WithLogger(quiet{}))
	if err != nil {
		return nil, fmt.Errorf("zklock: connecting to %v: %w", l.servers, err)
	}
	// Wait for a session, so that an unreachable ensemble is an error and not a hang.
	for connected := false; !connected; {
		select {
		case ev := <-events:
			connected = ev.State == zk.StateHasSession
		case <-ctx.Done():
			conn.Close()
			return nil, fmt.Errorf("zklock: no ZooKeeper session with %v: %w", l.servers, ctx.Err())
		}
	}
	lk := zk.NewLock(conn, l.path, zk.WorldACL(zk.PermAll))
	done := make(chan error, 1)
	go func() { done <- lk.Lock() }()
	select {
	case err := <-done:
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("zklock: taking %s: %w", l.path, err)
		}
	case <-ctx.Done():
		// Closing the session removes the waiting node; Lock then returns.
		conn.Close()
		<-done
		return nil, fmt.Errorf("zklock: waiting for %s: %w", l.path, ctx.Err())
	}
	return func() {
		_ = lk.Unlock()
		conn.Close()
	}, nil
}
