#!/usr/bin/env bash
# Provide a PostgreSQL database for local development and tests.
#
# Usage:
#   scripts/localpg.sh          print a connection URL for database "orgs"
#                               (starting a private cluster if needed)
#   scripts/localpg.sh replica  print a connection URL for database "orgs" on a
#                               streaming replica of the private cluster (starting
#                               both if needed): READ_DATABASE_URL for make run
#                               REPLICA=1 and the tests. Never a replica of
#                               another server: the private cluster is used even
#                               when one answers on the probe port.
#   scripts/localpg.sh stop     stop the private cluster (and its replica) if it
#                               is running
#   scripts/localpg.sh status   describe what is available (exit 0 if the
#                               private cluster is running, 3 if not)
#
# The default command prints exactly one line on stdout, e.g.
#   postgres://postgres@127.0.0.1:5432/orgs?sslmode=disable
# and every progress message on stderr, so it can be used as
#   DATABASE_URL="$(scripts/localpg.sh)"
#
# How the URL is chosen:
#   1. DATABASE_URL set and non-empty: printed unchanged, nothing is touched.
#   2. A server answers on 127.0.0.1:$LOCALPG_PROBE_PORT (default 5432) and
#      accepts user "postgres" without a password: database "orgs" is created
#      there if missing and that server is used.
#   3. Otherwise a private, throw-away cluster is started (or reused) on
#      127.0.0.1:$LOCALPG_PORT (default 54329), with trust authentication and
#      durability switched off for speed. Its files live in .pgdata/ at the
#      repository root (see the comment above choose_base for exceptions).
#
# Missing PostgreSQL programs are installed with apt-get (Debian/Ubuntu) when
# running as root, or through passwordless sudo when that is available.
#
# Environment:
#   DATABASE_URL         use this URL as is
#   LOCALPG_PROBE_PORT   port probed in step 2 (default 5432); e.g.
#                        LOCALPG_PROBE_PORT=1 forces the private cluster
#   LOCALPG_PORT         port of the private cluster (default 54329)
#   LOCALPG_REPLICA_PORT port of its streaming replica (default 54330)
#   LOCALPG_BASE         keep the private cluster in this directory instead of
#                        .pgdata/ (tests start throw-away clusters with it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd -P)"
SELF="$ROOT/scripts/$(basename "${BASH_SOURCE[0]}")"

PROBE_PORT="${LOCALPG_PROBE_PORT:-5432}"
PRIV_PORT="${LOCALPG_PORT:-54329}"
REPLICA_PORT="${LOCALPG_REPLICA_PORT:-54330}"
DB_NAME=orgs
DB_USER=postgres
# Created (as a system account) only when running as root and no "postgres"
# account exists: initdb and postgres refuse to run as root.
FALLBACK_OS_USER=orgspg

