package zklock

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/dev/zookeeper"
)

func TestLock(t *testing.T) {
	zkSrv, err := zookeeper.Start(context.Background(), zookeeper.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(zkSrv.Stop)
	a, _ := New([]string{zkSrv.Addr()}, "/engage/test/migrations")
	b, _ := New([]string{zkSrv.Addr()}, "/engage/test/migrations")
	ctx := context.Background()

	unlockA, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// b waits while a holds the lock, and gives up when its context ends.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock while held = %v, want the deadline", err)
	}
	got := make(chan func(), 1)
	go func() {
		unlock, err := b.Lock(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- unlock
	}()
	unlockA()
	select {
	case unlockB := <-got:
		unlockB()
	case <-time.After(10 * time.Second):
		t.Fatal("b did not get the lock after a released it")
	}
}

func TestLockUnreachable(t *testing.T) {
	l, _ := New([]string{"127.0.0.1:1"}, "/x")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := l.Lock(ctx); err == nil {
		t.Fatal("locked without a ZooKeeper")
	}
}

func TestNewRefuses(t *testing.T) {
	for _, p := range []string{"", "x", "/", "/a/"} {
		if _, err := New([]string{"h:1"}, p); err == nil {
			t.Errorf("New(%q) accepted", p)
		}
	}
	if _, err := New(nil, "/a"); err == nil {
		t.Error("New without servers accepted")
	}
}
