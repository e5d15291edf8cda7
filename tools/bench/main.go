// Command bench is engage's whole-system benchmark (internal/dev/bench): it builds the services, runs
// them on loopback with a load generator and prints a Markdown table per scenario. `make
// bench` runs it after the micro-benchmarks (scripts/bench.sh); BENCHMARKS.md has the results.
//
//	bench -scenario all                       # gateway, latency, pipeline, scorer
//	bench -scenario gateway -duration 20s
//	bench -scenario micro -gotest micro.txt   # summarise `go test -bench` output
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/engage-oss/engage/internal/dev/bench"
)

func main() {
	var cfg bench.Config
	scenario := flag.String("scenario", "all", "gateway, latency, pipeline, scorer, all, or micro (with -gotest)")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured time of gateway and raw produce each, and of each latency rate")
	flag.DurationVar(&cfg.StepDuration, "step-duration", 20*time.Second, "load time of each pipeline rate")
	flag.IntVar(&cfg.Clients, "clients", 32, "closed-loop HTTP clients (and raw producer goroutines)")
	flag.IntVar(&cfg.Rounds, "rounds", 2, "gateway/raw alternations on the same broker")
	fractions := flag.String("latency-fractions", "0.25,0.5", "latency scenario rates, as fractions of the measured maximum (comma-separated)")
	rates := flag.String("rates", "10000,20000,40000,50000,60000,80000", "pipeline staircase, events/s (comma-separated); stops at the first rate that misses")
	flag.IntVar(&cfg.ScorerAccounts, "scorer-accounts", 20, "accounts whose band the scorer scenario changes")
	flag.IntVar(&cfg.ScorerPopulation, "scorer-population", 100000, "accounts of synthetic history in ClickHouse before the scorer scenario starts (-1: none)")
	flag.Float64Var(&cfg.ScorerBackground, "scorer-background", 10000, "background events/s during the scorer scenario (-1: none)")
	flag.IntVar(&cfg.Traffic.Accounts, "accounts", 1000, "accounts in the generated traffic")
	flag.IntVar(&cfg.Traffic.UsersPerAccount, "users-per-account", 20, "users per account in the generated traffic")
	src := flag.String("src", ".", "the engage repository root (services are built from it)")
	gotest := flag.String("gotest", "", "with -scenario micro: file of `go test -bench` output to summarise")
	timeout := flag.Duration("timeout", 20*time.Minute, "stop everything after this long")
	cluster := flag.Bool("clickhouse-cluster", false, "run ClickHouse as a local 2 × 2 cluster with ZooKeeper and the services in cluster mode")
	flag.Parse()
	var err error
	if cfg.LatencyFractions, err = bench.ParseFloats(*fractions); err == nil {
		cfg.PipelineRates, err = bench.ParseFloats(*rates)
	}
	if err != nil {
		fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	env, err := bench.NewEnv(*src, os.Stderr)
	if err != nil {
		fatal(err)
	}
	defer env.Close()
	env.Cluster = *cluster
	r := bench.NewRunner(cfg, env)
	machine := bench.ReadMachine(*src)
	machine.WriteHeader(os.Stdout, "bench "+strings.Join(os.Args[1:], " "), *scenario != "micro")

	failed := false
	switch names := strings.Split(*scenario, ","); {
	case *scenario == "micro":
		if err := r.Micro(*gotest, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			failed = true
		}
	default:
		if *scenario == "all" {
			names = bench.Scenarios
		}
		r.Prepare(ctx, names...)
		for _, name := range names {
			if err := r.Run(ctx, name, os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: %v\n", name, err)
				failed = true
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	r.WriteTargets(os.Stdout)
	machine.ClickHouse = env.ClickHouseVersion()
	fmt.Println()
	machine.Write(os.Stdout)
	fmt.Printf("\nload average at end: %s\n", bench.LoadAvg())
	if failed {
		env.Close()
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(2)
}
