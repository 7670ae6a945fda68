#!/usr/bin/env bash
# Benchmarks (`make bench`): the built server on a fresh database, driven over HTTP by bench/loadgen, next
# to the limit PostgreSQL alone puts on the same work (the server's own create statement replayed by
# pgbench), CPU profiles of the server under the heaviest loads, and the Go benchmarks.
#
# Usage: bench/run.sh   (from any directory; about 3 minutes)
#
# Steps:
#   1. builds the server, bench/loadgen and bench/createsql; finds pgbench (as root on Debian, installs
#      postgresql-contrib when it is missing: pgbench ships in postgresql-NN, which provides it)
#   2. creates a fresh database next to the one scripts/localpg.sh finds or starts, and two API keys:
#      "bench" (tenant "default", the creates) and "bench-list" (tenant "bench-list", 60 seeded
#      organizations with two projects each, the reads)
#   3. serves it on a free 127.0.0.1 port (RATE_LIMIT_PER_MINUTE=0, LOG_LEVEL=warn, DB_MAX_CONNS, pprof
#      on another free port) and runs, each as a separate loadgen process, createOrganization then the
#      nested list of 50 organizations at 1, 8 and 32 connections: warm-up, then a measured window;
#      at 32 connections a CPU profile of the server covers the window. Before each run: ANALYZE and
#      CHECKPOINT (see prepare_db)
#   4. stops the server and replays the create statement with pgbench at 1, 8 and 32 clients, same
#      warm-up and window, latencies taken from pgbench's per-transaction log
#   5. runs go test -bench for ./domain and ./graph
#   6. prints the table (and the targets), the indexes PostgreSQL read the most rows of, the Go
#      benchmarks and the top of the profiles
#
# Everything it starts or creates is removed at exit, but for the results directory it prints at the end
# (results.jsonl, the profiles, the pgbench script, the logs). `go run ./bench/loadgen report
# DIR1/results.jsonl DIR2/results.jsonl ...` gives the medians of several runs.
#
# Environment (defaults in brackets):
#   BENCH_DURATION [10]       measured seconds per run (the profile covers as many)
#   BENCH_WARMUP [2]          warm-up seconds before each window
#   BENCH_CONNS ["1 8 32"]    connections (pgbench clients) of the create and list runs and of the limit
#   BENCH_NESTED_CONNS ["8 32"]  connections of the create-nested and list-full runs and of the gauge
#   BENCH_PLAN_CONNS [8]      clients of the create statement parsed and planned each time (-M extended)
#   BENCH_DB_MAX_CONNS [32]   the server's DB_MAX_CONNS (see BENCHMARKS.md for why 32)
#   BENCH_WORKLOADS ["create create-nested list list-full"]
#   BENCH_GO [1]              0 skips the Go benchmarks
#   BENCH_GO_BENCHTIME [1s]   -benchtime of the Go benchmarks
#   BENCH_PGBENCH [1]         0 skips pgbench
#   BENCH_ANALYZE [1]         0: no ANALYZE before each run (see prepare_db)
#   BENCH_SOAK []             a duration (10m, 2m, 90s): instead of steps 3 to 6, a soak (`make soak`):
#                             nested creates and lists mixed for that long, the server's VmRSS sampled
#                             each second; prints the rates, the errors and whether the RSS stayed flat
#                             (the last minute's median within 10% of the second minute's)
#   BENCH_SOAK_CONNS [8]      connections of the soak
#   DATABASE_URL              the server to create the database on (else scripts/localpg.sh decides)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
GO="${GO:-go}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
CONNS="${BENCH_CONNS:-1 8 32}"
NESTED_CONNS="${BENCH_NESTED_CONNS:-8 32}"
PLAN_CONNS="${BENCH_PLAN_CONNS:-8}"
DB_MAX_CONNS="${BENCH_DB_MAX_CONNS:-32}"
WORKLOADS="${BENCH_WORKLOADS:-create create-nested list list-full}"
RUN_GO="${BENCH_GO:-1}"
GO_BENCHTIME="${BENCH_GO_BENCHTIME:-1s}"
RUN_PGBENCH="${BENCH_PGBENCH:-1}"
ANALYZE="${BENCH_ANALYZE:-1}"
SOAK="${BENCH_SOAK:-}"
SOAK_CONNS="${BENCH_SOAK_CONNS:-8}"
SEEDED=60

