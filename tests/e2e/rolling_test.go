package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/dev/testenv"
)

// The tests of this file restart and pause service processes one at a time under load, as a
// rolling deployment, a node drain or a stalled VM does, and require that nothing a client
// was told is stored is lost or counted twice.

// partitions is the partition count of engagement.events in these tests: the broker
// creates the topics with the default.
const partitions = kafka.DefaultPartitions

// metric reads one unlabelled sample from a service's /metrics.
func metric(addr, name string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading %s/metrics: %w", addr, err)
	}
	return 0, fmt.Errorf("%s/metrics has no %s", addr, name)
}

// assignedPartitions returns how many partitions each worker holds.
func assignedPartitions(ws []proc) ([]int, error) {
	n := make([]int, len(ws))
	for i, w := range ws {
		v, err := metric(w.Addr("admin"), "engage_worker_assigned_partitions")
		if err != nil {
			return nil, err
		}
		n[i] = int(v)
	}
	return n, nil
}

// waitBalanced waits until every worker holds partitions and together they hold them all
// once: the group has settled.
func waitBalanced(t *testing.T, ws []proc, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() error {
		n, err := assignedPartitions(ws)
		if err != nil {
			return err
		}
		sum := 0
		for _, k := range n {
			sum += k
		}
		if slices.Contains(n, 0) || sum != partitions {
			return fmt.Errorf("partitions held per worker: %v, want each > 0 and %d in all", n, partitions)
		}
		return nil
	})
}

// waitMoreBatches waits until the load has had n more batches accepted.
func waitMoreBatches(t *testing.T, l *load, n int64, timeout time.Duration) {
	t.Helper()
	from := l.batches.Load()
	testenv.Eventually(t, timeout, func() error {
		if got := l.batches.Load() - from; got < n {
			return fmt.Errorf("%d of %d more batches accepted", got, n)
		}
		return nil
	})
}

// TestRollingRestartGateways: two gateways and a client that spreads its batches over both and
// sends a retry to the other, as a client behind a load balancer would. Each gateway in turn
// gets SIGTERM while the load goes on, exits cleanly, and starts again on its address; the
// second has a drain delay, during which its /readyz answers 503 while it still serves. Every
// event the client was told is stored is in ClickHouse exactly once, and the client saw no
// status but 200 and 503 and no error but those of a closed port or a closed keep-alive
// connection.
func TestRollingRestartGateways(t *testing.T) {
	inModes(t, func(t *testing.T, mode string) {
		e, conn := newEnvIn(t, mode)
		e.broker(t)
		e.worker(t)
		drain := []string{"GATEWAY_DRAIN_DELAY=0s", "GATEWAY_DRAIN_DELAY=1s"}
		gws := []proc{e.gateway(t, drain[0]), e.gateway(t, drain[1])}
		addrs := []string{gws[0].Addr("api"), gws[1].Addr("api")}
		urls := []string{"http://" + addrs[0] + "/v1/events", "http://" + addrs[1] + "/v1/events"}
		l := newLoad(urls[0], "e2e-key")
		l.urls = urls
		// Unpaced, so that requests are in flight at every moment and each gateway stops with
		// some in hand.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.run(ctx, t, 4); close(done) }()
		waitMoreBatches(t, l, 50, 30*time.Second)

		for i := range gws {
			gws[i].signal(t, syscall.SIGTERM)
			if i == 1 {
				// During the drain delay a load balancer's health check sees it leave.
				testenv.EventuallyEvery(t, 900*time.Millisecond, 10*time.Millisecond, func() error {
					resp, err := http.Get("http://" + addrs[i] + "/readyz")
					if err != nil {
						return err
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusServiceUnavailable {
						return fmt.Errorf("/readyz of a draining gateway: %d, want 503", resp.StatusCode)
					}
					return nil
				})
			}
			gws[i].exited(t)
			// The other gateway carries the load alone for a while.
			from := l.acceptedBy(urls[1-i])
			testenv.Eventually(t, 30*time.Second, func() error {
				if n := l.acceptedBy(urls[1-i]) - from; n < 50 {
					return fmt.Errorf("%s accepted %d batches since %s stopped, want 50", urls[1-i], n, addrs[i])
				}
				return nil
			})
			gws[i] = e.gateway(t, drain[i], "GATEWAY_ADDR="+addrs[i])
			from = l.acceptedBy(urls[i])
			testenv.Eventually(t, 30*time.Second, func() error {
				if n := l.acceptedBy(urls[i]) - from; n < 50 {
					return fmt.Errorf("the restarted %s accepted %d batches, want 50", addrs[i], n)
				}
				return nil
			})
		}
		cancel()
		<-done
		l.mu.Lock()
		t.Logf("%d batches accepted; statuses %v; connection errors %v", l.batches.Load(), l.statuses, l.connErrs)
		for code := range l.statuses {
			if code != 200 && code != 503 {
				t.Errorf("status %d during the rolling restart (%v): only 200 and 503 are expected", code, l.statuses)
			}
		}
		l.mu.Unlock()
		expectExactlyOnce(t, conn, l.sent, 60*time.Second)
	})
}

// TestRollingRestartWorkers: three workers share the partitions under steady load; each in
// turn gets SIGTERM, exits cleanly, and starts again once the others have taken over, and the
// next restart waits until it holds partitions again. Every accepted event is stored once and
// the sessions count each event once: a graceful hand-over of a partition neither loses nor
// repeats anything, and each new owner's restored state equals the old owner's.
func TestRollingRestartWorkers(t *testing.T) {
	inModes(t, func(t *testing.T, mode string) {
		e, conn := newEnvIn(t, mode)
		e.broker(t)
		ws := make([]proc, 3)
		for i := range ws {
			ws[i] = e.worker(t, "WORKER_NAME=worker-"+itoa(i))
		}
		e.gateway(t)
		l := newLoad("http://"+e.gatewayAddr+"/v1/events", "e2e-key")
		l.pause = 20 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.run(ctx, t, 4); close(done) }()
		// A rebalance waits for every member to finish the batch in hand (up to the
		// group's rebalance timeout, 60 s), which takes long on a loaded CI machine with
		// the cluster: the bound is generous, what is checked is the end state.
		const rebalance = 90 * time.Second
		waitBalanced(t, ws, rebalance)
		waitMoreBatches(t, l, 30, 30*time.Second)

		for i := range ws {
			ws[i].stop(t)
			rest := slices.Delete(slices.Clone(ws), i, i+1)
			waitBalanced(t, rest, rebalance)
			waitMoreBatches(t, l, 30, 30*time.Second)
			ws[i] = e.worker(t, "WORKER_NAME=worker-"+itoa(i))
			waitBalanced(t, ws, rebalance)
			waitMoreBatches(t, l, 30, 30*time.Second)
		}
		cancel()
		<-done
		expectExactlyOnce(t, conn, l.sent, 60*time.Second)
	})
}

