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

demo:
	$(GO) run ./cmd/bedrock-relay demo

build:
	$(GO) build -o bin/bedrock-relay ./cmd/bedrock-relay
