# skiff — see README.md.
SHELL := /bin/bash
MODULES := api apiserver controlplane scheduler kubelet kubeproxy plugins addons dashboard e2e
PKGS := ./... $(addprefix ./,$(addsuffix /...,$(MODULES)))
BIN := $(CURDIR)/bin
DATA_DIR ?= $(CURDIR)/.skiff
TEST_TIMEOUT ?= 25m

.PHONY: all build up test test-unit bench lint deps tidy clean

all: build

build:
	@mkdir -p $(BIN)
	go build -o $(BIN)/skiff ./cmd/skiff

deps:
	bash hack/install-deps.sh

## up: build and run a single-node cluster in the foreground (Ctrl-C stops it).
up: deps build
	$(BIN)/skiff up --data-dir $(DATA_DIR)

## test: every test (unit, integration, e2e), installing what the tests need.
test: deps build
	SKIFF_BIN=$(BIN)/skiff bash hack/test.sh $(PKGS)

## bench: benchmark programs that print tables (see docs/benchmarks.md).
bench: build
	SKIFF_BIN=$(BIN)/skiff bash hack/bench.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(PKGS)

tidy:
	@for m in . $(MODULES); do (cd $$m && go mod tidy) || exit 1; done

clean:
	rm -rf $(BIN)