log() { printf 'localpg: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

for p in "$PROBE_PORT" "$PRIV_PORT" "$REPLICA_PORT"; do
	if ! [[ "$p" =~ ^[0-9]{1,5}$ ]] || ((10#$p < 1 || 10#$p > 65535)); then
		die "invalid port: $p"
	fi
done

# Prints the path of an executable program found in PATH. (Unlike
# "command -v", ignores files that exist but cannot be executed.)
find_prog() { # name
	local p
	p="$(type -P "$1")" && [[ -x "$p" ]] && printf '%s\n' "$p"
}

url_for() { # port [database]
	printf 'postgres://%s@127.0.0.1:%s/%s?sslmode=disable' "$DB_USER" "$1" "${2:-$DB_NAME}"
}

# ---------------------------------------------------------------------------
# Package installation

SUDO=()
can_install() {
	find_prog apt-get >/dev/null || return 1
	if ((EUID == 0)); then
		SUDO=()
	elif find_prog sudo >/dev/null && sudo -n true 2>/dev/null; then
		SUDO=(sudo -n)
	else
		return 1
	fi
}

APT_UPDATED=
apt_install() { # packages...
	can_install || die "cannot install $* (need root or passwordless sudo, and apt-get); install it manually"
	if [[ -z "$APT_UPDATED" ]]; then
		log "running apt-get update"
		"${SUDO[@]}" apt-get update -q >&2
		APT_UPDATED=1
	fi
	log "installing $*"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

# ---------------------------------------------------------------------------
# Client side

PSQL=
find_psql() {
	[[ -n "$PSQL" ]] && return 0
	if [[ -n "${PGBIN:-}" && -x "$PGBIN/psql" ]]; then
		PSQL="$PGBIN/psql"
	elif PSQL="$(find_prog psql)"; then
		:
	else
		apt_install postgresql-client
		PSQL="$(find_prog psql)" || die "psql still not found after installing postgresql-client"
	fi
}

psql_at() { # port database args...
	local port="$1" db="$2"
	shift 2
	"$PSQL" -X -q -w -v ON_ERROR_STOP=1 -d "$(url_for "$port" "$db")&connect_timeout=5" "$@"
}

port_answers() { # port
	if find_prog pg_isready >/dev/null; then
		pg_isready -q -h 127.0.0.1 -p "$1" -t 3 >/dev/null 2>&1
	else
		# shellcheck disable=SC2016 # expanded by the inner bash
		timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" >/dev/null 2>&1
	fi
}

ensure_db() { # port
	local port="$1" exists
	exists="$(psql_at "$port" postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")"
	[[ "$exists" == 1 ]] && return 0
	log "creating database $DB_NAME on port $port"
	if ! psql_at "$port" postgres -c "CREATE DATABASE $DB_NAME" >&2; then
		# Another invocation may have created it concurrently.
		exists="$(psql_at "$port" postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")"
		[[ "$exists" == 1 ]] || die "could not create database $DB_NAME on port $port"
	fi
}

# Step 2: a server on the probe port that trusts user "postgres". A server
# that answers but wants a password (the Debian default for TCP connections
# is scram-sha-256) is not usable without credentials, so it is skipped.
try_probe_server() {
	port_answers "$PROBE_PORT" || return 1
	local err
	find_psql
	if ! err="$(psql_at "$PROBE_PORT" postgres -Atc 'SELECT 1' 2>&1 >/dev/null)"; then
		log "a server answers on 127.0.0.1:$PROBE_PORT but user $DB_USER cannot connect without a password (${err%%$'\n'*}); using a private cluster instead"
		return 1
	fi
	ensure_db "$PROBE_PORT"
	URL="$(url_for "$PROBE_PORT")"
}

# ---------------------------------------------------------------------------
# Server programs

PGBIN=
pg_major() { # binary -> major version, e.g. 15
	local v
	v="$("$1" --version | awk '{print $3}')"
	v="${v%%[!0-9.]*}"
	if [[ "$v" == 9.* ]]; then echo "${v%.*}"; else echo "${v%%.*}"; fi
}

# Sets PGBIN. With a version argument, only accepts programs of that major
# version (an existing data directory can only be run by its own version).
find_server_bin() { # [major]
	local want="${1:-}" d cands=()
	if d="$(find_prog pg_ctl)" && find_prog initdb >/dev/null; then
		cands+=("$(dirname "$d")")
	fi
	if [[ -n "$want" && -d "/usr/lib/postgresql/$want/bin" ]]; then
		cands+=("/usr/lib/postgresql/$want/bin")
	fi
	while IFS= read -r d; do
		cands+=("$d")
	done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -rV)
	for d in "${cands[@]}"; do
		[[ -x "$d/initdb" && -x "$d/pg_ctl" ]] || continue
		if [[ -z "$want" || "$(pg_major "$d/pg_ctl")" == "$want" ]]; then
			PGBIN="$d"
			return 0
		fi
	done
	return 1
}

# ---------------------------------------------------------------------------
# Private cluster location and ownership
#
# Layout of the base directory:
#   data/           the cluster (PGDATA); the unix socket is created in it
#   log             server log
#   replica/data/   its streaming replica (scripts/localpg.sh replica)
#   replica/log     the replica's server log
# The base directory is normally .pgdata/ at the repository root. initdb and
# postgres refuse to run as root, so as root the cluster belongs to the
# "postgres" system account (or $FALLBACK_OS_USER, created on demand). If that
# account cannot reach .pgdata/ (e.g. the repository lives under /root, mode
# 0700), the base directory is /var/tmp/orgs-pg-<hash of repository path>
# instead. A non-root user who cannot create .pgdata/ (read-only checkout)
# gets ${XDG_CACHE_HOME:-$HOME/.cache}/orgs-pg/<hash of repository path>.
# Existing clusters are always looked up in all of these places.

PRIMARY_BASE="$ROOT/.pgdata"
REPO_HASH="$(printf '%s' "$ROOT" | sha256sum | cut -c1-16)"
if ((EUID == 0)); then
	FALLBACK_BASE="/var/tmp/orgs-pg-$REPO_HASH"
else
	FALLBACK_BASE="${XDG_CACHE_HOME:-$HOME/.cache}/orgs-pg/$REPO_HASH"
fi
if [[ -n "${LOCALPG_BASE:-}" ]]; then
	PRIMARY_BASE="$LOCALPG_BASE" FALLBACK_BASE="$LOCALPG_BASE"
	REPO_HASH="$(printf '%s' "$LOCALPG_BASE" | sha256sum | cut -c1-16)"
fi

OS_USER= # account that owns and runs the cluster when we are root
as_owner() { # command...  (never passes our stdout or lock fd to the server)
	if ((EUID == 0)); then
		(cd / && runuser -u "$OS_USER" -- "$@" 9>&-)
	else
		"$@" 9>&-
	fi
}

existing_base() {
	local b
	for b in "$PRIMARY_BASE" "$FALLBACK_BASE"; do
		if [[ -f "$b/data/PG_VERSION" ]]; then
			echo "$b"
			return 0
		fi
	done
	return 1
}

set_owner_from() { # data dir
	((EUID == 0)) || return 0
	OS_USER="$(stat -c %U "$1")"
	[[ "$OS_USER" != root && "$OS_USER" != UNKNOWN ]] || die "$1 is owned by ${OS_USER}; remove it and retry"
}

pick_os_user() {
	((EUID == 0)) || return 0
	if id -u postgres >/dev/null 2>&1; then
		OS_USER=postgres
	else
		if ! id -u "$FALLBACK_OS_USER" >/dev/null 2>&1; then
			log "creating system user $FALLBACK_OS_USER to run PostgreSQL"
			useradd --system --user-group --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin "$FALLBACK_OS_USER"
		fi
		OS_USER="$FALLBACK_OS_USER"
	fi
}

make_base() { # dir -> 0 if usable by the cluster owner
	local b="$1"
	if ((EUID == 0)); then
		[[ -L "$b" ]] && return 1
		mkdir -p "$b" || return 1
		chown "$OS_USER:" "$b" && chmod 700 "$b" || return 1
		as_owner test -d "$b" -a -w "$b" -a -x "$b"
	else
		mkdir -p "$b" 2>/dev/null && [[ -w "$b" && -x "$b" ]] && chmod 700 "$b"
	fi
}

choose_base() { # sets BASE for a new cluster
	if make_base "$PRIMARY_BASE"; then
		BASE="$PRIMARY_BASE"
		return 0
	fi
	rmdir "$PRIMARY_BASE" 2>/dev/null || true
	log "$PRIMARY_BASE is not usable${OS_USER:+ by user $OS_USER}; keeping the cluster in $FALLBACK_BASE"
	make_base "$FALLBACK_BASE" || die "cannot create a usable directory $FALLBACK_BASE"
	BASE="$FALLBACK_BASE"
}

# ---------------------------------------------------------------------------
# Private cluster operations

is_running() { # data dir
	as_owner "$PGBIN/pg_ctl" -D "$1" status >/dev/null 2>&1
}

running_port() { # data dir
	sed -n 4p "$1/postmaster.pid" 2>/dev/null || true
}

init_cluster() { # data dir
	local data="$1" locale=C
	if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
		locale=C.UTF-8
	fi
	log "initialising a private cluster in $data (PostgreSQL $(pg_major "$PGBIN/initdb"), locale $locale)"
	if ! as_owner "$PGBIN/initdb" -D "$data" --auth=trust --username="$DB_USER" \
		--encoding=UTF8 --locale="$locale" >&2; then
		[[ "$locale" == C ]] && die "initdb failed"
		log "initdb with locale $locale failed; retrying with locale C"
		as_owner rm -rf "$data"
		as_owner "$PGBIN/initdb" -D "$data" --auth=trust --username="$DB_USER" \
			--encoding=UTF8 --locale=C >&2 || die "initdb failed"
	fi
	# Settings that depend on where the repository is and on LOCALPG_PORT are
	# kept in localpg.conf, rewritten before every start.
	# shellcheck disable=SC2016 # expanded by the inner sh
	as_owner sh -c 'printf "%s\n" "" "# written by scripts/localpg.sh" "include_if_exists = '\''localpg.conf'\''" >>"$1/postgresql.conf"' _ "$data"
}

write_local_conf() { # data dir [port]
	local data="$1" sockdir="$1" port="${2:-$PRIV_PORT}"
	# sun_path holds 107 characters: "<dir>/.s.PGSQL.<port>" must fit, or
	# the server would refuse to start; fall back to TCP only.
	if ((${#sockdir} + 10 + ${#port} > 107)); then
		log "path too long for a unix socket; listening on TCP only"
		sockdir=
	fi
	# shellcheck disable=SC2016 # expanded by the inner sh
	as_owner sh -c 'cat >"$1/localpg.conf"' _ "$data" <<EOF
# Generated by scripts/localpg.sh on every start; do not edit.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '${sockdir//\'/\'\'}'
max_connections = 200
# Throw-away test cluster: trade durability for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

start_cluster() { # base
	local base="$1" data="$1/data"
	if port_answers "$PRIV_PORT"; then
		die "port $PRIV_PORT is already in use by another server; set LOCALPG_PORT to a free port"
	fi
	write_local_conf "$data"
	log "starting the private cluster on 127.0.0.1:$PRIV_PORT (log: $base/log)"
	as_owner "$PGBIN/pg_ctl" -D "$data" -l "$base/log" -w -t 60 start >&2 ||
		die "could not start PostgreSQL; see $base/log"
}

# Serialise concurrent invocations (e.g. parallel make jobs) around
# initialisation and start-up.
lock() {
	find_prog flock >/dev/null || return 0
	exec 9>"${TMPDIR:-/tmp}/orgs-localpg-$REPO_HASH-$EUID.lock"
	flock -w 120 9 || die "timed out waiting for another scripts/localpg.sh"
}

private_cluster() {
	local base data ver
	lock
	if base="$(existing_base)"; then
		data="$base/data"
		set_owner_from "$data"
		ver="$(cat "$data/PG_VERSION")"
		if ! find_server_bin "$ver"; then
			log "no PostgreSQL $ver server programs found for $data"
			find_server_bin || apt_install postgresql
			find_server_bin "$ver" ||
				die "$data was created by PostgreSQL $ver, which is not installed; run 'scripts/localpg.sh stop' and remove $base"
		fi
		if is_running "$data"; then
			if [[ "$(running_port "$data")" == "$PRIV_PORT" ]]; then
				log "reusing the private cluster on 127.0.0.1:$PRIV_PORT"
			else
				log "private cluster runs on port $(running_port "$data"), restarting it on $PRIV_PORT"
				as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >&2
				start_cluster "$base"
			fi
		else
			start_cluster "$base"
		fi
	else
		if ! find_server_bin; then
			log "PostgreSQL server programs (initdb, pg_ctl) not found"
			# Installing the Debian package normally creates and starts a system
			# cluster on port 5432. It is left alone rather than stopped: it
			# belongs to the system, and is only used if it trusts user postgres
			# over TCP (step 2 checks that); Debian's default requires a
			# password there, in which case the private cluster below is used.
			# Either way the printed URL works, now and on later runs.
			apt_install postgresql
			if try_probe_server; then
				return 0
			fi
			find_server_bin || die "initdb/pg_ctl still not found after installing postgresql"
		fi
		pick_os_user
		choose_base
		base="$BASE"
		data="$base/data"
		init_cluster "$data"
		start_cluster "$base"
	fi
	find_psql
	ensure_db "$PRIV_PORT"
	URL="$(url_for "$PRIV_PORT")"
}

# ---------------------------------------------------------------------------
# Commands

cmd_url() {
	if [[ -n "${DATABASE_URL:-}" ]]; then
		printf '%s\n' "$DATABASE_URL"
		return 0
	fi
	URL=
	# All output of the work goes to stderr; only the URL reaches stdout.
	if ! try_probe_server >&2; then
		private_cluster >&2
	fi
	[[ -n "$URL" ]] || die "no database URL determined"
	printf '%s\n' "$URL"
}

cmd_stop() {
	local base data
	if ! base="$(existing_base)"; then
		log "no private cluster"
		return 0
	fi
	data="$base/data"
	set_owner_from "$data"
	find_server_bin "$(cat "$data/PG_VERSION")" || die "PostgreSQL server programs not found"
	if [[ -f "$base/replica/data/PG_VERSION" ]] && is_running "$base/replica/data"; then
		log "stopping the replica in $base/replica/data"
		as_owner "$PGBIN/pg_ctl" -D "$base/replica/data" -m fast -w stop >&2
	fi
	if is_running "$data"; then
		log "stopping the private cluster in $data"
		as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >&2
	else
		log "private cluster in $data is not running"
	fi
}

cmd_status() {
	local base data port rc=3
	if [[ -n "${DATABASE_URL:-}" ]]; then
		echo "DATABASE_URL is set: it will be used as is"
	fi
	if port_answers "$PROBE_PORT"; then
		echo "server on 127.0.0.1:$PROBE_PORT: answering"
	else
		echo "server on 127.0.0.1:$PROBE_PORT: not answering"
	fi
	if base="$(existing_base)"; then
		data="$base/data"
		set_owner_from "$data"
		if find_server_bin "$(cat "$data/PG_VERSION")" && is_running "$data"; then
			port="$(running_port "$data")"
			echo "private cluster: running in $data, $(url_for "$port")"
			rc=0
			if [[ -f "$base/replica/data/PG_VERSION" ]] && is_running "$base/replica/data"; then
				echo "replica: running in $base/replica/data, $(url_for "$(running_port "$base/replica/data")")"
			fi
		else
			echo "private cluster: stopped ($data)"
		fi
	else
		echo "private cluster: not created"
	fi
	return "$rc"
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF"
}

# pg_basebackup of the server programs' version: next to pg_ctl, in the
# version's own directory, or in PATH.
basebackup_prog() {
	local ver d
	ver="$(pg_major "$PGBIN/pg_ctl")"
	for d in "$PGBIN" "/usr/lib/postgresql/$ver/bin"; do
		[[ -x "$d/pg_basebackup" ]] && printf '%s\n' "$d/pg_basebackup" && return 0
	done
	find_prog pg_basebackup || die "pg_basebackup not found"
}

# A streaming replica of the private cluster: pg_basebackup -R of it into
# replica/data/ of its base directory (standby mode, following the primary),
# started on LOCALPG_REPLICA_PORT.
replica_cluster() {
	local base data
	base="$(existing_base)" || die "no private cluster"
	data="$base/replica/data"
	if [[ ! -f "$data/PG_VERSION" ]]; then
		log "copying the private cluster into a streaming replica in $data"
		as_owner rm -rf "$base/replica"
		as_owner mkdir -m 700 "$base/replica"
		as_owner "$(basebackup_prog)" -h 127.0.0.1 -p "$PRIV_PORT" -U "$DB_USER" -D "$data" \
			--write-recovery-conf --wal-method=stream --checkpoint=fast >&2 ||
			die "pg_basebackup failed"
	fi
	if is_running "$data"; then
		if [[ "$(running_port "$data")" == "$REPLICA_PORT" ]]; then
			log "reusing the replica on 127.0.0.1:$REPLICA_PORT"
			return 0
		fi
		as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >&2
	fi
	if port_answers "$REPLICA_PORT"; then
		die "port $REPLICA_PORT is already in use by another server; set LOCALPG_REPLICA_PORT to a free port"
	fi
	write_local_conf "$data" "$REPLICA_PORT"
	log "starting the replica on 127.0.0.1:$REPLICA_PORT (log: $base/replica/log)"
	as_owner "$PGBIN/pg_ctl" -D "$data" -l "$base/replica/log" -w -t 60 start >&2 ||
		die "could not start the replica; see $base/replica/log"
}

cmd_replica() {
	[[ "$REPLICA_PORT" != "$PRIV_PORT" ]] || die "LOCALPG_REPLICA_PORT must differ from LOCALPG_PORT"
	URL=
	private_cluster >&2
	[[ "$URL" == "$(url_for "$PRIV_PORT")" ]] ||
		die "no private cluster could be started; a replica is only made of the private cluster"
	replica_cluster >&2
	printf '%s\n' "$(url_for "$REPLICA_PORT")"
}

case "${1:-url}" in
url) cmd_url ;;
replica) cmd_replica ;;
stop) cmd_stop ;;
status) cmd_status ;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