log() { echo "bench: $*" >&2; }
die() {
	log "$*"
	exit 1
}

for v in DURATION WARMUP DB_MAX_CONNS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number, not ${!v}"
done
((DURATION > 0)) || die "BENCH_DURATION must be positive"
for c in $CONNS $NESTED_CONNS $PLAN_CONNS; do
	[[ $c =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONNS, BENCH_NESTED_CONNS and BENCH_PLAN_CONNS must list positive numbers"
done
[[ -z $SOAK || $SOAK =~ ^[0-9]+[hms]$|^[0-9]+m[0-9]+s$ ]] || die "BENCH_SOAK must be a duration such as 10m or 90s, not $SOAK"
[[ $SOAK_CONNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_SOAK_CONNS must be a positive number"
[[ -z $SOAK ]] || RUN_PGBENCH=0
command -v "$GO" >/dev/null 2>&1 || die "Go is required"

# --- cleanup ----------------------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/orgs-bench-work.XXXXXX")"
OUT="$(mktemp -d "${TMPDIR:-/tmp}/orgs-bench.XXXXXX")"
SERVER_PID=
LOADGEN_PID=
ADMIN_URL=
DB_NAME=
PSQL=
stop_server() {
	if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
	fi
	if [[ -n $SERVER_PID ]]; then
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	SERVER_PID=
}
cleanup() {
	local rc=$?
	if [[ -n $LOADGEN_PID ]] && kill -0 "$LOADGEN_PID" 2>/dev/null; then
		kill -TERM "$LOADGEN_PID" 2>/dev/null || true
		wait "$LOADGEN_PID" 2>/dev/null || true
	fi
	stop_server
	if [[ -n $DB_NAME ]]; then
		"$PSQL" "$ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 ||
			log "could not drop database $DB_NAME"
	fi
	if ((rc != 0)) && [[ -s $OUT/server.log ]]; then
		log "server log (last 40 lines):"
		tail -n 40 "$OUT/server.log" >&2
	fi
	rm -rf "$WORK"
	if ((rc != 0)); then
		log "failed; what was collected is in $OUT"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS

# --- PostgreSQL and its programs ----------------------------------------------------------------------
base_url="$(cd "$ROOT" && scripts/localpg.sh)"
[[ $base_url =~ ^(postgres(ql)?://[^/?]*/)([^/?]*)(\?.*)?$ ]] ||
	die "DATABASE_URL must be a postgres:// URL with a database name, not $base_url"
url_prefix="${BASH_REMATCH[1]}"
url_query="${BASH_REMATCH[4]}"

# Prints the path of a PostgreSQL client program: on PATH (unless it is Debian's wrapper without the
# program behind it), else the newest /usr/lib/postgresql/*/bin.
find_pg_prog() { # name
	local p
	if p="$(type -P "$1")" && "$p" --version >/dev/null 2>&1; then
		echo "$p"
		return 0
	fi
	while IFS= read -r p; do
		[[ -x $p/$1 ]] && echo "$p/$1" && return 0
	done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -rV)
	return 1
}
apt_install() { # package...
	local sudo=()
	command -v apt-get >/dev/null 2>&1 || die "missing $*: install it with your package manager"
	if ((EUID != 0)); then
		sudo -n true 2>/dev/null || die "missing $*: install it (Debian: sudo apt-get install -y $*)"
		sudo=(sudo -n)
	fi
	log "installing $* with apt-get"
	"${sudo[@]}" apt-get update -qq >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
PSQL="$(find_pg_prog psql)" || die "psql not found (scripts/localpg.sh installs it)"
PGBENCH=
if [[ $RUN_PGBENCH == 1 ]]; then
	# Debian 12: pgbench is in postgresql-15 (the server package), which provides postgresql-contrib-15;
	# postgresql-client-15 does not have it.
	PGBENCH="$(find_pg_prog pgbench)" || { apt_install postgresql-contrib && PGBENCH="$(find_pg_prog pgbench)"; } ||
		die "pgbench not found after installing postgresql-contrib"
fi

# --- programs ---------------------------------------------------------------------------------------
log "building the server, loadgen and createsql"
(cd "$ROOT" && "$GO" build -o "$WORK/orgs" . && "$GO" build -o "$WORK/loadgen" ./bench/loadgen &&
	"$GO" build -o "$WORK/createsql" ./bench/createsql)
LOADGEN="$WORK/loadgen"

# --- a fresh database, keys --------------------------------------------------------------------------
ADMIN_URL="${url_prefix}postgres${url_query}"
name="orgs_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
"$PSQL" "$ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\"" >/dev/null
DB_NAME="$name"
export DATABASE_URL="${url_prefix}${DB_NAME}${url_query}"
log "database $DB_NAME"

KEY="$("$WORK/orgs" apikey create --name bench 2>>"$OUT/server.log" | tail -n 1)"
LIST_KEY="$("$WORK/orgs" apikey create --name bench-list --tenant bench-list 2>>"$OUT/server.log" | tail -n 1)"
[[ $KEY == orgs_* && $LIST_KEY == orgs_* ]] || die "apikey create printed no key"

# --- the server ---------------------------------------------------------------------------------------
port="$("$LOADGEN" freeport)"
pprof_port="$("$LOADGEN" freeport)"
while [[ $pprof_port == "$port" ]]; do pprof_port="$("$LOADGEN" freeport)"; done
RATE_LIMIT_PER_MINUTE=0 PPROF_ADDR="127.0.0.1:$pprof_port" LOG_LEVEL=warn DB_MAX_CONNS="$DB_MAX_CONNS" \
	LISTEN_ADDR="127.0.0.1:$port" "$WORK/orgs" >>"$OUT/server.log" 2>&1 &
SERVER_PID=$!
"$LOADGEN" wait -url "http://127.0.0.1:$port/readyz" -pid "$SERVER_PID" -timeout 60s || die "the server did not become ready"
URL="http://127.0.0.1:$port/query"
log "server ready on 127.0.0.1:$port (DB_MAX_CONNS=$DB_MAX_CONNS, pprof on 127.0.0.1:$pprof_port)"
"$LOADGEN" seed -url "$URL" -key "$LIST_KEY" -n "$SEEDED"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- the soak (BENCH_SOAK) --------------------------------------------------------------------------
if [[ -n $SOAK ]]; then
	"$PSQL" "$DATABASE_URL" -qX -v ON_ERROR_STOP=1 -c ANALYZE >/dev/null || die "ANALYZE failed"
	log "soak: nested creates and lists mixed at $SOAK_CONNS connections for $SOAK"
	"$LOADGEN" soak -url "$URL" -key "$KEY" -list-key "$LIST_KEY" -pid "$SERVER_PID" -conns "$SOAK_CONNS" \
		-duration "$SOAK" -samples "$OUT/soak-rss.tsv" >"$OUT/soak.txt" &
	LOADGEN_PID=$!
	wait "$LOADGEN_PID" || die "loadgen soak failed"
	LOADGEN_PID=
	stop_server
	echo
	echo "## orgs soak: $(nproc) cores, DB_MAX_CONNS=$DB_MAX_CONNS, $SOAK_CONNS connections for $SOAK, load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	cat "$OUT/soak.txt"
	echo
	log "done in $((SECONDS - started))s; the soak's per-second samples and the server log in $OUT"
	exit 0
fi

# --- HTTP load ---------------------------------------------------------------------------------------
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
# Every run, the server's and pgbench's alike, starts right after
#   - ANALYZE (unless BENCH_ANALYZE=0), as autovacuum would have done by then: without statistics,
#     PostgreSQL can keep for a connection's life a plan made when the tables were empty, such as
#     foreign-key checks on organizations that scan the tenant's organizations (see BENCHMARKS.md);
#   - a checkpoint, so that none falls in a window by chance (skipped without the privilege).
prepare_db() {
	if [[ $ANALYZE == 1 ]]; then
		"$PSQL" "$DATABASE_URL" -qX -v ON_ERROR_STOP=1 -c ANALYZE >/dev/null || die "ANALYZE failed"
	fi
	"$PSQL" "$DATABASE_URL" -qX -c CHECKPOINT >/dev/null 2>&1 || true
}
loadgen_run() { # loadgen run flags...: a separate process, killed at exit if interrupted
	prepare_db
	"$LOADGEN" run "$@" >>"$RESULTS" &
	LOADGEN_PID=$!
	wait "$LOADGEN_PID"
	LOADGEN_PID=
}
# conns_of prints the connections of a workload's runs.
conns_of() { # workload
	case $1 in
	create-nested | list-full) echo "$NESTED_CONNS" ;;
	*) echo "$CONNS" ;;
	esac
}
for w in $WORKLOADS; do
	wkey="$KEY"
	[[ $w == list* ]] && wkey="$LIST_KEY"
	for c in $(conns_of "$w"); do
		log "$w at $c connection(s): ${WARMUP}s warm-up, ${DURATION}s measured"
		profile=()
		if [[ $c == 32 ]]; then
			profile=(-profile "http://127.0.0.1:$pprof_port/debug/pprof/profile" -profile-out "$OUT/cpu-$w-32.pprof")
		fi
		loadgen_run -url "$URL" -key "$wkey" -workload "$w" -conns "$c" -warmup "${WARMUP}s" \
			-duration "${DURATION}s" -pid "$SERVER_PID" "${profile[@]}"
	done
done
stop_server

# What PostgreSQL read for the server: the indexes that read the most rows (a sign of a bad plan). The
# server's connections are closed: their statistics are flushed.
sleep 1
"$PSQL" "$DATABASE_URL" -qX -v ON_ERROR_STOP=1 -P footer=off \
	-c "SELECT relname AS table, indexrelname AS index, idx_scan AS scans, idx_tup_read AS rows_read,
	       round(idx_tup_read::numeric / greatest(idx_scan, 1), 1) AS rows_per_scan
	    FROM pg_stat_user_indexes ORDER BY idx_tup_read DESC LIMIT 5" >"$OUT/indexes.txt" 2>&1 || true

# --- pgbench: the create statement alone, and the gauge ----------------------------------------------
# pgbench_run WORKLOAD SCRIPT MODE CLIENTS: one pgbench run, summarised into results.jsonl as WORKLOAD.
pgbench_run() {
	local w=$1 script=$2 mode=$3 c=$4
	log "pgbench $w ($mode) at $c client(s): ${WARMUP}s warm-up, ${DURATION}s measured"
	local threads=$((c < 2 ? c : 2))
	rm -f "$WORK"/pgbench-log.*
	prepare_db
	"$LOADGEN" cpu -warmup "${WARMUP}s" -duration "${DURATION}s" >"$WORK/pgbench-cpu.json" &
	LOADGEN_PID=$!
	# One second beyond the window, so that it is full; logs are cut to the window by loadgen.
	"$PGBENCH" -n -M "$mode" -f "$script" -c "$c" -j "$threads" -T $((WARMUP + DURATION + 1)) \
		-l --log-prefix="$WORK/pgbench-log" "$DATABASE_URL" >"$OUT/pgbench-$w-$c.txt" 2>"$OUT/pgbench-$w-$c.err" ||
		die "pgbench failed: $(tail -n 5 "$OUT/pgbench-$w-$c.err")"
	wait "$LOADGEN_PID"
	LOADGEN_PID=
	"$LOADGEN" pgbench -logs "$WORK/pgbench-log.*" -summary "$OUT/pgbench-$w-$c.txt" -conns "$c" -workload "$w" \
		-warmup "${WARMUP}s" -duration "${DURATION}s" -cpu "$WORK/pgbench-cpu.json" >>"$RESULTS"
}
if [[ -n $PGBENCH ]]; then
	# The limit: the server's own statement, prepared as the server prepares it; then parsed and planned
	# on every call (-M extended: lib/pq's unnamed statement), which is the plan's cost.
	"$WORK/createsql" -pgbench -db "$DATABASE_URL" -key "$KEY" >"$OUT/create.pgbench.sql"
	for c in $CONNS; do
		pgbench_run create "$OUT/create.pgbench.sql" prepared "$c"
	done
	for c in $PLAN_CONNS; do
		pgbench_run create-extended "$OUT/create.pgbench.sql" extended "$c"
	done
	# The gauge, which does not move when our SQL does: four inserts as one server-side call.
	"$PSQL" "$DATABASE_URL" -qX -v ON_ERROR_STOP=1 -f "$BENCH/gauge/schema.sql" >/dev/null || die "gauge schema failed"
	for c in $NESTED_CONNS; do
		pgbench_run gauge "$BENCH/gauge/create.sql" prepared "$c"
	done
fi

# --- Go benchmarks -----------------------------------------------------------------------------------
if [[ $RUN_GO == 1 ]]; then
	log "go test -bench . -benchmem ./domain ./graph (-benchtime $GO_BENCHTIME)"
	(cd "$ROOT" && DATABASE_URL="$base_url" "$GO" test -run '^$' -bench . -benchmem -benchtime "$GO_BENCHTIME" \
		./domain ./graph) >"$OUT/gobench.txt" 2>&1 || {
		cat "$OUT/gobench.txt" >&2
		die "go test -bench failed"
	}
fi

# --- the report -------------------------------------------------------------------------------------
for w in $WORKLOADS; do
	if [[ -s $OUT/cpu-$w-32.pprof ]]; then
		"$GO" tool pprof -top -nodecount=25 "$WORK/orgs" "$OUT/cpu-$w-32.pprof" >"$OUT/cpu-$w-32.top.txt" 2>/dev/null
	fi
done
echo
analyzed="ANALYZE before each run"
[[ $ANALYZE == 1 ]] || analyzed="no ANALYZE before the runs (autovacuum: $("$PSQL" "$DATABASE_URL" -qXAt -c 'SHOW autovacuum' 2>/dev/null || echo unknown))"
echo "## orgs benchmarks: $(nproc) cores, DB_MAX_CONNS=$DB_MAX_CONNS, ${WARMUP}s warm-up + ${DURATION}s measured per run, $analyzed"
echo
"$LOADGEN" report "$RESULTS"
if [[ -s $OUT/gobench.txt ]]; then
	echo
	echo "## Go benchmarks"
	echo
	grep -E '^(Benchmark|goos|goarch|cpu|pkg|ok|FAIL)' "$OUT/gobench.txt"
fi
if [[ -s $OUT/indexes.txt ]]; then
	echo
	echo "## PostgreSQL after the HTTP runs: the indexes that read the most rows"
	echo
	cat "$OUT/indexes.txt"
fi
for w in $WORKLOADS; do
	if [[ -s $OUT/cpu-$w-32.top.txt ]]; then
		echo
		echo "## CPU profile of the server, $w at 32 connections ($OUT/cpu-$w-32.pprof)"
		echo
		cat "$OUT/cpu-$w-32.top.txt"
	fi
done
echo
log "done in $((SECONDS - started))s; results, profiles, pgbench script and logs in $OUT"
