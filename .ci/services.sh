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
