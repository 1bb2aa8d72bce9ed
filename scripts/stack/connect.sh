#!/usr/bin/env bash
# Kafka Connect of the local stack: one distributed worker (group atlas-connect),
# REST API on http://127.0.0.1:58083, JSON converters without schemas, the
# Debezium 3.3.1 PostgreSQL connector on its plugin.path. Connectors are
# registered by their owners (the CDC issue) through the REST API.
#
#   connect.sh start|stop|kill|status
#
# Log: .atlas/logs/connect.log; pid: .atlas/run/connect.pid.
# Needs Kafka (kafka.sh start) first.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PART=connect
LOG="$LOG_DIR/connect.log"
CONNECT_DIR="$ATLAS_DIR/connect"
CONFIG="$CONNECT_DIR/worker.properties"
MARKER="$CONFIG"
URL="http://127.0.0.1:$CONNECT_PORT"
PLUGIN_CLASS=io.debezium.connector.postgresql.PostgresConnector

# Ready = the Debezium plugin is listed and the worker has joined its group
# (GET /connectors answers 200 only then), so a connector can be posted at once.
answers() {
  curl -fsS -m 2 "$URL/connector-plugins" 2>/dev/null | grep -qF "$PLUGIN_CLASS" &&
    curl -fsS -m 2 -o /dev/null "$URL/connectors"
}
ready_or_dead() { # stop waiting early when the worker JVM has died
  answers && return 0
  alive connect "$MARKER" || { echo dead >"$CONNECT_DIR/.dead"; return 0; }
  return 1
}

write_config() {
  mkdir -p "$CONNECT_DIR"
  cat >"$CONFIG" <<EOC
# written by scripts/stack/connect.sh
bootstrap.servers=127.0.0.1:$KAFKA_PORT
group.id=atlas-connect
listeners=http://127.0.0.1:$CONNECT_PORT
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$CONNECT_PORT

key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false

config.storage.topic=atlas-connect-configs
config.storage.replication.factor=1
offset.storage.topic=atlas-connect-offsets
offset.storage.replication.factor=1
offset.storage.partitions=5
status.storage.topic=atlas-connect-status
status.storage.replication.factor=1
status.storage.partitions=1
# commit source offsets (Debezium's LSN) every second: small replays after a crash
offset.flush.interval.ms=1000

plugin.path=$LIB_DIR/plugins
# Debezium ships ServiceLoader manifests (KIP-898): no slow classpath scan.
plugin.discovery=service_load
EOC
}

case "${1:-start}" in
  start)
    if alive connect "$MARKER" && answers; then
      say "already running on $CONNECT_PORT"
      exit 0
    fi
    alive connect "$MARKER" && fail connect "$LOG" "the worker process (pid $(read_pid connect)) runs but does not answer; try: $0 stop"
    bash "$STACK_DIR/jars.sh" status || fail connect "" "jars missing: run scripts/stack/jars.sh (or up.sh)"
    bash "$STACK_DIR/kafka.sh" status || fail connect "" "Kafka is not running: start it first (scripts/stack/kafka.sh start)"
    require_free_port connect "$CONNECT_PORT"
    write_config
    rm -f "$CONNECT_DIR/.dead"
    spawn connect "$LOG" "$(java_bin)" -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$STACK_DIR/log4j2.properties" -cp "$LIB_DIR/kafka/*" \
      org.apache.kafka.connect.cli.ConnectDistributed "$CONFIG"
    wait_for "$PART_TIMEOUT" ready_or_dead || fail connect "$LOG" "no answer from $URL (or $PLUGIN_CLASS not listed)"
    [ -f "$CONNECT_DIR/.dead" ] && fail connect "$LOG" "the worker exited during start-up"
    say "running on $CONNECT_PORT with $PLUGIN_CLASS"
    ;;
  stop)
    if alive connect "$MARKER"; then stop_pid connect "$MARKER" TERM 60 && say "stopped"; else rm -f "$(pid_file connect)"; fi
    ;;
  kill)
    if alive connect "$MARKER"; then stop_pid connect "$MARKER" KILL 10 && say "killed"; else rm -f "$(pid_file connect)"; fi
    ;;
  status) alive connect "$MARKER" && answers ;;
  *) echo "usage: $0 start|stop|kill|status" >&2; exit 2 ;;
esac
