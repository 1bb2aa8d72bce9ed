#!/usr/bin/env bash
# npm run stack:down — stops what stack:up started, idempotently:
# Connect, Kafka, replica, primary (pg_ctl -m fast), Redis, S3. Data stays for the next up.
#
#   down.sh [--purge] [PART...]
#     PART     any of connect kafka pg-replica pg-primary redis s3 (default: all, in that order)
#     --purge  also delete the stack's state under .atlas/ (clusters, Kafka data, S3 objects, jars,
#              logs, stack.env); other files under .atlas/ (npm start's) are left alone
#
# Only processes recorded in .atlas/ are touched: never the machine's PostgreSQL on
# 5432 or Redis on 6379.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PART=down

if [ -z "${ATLAS_STACK_LOCKED:-}" ]; then
  ATLAS_STACK_LOCKED=1 exec flock -o "$RUN_DIR/stack.lock" bash "$0" "$@"
fi

purge=0
parts=()
for arg in "$@"; do
  case "$arg" in
    --purge) purge=1 ;;
    connect | kafka | pg-replica | pg-primary | redis | s3) parts+=("$arg") ;;
    *) echo "usage: $0 [--purge] [connect|kafka|pg-replica|pg-primary|redis|s3]..." >&2; exit 2 ;;
  esac
done
[ "${#parts[@]}" -gt 0 ] || parts=(connect kafka pg-replica pg-primary redis s3)

rc=0
for p in connect kafka pg-replica pg-primary redis s3; do
  [[ " ${parts[*]} " == *" $p "* ]] || continue
  case "$p" in
    connect) bash "$STACK_DIR/connect.sh" stop || rc=1 ;;
    kafka) bash "$STACK_DIR/kafka.sh" stop || rc=1 ;;
    pg-replica) bash "$STACK_DIR/postgres.sh" stop replica || rc=1 ;;
    pg-primary) bash "$STACK_DIR/postgres.sh" stop primary || rc=1 ;;
    redis) bash "$STACK_DIR/redis.sh" stop || rc=1 ;;
    s3) bash "$STACK_DIR/s3.sh" stop || rc=1 ;;
  esac
done
# Stopped parts make the settings file a lie.
rm -f "$ATLAS_DIR/stack.env"

if [ "$purge" = 1 ]; then
  [ "$rc" = 0 ] || { echo "[down] not purging: a part did not stop" >&2; exit 1; }
  rm -rf "$ATLAS_DIR/pg" "$ATLAS_DIR/kafka" "$ATLAS_DIR/connect" "$ATLAS_DIR/redis" "$ATLAS_DIR/s3" \
    "$LIB_DIR" "$LOG_DIR" "$RUN_DIR"/*.pid "$RUN_DIR"/up-* "$RUN_DIR"/test-*
  echo "[down] purged the stack's state under $ATLAS_DIR"
fi
exit "$rc"
