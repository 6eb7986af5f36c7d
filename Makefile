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
KUBECTL        := $(BIN)/kubectl

# The charts carry copies of config/crd (Helm installs a chart's crds/ only):
# APIServiceBinding in the agent's, every other kind in the control plane's.
CHART_CRDS := charts/bindsync-control-plane/crds charts/bindsync-agent/crds
GENERATED := api/v1alpha1/zz_generated.deepcopy.go config/crd $(CHART_CRDS)

# `bindsync version` prints this; a build outside make falls back to what Go records.
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -X github.com/bindsync/bindsync/internal/cli/version.version=$(VERSION) \
             -X github.com/bindsync/bindsync/internal/cli/version.commit=$(COMMIT)

.PHONY: all build release test unit integration generate verify-generated lint testbin demo bench clean help

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

# Built as the image builds it (Dockerfile): static, so the binary run here is
# the one shipped. A cgo build also exports every symbol (kustomize links Go's
# plugin package): 110 MB instead of 41 MB, and some 36 MB more of it resident.
build: ## build bin/bindsync (and the kubectl-bindsync plugin name, with its completion)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS) -s -w' -o $(BIN)/bindsync ./cmd/bindsync
	ln -sf bindsync $(BIN)/kubectl-bindsync
	install -m 0755 hack/kubectl_complete-bindsync $(BIN)/kubectl_complete-bindsync

# Archives bindsync_<version>_<os>_<arch>.tar.gz (bindsync, LICENSE,
# README.md) and bindsync_<version>_checksums.txt (`sha256sum -c` reads it)
# in dist/, and dist/bindsync.krew.yaml (hack/krew/bindsync.yaml filled in). Set VERSION for a release (make release VERSION=v0.2.0); the
# archives are reproducible: file times are the commit's, owners are 0.
RELEASE_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
DIST              := $(CURDIR)/dist
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
release: ## versioned archives for linux and darwin (amd64, arm64) with sha256 checksums and the krew manifest, in dist/
	rm -rf $(DIST) && mkdir -p $(DIST)
	@for p in $(RELEASE_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; name=bindsync_$(VERSION)_$${os}_$${arch}; dir=$(DIST)/$$name; \
	  echo "building $$name"; mkdir -p $$dir; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS) -s -w' -o $$dir/bindsync ./cmd/bindsync; \
	  cp LICENSE README.md $$dir/; \
	  tar -C $$dir --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$(SOURCE_DATE_EPOCH) -cf - bindsync LICENSE README.md \
	    | gzip -9n > $(DIST)/$$name.tar.gz; \
	  rm -rf $$dir; \
	done
	cd $(DIST) && sha256sum bindsync_$(VERSION)_*.tar.gz > bindsync_$(VERSION)_checksums.txt
	@cat $(DIST)/bindsync_$(VERSION)_checksums.txt
	@$(MAKE) --no-print-directory krew-manifest VERSION=$(VERSION)

# The krew manifest of a release made by `make release`: hack/krew/bindsync.yaml with
# the version and each archive's sha256 (from the checksums file) filled in.
krew-manifest:
	@sed -e '/^#/d' -e 's/{{VERSION}}/$(VERSION)/g' hack/krew/bindsync.yaml > $(DIST)/bindsync.krew.yaml; \
	while read -r sum file; do \
	  p=$${file#bindsync_$(VERSION)_}; p=$${p%.tar.gz}; \
	  sed -i "s/{{SHA256_$${p}}}/$$sum/" $(DIST)/bindsync.krew.yaml; \
	done < $(DIST)/bindsync_$(VERSION)_checksums.txt; \
	if grep -q '{{' $(DIST)/bindsync.krew.yaml; then echo "dist/bindsync.krew.yaml: placeholders left:" >&2; grep '{{' $(DIST)/bindsync.krew.yaml >&2; exit 1; fi
	@echo "wrote $(DIST)/bindsync.krew.yaml"

test: testbin verify-generated lint ## everything CI runs: generated code, lint, unit, golden and integration tests
	$(GO) test -count=1 ./...
	@# config/monitoring's rules and dashboard, checked with Prometheus's packages (a module of its own)
	cd test/monitoring && $(GO) test -count=1 ./...
	@# the Helm charts against config/ (its own module: Helm's dependencies stay out of bindsync's)
	cd test/install && $(GO) test -count=1 ./...

unit: ## fast tests only (no API servers)
	$(GO) test -short ./...

integration: testbin ## tests that start real API servers
	$(GO) test -count=1 -run Integration ./...

$(CONTROLLER_GEN): hack/tools/controller-gen/go.mod hack/tools/controller-gen/go.sum
	cd $(TOOLS)/controller-gen && $(GO) build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

generate: $(CONTROLLER_GEN) ## regenerate deepcopy code and CRD manifests
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	rm -rf config/crd && $(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd
	@# A kustomization listing every CRD, so the overlays in config/ can use config/crd as a
	@# base. Named Kustomization (no extension), so `kubectl apply -f config/crd` still reads CRDs only.
	@crds=$$(cd config/crd && ls *.yaml); \
	{ echo '# Generated by make generate: every CRD in this folder.'; \
	  echo 'apiVersion: kustomize.config.k8s.io/v1beta1'; echo 'kind: Kustomization'; echo 'resources:'; \
	  for f in $$crds; do echo "- $$f"; done; } > config/crd/Kustomization
	rm -rf $(CHART_CRDS) && mkdir -p $(CHART_CRDS)
	cp config/crd/bindsync.io_apiservicebindings.yaml charts/bindsync-agent/crds/
	cp $$(ls config/crd/*.yaml | grep -v '/bindsync.io_apiservicebindings.yaml$$') charts/bindsync-control-plane/crds/

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
	cd test/monitoring && $(GO) vet ./...
	cd test/install && $(GO) vet ./...
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

# The demo starts the test API servers (hack/devenv) and runs the backend and
# the agent as real processes; see hack/demo.sh.
demo: build testbin ## the whole journey with real processes: bind, a compatible change, a held breaking change, approve, an instance provisioned and deleted
	$(GO) build -o $(BIN)/devenv ./hack/devenv
	$(GO) build -o $(BIN)/standin-provider ./hack/standin-provider
	BIN=$(BIN) ./hack/demo.sh

bench: testbin $(KUBECTL) ## benchmarks: render at scale, schema comparison, the agent against kubectl, instance sync at 2,000 instances, the backend at 1000 clusters (docs/scale.md)
	$(GO) test -run '^$$' -bench . -benchmem -timeout 0 ./internal/...
	@# test/agentbench includes BenchmarkInstanceSync (real backend, agent and stand-in provider; docs/agent.md)
	$(GO) test -run '^$$' -bench . -timeout 60m ./test/agentbench/...
	$(GO) test -v -run '^$$' -bench . -benchtime=1x -timeout 120m ./test/scale/

# kubectl, for the agent benchmark only (a server-side apply of the same CRD
# files); its own module, so building it never touches the cached kube-apiserver.
$(KUBECTL): hack/tools/kubectl/go.mod hack/tools/kubectl/go.sum
	cd $(TOOLS)/kubectl && $(GO) build -trimpath -o $@ k8s.io/kubernetes/cmd/kubectl

clean:
	rm -rf $(BIN)
