# Functions that make sure the test servers run, installing and starting them
# on a new machine as root; each exports the URL the tests read. Sourced by
# .ci/run and `make services-up`.

log() { echo "ci: $*" >&2; }

# apt_install installs Debian packages, saying so first. CI (CI=true)
# installs what it needs; on a developer's machine it asks (or takes
# OSSA_INSTALL=yes), and without consent it stops, naming the packages.
apt_install() {
	log "the tests need $*, which is not installed: apt-get install $*"
	if [ "${CI:-}" != "true" ] && [ "${OSSA_INSTALL:-}" != "yes" ]; then
		local answer=""
		if [ -t 0 ]; then
			read -r -p "ci: run 'apt-get install $*' now? [y/N] " answer
		fi
		case "$answer" in
		y | Y | yes) ;;
		*)
			log "not installing: install $* yourself, or run again with OSSA_INSTALL=yes"
			return 1
			;;
		esac
	fi
	log "installing $* with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for WHAT COMMAND...
	local what=$1; shift
	for _ in $(seq 1 60); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 1
	done
	log "$what did not come up"; return 1
}

ensure_postgres() {
	if ! command -v pg_ctlcluster >/dev/null 2>&1; then
		apt_install postgresql postgresql-client
	fi
	if ! pg_isready -q -h 127.0.0.1 -p 5432; then
		local version
		version=$(ls /etc/postgresql | sort -V | tail -n 1)
		if [ -z "$version" ]; then log "no PostgreSQL cluster"; return 1; fi
		log "starting PostgreSQL $version"
		pg_ctlcluster --skip-systemctl-redirect "$version" main start
	fi
	wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
	# The tests get a role and a database of their own, made over the local
	# socket as the postgres superuser (peer auth on a fresh install) when
	# they do not exist yet. No existing role or database is changed: a
	# developer's own roles keep their passwords.
	if ! runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'ossa_ci'" | grep -q 1; then
		log "creating the PostgreSQL role ossa_ci for the tests"
		runuser -u postgres -- psql -q -c "CREATE ROLE ossa_ci LOGIN PASSWORD 'ossa_ci'" >/dev/null
	fi
	if ! runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'ossa_ci'" | grep -q 1; then
		log "creating the PostgreSQL database ossa_ci for the tests"
		runuser -u postgres -- createdb --owner ossa_ci ossa_ci
	fi
	export TEST_POSTGRES_URL="postgres://ossa_ci:ossa_ci@127.0.0.1:5432/ossa_ci?sslmode=disable"
}

ensure_redis() {
	if ! command -v redis-server >/dev/null 2>&1; then
		apt_install redis-server redis-tools
	fi
	if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
		log "starting Redis"
		mkdir -p /var/lib/redis /var/log/redis
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
			--dir /var/lib/redis --logfile /var/log/redis/ci.log
	fi
	wait_for Redis sh -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
	export TEST_REDIS_URL="redis://127.0.0.1:6379/0"
}

# pgvector, the extension behind the PostgreSQL vector index
# (postgres.DB.OpenVectorIndex). Debian bookworm does not package it, so it
# is built from the source package of Debian trixie against the running
# server's headers, which takes seconds. The version is pinned, and so are
# the SHA-256 of its .dsc (as trixie's signed Sources index lists it) and of
# the upstream tarball (as that .dsc lists it): a download that differs is
# refused. To move to a newer release, take both sums from
# `apt-cache showsrc pgvector` with a deb-src line for the newer suite.
PGVECTOR_VERSION=0.8.0
PGVECTOR_DEBIAN_REVISION=1
PGVECTOR_DSC_SHA256=a71780bf7ab9901094a3d9869c489b6e2bcb858a8c14a5fa52d159933e016308
PGVECTOR_ORIG_SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
PGVECTOR_POOL=http://deb.debian.org/debian/pool/main/p/pgvector

# ensure_pgvector makes the vector extension available on the server
# ensure_postgres started, building and installing it when it is not, and
# creates it, as the postgres superuser, in the tests' database ossa_ci (in
# schema public; the store qualifies its type and operators with the
# extension's schema, so the tests' own schemas need not be on any path).
ensure_pgvector() {
	local available
	available=$(runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
	if [ "$available" != "1" ]; then
		local major pg_config dir orig dsc
		major=$(($(runuser -u postgres -- psql -tAc "SHOW server_version_num") / 10000))
		pg_config=/usr/lib/postgresql/$major/bin/pg_config
		# The server's headers come with postgresql-server-dev.
		if [ ! -x "$pg_config" ] || [ ! -f "$("$pg_config" --includedir-server)/postgres.h" ] ||
			! command -v make >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
			apt_install build-essential "postgresql-server-dev-$major"
		fi
		command -v curl >/dev/null 2>&1 || apt_install curl
		log "building pgvector $PGVECTOR_VERSION for PostgreSQL $major from Debian's source package"
		dir=$(mktemp -d)
		orig=pgvector_$PGVECTOR_VERSION.orig.tar.gz
		dsc=pgvector_$PGVECTOR_VERSION-$PGVECTOR_DEBIAN_REVISION.dsc
		# Each step is chained: set -e does not reach into a tested subshell.
		if ! (cd "$dir" &&
			curl -fsS --retry 3 --max-time 120 -o "$dsc" "$PGVECTOR_POOL/$dsc" &&
			curl -fsS --retry 3 --max-time 120 -o "$orig" "$PGVECTOR_POOL/$orig" &&
			echo "$PGVECTOR_DSC_SHA256  $dsc" | sha256sum -c --quiet - &&
			grep -q "^ $PGVECTOR_ORIG_SHA256 [0-9]* $orig\$" "$dsc" &&
			echo "$PGVECTOR_ORIG_SHA256  $orig" | sha256sum -c --quiet - &&
			tar -xzf "$orig" &&
			cd "pgvector-$PGVECTOR_VERSION" &&
			make -s -j"$(nproc)" USE_PGXS=1 PG_CONFIG="$pg_config" >/dev/null &&
			make -s install USE_PGXS=1 PG_CONFIG="$pg_config" >/dev/null); then
			rm -rf "$dir"
			log "could not build pgvector $PGVECTOR_VERSION: see the messages above"
			return 1
		fi
		rm -rf "$dir"
	fi
	runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d ossa_ci \
		-c "SET client_min_messages TO warning; CREATE EXTENSION IF NOT EXISTS vector" >/dev/null
}
