#!/usr/bin/env bash
# Updates the GraphiQL playground assets committed in playground/dist/, which
# the Go package playground embeds at build time (go:embed): a plain
# `go build` or `go install` gives the complete server. Run this only to
# change them (a version bump, or to check that they still match npm).
#
# The packages are pinned below and fetched with `npm pack` from whatever
# registry npm is configured to use. Each tarball is checked against the
# sha256 sums committed in playground/assets.sha256 before anything is
# extracted from it. Only the browser builds are kept, gzipped (the server
# sends the .gz bytes as they are to clients that accept gzip):
#
#   graphiql.min.js.gz, graphiql.min.css.gz   GraphiQL UMD bundle (expects
#                                             the React and ReactDOM globals)
#   react.production.min.js.gz                React UMD production build
#   react-dom.production.min.js.gz            ReactDOM UMD production build
#   <package>.LICENSE.txt                     the packages' licence texts
#   SHA256SUMS                                sha256 of the files above
#                                             (playground's tests check the
#                                             embedded files against it)
#
# Nothing in these files loads anything from another host at run time:
# GraphiQL's fonts (Roboto, Fira Code) and images are inlined in its CSS as
# data: URLs and the CSS has no @import. The script checks this again after
# extracting and fails if it ever stops being true. The trailing
# sourceMappingURL comments are removed because the .map files are not
# shipped (they would only make browser dev tools ask for missing files).
#
# The output is deterministic: `gzip -9 -n` records no name or timestamp, and
# a committed .gz whose content is unchanged is kept as it is, so that
# another gzip build cannot rewrite it. On an up-to-date tree the script
# changes nothing.
#
# Usage:
#   scripts/playground-assets.sh                 fetch, verify and rewrite
#                                                playground/dist/ (`make
#                                                playground` runs this)
#   scripts/playground-assets.sh --check         fetch and verify, then fail
#                                                if playground/dist/ differs
#                                                from what npm gives; writes
#                                                nothing
#   scripts/playground-assets.sh --update-sums   after changing a pinned
#                                                version: rewrite
#                                                playground/assets.sha256 from
#                                                freshly fetched tarballs
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C

# name@version, unscoped names only (the tarball is then name-version.tgz).
PACKAGES=(
	graphiql@3.8.3
	react@18.3.1
	react-dom@18.3.1
)

SELF=scripts/playground-assets.sh
SUMS=playground/assets.sha256
DIST=playground/dist
DIST_SUMS=SHA256SUMS

check=0
update_sums=0
for arg in "$@"; do
	case $arg in
	--check) check=1 ;;
	--update-sums) update_sums=1 ;;
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
if [[ $check == 1 && $update_sums == 1 ]]; then
	echo "playground-assets: --check and --update-sums do not go together" >&2
	exit 2
fi

die() {
	echo "playground-assets: $*" >&2
	exit 1
}

command -v gzip >/dev/null 2>&1 || die "gzip is required"
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

# Stage the committed form: scripts and stylesheets gzipped, licences as
# they are. A committed .gz that already holds the same content is reused.
mkdir -p "$tmp/stage"
for f in "$tmp"/out/*; do
	base=${f##*/}
	case $base in
	*.js | *.css)
		if [[ -f $DIST/$base.gz ]] && gzip -dc "$DIST/$base.gz" 2>/dev/null | cmp -s - "$f"; then
			cp "$DIST/$base.gz" "$tmp/stage/$base.gz"
		else
			gzip -9 -n -c "$f" >"$tmp/stage/$base.gz"
		fi
		;;
	*) cp "$f" "$tmp/stage/$base" ;;
	esac
done
(cd "$tmp/stage" && sha256sum -- *) >"$tmp/$DIST_SUMS"
mv "$tmp/$DIST_SUMS" "$tmp/stage/$DIST_SUMS"

if [[ $check == 1 ]]; then
	if ! diff -r "$tmp/stage" "$DIST" >/dev/null 2>&1; then
		diff -r -q "$tmp/stage" "$DIST" | sed -e "s|$tmp/stage|npm|g" >&2 || true
		die "$DIST differs from the pinned npm packages: run $SELF"
	fi
	echo "playground-assets: $DIST matches the pinned npm packages"
	exit 0
fi

# Replace dist/ with the staged files, touching only those that changed.
mkdir -p "$DIST"
changed=0
for f in "$DIST"/* "$DIST"/.[!.]*; do
	[[ -e $f ]] || continue
	if [[ ! -e $tmp/stage/${f##*/} ]]; then
		rm -rf -- "$f"
		echo "playground-assets: removed $f"
		changed=1
	fi
done
for f in "$tmp"/stage/*; do
	dest=$DIST/${f##*/}
	if ! cmp -s "$f" "$dest"; then
		cp "$f" "$dest"
		echo "playground-assets: wrote $dest"
		changed=1
	fi
done
if [[ $changed == 0 ]]; then
	echo "playground-assets: $DIST is up to date"
else
	echo "playground-assets: $DIST:"
	(cd "$DIST" && ls -l)
fi