// TestZombieWorker: a worker frozen with SIGSTOP for longer than its group session timeout is
// removed from the group, and the other worker takes over its partitions and stores what
// follows. When the frozen one wakes up (SIGCONT) it still holds a batch it polled before,
// with sessions computed from state that is now stale. Nothing it does then may change what
// is stored: every event once, sessions counting each event once.
//
// The load stops before the wake-up, so that no later write of the new owner could hide a
// stale row the zombie wrote.
func TestZombieWorker(t *testing.T) {
	inModes(t, func(t *testing.T, mode string) {
		e, conn := newEnvIn(t, mode)
		e.broker(t)
		// 6 s is the broker's smallest group session timeout. The zombie's long flush
		// interval makes it hold an unstored batch nearly all the time, so that the SIGSTOP
		// almost surely catches it with one.
		session := "WORKER_GROUP_SESSION_TIMEOUT=6s"
		zombie := e.worker(t, session, "WORKER_NAME=zombie", "WORKER_FLUSH_INTERVAL=2s")
		other := e.worker(t, session, "WORKER_NAME=other")
		e.gateway(t)
		l := newLoad("http://"+e.gatewayAddr+"/v1/events", "e2e-key")
		l.pause = 20 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.run(ctx, t, 4); close(done) }()
		waitBalanced(t, []proc{zombie, other}, 30*time.Second)
		waitMoreBatches(t, l, 50, 30*time.Second)

		zombie.signal(t, syscall.SIGSTOP)
		t.Cleanup(func() { _ = zombie.Signal(syscall.SIGCONT) }) // so that it can stop if the test fails early
		testenv.Eventually(t, 30*time.Second, func() error {
			n, err := metric(other.Addr("admin"), "engage_worker_assigned_partitions")
			if err != nil {
				return err
			}
			if n != partitions {
				return fmt.Errorf("the other worker holds %v partitions, want all %d", n, partitions)
			}
			return nil
		})
		waitMoreBatches(t, l, 50, 30*time.Second)
		cancel()
		<-done
		// Everything is stored by the new owner before the zombie wakes up.
		expectExactlyOnce(t, conn, l.sent, 60*time.Second)

		zombie.signal(t, syscall.SIGCONT)
		// It rejoins the group and is given partitions back, restored from the store.
		waitBalanced(t, []proc{zombie, other}, 30*time.Second)
		fenced, err := metric(zombie.Addr("admin"), "engage_worker_fenced_batches_total")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the zombie dropped %v fenced batches", fenced)
		// Whatever it wrote late would show by now: it has moved on to its new partitions.
		expectExactlyOnce(t, conn, l.sent, 30*time.Second)
	})
}
