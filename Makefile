# atmd — the two commands a newcomer needs are `make run` and `make test`.
GO       ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN      := bin/atmd
CONFIG   ?= configs/sim.yaml
FUZZTIME ?= 10s
ARTIFACTS ?= var/test-artifacts
STATICCHECK_VERSION ?= v0.7.0
export PATH := $(dir $(GO)):$(PATH)

.PHONY: all build run test unit scenarios lint fuzz bench smoke deps screens clean

all: build

deps:
	@scripts/deps.sh test

build:
	$(GO) build -o $(BIN) ./cmd/atmd

## run: atmd with simulated devices and the reference host, ready to use.
run: build
	@scripts/deps.sh run
	$(BIN) run --config $(CONFIG) $(if $(RESET),--reset-host)

## test: every test — vet, format, unit and integration tests with the
## race detector, then every scenario file through the real CLI.
test: deps build
	@echo "== gofmt"; out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "not gofmt'd:"; echo "$$out"; exit 1; fi
	@echo "== go vet"; $(GO) vet ./...
	@echo "== go test -race"; ATMD_ARTIFACTS=$(abspath $(ARTIFACTS)) $(GO) test -race -count=1 -timeout 15m ./...
	@echo "== browser test screenshots: $(ARTIFACTS)/screens"
	@echo "== scenarios"; $(BIN) scenario --config $(CONFIG) sim/scenarios/*.scn

## screens: run the browser tests and refresh the screenshots the docs
## show (docs/screens).
screens: deps
	$(GO) test -count=1 -run Browser ./devices/webscreen -update

## lint: gofmt, go vet and staticcheck.
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "not gofmt'd:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## fuzz: run every fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

## bench: codec, host link, fleet, footprint and device figures against
## their targets: writes docs/bench.md and docs/bench-fleet.svg (a few
## minutes on 2 cores; loopback only). BENCHFLAGS=-quick for a short try.
bench:
	GO=$(GO) $(GO) run ./sim/benchreport $(BENCHFLAGS)

## smoke: exercise every device of CONFIG once (hardware: opt-in; never
## dispenses). RECORD=DIR keeps the serial traffic as test data.
smoke: build
	$(BIN) smoke --config $(CONFIG) $(if $(RECORD),--record $(RECORD))

clean:
	rm -rf bin var bench.out
