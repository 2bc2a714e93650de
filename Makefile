# bedrock-relay. `make test` is the test command the README and CI use; `make demo` runs the offline demo.
GO ?= go
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

.PHONY: test deps vet demo build
test: deps vet
	$(GO) test -race -count=1 ./...

deps:
	bash .ci/install-deps

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod / go.sum are not tidy: run go mod tidy (the diff is above)"; exit 1; }

demo:
	$(GO) run ./cmd/bedrock-relay demo

build:
	$(GO) build -o bin/bedrock-relay ./cmd/bedrock-relay

# Lambda packages (runtime provided.al2023): $(DIST)/bedrock-relay-lambda-{arm64,x86_64}.zip, each holding a
# static `bootstrap`. `make lambda DIST=/elsewhere` puts them elsewhere (the package test does).
DIST ?= dist
LAMBDA_ARCHS := arm64 x86_64
goarch_arm64 := arm64
goarch_x86_64 := amd64

.PHONY: lambda FORCE
lambda: $(foreach a,$(LAMBDA_ARCHS),$(DIST)/bedrock-relay-lambda-$(a).zip)

$(DIST)/bedrock-relay-lambda-%.zip: FORCE
	@test -n "$(goarch_$*)" || { echo "unknown Lambda architecture $* (want one of $(LAMBDA_ARCHS))"; exit 1; }
	@mkdir -p $(DIST)/lambda-$*
	CGO_ENABLED=0 GOOS=linux GOARCH=$(goarch_$*) $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
		-o $(DIST)/lambda-$*/bootstrap ./cmd/bedrock-relay-lambda
	rm -f $@
	cd $(DIST)/lambda-$* && zip -q -X $(abspath $@) bootstrap
FORCE:
