# bindsync — every target a newcomer expects. `make test` builds everything it
# needs (test API servers included) from scratch on a machine with Go, git and gcc.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

GO        ?= go
BIN       := $(CURDIR)/bin
TOOLS     := $(CURDIR)/hack/tools
# Test binaries are cached here; envtest finds them through KUBEBUILDER_ASSETS.
TESTBIN   := $(BIN)/k8s
export KUBEBUILDER_ASSETS := $(TESTBIN)

CONTROLLER_GEN := $(BIN)/controller-gen
KUBE_APISERVER := $(TESTBIN)/kube-apiserver
ETCD           := $(TESTBIN)/etcd

GENERATED := api/v1alpha1/zz_generated.deepcopy.go config/crd

# `bindsync version` prints this; a build outside make falls back to what Go records.
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -X github.com/bindsync/bindsync/internal/cli/version.version=$(VERSION) \
             -X github.com/bindsync/bindsync/internal/cli/version.commit=$(COMMIT)

.PHONY: all build test unit integration generate verify-generated lint testbin demo bench clean help

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

build: ## build bin/bindsync (and the kubectl-bindsync plugin name)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/bindsync ./cmd/bindsync
	ln -sf bindsync $(BIN)/kubectl-bindsync

test: testbin verify-generated lint ## everything CI runs: generated code, lint, unit, golden and integration tests
	$(GO) test -count=1 ./...

unit: ## fast tests only (no API servers)
	$(GO) test -short ./...

integration: testbin ## tests that start real API servers
	$(GO) test -count=1 -run Integration ./...

$(CONTROLLER_GEN): hack/tools/controller-gen/go.mod hack/tools/controller-gen/go.sum
	cd $(TOOLS)/controller-gen && $(GO) build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

generate: $(CONTROLLER_GEN) ## regenerate deepcopy code and CRD manifests
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	rm -rf config/crd && $(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd

# Regenerates and fails when that changed anything: generated files in the tree
# were stale. Works the same in a clean CI clone and in a working tree.
verify-generated: $(CONTROLLER_GEN)
	@before=$$(find $(GENERATED) -type f -print0 | sort -z | xargs -0 sha256sum); \
	$(MAKE) --no-print-directory generate >/dev/null; \
	after=$$(find $(GENERATED) -type f -print0 | sort -z | xargs -0 sha256sum); \
	if [ "$$before" != "$$after" ]; then \
	  echo "generated files were stale (now regenerated): run 'make generate' and commit the result" >&2; \
	  diff <(echo "$$before") <(echo "$$after") >&2 || true; exit 1; fi

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^hack/tools/')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@# every test binary must accept -update, so `go test ./... -update` works
	@$(GO) test -count=1 -run '^$$' ./... -update >/dev/null || { echo "a test package does not import internal/testutil/golden (go test ./... -update fails)"; exit 1; }

testbin: $(KUBE_APISERVER) $(ETCD) ## build kube-apiserver and etcd for the integration tests (cached in bin/k8s)

$(KUBE_APISERVER): hack/tools/kube-apiserver/go.mod hack/tools/kube-apiserver/go.sum
	@mkdir -p $(TESTBIN)
	@echo "building kube-apiserver (several minutes on a cold cache)"
	cd $(TOOLS)/kube-apiserver && $(GO) build -trimpath -o $@ k8s.io/kubernetes/cmd/kube-apiserver

$(ETCD): hack/tools/etcd/go.mod hack/tools/etcd/go.sum
	@mkdir -p $(TESTBIN)
	cd $(TOOLS)/etcd && $(GO) build -trimpath -o $@ go.etcd.io/etcd/server/v3

demo: build ## render the example control plane into a state repo and show it
	BINDSYNC=$(BIN)/bindsync ./hack/demo.sh

bench: testbin ## benchmarks: render at scale, schema comparison, the backend at 1000 clusters (docs/scale.md)
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
	$(GO) test -v -run '^$$' -bench . -benchtime=1x -timeout 120m ./test/scale/

clean:
	rm -rf $(BIN)
