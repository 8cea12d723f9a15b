#!/usr/bin/env bash
# pg-test.sh — a private, throwaway PostgreSQL cluster for tests.
#
#   scripts/pg-test.sh start    print the DSN of a running cluster (starting one if needed)
#   scripts/pg-test.sh stop     stop the cluster and delete its data
#   scripts/pg-test.sh status   exit 0 when the recorded cluster is alive
#
# stdout carries nothing but the DSN, so that
#   TETHER_TEST_POSTGRES=$(scripts/pg-test.sh start) go test ./...
# works; everything else goes to stderr. State (data dir, log, DSN) lives in
# $TETHER_PG_DIR, default ${TMPDIR:-/tmp}/tether-pg, and a running cluster
# recorded there is reused. The cluster listens on 127.0.0.1 only, on a free
# port, with trust authentication, fsync off: it is for tests, never for data.
# PostgreSQL refuses to run as root, so as root the server runs as the
# postgres user.
set -euo pipefail

STATE="${TETHER_PG_DIR:-${TMPDIR:-/tmp}/tether-pg}"
DATA="$STATE/data"
LOG="$STATE/postgres.log"
DSNFILE="$STATE/dsn"

log() { printf 'pg-test: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# find_bindir prints the directory holding initdb and pg_ctl, newest major first.
find_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4 -rn); do
		if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
			echo "$d"
			return 0
		fi
	done
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
		return 0
	fi
	return 1
}

ensure_installed() {
	if BIN="$(find_bindir)"; then
		return 0
	fi
	local cmd="apt-get install -y postgresql"
	if [[ $(id -u) -ne 0 ]]; then
		die "PostgreSQL server binaries not found; install them with: sudo $cmd"
	fi
	log "PostgreSQL not found; running: apt-get update && $cmd"
	DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
	BIN="$(find_bindir)" || die "postgresql installed but initdb/pg_ctl not found under /usr/lib/postgresql/*/bin"
}

# as_pg runs a command as the cluster owner: the postgres user when we are
# root (the server refuses root), ourselves otherwise. fd 9 (the lock) is
# closed so a server started here does not hold the lock forever.
as_pg() {
	if [[ $(id -u) -ne 0 ]]; then
		"$@" 9>&-
	elif command -v runuser >/dev/null 2>&1; then
		runuser -u postgres -- "$@" 9>&-
	else
		# su needs one shell string; quote each argument.
		su postgres -s /bin/sh -c "$(printf '%q ' "$@")" 9>&-
	fi
}

alive() {
	[[ -f "$DSNFILE" && -f "$DATA/postmaster.pid" ]] || return 1
	as_pg "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1 || return 1
	local port
	port="$(cat "$STATE/port" 2>/dev/null)" || return 1
	if [[ -x "$BIN/pg_isready" ]]; then
		"$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 5 || return 1
	fi
}

# port_in_use reports whether something accepts connections on 127.0.0.1:$1.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
	local p i
	for i in $(seq 1 50); do
		p=$(( 20000 + RANDOM % 30000 ))
		if ! port_in_use "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

init_cluster() {
	rm -rf "$DATA"
	mkdir -p "$DATA"
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || die "user postgres does not exist (it comes with the postgresql package)"
		chown postgres: "$STATE" "$DATA"
	fi
	chmod 700 "$DATA"
	log "initdb in $DATA"
	as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync >&2
}

start_cluster() {
	local attempt port
	for attempt in 1 2 3 4 5; do
		port="$(pick_port)" || die "no free port found on 127.0.0.1"
		# Later settings win in postgresql.conf, so each attempt appends its own.
		as_pg sh -c "cat >> '$DATA/postgresql.conf'" <<EOF
# pg-test.sh attempt $attempt
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 500
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 64MB
EOF
		log "starting postgres on 127.0.0.1:$port (log: $LOG)"
		if as_pg "$BIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 >&2; then
			echo "$port" >"$STATE/port"
			echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable" >"$DSNFILE"
			return 0
		fi
		log "start failed (attempt $attempt); last log lines:"
		tail -n 5 "$LOG" >&2 || true
	done
	die "could not start postgres; see $LOG"
}

cmd_start() {
	if alive; then
		log "reusing running cluster in $STATE"
		cat "$DSNFILE"
		return 0
	fi
	# A stale postmaster.pid from a killed server is handled by pg_ctl itself;
	# a data dir from another major version is rebuilt.
	if [[ ! -f "$DATA/PG_VERSION" ]] || [[ "$(cat "$DATA/PG_VERSION")" != "$("$BIN/pg_ctl" --version | awk '{print $3}' | cut -d. -f1)" ]]; then
		init_cluster
	else
		as_pg "$BIN/pg_ctl" stop -D "$DATA" -m immediate >/dev/null 2>&1 || true
	fi
	rm -f "$DSNFILE"
	start_cluster
	cat "$DSNFILE"
}

cmd_stop() {
	if [[ -f "$DATA/postmaster.pid" ]]; then
		as_pg "$BIN/pg_ctl" stop -D "$DATA" -m fast -w >&2 || true
	fi
	rm -rf "$STATE"
	log "stopped and removed $STATE"
}

main() {
	local cmd="${1:-start}"
	case "$cmd" in
	start | stop | status) ;;
	*) die "usage: $0 start|stop|status" ;;
	esac
	ensure_installed
	if [[ $cmd == start ]]; then
		mkdir -p "$STATE"
		chmod 755 "$STATE" # the postgres user must reach its data dir
	elif [[ ! -d $STATE ]]; then
		[[ $cmd == stop ]] && { log "nothing to stop in $STATE"; exit 0; }
		exit 1
	fi
	# Serialise concurrent invocations (parallel make targets) on one lock.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$STATE.lock"
		flock 9
	fi
	case "$cmd" in
	start) cmd_start ;;
	stop) cmd_stop ;;
	status) if alive; then cat "$DSNFILE"; else exit 1; fi ;;
	esac
}

main "$@"
