// Command demo sends realistic telemetry to a running gateway (`make run`, then `make demo`):
// about 50 customer accounts on trial, starter, pro and enterprise plans, from power users
// to accounts about to churn. It sends the last 30 days of history, then keeps sending live
// events until Ctrl-C. The simulation is deterministic: the same -seed, -start and -days send
// the same event ids again, which the pipeline counts once. See tools/demo/README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/engage-oss/engage/internal/dev/demo"
	"github.com/engage-oss/engage/internal/service"
)

func main() {
	cfg := demo.RunConfig{Sim: demo.DefaultConfig(), Sender: demo.DefaultSenderConfig()}
	var seed, rate, speed int
	var start, until string
	f := service.NewFlags("demo")
	f.String(&cfg.Sender.URL, "gateway", "GATEWAY_URL", cfg.Sender.URL, "gateway base URL")
	f.String(&cfg.Sender.WriteKey, "write-key", "WRITE_KEY", cfg.Sender.WriteKey, "write key sent as Authorization: Bearer")
	f.Int(&cfg.Sim.Accounts, "accounts", "DEMO_ACCOUNTS", cfg.Sim.Accounts, "number of customer accounts")
	f.Int(&cfg.Sim.Days, "days", "DEMO_DAYS", cfg.Sim.Days, "days of history, today included")
	f.Int(&seed, "seed", "DEMO_SEED", int(cfg.Sim.Seed), "simulation seed: the same seed, start and days send the same events")
	f.String(&start, "start", "DEMO_START", "", "first simulated day, YYYY-MM-DD (default: days-1 days before today)")
	f.String(&until, "until", "DEMO_UNTIL", "", "end of history, YYYY-MM-DD or RFC 3339 (default: now)")
	f.Bool(&cfg.HistoryOnly, "history-only", "DEMO_HISTORY_ONLY", false, "send the history, then stop instead of going live")
	f.Duration(&cfg.Live, "live", "DEMO_LIVE", 0, "how long to send live events after the history (0: until Ctrl-C)")
	f.Int(&speed, "speed", "DEMO_SPEED", 1, "live pace: 1 is real time, 60 turns an hour into a minute (a time-lapse with its own event ids)")
	f.Int(&rate, "rate", "DEMO_RATE", 0, "at most this many events per second (0: unlimited)")
	f.Int(&cfg.Sender.BatchSize, "batch", "DEMO_BATCH", cfg.Sender.BatchSize, "events per request")
	f.Int(&cfg.Sender.Lanes, "concurrency", "DEMO_CONCURRENCY", cfg.Sender.Lanes, "concurrent requests (each account stays on one)")
	f.Bool(&cfg.Sender.Gzip, "gzip", "DEMO_GZIP", cfg.Sender.Gzip, "gzip request bodies")
	f.Bool(&cfg.Sender.NDJSON, "ndjson", "DEMO_NDJSON", false, "send NDJSON bodies instead of JSON arrays")
	f.String(&cfg.Order, "order", "DEMO_ORDER", demo.OrderTime, "history order: time (global time order) or user (day by day, constant memory)")
	f.Bool(&cfg.DryRun, "dry-run", "DEMO_DRY_RUN", false, "write the history as NDJSON to -out instead of sending it")
	f.String(&cfg.Out, "out", "DEMO_OUT", "-", "dry-run output file (- is standard output)")
	f.Int(&cfg.Procs, "procs", "DEMO_PROCS", runtime.GOMAXPROCS(0), "dry-run generator goroutines (1: byte-identical output)")
	if err := f.Parse(os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		return
	} else if err != nil {
		service.Fatal("demo", err)
	}
	if seed < 0 || rate < 0 || speed < 1 {
		service.Fatal("demo", fmt.Errorf("-seed and -rate must not be negative, -speed must be at least 1"))
	}
	cfg.Sim.Seed, cfg.Sender.Rate, cfg.Speed = uint64(seed), float64(rate), float64(speed)
	var err error
	if cfg.Sim.Start, err = demo.ParseTime(start); err != nil {
		service.Fatal("demo", fmt.Errorf("-start: %w", err))
	}
	if cfg.Until, err = demo.ParseTime(until); err != nil {
		service.Fatal("demo", fmt.Errorf("-until: %w", err))
	}

	ctx, stop := service.SignalContext()
	defer stop()
	if err := demo.Run(ctx, cfg); err != nil {
		stop()
		service.Fatal("demo", err)
	}
}
