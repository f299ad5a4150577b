# OSSA Platform. `make help` lists the targets.
GO      ?= go
PKGS    ?= ./...

# go.mod asks for Go 1.26.11, whose standard library has the security fixes
# the code needs. A machine whose Go is older and pinned to it
# (GOTOOLCHAIN=local, or unset where go.env says local) fetches that Go from
# the module proxy once (about 10 s); any other choice of the caller stands.
ifeq ($(filter-out local,$(GOTOOLCHAIN)),)
export GOTOOLCHAIN := auto
endif

.PHONY: help run build test test-short test-integration lint vulncheck vulncheck-bump bench fuzz services-up clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## run the gateway on :3100 with embedded SQLite in ./data
	$(GO) run ./cmd/ossa serve

build: ## build bin/ossa
	$(GO) build -o bin/ossa ./cmd/ossa

# gotestsum (a tool of go.mod) runs go test and ends with a summary that
# lists every skipped test with its reason, so a missing server shows.
test: lint vulncheck ## vet, format check, govulncheck, and every test with -race, then a summary of what failed or was skipped (PostgreSQL/Redis tests need TEST_POSTGRES_URL/TEST_REDIS_URL, else they skip)
	$(GO) tool gotestsum --format pkgname-and-test-fails -- -race -count=1 $(PKGS)

test-short: ## every test without -race, for a quick loop
	$(GO) test -count=1 $(PKGS)

test-integration: ## start PostgreSQL and Redis as CI does (asking before installing anything), then run every test against them
	@bash -c 'set -e; source .ci/services.sh; ensure_postgres; ensure_pgvector; ensure_redis; $(MAKE) test'


# golangci-lint with .golangci.yml, at the version that file was written
# for. go run builds it once (about 90 s) and caches it; set GOLANGCI_LINT to
# an installed binary of that version to skip even that. It is not a tool
# of go.mod: its hundreds of modules would be the platform's.
GOLANGCI_LINT ?= $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

lint: ## go vet, gofmt, go mod tidy and golangci-lint (.golangci.yml: staticcheck, errcheck, revive, depguard's import rules, ...)
	$(GO) vet $(PKGS)
	$(GO) mod tidy -diff
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GOLANGCI_LINT) run $(PKGS)

# govulncheck over the platform, offline: the database is built from the
# module golang.org/x/vulndb at VULNDB_VERSION, which the module proxy serves
# like any module (vuln.go.dev is never asked), once per version into a cache
# beside the go build cache (tools/vulndb/vulndb.sh; VULNDB_CACHE moves it).
# First a control module that calls a known-vulnerable function
# (tools/vulndb/testdata/affected) must be reported, so a broken database or
# scanner cannot pass for a clean scan. Like golangci-lint, govulncheck is run
# at a pinned version and is not a tool of go.mod. docs/security-dependencies.md
GOVULNCHECK    ?= $(GO) run golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
VULNDB_CONTROL := GO-2021-0113

vulncheck: ## govulncheck over the code and its modules against the Go vulnerability database of golang.org/x/vulndb@VULNDB_VERSION, built offline from the module proxy
	@set -e; db=$$(GO='$(GO)' tools/vulndb/vulndb.sh path $(VULNDB_VERSION)); \
	  out=$$(cd tools/vulndb/testdata/affected && $(GOVULNCHECK) -db "file://$$db" ./... 2>&1 || true); \
	  if ! printf '%s\n' "$$out" | grep -q 'Vulnerability #1: $(VULNDB_CONTROL)'; then \
	    printf '%s\n' "$$out"; \
	    echo "vulncheck: the control module's $(VULNDB_CONTROL) was not found: the database in $$db or govulncheck is broken"; exit 1; \
	  fi; \
	  echo "vulncheck: control $(VULNDB_CONTROL) found; scanning $(PKGS) against golang.org/x/vulndb@$(VULNDB_VERSION)"; \
	  $(GOVULNCHECK) -db "file://$$db" $(PKGS)

vulncheck-bump: ## move VULNDB_VERSION in this Makefile to the newest golang.org/x/vulndb on the module proxy, build that database, and scan
	@set -e; new=$$(GO='$(GO)' tools/vulndb/vulndb.sh latest); \
	  if [ "$$new" = "$(VULNDB_VERSION)" ]; then echo "vulncheck-bump: golang.org/x/vulndb@$$new is already the newest"; exit 0; fi; \
	  sed -i.bak "s/^VULNDB_VERSION ?= .*/VULNDB_VERSION ?= $$new/" Makefile && rm -f Makefile.bak; \
	  echo "vulncheck-bump: VULNDB_VERSION $(VULNDB_VERSION) -> $$new"; \
	  $(MAKE) vulncheck VULNDB_VERSION=$$new

FUZZTIME ?= 30s

fuzz: ## run every fuzz target (func Fuzz... in any package) for FUZZTIME each (default 30s); what a target finds lands in its testdata/fuzz
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz: $$pkg $$f for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

bench: ## the benchmarks of docs/benchmarks.md (the PostgreSQL halves need TEST_POSTGRES_URL, the execute latency one nginx on PATH; without them they skip)
	$(GO) test -run '^$$' -bench . -benchtime 5s $(PKGS)

services-up: ## start PostgreSQL and Redis as CI does (asking before installing anything), and print their URLs
	@bash -c 'set -e; source .ci/services.sh; ensure_postgres; ensure_pgvector; ensure_redis; echo "TEST_POSTGRES_URL=$$TEST_POSTGRES_URL"; echo "TEST_REDIS_URL=$$TEST_REDIS_URL"'

clean: ## remove build output and the local data directory
	rm -rf bin data
