# shellcheck shell=bash
# Shared settings and helpers of the local stack scripts. Sourced, never run.
#
# Everything the stack writes lives under <repo>/.atlas/ ; every process it starts
# listens on 127.0.0.1 only, on the fixed ports below (the machine's own
# PostgreSQL on 5432 and Redis on 6379 are never touched).
#
# ATLAS_STACK_PORT_OFFSET (default 0) shifts every port by that much, so a second
# checkout (a git worktree) can run its own stack beside this one: with 100, the
# primary listens on 55532. The offset is written into .atlas/stack.env with the
# URLs, so everything that reads that file follows it.

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$STACK_DIR/../.." && pwd)"
ATLAS_DIR="$REPO_ROOT/.atlas"
LOG_DIR="$ATLAS_DIR/logs"
RUN_DIR="$ATLAS_DIR/run"
LIB_DIR="$ATLAS_DIR/lib"

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
# Unset, it is the one this checkout's stack was started with, so status, down and
# npm test find that stack without being told again.
if [ -z "${ATLAS_STACK_PORT_OFFSET:-}" ] && [ -f "$ATLAS_DIR/stack.env" ]; then
  ATLAS_STACK_PORT_OFFSET="$(sed -n 's/^ATLAS_STACK_PORT_OFFSET=//p' "$ATLAS_DIR/stack.env")"
fi
PORT_OFFSET="${ATLAS_STACK_PORT_OFFSET:-0}"
PG_PRIMARY_PORT=$((55432 + PORT_OFFSET))
PG_REPLICA_PORT=$((55433 + PORT_OFFSET))
PG_PRIMARY_DIR="$ATLAS_DIR/pg/primary"
PG_REPLICA_DIR="$ATLAS_DIR/pg/replica"
PG_REPLICATION_SLOT=atlas_replica
REDIS_PORT=$((56379 + PORT_OFFSET))
KAFKA_PORT=$((59092 + PORT_OFFSET))
KAFKA_CONTROLLER_PORT=$((59093 + PORT_OFFSET))
CONNECT_PORT=$((58083 + PORT_OFFSET))
# The S3-compatible server of the CDC staging path (S3Proxy, s3.sh). The keys are
# local-only dummies: in AWS the loader signs with its task role.
S3_PORT=$((59000 + PORT_OFFSET))
S3_BUCKET=atlas-cdc-staging
S3_ACCESS_KEY=atlas-local
S3_SECRET_KEY=atlas-local-secret

# Seconds each part may take to answer before it counts as failed.
PART_TIMEOUT="${ATLAS_STACK_TIMEOUT:-90}"

mkdir -p "$LOG_DIR" "$RUN_DIR"

say() { printf '[%s] %s\n' "${PART:-stack}" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "${PART:-stack}" "$*" >&2; }

# Milliseconds since the epoch (bash 5 EPOCHREALTIME, no fork).
now_ms() { local t="${EPOCHREALTIME/./}"; echo $((t / 1000)); }
# Seconds since $1 (a now_ms value), one decimal.
since() { local d=$(($(now_ms) - $1)); printf '%d.%01ds' $((d / 1000)) $((d % 1000 / 100)); }

# fail PART LOGFILE MESSAGE: the one way a part reports failure.
fail() {
  local part="$1" logfile="$2"
  shift 2
  {
    echo "[$part] FAILED: $*"
    if [ -n "$logfile" ] && [ -f "$logfile" ]; then
      echo "[$part] last 40 lines of $logfile:"
      tail -n 40 "$logfile" | sed 's/^/    /'
    fi
  } >&2
  exit 1
}

# wait_for SECONDS COMMAND...: polls every 0.2 s until COMMAND succeeds.
wait_for() {
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# port_owner PORT: "pid cmdline" of the listener on 127.0.0.1:PORT, if any.
port_owner() {
  local pid
  pid="$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)"
  # the end of a command line names the data dir or config file, hence tail -c
  [ -n "$pid" ] && echo "pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | tr -s ' ' | tail -c 120)"
}

# require_free_port PART PORT: refuse to start when a foreign process holds our port
# (typically the stack of another checkout of this repository).
require_free_port() {
  local owner
  if port_open "$2"; then
    owner="$(port_owner "$2")"
    fail "$1" "" "port $2 is already taken by another process (${owner:-unknown});" \
      "if it is the stack of another checkout, stop it with that checkout's scripts/stack/down.sh"
  fi
}

# pid_file NAME / read_pid NAME / ours NAME: pid files of the processes we started.
pid_file() { echo "$RUN_DIR/$1.pid"; }
read_pid() { [ -f "$(pid_file "$1")" ] && cat "$(pid_file "$1")"; }

# alive NAME MARKER: the pid in NAME's pid file runs and its command line contains
# MARKER (guards against a recycled pid belonging to some other program).
alive() {
  local pid
  pid="$(read_pid "$1")" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# stop_pid NAME MARKER [SIGNAL] [GRACE_SECONDS]: signal our process, wait for it to
# go, SIGKILL after the grace period. SIGNAL KILL = crash it (fault injection).
stop_pid() {
  local name="$1" marker="$2" sig="${3:-TERM}" grace="${4:-30}" pid
  if ! alive "$name" "$marker"; then
    rm -f "$(pid_file "$name")"
    return 0
  fi
  pid="$(read_pid "$name")"
  kill -s "$sig" "$pid" 2>/dev/null || true
  if ! wait_for "$grace" bash -c "! kill -0 $pid"; then
    warn "$name (pid $pid) did not stop within ${grace}s; killing it"
    kill -s KILL "$pid" 2>/dev/null || true
    wait_for 10 bash -c "! kill -0 $pid" || true
  fi
  rm -f "$(pid_file "$name")"
}

# close_inherited_fds: closes every file descriptor above 2 of this (sub)shell,
# so the daemon it goes on to exec holds none of them for its whole life: not
# a flock of `npm test`, not a CI runner's pipe (CI waits for its EOF).
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd="${fd##*/}"
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
  done
  return 0
}

# spawn NAME LOGFILE COMMAND...: start a long-running process detached from this
# shell's session (so a Ctrl-C of `npm test` or the end of up.sh leaves it alone),
# its output appended to LOGFILE, its pid in NAME's pid file.
spawn() {
  local name="$1" logfile="$2"
  shift 2
  echo "==== $(date -u +%FT%TZ) start: $*" >>"$logfile"
  (close_inherited_fds && exec setsid "$@") >>"$logfile" 2>&1 </dev/null &
  echo $! >"$(pid_file "$name")"
}

java_bin() { echo "${JAVA_HOME:+$JAVA_HOME/bin/}java"; }
