package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/engage-oss/engage/internal/dev/clickhouseserver"
	"github.com/engage-oss/engage/internal/dev/devstack"
	"github.com/engage-oss/engage/internal/dev/zookeeper"
	"github.com/engage-oss/engage/internal/scorer/readapi"
)

type config struct {
	dataDir, binDir              string
	kafkaBrokers, clickhouseAddr string
	writeKey                     string
	// cluster runs `make run-cluster`: a 2 × 2 ClickHouse cluster with ZooKeeper, three
	// brokers, two workers, two scorers.
	cluster bool
}

// Ports of the dev stack, as the README's quick start lists them.
const (
	brokerAddr    = "127.0.0.1:9092"
	chTCPPort     = 9000
	chHTTPPort    = 8123
	gatewayAddr   = "127.0.0.1:8080"
	workerAdmin   = "127.0.0.1:8081"
	scorerAddr    = "127.0.0.1:8082"
	notifierAdmin = "127.0.0.1:8087"
	brokerAdmin   = "127.0.0.1:8084"
)

type chMember struct{ *clickhouseserver.Server }

func (chMember) Name() string { return "clickhouse" }

func (c config) stack() *devstack.Stack {
	brokers := c.kafkaBrokers
	chAddr := c.clickhouseAddr
	var steps []devstack.Step
	if chAddr == "" {
		chAddr = fmt.Sprintf("127.0.0.1:%d", chTCPPort)
		steps = append(steps, devstack.Step{Starter: &devstack.Starter{Name: "clickhouse", Start: func(ctx context.Context) (devstack.Member, error) {
			s, err := clickhouseserver.Start(ctx, clickhouseserver.Config{
				Dir: filepath.Join(c.dataDir, "clickhouse"), TCPPort: chTCPPort, HTTPPort: chHTTPPort,
				StopTimeout: 5 * time.Second,
			})
			if err != nil {
				return nil, err
			}
			return chMember{s}, nil
		}}})
	}
	common := []string{"ENGAGE_DEV=true", "CLICKHOUSE_ADDR=" + chAddr}
	if brokers == "" {
		brokers = brokerAddr
		steps = append(steps, c.proc("broker", brokerAdmin, []string{
			"ENGAGE_DEV=true", "BROKER_ADDR=" + brokerAddr, "BROKER_DATA_DIR=" + filepath.Join(c.dataDir, "broker"), "BROKER_ADMIN_ADDR=" + brokerAdmin,
		}))
	}
	common = append(common, "KAFKA_BROKERS="+brokers)
	steps = append(steps,
		c.proc("worker", workerAdmin, append(common, "WORKER_ADMIN_ADDR="+workerAdmin)),
	)
	if _, err := os.Stat(filepath.Join(c.binDir, "scorer")); err == nil {
		steps = append(steps, c.proc("scorer", scorerAddr, append(common, "SCORER_ADDR="+scorerAddr)))
	}
	if _, err := os.Stat(filepath.Join(c.binDir, "notifier")); err == nil {
		steps = append(steps, c.proc("notifier", notifierAdmin, append(common, "NOTIFIER_ADMIN_ADDR="+notifierAdmin)))
	}
	steps = append(steps, c.proc("gateway", gatewayAddr, append(common, "GATEWAY_ADDR="+gatewayAddr, "WRITE_KEY="+c.writeKey)))
	return &devstack.Stack{Steps: steps, OnReady: func() { c.banner(chAddr, "") }}
}

// Ports of the cluster stack, besides those of the single-node one.
const (
	zookeeperAddr   = "127.0.0.1:2181"
	clusterBasePort = 9000 // ClickHouse servers on 9000, 9010, 9020, 9030 (HTTP +1, interserver +2)
	clusterBrokers  = 3    // on 9092, 9093, 9094
	worker2Admin    = "127.0.0.1:8085"
	scorer2Addr     = "127.0.0.1:8086"
	clusterName     = "engage"
)

type zkMember struct{ *zookeeper.Server }

func (zkMember) Name() string { return "zookeeper" }
func (z zkMember) Stop(context.Context) error {
	z.Server.Stop()
	return nil
}

type clusterMember struct{ *clickhouseserver.Cluster }

func (clusterMember) Name() string { return "clickhouse" }

