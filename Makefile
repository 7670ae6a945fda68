# The two commands: `make run` serves the API (playground at http://localhost:8080/), `make test` runs
# every test. Both find or start a PostgreSQL by themselves (scripts/localpg.sh) unless DATABASE_URL is set.
SHELL := /bin/bash
GO ?= go
# WITH_DB runs what follows it with DATABASE_URL set to the database scripts/localpg.sh finds or starts,
# and stops there when it can find or start none (rather than running with an empty DATABASE_URL, which
# would fall back to the default URL).
WITH_DB = url="$$(scripts/localpg.sh)" && DATABASE_URL="$$url"
# PRIVATE_URL sets url to the private cluster's database, whatever answers on 5432 (make ... REPLICA=1);
# WITH_PRIVATE_DB is WITH_DB on it.
PRIVATE_URL = url="$$(env -u DATABASE_URL LOCALPG_PROBE_PORT=1 scripts/localpg.sh)"
WITH_PRIVATE_DB = $(PRIVATE_URL) && DATABASE_URL="$$url"
# staticcheck, pinned here and run with go run so that it stays out of go.mod (see make lint).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run test fuzz faults e2e apikey build playground generate lint bench soak db-stop clean

# make run REPLICA=1 also starts a streaming replica of the private cluster and reads lists from it
# (READ_DATABASE_URL): the primary is then always the private cluster, whatever DATABASE_URL says.
run:
ifeq ($(REPLICA),1)
	$(PRIVATE_URL) && \
		replica="$$(env -u DATABASE_URL scripts/localpg.sh replica)" && \
		DATABASE_URL="$$url" READ_DATABASE_URL="$$replica" $(GO) run .
else
	$(WITH_DB) $(GO) run .
endif

test:
	$(WITH_DB) $(GO) test -count=1 ./...

# Every fuzz target (func FuzzXxx in a *_test.go) for FUZZTIME each, one after the other: make fuzz
# FUZZTIME=1m. Their seeds (f.Add, testdata/fuzz/) also run in make test. See scripts/fuzz.sh.
FUZZTIME ?= 5s
fuzz:
	@FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

# The fault tests (part of make test) with their figures: PostgreSQL crashed and restarted under load
# on a private cluster of their own, a rolling restart of two replicas, the database cut away, the drain.
faults:
	$(WITH_DB) $(GO) test -count=1 -v -run 'TestFaults|TestDrainedShutdown' .
	$(WITH_DB) $(GO) test -count=1 -run 'TestDatabaseUnavailable' ./graph

# End-to-end: the built server on a fresh database, driven by the Node suites of e2e/ (GraphQL-over-HTTP
# audits, Apollo Client, the playground in headless Chromium).
e2e:
	@e2e/run.sh

# An API key against the database make run uses: make apikey NAME=me TENANT=acme
NAME ?= me
TENANT ?= default
# make apikey REPLICA=1 makes the key in the private cluster that make run REPLICA=1 serves from.
apikey:
ifeq ($(REPLICA),1)
	@$(WITH_PRIVATE_DB) $(GO) run . apikey create --name "$(NAME)" --tenant "$(TENANT)"
else
	@$(WITH_DB) $(GO) run . apikey create --name "$(NAME)" --tenant "$(TENANT)"
endif

build:
	$(GO) build -o bin/orgs .

# Rewrites the committed playground assets (GraphiQL, React and ReactDOM from the npm registry,
# checksummed, gzipped into playground/dist/); only needed to change them, go build embeds them as they are.
playground:
	@scripts/playground-assets.sh

generate:
	$(GO) run github.com/99designs/gqlgen generate

# gofmt, go vet and staticcheck (its default checks) over the whole module.
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Benchmarks: the built server on a fresh database under HTTP load (bench/loadgen), the create
# statement alone under pgbench (the database's limit), CPU profiles and the Go benchmarks; about 3
# minutes. See BENCHMARKS.md.
bench:
	@bench/run.sh

# The soak: nested creates and lists mixed for 10 minutes (BENCH_SOAK=2m make soak for a quick check),
# the server's RSS sampled each second; the same as BENCH_SOAK=10m make bench. See BENCHMARKS.md.
soak:
	@BENCH_SOAK=$${BENCH_SOAK:-10m} bench/run.sh

# Stops the private PostgreSQL cluster and its replica, if scripts/localpg.sh started them.
db-stop:
	scripts/localpg.sh stop

clean:
	rm -rf bin
