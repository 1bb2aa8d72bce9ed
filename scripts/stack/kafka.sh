#!/usr/bin/env bash
# Apache Kafka 4.1 of the local stack: one JVM in KRaft combined mode (broker +
# controller, node 1), broker on 127.0.0.1:59092, controller on 127.0.0.1:59093,
# jars from Maven Central (jars.sh), data under .atlas/kafka/data.
#
#   kafka.sh start|stop|kill|status
#
# stop = SIGTERM (controlled shutdown), kill = SIGKILL (crash; the log recovers on
# next start). Log: .atlas/logs/kafka.log; pid: .atlas/run/kafka.pid.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PART=kafka
LOG="$LOG_DIR/kafka.log"
KAFKA_DIR="$ATLAS_DIR/kafka"
CONFIG="$KAFKA_DIR/server.properties"
MARKER="$CONFIG"

probe() { # TIMEOUT_SECONDS [PID]
  node "$STACK_DIR/probe-kafka.js" "127.0.0.1:$KAFKA_PORT" "$@"
}

write_config() {
  mkdir -p "$KAFKA_DIR/data"
  cat >"$CONFIG" <<EOF
# written by scripts/stack/kafka.sh
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DIR/data

# one node: every internal topic has one replica
auto.create.topics.enable=true
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# a dev box: keep a day of data
log.retention.hours=24
EOF
}

format_storage() {
  [ -f "$KAFKA_DIR/data/meta.properties" ] && return 0
  local cluster_id
  # 16 random bytes, base64url without padding: the shape of a Kafka cluster id.
  cluster_id="$(node -e 'process.stdout.write(require("crypto").randomBytes(16).toString("base64url"))')"
  say "formatting $KAFKA_DIR/data (cluster id $cluster_id)"
  "$(java_bin)" -Xmx256m -Dlog4j2.configurationFile="$STACK_DIR/log4j2.properties" -cp "$LIB_DIR/kafka/*" \
    kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" >>"$LOG" 2>&1 ||
    fail kafka "$LOG" "kafka-storage format failed"
}

case "${1:-start}" in
  start)
    if alive kafka "$MARKER" && probe 5; then
      say "already running on $KAFKA_PORT"
      exit 0
    fi
    alive kafka "$MARKER" && fail kafka "$LOG" "the broker process (pid $(read_pid kafka)) runs but does not answer; try: $0 stop"
    bash "$STACK_DIR/jars.sh"
    require_free_port kafka "$KAFKA_PORT"
    require_free_port kafka "$KAFKA_CONTROLLER_PORT"
    write_config
    format_storage
    spawn kafka "$LOG" "$(java_bin)" -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$STACK_DIR/log4j2.properties" -cp "$LIB_DIR/kafka/*" \
      kafka.Kafka "$CONFIG"
    probe "$PART_TIMEOUT" "$(read_pid kafka)" 2>>"$LOG" ||
      fail kafka "$LOG" "no answer from the broker on 127.0.0.1:$KAFKA_PORT"
    say "running on $KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)"
    ;;
  stop)
    if alive kafka "$MARKER"; then stop_pid kafka "$MARKER" TERM 60 && say "stopped"; else rm -f "$(pid_file kafka)"; fi
    ;;
  kill)
    if alive kafka "$MARKER"; then stop_pid kafka "$MARKER" KILL 10 && say "killed"; else rm -f "$(pid_file kafka)"; fi
    ;;
  status) alive kafka "$MARKER" && probe 5 2>/dev/null ;;
  *) echo "usage: $0 start|stop|kill|status" >&2; exit 2 ;;
esac