// clusterStack is the stack of `make run-cluster`: engage on a replicated, sharded ClickHouse
// (2 shards × 2 replicas, coordinated by ZooKeeper), three brokers with replication factor 3,
// two workers in one group, two scorers in one group and the gateway. Data lives under <data-dir>/cluster.
func (c config) clusterStack() *devstack.Stack {
	dir := filepath.Join(c.dataDir, "cluster")
	chAddr := fmt.Sprintf("127.0.0.1:%d", clusterBasePort)
	steps := []devstack.Step{
		{Starter: &devstack.Starter{Name: "zookeeper", Start: func(ctx context.Context) (devstack.Member, error) {
			_, port, _ := net.SplitHostPort(zookeeperAddr)
			p, _ := strconv.Atoi(port)
			z, err := zookeeper.Start(ctx, zookeeper.Config{Dir: filepath.Join(dir, "zookeeper"), Port: p})
			if err != nil {
				return nil, err
			}
			return zkMember{z}, nil
		}}},
		{Starter: &devstack.Starter{Name: "clickhouse", Start: func(ctx context.Context) (devstack.Member, error) {
			cl, err := clickhouseserver.StartCluster(ctx, clickhouseserver.ClusterSpec{
				Dir: filepath.Join(dir, "clickhouse"), Name: clusterName, ZooKeeper: []string{zookeeperAddr}, BasePort: clusterBasePort,
				Config: clickhouseserver.Config{StopTimeout: 5 * time.Second},
			})
			if err != nil {
				return nil, err
			}
			return clusterMember{cl}, nil
		}}},
		c.proc("broker", brokerAdmin, []string{
			"ENGAGE_DEV=true", "BROKER_ADDR=" + brokerAddr, "BROKER_DATA_DIR=" + filepath.Join(dir, "broker"), "BROKER_ADMIN_ADDR=" + brokerAdmin,
			fmt.Sprintf("BROKER_COUNT=%d", clusterBrokers),
		}),
	}
	brokers := make([]string, clusterBrokers)
	for i := range brokers {
		brokers[i] = fmt.Sprintf("127.0.0.1:%d", 9092+i)
	}
	common := []string{"ENGAGE_DEV=true", "CLICKHOUSE_ADDR=" + chAddr, "CLICKHOUSE_CLUSTER=" + clusterName, "CLICKHOUSE_ZOOKEEPER=" + zookeeperAddr,
		"KAFKA_BROKERS=" + strings.Join(brokers, ","), "TOPIC_REPLICATION=3"}
	steps = append(steps,
		c.procAs("worker-1", "worker", workerAdmin, append(common, "WORKER_ADMIN_ADDR="+workerAdmin, "WORKER_NAME=worker-1")),
		c.procAs("worker-2", "worker", worker2Admin, append(common, "WORKER_ADMIN_ADDR="+worker2Admin, "WORKER_NAME=worker-2")),
		c.procAs("scorer-1", "scorer", scorerAddr, append(common, "SCORER_ADDR="+scorerAddr)),
		c.procAs("scorer-2", "scorer", scorer2Addr, append(common, "SCORER_ADDR="+scorer2Addr)),
		c.proc("notifier", notifierAdmin, append(common, "NOTIFIER_ADMIN_ADDR="+notifierAdmin)),
		c.proc("gateway", gatewayAddr, append(common, "GATEWAY_ADDR="+gatewayAddr, "WRITE_KEY="+c.writeKey)),
	)
	topology := fmt.Sprintf("cluster %s: 2 shards × 2 replicas on :9000 :9010 :9020 :9030, ZooKeeper %s; Kafka: %d brokers on %s;\n  "+
		"workers (admin) on %s and %s; scorers sharing the accounts on %s and %s (either answers for every account)",
		clusterName, zookeeperAddr, clusterBrokers, strings.Join(brokers, " "), workerAdmin, worker2Admin, scorerAddr, scorer2Addr)
	return &devstack.Stack{Steps: steps, OnReady: func() { c.banner(chAddr, topology) }}
}

func (c config) proc(name, admin string, env []string) devstack.Step {
	return c.procAs(name, name, admin, env)
}

// procAs runs bin/<binary> under another name (two workers).
func (c config) procAs(name, binary, admin string, env []string) devstack.Step {
	return devstack.Step{Proc: &devstack.Proc{
		Name:     name,
		Path:     filepath.Join(c.binDir, binary),
		Env:      env,
		ReadyURL: "http://" + admin + "/readyz",
	}}
}

func (c config) banner(chAddr, topology string) {
	if topology != "" {
		topology = "\n  " + topology + "\n"
	}
	fmt.Printf(`
  ┌───────────────────────────────────────────────────────────────────────────┐
  │ engage is running                                     Ctrl-C stops it all │
  └───────────────────────────────────────────────────────────────────────────┘
  gateway      http://%[1]s        (POST /v1/events, Segment /v1/batch …)
  scorer API   http://%[2]s        (GET /v1/accounts/{id}/health, read key %[7]s)
  notifier     http://127.0.0.1:8087        (webhooks of deploy/notifier.yaml, docs/NOTIFIER.md)
  ClickHouse   %[3]s          (database engagement)
  write key    %[4]s
%[8]s
  Send an event:
    curl -s http://%[1]s/v1/events -H 'Authorization: Bearer %[4]s' \
      -H 'Content-Type: application/json' \
      -d '{"event_id":"hello-1","account_id":"acme","user_id":"ada","name":"report.exported","timestamp":"'$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ)'"}'

  See it (within a few seconds):
    clickhouse-client --host %[6]s --port %[5]s -q 'SELECT * FROM engagement.events'

  Health of every account (after make demo):
    curl -s -H 'Authorization: Bearer %[7]s' 'http://%[2]s/v1/accounts?band=red'
  Band changes as they happen:  bin/subscriber

  Realistic traffic for ~50 accounts:  make demo

`, gatewayAddr, scorerAddr, chAddr, c.writeKey, portOf(chAddr), hostOf(chAddr), readapi.DevReadKey, topology)
}

func portOf(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		return port
	}
	return "9000"
}

func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
