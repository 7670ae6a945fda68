#!/usr/bin/env bash
# Fetches the GraphiQL playground assets into playground/dist/, where the Go
# package playground embeds them at build time (go:embed).
#
# The packages are pinned below and fetched with `npm pack` from whatever
# registry npm is configured to use. Each tarball is checked against the
# sha256 sums committed in playground/assets.sha256 before anything is
# extracted from it. Only the browser builds are kept:
#
#   graphiql.min.js, graphiql.min.css    GraphiQL UMD bundle (expects the
#                                        React and ReactDOM globals)
#   react.production.min.js              React UMD production build
#   react-dom.production.min.js          ReactDOM UMD production build
#   <package>.LICENSE.txt                the packages' licence texts
#
# Nothing in these files loads anything from another host at run time:
# GraphiQL's fonts (Roboto, Fira Code) and images are inlined in its CSS as
# data: URLs and the CSS has no @import. The script checks this again after
# extracting and fails if it ever stops being true. The trailing
# sourceMappingURL comments are removed because the .map files are not
# shipped (they would only make browser dev tools ask for missing files).
#
# Usage:
#   scripts/playground-assets.sh                 fetch and unpack, unless
#                                                dist/ is already up to date
#   scripts/playground-assets.sh --force         unpack again regardless
#   scripts/playground-assets.sh --update-sums   after changing a pinned
#                                                version: rewrite
#                                                playground/assets.sha256 from
#                                                freshly fetched tarballs
#
# Idempotent: dist/.stamp records a hash of the pins and of this script plus
# the sha256 of every unpacked file; when all of them still match, the script
# exits at once without touching the network.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# name@version, unscoped names only (the tarball is then name-version.tgz).
PACKAGES=(
	graphiql@3.8.3
	react@18.3.1
	react-dom@18.3.1
)

SELF=scripts/playground-assets.sh
SUMS=playground/assets.sha256
DIST=playground/dist
STAMP=$DIST/.stamp

force=0
update_sums=0
for arg in "$@"; do
	case $arg in
	--force) force=1 ;;
	--update-sums) update_sums=1 force=1 ;;
	-h | --help)
		sed -n '2,/^set -euo pipefail/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "playground-assets: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

die() {
	echo "playground-assets: $*" >&2
	exit 1
}

inputs_hash() {
	cat "$SUMS" "$SELF" | sha256sum | cut -d' ' -f1
}

if [[ $force == 0 && -f $STAMP && -f $SUMS ]] &&
	[[ "$(head -n 1 "$STAMP")" == "inputs $(inputs_hash)" ]] &&
	(cd "$DIST" && tail -n +2 .stamp | sha256sum --check --strict --quiet >/dev/null 2>&1); then
	echo "playground-assets: $DIST is up to date"
	exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "playground-assets: npm not found, installing it with apt-get" >&2
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y npm
	else
		die "npm is required (Debian/Ubuntu: sudo apt-get install -y npm)"
	fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tarballs=()
for pkg in "${PACKAGES[@]}"; do
	name=${pkg%@*}
	version=${pkg##*@}
	tgz=$name-$version.tgz
	echo "playground-assets: fetching $pkg"
	npm pack "$pkg" --pack-destination "$tmp" --loglevel=error >/dev/null
	[[ -f $tmp/$tgz ]] || die "npm pack $pkg did not produce $tgz"
	tarballs+=("$tgz")
done

if [[ $update_sums == 1 ]]; then
	(cd "$tmp" && sha256sum "${tarballs[@]}") >"$SUMS"
	echo "playground-assets: wrote $SUMS:"
	cat "$SUMS"
fi

[[ -f $SUMS ]] || die "$SUMS is missing"
# Every pinned tarball must be listed, and every listed one must match.
for tgz in "${tarballs[@]}"; do
	awk -v f="$tgz" '$2 == f { found = 1 } END { exit !found }' "$SUMS" || die "$tgz has no checksum in $SUMS (bumped a version? run with --update-sums)"
done
sums_abs=$PWD/$SUMS
(cd "$tmp" && sha256sum --check --strict --quiet "$sums_abs") ||
	die "checksum mismatch: refusing to unpack (see $SUMS)"

# Unpacks one file of a verified tarball into the staging directory.
extract() { # tarball path-inside-package destination-name
	mkdir -p "$tmp/x"
	tar -xzf "$tmp/$1" -C "$tmp/x" "package/$2"
	mv "$tmp/x/package/$2" "$tmp/out/$3"
	rm -rf "$tmp/x"
}

mkdir -p "$tmp/out"
for pkg in "${PACKAGES[@]}"; do
	name=${pkg%@*}
	version=${pkg##*@}
	tgz=$name-$version.tgz
	case $name in
	graphiql)
		extract "$tgz" graphiql.min.js graphiql.min.js
		extract "$tgz" graphiql.min.css graphiql.min.css
		;;
	react)
		extract "$tgz" umd/react.production.min.js react.production.min.js
		;;
	react-dom)
		extract "$tgz" umd/react-dom.production.min.js react-dom.production.min.js
		;;
	*) die "no extraction rule for $name" ;;
	esac
	extract "$tgz" LICENSE "$name.LICENSE.txt"
done

# Drop source-map references (the maps are not shipped).
sed -i -e '/^\/\/# sourceMappingURL=/d' "$tmp"/out/*.js
sed -i -e 's|/\*# sourceMappingURL=[^*]*\*/||' "$tmp"/out/*.css

# The stylesheet must not pull anything from another host (fonts through
# @import or url(http...)). GraphiQL 3.8.3 inlines everything, so this only
# guards future version bumps.
if grep -E -i -n '@import|url\([[:space:]]*["'\'']?[[:space:]]*(https?:|//)' "$tmp/out/graphiql.min.css" >&2; then
	die "graphiql.min.css loads from another host (lines above): strip or inline it before shipping"
fi

# Replace dist/ contents (keeping .gitkeep), then write the stamp last so an
# interrupted run is redone next time.
outputs=("$tmp"/out/*)
outputs=("${outputs[@]##*/}")
mkdir -p "$DIST"
find "$DIST" -mindepth 1 -maxdepth 1 ! -name .gitkeep -exec rm -rf {} +
cp "$tmp"/out/* "$DIST"/
{
	echo "inputs $(inputs_hash)"
	(cd "$DIST" && sha256sum -- "${outputs[@]}")
} >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"

echo "playground-assets: unpacked into $DIST:"
(cd "$DIST" && ls -l -- "${outputs[@]}")
