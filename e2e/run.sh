#!/usr/bin/env bash
# End-to-end suites: builds the server with a plain go build (the playground's assets are committed),
# serves it on a free 127.0.0.1 port against a fresh database, and runs the Node suites of e2e/ against
# it with Node's test runner:
#
#   graphql-http.test.mjs   the graphql-http server audits (GraphQL-over-HTTP conformance)
#   apollo.test.mjs         Apollo Client: normalised cache, automatic persisted queries
#   playground.test.mjs     the GraphiQL playground in headless Chromium (Debian's), offline
#   webhooks.test.mjs       a webhook receiver verifying deliveries with the standardwebhooks package
#   subscriptions.test.mjs  Apollo Client subscriptions over graphql-ws: the cache kept current, resuming
#
# The server runs with OUTBOUND_ALLOW_PRIVATE=true so that its webhooks reach the receiver of
# webhooks.test.mjs on 127.0.0.1 (loopback addresses are refused otherwise).
#
# Usage: e2e/run.sh [suite.test.mjs...]   (all of them by default; from any directory; `make e2e` runs it)
#
# Needs Go, Node.js >= 20 with npm, Chromium at /usr/bin/chromium and PostgreSQL (scripts/localpg.sh
# finds or starts one; DATABASE_URL is honoured). As root on Debian the missing ones are installed
# with apt-get. The database, the server and the temporary files are removed at exit.
set -euo pipefail

E2E="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$E2E/.." && pwd)"
CHROMIUM=/usr/bin/chromium
GO="${GO:-go}"

log() { echo "e2e: $*" >&2; }
die() {
	log "$*"
	exit 1
}

apt_updated=0
apt_install() { # package...
	if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		die "missing $*: install it (Debian: sudo apt-get install -y $*)"
	fi
	log "installing $* with apt-get"
	if [[ $apt_updated == 0 ]]; then
		apt-get update -qq >&2
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# --- tools ------------------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || apt_install nodejs
command -v npm >/dev/null 2>&1 || apt_install npm
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "Node.js >= 20 is required, found $(node --version)"
[[ -x $CHROMIUM ]] || apt_install chromium
[[ -x $CHROMIUM ]] || die "$CHROMIUM not found after installing chromium"
command -v "$GO" >/dev/null 2>&1 || die "Go is required"

find_psql() {
	local p
	if p="$(command -v psql 2>/dev/null)"; then
		echo "$p"
		return 0
	fi
	for p in /usr/lib/postgresql/*/bin/psql; do
		[[ -x $p ]] && echo "$p" && return 0
	done
	return 1
}

# --- cleanup ----------------------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/orgs-e2e.XXXXXX")"
SERVER_PID=
ADMIN_URL=
DB_NAME=
PSQL=
cleanup() {
	local rc=$?
	if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	if [[ -n $DB_NAME ]]; then
		"$PSQL" "$ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 ||
			log "could not drop database $DB_NAME"
	fi
	if ((rc != 0)) && [[ -s $TMP/server.log ]]; then
		log "server log (last 40 lines):"
		tail -n 40 "$TMP/server.log" >&2
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS

# --- node modules -----------------------------------------------------------------------------------
log "npm ci"
(cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error >&2)

# --- server binary ----------------------------------------------------------------------------------
log "building the server"
(cd "$ROOT" && "$GO" build -o "$TMP/orgs" .)

# --- a fresh database -------------------------------------------------------------------------------
base_url="$(cd "$ROOT" && scripts/localpg.sh)"
[[ $base_url =~ ^(postgres(ql)?://[^/?]*/)([^/?]*)(\?.*)?$ ]] ||
	die "DATABASE_URL must be a postgres:// URL with a database name, not $base_url"
url_prefix="${BASH_REMATCH[1]}"
url_query="${BASH_REMATCH[4]}"
PSQL="$(find_psql)" || die "psql not found"
ADMIN_URL="${url_prefix}postgres${url_query}"
name="orgs_e2e_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
"$PSQL" "$ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\"" >/dev/null
DB_NAME="$name"
export DATABASE_URL="${url_prefix}${DB_NAME}${url_query}"
log "database $DB_NAME"

# --- API key, then the server -------------------------------------------------------------------------
API_KEY="$("$TMP/orgs" apikey create --name e2e 2>>"$TMP/server.log" | tail -n 1)"
[[ $API_KEY == orgs_* ]] || die "apikey create printed no key"
export API_KEY

LISTEN_ADDR=127.0.0.1:0 LOG_FORMAT=json LOG_LEVEL=info OUTBOUND_ALLOW_PRIVATE=true "$TMP/orgs" >>"$TMP/server.log" 2>&1 &
SERVER_PID=$!

# The server logs the address it listens on; port 0 let the kernel pick a free one.
addr=
for _ in $(seq 300); do
	addr="$(grep -o '"msg":"serving","addr":"127\.0\.0\.1:[0-9]*"' "$TMP/server.log" | head -n 1 | grep -o '127\.0\.0\.1:[0-9]*' || true)"
	[[ -n $addr ]] && break
	kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited"
	sleep 0.1
done
[[ -n $addr ]] || die "the server did not report its address"
export BASE_URL="http://$addr"

for _ in $(seq 100); do
	if node -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$BASE_URL/readyz"; then
		break
	fi
	kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited"
	sleep 0.2
done
node -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$BASE_URL/readyz" ||
	die "$BASE_URL/readyz did not answer 200"
log "server ready at $BASE_URL ($((SECONDS - started))s)"

# --- the suites -------------------------------------------------------------------------------------
export CHROMIUM
cd "$E2E"
suites=("$@")
((${#suites[@]})) || suites=(graphql-http.test.mjs apollo.test.mjs playground.test.mjs webhooks.test.mjs subscriptions.test.mjs)
node --test --test-concurrency=1 "${suites[@]}"
log "passed in $((SECONDS - started))s"
