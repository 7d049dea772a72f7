#!/usr/bin/env bash
# Starts (or reuses) a private PostgreSQL cluster for the tests, separate from any system cluster,
# and prints its connection URL as the only line on stdout. Prints nothing when PostgreSQL is not
# installed, so the tests skip their PostgreSQL variant instead of failing.
set -euo pipefail

readonly BASE_DIR=/tmp/strata-test-pg
readonly DATA_DIR="$BASE_DIR/data"
readonly LOG_FILE="$BASE_DIR/server.log"
readonly PORT=54329
readonly HOST=127.0.0.1
readonly URL="postgres://strata:strata@$HOST:$PORT/postgres"

# Keep stdout for the URL alone; everything else goes to stderr.
exec 3>&1 1>&2
log() { echo "start-test-postgres: $*"; }

postgres_bin=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$postgres_bin" ]; then
  log "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres); the PostgreSQL tests will be skipped"
  exit 0
fi
readonly PG_BIN=$(dirname "$postgres_bin")
readonly PG_MAJOR=$(basename "$(dirname "$PG_BIN")")

# The server refuses to run as root, so as root the cluster belongs to the postgres user.
if [ "$(id -u)" -eq 0 ]; then
  readonly OWNER=postgres
  id "$OWNER" >/dev/null 2>&1 || { log "user $OWNER does not exist (it comes with the postgresql package)"; exit 1; }
  as_owner() { runuser -u "$OWNER" -- "$@"; }
else
  readonly OWNER=$(id -un)
  as_owner() { "$@"; }
fi
# The owner may not be able to enter the caller's working directory.
cd /

# The path is fixed and /tmp is shared, so only use a directory we made.
if [ -L "$BASE_DIR" ]; then log "$BASE_DIR is a symlink; remove it"; exit 1; fi
if [ ! -d "$BASE_DIR" ]; then
  mkdir -m 700 "$BASE_DIR" 2>/dev/null || [ -d "$BASE_DIR" ]
  [ "$(id -u)" -ne 0 ] || chown "$OWNER:" "$BASE_DIR"
fi
if [ "$(stat -c %U "$BASE_DIR")" != "$OWNER" ]; then
  log "$BASE_DIR belongs to $(stat -c %U "$BASE_DIR"), not $OWNER; remove it or run as $OWNER"
  exit 1
fi
# Serialise concurrent runs (a lock on the directory itself needs no extra file).
exec 9<"$BASE_DIR"
flock 9

psql_admin() {
  as_owner "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$BASE_DIR" -p "$PORT" -U postgres -d postgres "$@"
}

ready() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PORT" -t 1; }

write_settings() {
  as_owner tee "$DATA_DIR/strata-test.conf" >/dev/null <<EOF
# Written by scripts/start-test-postgres.sh on every start. Durability is not needed for tests.
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$BASE_DIR'
unix_socket_permissions = 0700
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

start_server() {
  write_settings
  log "starting PostgreSQL $PG_MAJOR from $DATA_DIR (log: $LOG_FILE)"
  # The server outlives this script: it must not inherit the URL pipe (fd 3) or the lock (fd 9),
  # or a caller reading our stdout would wait forever and the next run would block on the lock.
  if ! as_owner "$PG_BIN/pg_ctl" start -D "$DATA_DIR" -l "$LOG_FILE" -w -t 60 >/dev/null 3>&- 9<&-; then
    log "PostgreSQL did not start; the end of $LOG_FILE:"
    tail -n 20 "$LOG_FILE" || true
    exit 1
  fi
}

if ready; then
  log "reusing the PostgreSQL server already answering on $HOST:$PORT"
else
  if [ -f "$DATA_DIR/PG_VERSION" ] && [ "$(cat "$DATA_DIR/PG_VERSION")" != "$PG_MAJOR" ] \
    && ! as_owner "$PG_BIN/pg_ctl" status -D "$DATA_DIR" >/dev/null 2>&1; then
    log "discarding the PostgreSQL $(cat "$DATA_DIR/PG_VERSION") test cluster; PostgreSQL $PG_MAJOR is installed"
    rm -rf "$DATA_DIR"
  fi
  if [ ! -f "$DATA_DIR/PG_VERSION" ]; then
    # No cluster, or an initdb that did not finish.
    rm -rf "$DATA_DIR"
    log "creating a PostgreSQL $PG_MAJOR test cluster in $DATA_DIR"
    # Local (socket) connections are trusted but the socket is owner-only; TCP needs a password.
    as_owner "$PG_BIN/initdb" -D "$DATA_DIR" -U postgres --encoding=UTF8 --locale=C \
      --auth-local=trust --auth-host=scram-sha-256 --no-sync >/dev/null
    echo "include_if_exists = 'strata-test.conf'" | as_owner tee -a "$DATA_DIR/postgresql.conf" >/dev/null
  fi
  # A server still starting up (or just killed, its pid not yet gone) gets time to settle first.
  started=false
  for _ in $(seq 1 60); do
    ready && break
    if ! $started && ! as_owner "$PG_BIN/pg_ctl" status -D "$DATA_DIR" >/dev/null 2>&1; then
      start_server
      started=true
      continue
    fi
    sleep 1
  done
  ready || { log "PostgreSQL on $HOST:$PORT did not become ready; see $LOG_FILE"; exit 1; }
fi

# Idempotent, and also repairs the role when reusing a cluster someone altered. Only possible on
# our own cluster (its socket is in BASE_DIR); another server on this port must already have it.
if [ -S "$BASE_DIR/.s.PGSQL.$PORT" ]; then
  psql_admin <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'strata') THEN
    CREATE ROLE strata LOGIN CREATEDB PASSWORD 'strata';
  ELSE
    ALTER ROLE strata LOGIN CREATEDB PASSWORD 'strata';
  END IF;
END
$$;
SQL
fi

if ! "$PG_BIN/psql" -X -q -t -c 'SELECT 1' "$URL" >/dev/null; then
  log "cannot log in as strata at $HOST:$PORT"
  exit 1
fi
echo "$URL" >&3
