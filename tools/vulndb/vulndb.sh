#!/usr/bin/env bash
# The Go vulnerability database, offline: govulncheck's v1 layout
# (index/db.json, index/modules.json, index/vulns.json, ID/GO-*.json) built
# from the OSV records of the module golang.org/x/vulndb, which the module
# proxy serves like any module, at a pinned version. vuln.go.dev is never
# contacted.
#
#   vulndb.sh path VERSION   build the database once (cached), print its directory
#   vulndb.sh check DIR      fail unless DIR is a database with enough reports
#   vulndb.sh latest         print the newest golang.org/x/vulndb version the proxy has
#
# The layout is written by golang.org/x/vulndb/cmd/indexdb, the Go team's own
# tool for turning OSV files into a v1 database, at the same version as the
# data. The database lands in VULNDB_CACHE (default: ossa-vulndb beside the
# go build cache), one directory per version; a finished one is never rebuilt.
set -euo pipefail

GO=${GO:-go}
# A database with fewer reports than this is a broken fetch or a broken build
# (the real one had 4789 in November 2026): fail rather than scan against it
# and call the code clean.
MIN_REPORTS=${VULNDB_MIN_REPORTS:-1000}

build_tmp=

die() { echo "vulndb: $*" >&2; exit 1; }

cache_root() {
	if [ -n "${VULNDB_CACHE:-}" ]; then
		echo "$VULNDB_CACHE"
		return
	fi
	local gocache
	gocache=$("$GO" env GOCACHE)
	case "$gocache" in
	"" | off) die "no go build cache (GOCACHE=$gocache): set VULNDB_CACHE to a directory" ;;
	esac
	echo "$(dirname "$gocache")/ossa-vulndb"
}

# check DIR: the three indexes are there and DIR holds at least MIN_REPORTS
# reports, counted both in index/vulns.json and as ID/*.json files.
check() {
	local dir=$1 f indexed files
	for f in index/db.json index/modules.json index/vulns.json; do
		[ -s "$dir/$f" ] || die "$dir/$f is missing or empty"
	done
	indexed=$(grep -o '"id":"GO-[0-9]*-[0-9]*"' "$dir/index/vulns.json" | wc -l)
	files=$(find "$dir/ID" -maxdepth 1 -name 'GO-*.json' | wc -l)
	if [ "$indexed" -lt "$MIN_REPORTS" ] || [ "$files" -lt "$MIN_REPORTS" ]; then
		die "$dir has $indexed reports in index/vulns.json and $files in ID/, fewer than $MIN_REPORTS: a broken fetch or build, not a clean bill"
	fi
	if [ "$indexed" -ne "$files" ]; then
		die "$dir: index/vulns.json lists $indexed reports but ID/ holds $files"
	fi
	echo "vulndb: $dir: $indexed reports" >&2
}

path() {
	local version=$1 root dir src n
	case "$version" in
	v*) ;;
	*) die "version must be a golang.org/x/vulndb module version, got '$version'" ;;
	esac
	root=$(cache_root)
	dir="$root/$version"
	if [ -f "$dir/.complete" ]; then
		check "$dir"
		echo "$dir"
		return
	fi

	# The module's zip from the proxy, checked against go.sum's database
	# (sum.golang.org, through the proxy) like any module.
	src=$("$GO" mod download -json "golang.org/x/vulndb@$version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
	[ -n "$src" ] && [ -d "$src/data/osv" ] || die "golang.org/x/vulndb@$version has no data/osv (download failed?)"
	n=$(find "$src/data/osv" -maxdepth 1 -name 'GO-*.json' | wc -l)
	[ "$n" -ge "$MIN_REPORTS" ] || die "golang.org/x/vulndb@$version holds $n OSV reports, fewer than $MIN_REPORTS"

	mkdir -p "$root"
	build_tmp=$(mktemp -d "$root/.build-$version.XXXXXX")
	trap 'rm -rf "$build_tmp"' EXIT
	echo "vulndb: building the database from golang.org/x/vulndb@$version ($n reports) into $dir" >&2
	"$GO" run "golang.org/x/vulndb/cmd/indexdb@$version" -vulns "$src/data/osv" -out "$build_tmp/db"
	check "$build_tmp/db"
	touch "$build_tmp/db/.complete"
	rm -rf "$dir"
	mv "$build_tmp/db" "$dir"
	echo "$dir"
}

latest() {
	"$GO" list -m -f '{{.Version}}' golang.org/x/vulndb@latest
}

case "${1:-}" in
path) [ $# -eq 2 ] || die "usage: vulndb.sh path VERSION"; path "$2" ;;
check) [ $# -eq 2 ] || die "usage: vulndb.sh check DIR"; check "$2" ;;
latest) latest ;;
*) die "usage: vulndb.sh path VERSION | check DIR | latest" ;;
esac
