# grantql — `make help` lists the targets. CI runs .ci/run, which runs
# `make generate` (and fails on a diff) and `make test`.

GO      ?= go
BIN     ?= bin/grantql
LOADGEN ?= bin/loadgen
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the server binary into bin/grantql.
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/api

.PHONY: run
run: build ## Build, migrate the embedded database and serve on 127.0.0.1:8080 (set DATABASE_URL for PostgreSQL).
	./$(BIN) serve

.PHONY: test
# The race detector needs cgo, so a C compiler; Go turns cgo off where it
# finds none, and the tests then run without -race rather than not at all.
RACE := $(if $(filter 1,$(shell $(GO) env CGO_ENABLED)),-race,)

# A package's tests may take longer than go test's default 10 minutes
# under the race detector on a busy 2-core machine (graph's browser,
# schema-walk and property tests): 30 minutes a package.
test: ## Run every test with the race detector (PostgreSQL too when TEST_DATABASE_URL is set).
	@$(if $(RACE),,echo "no C compiler: running the tests without the race detector")
	$(GO) test $(RACE) -count=1 -timeout 30m ./...
	@# The race detector slows the pure-Go SQLite driver some 25 times, so
	@# under -race the property tests check fewer random datasets; this run
	@# checks the full 200 (SQLite) and 20 (PostgreSQL), and the escalation
	@# property's full 10 and 5 runs.
	$(if $(RACE),$(GO) test -count=1 -run '^TestEngineMatchesReference$$' ./authz/)
	$(if $(RACE),$(GO) test -count=1 -run '^TestNoEscalationProperty$$' ./graph/)

.PHONY: bench-engine
bench-engine: ## Run the engine and directive go benchmarks (see docs/benchmarks.md for the large-dataset variant).
	$(GO) test -run '^$$' -bench . -benchmem ./authz/ ./graph/

# The load generator's runs (docs/benchmarks.md): 10,000 users, 500
# groups, 5,000 projects and 200,000 grants on PostgreSQL, each workload at
# concurrency 32 for 20 s after a 5 s warm-up, with the server's defaults
# (decision logs at verbosity 1: every check logged); then single checks
# with decision logs off, with the cache off, and with both off; then single
# checks on the skewed shape (docs/benchmarks.md), with the cache on and off.
# BENCH_DATABASE_URL names the PostgreSQL server on which each run creates
# (and drops) its own database; GRANTS=1000000 gives the 1,000,000-grant
# figures. BENCH_FLAGS adds load generator flags, such as -json FILE.
BENCH_DATABASE_URL ?= $(or $(TEST_DATABASE_URL),postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
GRANTS             ?= 200000
BENCH_FLAGS        ?=
BENCH_RUN           = ./$(LOADGEN) -server $(BIN) -database-url '$(BENCH_DATABASE_URL)' -grants $(GRANTS) \
                      -concurrency 32 -duration 20s -warmup 5s $(BENCH_FLAGS)
SOAK_DURATION      ?= 10m

.PHONY: loadgen
loadgen: ## Build the load generator into bin/loadgen.
	$(GO) build -trimpath -o $(LOADGEN) ./cmd/loadgen

.PHONY: bench
bench: build loadgen ## Measure the server under load on PostgreSQL: every workload, then single checks without decision logs and with the cache off.
	$(BENCH_RUN) -workload hasProjectPerm,checkMany,viewerPermissions,guardedList,mixed
	$(BENCH_RUN) -workload hasProjectPerm -server-env GRANTQL_DECISION_LOG_VERBOSITY=0
	$(BENCH_RUN) -workload hasProjectPerm -cache-size 0 -server-env GRANTQL_DECISION_LOG_VERBOSITY=0
	$(BENCH_RUN) -workload hasProjectPerm -cache-size 0
	$(BENCH_RUN) -workload hasProjectPerm -shape skewed
	$(BENCH_RUN) -workload hasProjectPerm -shape skewed -cache-size 0

.PHONY: soak
soak: build loadgen ## Run the 10-minute soak on PostgreSQL (mixed traffic, 5% writes) and judge it.
	./$(LOADGEN) -server $(BIN) -database-url '$(BENCH_DATABASE_URL)' -soak -concurrency 32 -duration $(SOAK_DURATION) $(BENCH_FLAGS)

.PHONY: generate
generate: ## Regenerate the GraphQL code from schema.graphqls and gqlgen.yml (and the gqlauthz example's).
	$(GO) tool gqlgen generate
	cd authz/gqlauthz/internal/example && $(GO) tool gqlgen generate

.PHONY: graphiql-assets
graphiql-assets: ## Refresh GraphiQL's embedded files from npm, at the exact versions of graph/graphiql/package.json (needs npm).
	./graph/graphiql/assets.sh

.PHONY: lint
lint: ## Check formatting and run go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: clean
clean: ## Remove the binary and the embedded database of `make run`.
	rm -rf bin grantql.db grantql.db-wal grantql.db-shm
