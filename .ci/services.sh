# Functions that make sure the test servers run, installing and starting them
# on a new machine as root; each exports the URL the tests read. Sourced by
# .ci/run and `make services-up`.

log() { echo "ci: $*" >&2; }

apt_install() {
	log "installing $*"
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
	# Over the local socket as the postgres user (peer auth on a fresh
	# install): give the role the password the URL uses, make the database.
	runuser -u postgres -- psql -q -c "ALTER ROLE postgres PASSWORD 'postgres'" >/dev/null
	if ! runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'ossa_test'" | grep -q 1; then
		runuser -u postgres -- createdb ossa_test
	fi
	export TEST_POSTGRES_URL="postgres://postgres:postgres@127.0.0.1:5432/ossa_test?sslmode=disable"
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
