#!/usr/bin/env bash
# PostgreSQL, Redis and Chromium for the test suite. Sourced by scripts/test.sh; run on its own it
# sets them up and prints the environment, e.g. for running pytest by hand:
#     eval "$(scripts/services.sh)" && .venv/bin/pytest tests/test_live_infra.py
#
# DATABASE_URL / REDIS_URL from the environment win. Otherwise the local services are used, and
# installed (apt-get) and started when they are not there:
#   PostgreSQL 127.0.0.1:5432, database `test`, user postgres (or root): trust auth, or the password
#              "postgres" that this script gives the postgres role when it has none (Debian's fresh
#              install allows no password-less TCP login and the role has no password).
#   Redis      127.0.0.1:6379, database 15.

if [ -z "${ROOT:-}" ]; then
  set -euo pipefail
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi

PG_HOST=127.0.0.1
PG_PORT="${OMNI_TEST_PG_PORT:-5432}"
PG_DB=test
PG_FALLBACK_PASSWORD=postgres
REDIS_PORT="${OMNI_TEST_REDIS_PORT:-6379}"

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Start every local cluster that is down (no systemd in containers), creating one when none exists.
start_postgres_clusters() {
  local version
  if [ -z "$(ls -A /etc/postgresql 2>/dev/null)" ]; then
    version=$(ls /usr/lib/postgresql | sort -n | tail -n1)
    log "creating PostgreSQL $version cluster main"
    as_root pg_createcluster "$version" main >/dev/null
  fi
  for version in $(ls /etc/postgresql); do
    [ -d "/etc/postgresql/$version/main" ] || continue
    if ! as_root pg_ctlcluster "$version" main status >/dev/null 2>&1; then
      log "starting PostgreSQL $version/main"
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
  done
}

# Prints "t" when USER (with PGPASSWORD=$2) can log in over TCP and create databases.
pg_can_login() {
  PGPASSWORD="$2" PGCONNECT_TIMEOUT=5 psql -h "$PG_HOST" -p "$PG_PORT" -U "$1" -d postgres -w -tAq \
    -c "select rolsuper or rolcreatedb from pg_roles where rolname = current_user" 2>/dev/null
}

ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then
    log "PostgreSQL: DATABASE_URL from the environment"
    return 0
  fi
  if ! tcp_open "$PG_HOST" "$PG_PORT"; then
    compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || apt_install postgresql
    start_postgres_clusters
  fi
  command -v psql >/dev/null 2>&1 || apt_install postgresql-client
  local i
  for i in $(seq 1 60); do
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break
    [ "$i" -eq 60 ] && die "PostgreSQL on $PG_HOST:$PG_PORT does not accept connections (pg_isready)"
    sleep 0.5
  done

  # Who can log in: trust for postgres or the current user, else the postgres role's password.
  local user="" password="" candidate
  for candidate in ${PGUSER:-} postgres "$(id -un)"; do
    if [ "$(pg_can_login "$candidate" "")" = "t" ]; then user=$candidate; break; fi
  done
  if [ -z "$user" ] && [ "$(pg_can_login postgres "$PG_FALLBACK_PASSWORD")" != "t" ] \
    && id postgres >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    # A fresh Debian install: TCP needs a password and the postgres role has none. Give it one
    # (only then: a role without a password cannot log in over TCP, so nothing that worked breaks).
    if [ "$(cd / && runuser -u postgres -- psql -p "$PG_PORT" -d postgres -tAq \
      -c "select rolpassword is null from pg_authid where rolname = 'postgres'" 2>/dev/null)" = "t" ]; then
      log "PostgreSQL: setting the password of role postgres for TCP logins from 127.0.0.1"
      (cd / && runuser -u postgres -- psql -p "$PG_PORT" -d postgres -q \
        -c "alter role postgres password '$PG_FALLBACK_PASSWORD'" >/dev/null)
    fi
  fi
  if [ -z "$user" ] && [ "$(pg_can_login postgres "$PG_FALLBACK_PASSWORD")" = "t" ]; then
    user=postgres password=$PG_FALLBACK_PASSWORD
  fi
  [ -n "$user" ] || die "cannot log in to PostgreSQL on $PG_HOST:$PG_PORT as postgres or $(id -un) (trust auth or the password '$PG_FALLBACK_PASSWORD'), or that role cannot create databases: set DATABASE_URL"

  if [ "$(PGPASSWORD=$password psql -h "$PG_HOST" -p "$PG_PORT" -U "$user" -d postgres -w -tAq \
    -c "select 1 from pg_database where datname = '$PG_DB'")" != "1" ]; then
    log "PostgreSQL: creating database $PG_DB"
    PGPASSWORD=$password psql -h "$PG_HOST" -p "$PG_PORT" -U "$user" -d postgres -w -q -c "create database $PG_DB"
  fi
  export DATABASE_URL="postgres://$user${password:+:$password}@$PG_HOST:$PG_PORT/$PG_DB"
}

ensure_redis() {
  if [ -n "${REDIS_URL:-}" ]; then
    log "Redis: REDIS_URL from the environment"
    return 0
  fi
  command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools
  if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" != "PONG" ]; then
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" != "PONG" ]; then  # apt may start it
      log "starting redis-server on 127.0.0.1:$REDIS_PORT"
      redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
    fi
    local i
    for i in $(seq 1 40); do
      [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ] && break
      [ "$i" -eq 40 ] && die "Redis on 127.0.0.1:$REDIS_PORT does not answer PING"
      sleep 0.25
    done
  fi
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/15"
}

# Debian's Chromium for Playwright (`playwright install` cannot download browsers here).
ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
}

# The fault tests (tests/faults.py) start private redis-server and PostgreSQL instances on their
# own ports, so the binaries must be here even when the shared services run elsewhere.
ensure_fault_binaries() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_install postgresql
}

ensure_test_services() {
  ensure_postgres
  ensure_redis
  ensure_fault_binaries
  ensure_chromium
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  ensure_test_services >&2
  printf 'export DATABASE_URL=%q\nexport REDIS_URL=%q\n' "$DATABASE_URL" "$REDIS_URL"
fi
