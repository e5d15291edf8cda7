# engage — developer entry points. Every target installs what it needs first (make deps).
SHELL := /bin/bash
GO    ?= go
BIN   := bin
SERVICES := broker gateway worker scorer notifier
TOOLS    := devstack demo bench subscriber
# Fuzz targets run for FUZZTIME each in `make test`: long enough to catch the shallow panics
# that a new decoder branch introduces, short enough for CI.
FUZZTIME ?= 10s

.PHONY: all deps build run run-cluster test unit fuzz bench demo lint clean help

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

deps: ## install missing system dependencies (ClickHouse from Debian's packages)
	@bash scripts/install-deps.sh

build: ## build every service and tool into bin/
	@mkdir -p $(BIN)
	@for d in $(addprefix services/,$(SERVICES)) $(addprefix tools/,$(TOOLS)); do \
	  if [ -d $$d ]; then $(GO) build -o $(BIN)/$$(basename $$d) ./$$d || exit 1; fi; \
	done

run: deps build ## start the whole pipeline in the foreground (Ctrl-C stops it)
	@exec $(BIN)/devstack

run-cluster: deps build ## the same on a 2 × 2 ClickHouse cluster with ZooKeeper, 3 brokers, 2 workers, 2 scorers (docs/SCALING.md)
	@exec $(BIN)/devstack -cluster

test: deps lint unit fuzz ## everything CI runs: lint, unit + integration tests, short fuzzing

unit:
	$(GO) test -count=1 -timeout 20m ./...

fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: deps build ## hot-path micro-benchmarks and the whole-pipeline benchmark
	@bash scripts/bench.sh

demo: build ## send realistic telemetry for ~50 accounts to a running gateway (make run first)
	@$(BIN)/demo

clean: ## remove binaries (data in .data/ is kept; rm -rf .data to reset)
	rm -rf $(BIN)
