#!/usr/bin/env bash
# npm run stack:up — starts the real local stack, idempotently, and writes
# .atlas/stack.env. Parts already running (pid alive and a real probe answers)
# are left alone, so a second run takes a second or two.
#
# Three chains run side by side (2 cores: the JVMs dominate):
#   postgres: pg-primary (initdb on first run) -> pg-replica (pg_basebackup on first run)
#   redis
#   kafka:    jars (mvn copy from ~/.m2, skipped when complete) -> kafka -> connect,
#             and s3 (S3Proxy, needs only the jars) beside kafka -> connect
#
# On failure: names the part, prints the last 40 lines of its log, exits 1.
# .atlas/run/up-started lists the parts this run started (npm test stops only those).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PART=up

# One up/down at a time per checkout; flock -o keeps the lock out of the daemons.
if [ -z "${ATLAS_STACK_LOCKED:-}" ]; then
  ATLAS_STACK_LOCKED=1 exec flock -o "$RUN_DIR/stack.lock" bash "$0" "$@"
fi

PARTS=(jars pg-primary pg-replica redis kafka connect s3)
T0=$(now_ms)
rm -f "$RUN_DIR"/up-*.out "$RUN_DIR"/up-*.result

# run_part NAME COMMAND...: output to .atlas/run/up-NAME.out, "rc seconds" to up-NAME.result.
run_part() {
  local name="$1" t rc=0
  shift
  t=$(now_ms)
  "$@" >"$RUN_DIR/up-$name.out" 2>&1 || rc=$?
  echo "$rc $(since "$t")" >"$RUN_DIR/up-$name.result"
  return "$rc"
}

S="$STACK_DIR"
(run_part pg-primary bash "$S/postgres.sh" start primary && run_part pg-replica bash "$S/postgres.sh" start replica) &
pg_chain=$!
(run_part redis bash "$S/redis.sh" start) &
redis_chain=$!
(
  run_part jars bash "$S/jars.sh" || exit 1
  run_part s3 bash "$S/s3.sh" start &
  # Each part's outcome is in its up-*.result (read below); the chain just waits for s3 too.
  { run_part kafka bash "$S/kafka.sh" start && run_part connect bash "$S/connect.sh" start; } || true
  wait
) &
kafka_chain=$!
wait "$pg_chain" "$redis_chain" "$kafka_chain" || true

failed=()
: >"$RUN_DIR/up-started"
printf '%-11s %-16s %s\n' part state time
for p in "${PARTS[@]}"; do
  if [ ! -f "$RUN_DIR/up-$p.result" ]; then
    printf '%-11s %-16s\n' "$p" "not tried"
    failed+=("$p")
    continue
  fi
  read -r rc took <"$RUN_DIR/up-$p.result"
  if [ "$rc" != 0 ]; then
    state=FAILED
    failed+=("$p")
  elif grep -q "^\[$p\] already" "$RUN_DIR/up-$p.out"; then
    state="already up"
    [ "$p" = jars ] && state="in place"
  else
    state=started
    [ "$p" = jars ] || echo "$p" >>"$RUN_DIR/up-started"
  fi
  printf '%-11s %-16s %s\n' "$p" "$state" "$took"
done

if [ "${#failed[@]}" -gt 0 ]; then
  rm -f "$ATLAS_DIR/stack.env"
  for p in "${failed[@]}"; do
    [ -f "$RUN_DIR/up-$p.out" ] && { echo; cat "$RUN_DIR/up-$p.out"; } >&2
  done
  echo >&2
  echo "stack:up FAILED (${failed[*]}) after $(since "$T0"); logs in $LOG_DIR" >&2
  exit 1
fi

# The connection settings, in the names of app/shared/config.ts; the ATLAS_STACK*
# lines tell the test harness (and people) what is up and where it lives.
cat >"$ATLAS_DIR/stack.env.tmp" <<EOF
DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PRIMARY_PORT/atlas
DATABASE_REPLICA_URLS=postgres://postgres@127.0.0.1:$PG_REPLICA_PORT/atlas
REDIS_URL=redis://127.0.0.1:$REDIS_PORT
KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
KAFKA_CONNECT_URL=http://127.0.0.1:$CONNECT_PORT
WAREHOUSE_URL=postgres://postgres@127.0.0.1:$PG_PRIMARY_PORT/atlas_warehouse
CDC_S3_BUCKET=$S3_BUCKET
CDC_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
CDC_S3_ACCESS_KEY_ID=$S3_ACCESS_KEY
CDC_S3_SECRET_ACCESS_KEY=$S3_SECRET_KEY
ATLAS_STACK=local
ATLAS_STACK_PARTS=pg-primary,pg-replica,redis,kafka,connect,s3
ATLAS_STACK_DIR=$ATLAS_DIR
ATLAS_STACK_PORT_OFFSET=$PORT_OFFSET
EOF
mv "$ATLAS_DIR/stack.env.tmp" "$ATLAS_DIR/stack.env"
echo "stack:up ready in $(since "$T0"); settings in $ATLAS_DIR/stack.env, logs in $LOG_DIR"
