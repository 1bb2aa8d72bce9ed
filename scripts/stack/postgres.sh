#!/usr/bin/env bash
# PostgreSQL 15 of the local stack: a primary (wal_level=logical) on 55432 and a
# streaming replica on 55433 made by pg_basebackup -R, fed through the physical
# replication slot atlas_replica so it can always catch up after a pause.
#
#   postgres.sh start  [primary|replica|all]   init if needed, start, wait until it answers
#   postgres.sh stop   [primary|replica|all]   pg_ctl stop -m fast
#   postgres.sh kill   [primary|replica|all]   pg_ctl stop -m immediate (crash; recovery on next start)
#   postgres.sh status [primary|replica|all]   exit 0 when running and answering
#   postgres.sh rebuild-replica                throw the replica away and pg_basebackup it again
#
# Both clusters run as the postgres OS user, trust auth, TCP on 127.0.0.1 only
# (no Unix socket). Logs: .atlas/logs/pg-primary.log, .atlas/logs/pg-replica.log.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PRIMARY_LOG="$LOG_DIR/pg-primary.log"
REPLICA_LOG="$LOG_DIR/pg-replica.log"
DATABASES=(atlas atlas_warehouse)

as_pg() { runuser -u postgres -- "$@"; }
sql() { # PORT SQL  (as the postgres superuser, database postgres)
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2"
}
answers() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -U postgres -d postgres; }
in_recovery() { [ "$(sql "$PG_REPLICA_PORT" 'select pg_is_in_recovery()' 2>/dev/null)" = t ]; }
running() { [ -f "$1/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1; }
system_id() { "$PG_BIN/pg_controldata" "$1" 2>/dev/null | awk -F': *' '/Database system identifier/ {print $2}'; }

new_log() { touch "$1" && chown postgres:postgres "$1"; }

new_data_dir() {
  rm -rf "$1"
  mkdir -p "$1"
  chown postgres:postgres "$1"
  chmod 700 "$1"
}

ensure_partman() {
  # The migrations fall back to hand-made partitions without it, so a failed
  # install is a warning, not a failure.
  [ -f /usr/share/postgresql/15/extension/pg_partman.control ] && return 0
  if [ "$(id -u)" != 0 ]; then
    warn "pg_partman is not installed and this is not root: apt-get install postgresql-15-partman"
    return 0
  fi
  say "installing postgresql-15-partman (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq postgresql-15-partman >>"$LOG_DIR/apt.log" 2>&1; then
    apt-get update -qq >>"$LOG_DIR/apt.log" 2>&1 || true
    apt-get install -y -qq postgresql-15-partman >>"$LOG_DIR/apt.log" 2>&1 ||
      warn "could not install postgresql-15-partman (see $LOG_DIR/apt.log); migrations will use their fallback"
  fi
}

init_primary() {
  PART=pg-primary
  say "initdb $PG_PRIMARY_DIR"
  new_data_dir "$PG_PRIMARY_DIR"
  as_pg "$PG_BIN/initdb" -D "$PG_PRIMARY_DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    --no-sync --no-instructions >>"$PRIMARY_LOG" 2>&1 || fail pg-primary "$PRIMARY_LOG" "initdb failed"
  # Settings shared by both clusters (pg_basebackup copies this file to the replica).
  cat >"$PG_PRIMARY_DIR/atlas.conf" <<EOF
# written by scripts/stack/postgres.sh
listen_addresses = '127.0.0.1'
port = $PG_PRIMARY_PORT
unix_socket_directories = ''
max_connections = 200
wal_level = logical              # Debezium (CDC) reads the primary's WAL
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
hot_standby_feedback = on        # replica queries keep the rows they read
shared_preload_libraries = 'pg_stat_statements'
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
log_min_duration_statement = 1000
EOF
  cat >"$PG_PRIMARY_DIR/pg_hba.conf" <<'EOF'
# written by scripts/stack/postgres.sh: loopback only, trust (a throwaway dev cluster)
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
host    replication  all   127.0.0.1/32  trust
EOF
  echo "include 'atlas.conf'" >>"$PG_PRIMARY_DIR/postgresql.conf"
  echo "include_if_exists 'atlas-tuning.conf'" >>"$PG_PRIMARY_DIR/postgresql.conf"
  chown postgres:postgres "$PG_PRIMARY_DIR"/atlas.conf "$PG_PRIMARY_DIR"/pg_hba.conf
}

# Memory and WAL settings, rewritten at every start so an existing stack takes
# them too (both clusters; the replica's postgresql.conf, copied from the
# primary's, includes the file). The same choices as the RDS parameter group
# (infra/database/parameters.ts); db/README.md "Measured" has the numbers.
write_tuning() { # DATA_DIR
  [ -f "$1/postgresql.conf" ] || return 0
  grep -q "atlas-tuning.conf" "$1/postgresql.conf" || echo "include_if_exists 'atlas-tuning.conf'" >>"$1/postgresql.conf"
  cat >"$1/atlas-tuning.conf" <<'EOF'
# written by scripts/stack/postgres.sh at every start
shared_buffers = 1GB             # the working set of history's newest partition and the projection
max_wal_size = 8GB               # checkpoints by time, not by WAL volume: fewer full-page images
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
wal_compression = lz4            # full-page images compressed
EOF
  chown postgres:postgres "$1/atlas-tuning.conf"
}

start_primary() {
  PART=pg-primary
  new_log "$PRIMARY_LOG"
  if running "$PG_PRIMARY_DIR" && answers "$PG_PRIMARY_PORT"; then
    say "already running on $PG_PRIMARY_PORT"
  else
    [ -f "$PG_PRIMARY_DIR/PG_VERSION" ] || init_primary
    write_tuning "$PG_PRIMARY_DIR"
    running "$PG_PRIMARY_DIR" || require_free_port pg-primary "$PG_PRIMARY_PORT"
    (close_inherited_fds && as_pg "$PG_BIN/pg_ctl" -D "$PG_PRIMARY_DIR" -l "$PRIMARY_LOG" -w -t "$PART_TIMEOUT" start) >/dev/null ||
      fail pg-primary "$PRIMARY_LOG" "pg_ctl start failed"
    wait_for "$PART_TIMEOUT" answers "$PG_PRIMARY_PORT" ||
      fail pg-primary "$PRIMARY_LOG" "no answer on 127.0.0.1:$PG_PRIMARY_PORT"
    say "running on $PG_PRIMARY_PORT"
  fi
  for db in "${DATABASES[@]}"; do
    if [ -z "$(sql "$PG_PRIMARY_PORT" "select 1 from pg_database where datname = '$db'")" ]; then
      sql "$PG_PRIMARY_PORT" "create database $db" || fail pg-primary "$PRIMARY_LOG" "create database $db failed"
      say "created database $db"
    fi
  done
}

# pg_basebackup a fresh replica from the running primary, with its own slot.
build_replica() {
  PART=pg-replica
  say "pg_basebackup from 127.0.0.1:$PG_PRIMARY_PORT into $PG_REPLICA_DIR"
  new_data_dir "$PG_REPLICA_DIR"
  sql "$PG_PRIMARY_PORT" "select pg_drop_replication_slot(slot_name) from pg_replication_slots
                          where slot_name = '$PG_REPLICATION_SLOT' and not active" >/dev/null
  as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" -U postgres -D "$PG_REPLICA_DIR" \
    -R -C -S "$PG_REPLICATION_SLOT" -X stream -c fast --no-sync >>"$REPLICA_LOG" 2>&1 ||
    fail pg-replica "$REPLICA_LOG" "pg_basebackup failed"
  # postgresql.auto.conf is read last: it overrides the port copied from the primary.
  echo "port = $PG_REPLICA_PORT" >>"$PG_REPLICA_DIR/postgresql.auto.conf"
}

start_replica() {
  PART=pg-replica
  new_log "$REPLICA_LOG"
  if running "$PG_REPLICA_DIR" && answers "$PG_REPLICA_PORT" && in_recovery; then
    say "already running on $PG_REPLICA_PORT"
    return 0
  fi
  running "$PG_REPLICA_DIR" && fail pg-replica "$REPLICA_LOG" \
    "a replica process runs but does not answer as a standby; try: $0 rebuild-replica"
  # A replica of an earlier primary (re-initialised since) cannot stream: rebuild it.
  if [ ! -f "$PG_REPLICA_DIR/standby.signal" ] ||
    [ "$(system_id "$PG_REPLICA_DIR")" != "$(system_id "$PG_PRIMARY_DIR")" ]; then
    answers "$PG_PRIMARY_PORT" || fail pg-replica "$REPLICA_LOG" "the replica needs a pg_basebackup but the primary is not running"
    build_replica
  fi
  write_tuning "$PG_REPLICA_DIR"
  require_free_port pg-replica "$PG_REPLICA_PORT"
  (close_inherited_fds && as_pg "$PG_BIN/pg_ctl" -D "$PG_REPLICA_DIR" -l "$REPLICA_LOG" -w -t "$PART_TIMEOUT" start) >/dev/null ||
    fail pg-replica "$REPLICA_LOG" "pg_ctl start failed"
  wait_for "$PART_TIMEOUT" in_recovery ||
    fail pg-replica "$REPLICA_LOG" "no answer as a standby (pg_is_in_recovery) on 127.0.0.1:$PG_REPLICA_PORT"
  say "running on $PG_REPLICA_PORT, streaming from $PG_PRIMARY_PORT"
}

stop_cluster() { # DIR NAME MODE
  PART=$2
  if running "$1"; then
    as_pg "$PG_BIN/pg_ctl" -D "$1" -m "$3" -w -t 60 stop >/dev/null || fail "$2" "$LOG_DIR/$2.log" "pg_ctl stop failed"
    say "stopped ($3)"
  fi
}

status_primary() { running "$PG_PRIMARY_DIR" && answers "$PG_PRIMARY_PORT"; }
status_replica() { running "$PG_REPLICA_DIR" && answers "$PG_REPLICA_PORT" && in_recovery; }

cmd="${1:-start}"
which="${2:-all}"
case "$which" in primary | replica | all) ;; *) echo "usage: $0 start|stop|kill|status [primary|replica|all]" >&2; exit 2 ;; esac
has() { [ "$which" = all ] || [ "$which" = "$1" ]; }

case "$cmd" in
  start)
    if has primary; then ensure_partman; start_primary; fi
    if has replica; then start_replica; fi
    ;;
  stop)
    if has replica; then stop_cluster "$PG_REPLICA_DIR" pg-replica fast; fi
    if has primary; then stop_cluster "$PG_PRIMARY_DIR" pg-primary fast; fi
    ;;
  kill)
    if has replica; then stop_cluster "$PG_REPLICA_DIR" pg-replica immediate; fi
    if has primary; then stop_cluster "$PG_PRIMARY_DIR" pg-primary immediate; fi
    ;;
  status)
    ok=0
    if has primary; then status_primary || ok=1; fi
    if has replica; then status_replica || ok=1; fi
    exit $ok
    ;;
  rebuild-replica)
    stop_cluster "$PG_REPLICA_DIR" pg-replica fast
    rm -rf "$PG_REPLICA_DIR"
    start_replica
    ;;
  *) echo "usage: $0 start|stop|kill|status [primary|replica|all] | rebuild-replica" >&2; exit 2 ;;
esac
