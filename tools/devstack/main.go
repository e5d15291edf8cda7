// Command devstack is `make run`: it starts ClickHouse, the embedded broker, the stream
// worker, the scorer and the gateway in the foreground with one prefixed log stream, prints
// how to use them, and stops all of them on Ctrl-C or when any of them dies. With -cluster it
// is `make run-cluster`: the same on a 2 × 2 ClickHouse cluster with ZooKeeper, three brokers
// and two workers.
//
// KAFKA_BROKERS or CLICKHOUSE_ADDR point the services at existing clusters; the embedded
// broker or ClickHouse is then not started.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/engage-oss/engage/internal/dev/devstack"
	"github.com/engage-oss/engage/internal/ingest"
	"github.com/engage-oss/engage/internal/service"
)

func main() {
	var cfg config
	f := service.NewFlags("devstack")
	f.String(&cfg.dataDir, "data-dir", "ENGAGE_DATA_DIR", ".data", "where the embedded broker and ClickHouse keep their data")
	f.String(&cfg.binDir, "bin-dir", "ENGAGE_BIN_DIR", "bin", "where make build put the service binaries")
	f.String(&cfg.kafkaBrokers, "kafka-brokers", "KAFKA_BROKERS", "", "existing Kafka brokers; empty starts the embedded broker on 127.0.0.1:9092")
	f.String(&cfg.clickhouseAddr, "clickhouse-addr", "CLICKHOUSE_ADDR", "", "existing ClickHouse (native protocol); empty starts one on 127.0.0.1:9000")
	f.String(&cfg.writeKey, "write-key", "WRITE_KEY", ingest.DevWriteKey, "the dev write key the gateway accepts")
	f.Bool(&cfg.cluster, "cluster", "", false, "make run-cluster: a 2 × 2 ClickHouse cluster with ZooKeeper, three brokers and two workers, data under <data-dir>/cluster")
	if err := f.Parse(os.Args[1:]); err != nil {
		service.Fatal("devstack", err)
	}
	ctx, stop := service.SignalContext()
	defer stop()

	stack := cfg.stack()
	if cfg.cluster {
		stack = cfg.clusterStack()
	}
	if err := stack.Run(ctx); err != nil {
		if errors.Is(err, devstack.ErrMemberDied) {
			fmt.Fprintln(os.Stderr, "make run: stopped because", err)
		}
		os.Exit(1)
	}
}
