# bedrock-relay. `make test` is the test command the README and CI use; `make demo` runs the offline demo.
GO ?= go
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

.PHONY: test deps lint vet demo build
# make test: the test tools (deps), the cheap checks (lint), the Lambda packages once for the end-to-end
# suites, every package's tests under the race detector through gotestsum (a line per package as its suite
# ends, the output of what failed, then the slowest tests), go vet on the race build go test made, and the
# allocation guard (internal/bench TestAllocationsPerRequest) without -race.
TEST_DIST := $(CURDIR)/dist/test
test: deps lint
	@echo "== building the Lambda packages once for the end-to-end suites (make lambda DIST=dist/test)"
	@start=$$(date +%s); $(MAKE) --no-print-directory lambda DIST=$(TEST_DIST) || exit 1; \
		echo "   built in $$(( $$(date +%s) - start ))s"
	@echo "== go test -race ./... over $$($(GO) list ./... | wc -l) packages: a first run compiles every dependency with the race detector,"
	@echo "   which takes minutes on 2 cores; then each package prints a line as its suite ends"
	@start=$$(date +%s); BEDROCK_RELAY_LAMBDA_DIST=$(TEST_DIST) gotestsum --format pkgname-and-test-fails --format-icons text \
		--jsonfile $(TEST_DIST)/go-test.json -- -race -count=1 ./...; rc=$$?; \
		echo "   go test took $$(( $$(date +%s) - start ))s; the slowest tests (5s and more):"; \
		gotestsum tool slowest --jsonfile $(TEST_DIST)/go-test.json --threshold 5s | sed 's/^/   /'; exit $$rc
	@echo "== go vet -race ./... (on the packages go test compiled)"
	@$(GO) vet -race ./...
	@echo "== the allocation guard, without the race detector (it empties sync.Pools at random): allocations per request of each path"
	@start=$$(date +%s); $(GO) test -count=1 -run TestAllocationsPerRequest ./internal/bench || exit 1; \
		echo "   took $$(( $$(date +%s) - start ))s"

deps:
	@bash .ci/install-deps

# The checks that need no compiling: formatting and a tidy go.mod.
lint:
	@echo "== gofmt, go mod tidy -diff"
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod / go.sum are not tidy: run go mod tidy (the diff is above)"; exit 1; }

vet: lint
	$(GO) vet ./...

demo:
	$(GO) run ./cmd/bedrock-relay demo

build:
	$(GO) build -o bin/bedrock-relay ./cmd/bedrock-relay

# Lambda packages (runtime provided.al2023), each a zip holding a static `bootstrap`:
#   $(DIST)/bedrock-relay-lambda-ARCH.zip      the seed's function, invoked directly (cmd/bedrock-relay-lambda)
#   $(DIST)/bedrock-relay-lambda-url-ARCH.zip  the relay itself behind a Function URL (cmd/bedrock-relay-lambda-url)
# for ARCH in arm64 and x86_64. `make lambda DIST=/elsewhere` puts them elsewhere; `make lambda LAMBDA_ARCHS=x86_64`
# builds one architecture.
DIST ?= dist
LAMBDA_ARCHS ?= arm64 x86_64
LAMBDA_PKGS := bedrock-relay-lambda bedrock-relay-lambda-url
goarch_arm64 := arm64
goarch_x86_64 := amd64

.PHONY: lambda FORCE
lambda: $(foreach p,$(LAMBDA_PKGS),$(foreach a,$(LAMBDA_ARCHS),$(DIST)/$(p)-$(a).zip))

# The package is the name up to the last dash, the architecture what follows it.
$(DIST)/%.zip: FORCE
	@pkg=$$(echo '$*' | sed 's/-[^-]*$$//'); arch=$$(echo '$*' | sed 's/.*-//'); \
	case $$arch in arm64) goarch=arm64;; x86_64) goarch=amd64;; *) echo "unknown Lambda architecture $$arch (want arm64 or x86_64)"; exit 1;; esac; \
	test -d cmd/$$pkg || { echo "no Lambda package $$pkg (want one of $(LAMBDA_PKGS))"; exit 1; }; \
	mkdir -p $(DIST)/$*; \
	echo "building $@ (GOARCH=$$goarch)"; \
	CGO_ENABLED=0 GOOS=linux GOARCH=$$goarch $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(DIST)/$*/bootstrap ./cmd/$$pkg && \
	rm -f $@ && cd $(DIST)/$* && zip -q -X $(abspath $@) bootstrap
FORCE:
