#!/usr/bin/env bash
# Is the local stack up? Prints one line per part (unless -q); exits 0 only when
# every part runs and answers its probe.
#   status.sh [-q]
set -uo pipefail
source "$(dirname "$0")/lib.sh"
quiet=0
[ "${1:-}" = -q ] && quiet=1

rc=0
check() { # NAME COMMAND...
  local name="$1" state=up
  shift
  "$@" >/dev/null 2>&1 || { state=down; rc=1; }
  [ "$quiet" = 1 ] || printf '%-11s %s\n' "$name" "$state"
}
check pg-primary bash "$STACK_DIR/postgres.sh" status primary
check pg-replica bash "$STACK_DIR/postgres.sh" status replica
check redis bash "$STACK_DIR/redis.sh" status
check kafka bash "$STACK_DIR/kafka.sh" status
check connect bash "$STACK_DIR/connect.sh" status
check s3 bash "$STACK_DIR/s3.sh" status
exit "$rc"
