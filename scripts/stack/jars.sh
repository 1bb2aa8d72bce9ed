#!/usr/bin/env bash
# Copies the Kafka, Connect, Debezium and S3Proxy jars named in pom.xml from the Maven
# cache (~/.m2, filled from Maven Central on first use) into .atlas/lib/.
#
#   jars.sh          copy unless .atlas/lib already matches pom.xml
#   jars.sh status   exit 0 when the jar dirs are complete
#
# Layout:
#   .atlas/lib/kafka/*.jar                               broker + Connect worker classpath
#   .atlas/lib/plugins/debezium-connector-postgres/*.jar Connect plugin.path entry
#   .atlas/lib/s3proxy/s3proxy-*-jar-with-dependencies.jar the local S3 server (s3.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PART=jars
LOG="$LOG_DIR/jars.log"

KAFKA_LIB="$LIB_DIR/kafka"
DEBEZIUM_LIB="$LIB_DIR/plugins/debezium-connector-postgres"
S3PROXY_LIB="$LIB_DIR/s3proxy"
# The copy is complete when the stamp holds the checksum of the pom it came from.
STAMP="$LIB_DIR/.complete"
pom_sum() { sha256sum "$STACK_DIR/pom.xml" | cut -d' ' -f1; }

complete() { [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(pom_sum)" ]; }

# Copy into a fresh dir, then swap it in: a JVM still running on the old jars keeps
# its open files, and a failed copy never leaves a half-filled classpath behind.
copy_profile() { # PROFILE OUTPUT_DIR
  rm -rf "$2.new"
  mvn -q -B -f "$STACK_DIR/pom.xml" -P "$1" dependency:copy-dependencies \
    -DincludeScope=runtime -DexcludeGroupIds=io.confluent -DoutputDirectory="$2.new" >>"$LOG" 2>&1 &&
    rm -rf "$2" && mv "$2.new" "$2"
}

case "${1:-start}" in
  status) complete ;;
  start)
    if complete; then
      say "already in place in $LIB_DIR"
      exit 0
    fi
    command -v mvn >/dev/null || fail jars "" "mvn (Maven) is not installed: apt-get install maven"
    t0=$(now_ms)
    rm -f "$STAMP"
    : >"$LOG"
    # One JVM per profile: run them side by side.
    copy_profile kafka "$KAFKA_LIB" & k=$!
    copy_profile debezium "$DEBEZIUM_LIB" & d=$!
    copy_profile s3proxy "$S3PROXY_LIB" & s=$!
    wait "$k" || fail jars "$LOG" "mvn could not copy the Kafka jars (profile kafka of scripts/stack/pom.xml)"
    wait "$d" || fail jars "$LOG" "mvn could not copy the Debezium jars (profile debezium of scripts/stack/pom.xml)"
    wait "$s" || fail jars "$LOG" "mvn could not copy the S3Proxy jar (profile s3proxy of scripts/stack/pom.xml)"
    [ -f "$KAFKA_LIB/kafka_2.13-4.1.0.jar" ] || fail jars "$LOG" "kafka_2.13-4.1.0.jar missing after the copy"
    ls "$DEBEZIUM_LIB"/debezium-connector-postgres-*.jar >/dev/null 2>&1 ||
      fail jars "$LOG" "debezium-connector-postgres jar missing after the copy"
    ls "$S3PROXY_LIB"/s3proxy-*-jar-with-dependencies.jar >/dev/null 2>&1 ||
      fail jars "$LOG" "s3proxy jar-with-dependencies missing after the copy"
    pom_sum >"$STAMP"
    say "copied $(ls "$KAFKA_LIB" | wc -l) Kafka, $(ls "$DEBEZIUM_LIB" | wc -l) Debezium and the S3Proxy jars in $(since "$t0")"
    ;;
  *) echo "usage: $0 [start|status]" >&2; exit 2 ;;
esac
