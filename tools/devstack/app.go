package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/engage-oss/engage/internal/dev/clickhouseserver"
	"github.com/engage-oss/engage/internal/dev/devstack"
	"github.com/engage-oss/engage/internal/scorer/readapi"
)

type config struct {
	dataDir, binDir              string
	kafkaBrokers, clickhouseAddr string
	writeKey                     string
}

// Ports of the dev stack, as the README's quick start lists them.
const (
	brokerAddr  = "127.0.0.1:9092"
	chTCPPort   = 9000
	chHTTPPort  = 8123
	gatewayAddr = "127.0.0.1:8080"
	workerAdmin = "127.0.0.1:8081"
	scorerAddr  = "127.0.0.1:8082"
	brokerAdmin = "127.0.0.1:8084"
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
	steps = append(steps, c.proc("gateway", gatewayAddr, append(common, "GATEWAY_ADDR="+gatewayAddr, "WRITE_KEY="+c.writeKey)))
	return &devstack.Stack{Steps: steps, OnReady: func() { c.banner(chAddr) }}
}

func (c config) proc(name, admin string, env []string) devstack.Step {
	return devstack.Step{Proc: &devstack.Proc{
		Name:     name,
		Path:     filepath.Join(c.binDir, name),
		Env:      env,
		ReadyURL: "http://" + admin + "/readyz",
	}}
}

func (c config) banner(chAddr string) {
	fmt.Printf(`
  ┌───────────────────────────────────────────────────────────────────────────┐
  │ engage is running                                     Ctrl-C stops it all │
  └───────────────────────────────────────────────────────────────────────────┘
  gateway      http://%[1]s        (POST /v1/events, Segment /v1/batch …)
  scorer API   http://%[2]s        (GET /v1/accounts/{id}/health, read key %[7]s)
  ClickHouse   %[3]s          (database engagement)
  write key    %[4]s

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

`, gatewayAddr, scorerAddr, chAddr, c.writeKey, portOf(chAddr), hostOf(chAddr), readapi.DevReadKey)
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
