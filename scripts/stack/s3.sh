#!/usr/bin/env bash
# The S3-compatible server of the local stack: S3Proxy (Maven Central, jars.sh) on
# http://127.0.0.1:59000 with its filesystem backend under .atlas/s3/data, SigV4
# with the local dummy keys of lib.sh, and the CDC staging bucket atlas-cdc-staging.
# The CDC loader stages micro-batches there exactly as it does in S3 on AWS.
#
#   s3.sh start|stop|kill|status
#
# Log: .atlas/logs/s3.log; pid: .atlas/run/s3.pid.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PART=s3
LOG="$LOG_DIR/s3.log"
S3_DIR="$ATLAS_DIR/s3"
CONFIG="$S3_DIR/s3proxy.conf"
MARKER="$CONFIG"

# Answers = a SigV4-signed HeadBucket of the staging bucket succeeds (the server
# speaks S3, accepts our keys, and the bucket exists), with the client the loader uses.
answers() {
  (cd "$REPO_ROOT" && S3_PORT="$S3_PORT" S3_BUCKET="$S3_BUCKET" S3_ACCESS_KEY="$S3_ACCESS_KEY" S3_SECRET_KEY="$S3_SECRET_KEY" node -e '
    const { S3Client, HeadBucketCommand } = require("@aws-sdk/client-s3");
    const e = process.env;
    const s3 = new S3Client({ region: "us-east-1", endpoint: `http://127.0.0.1:${e.S3_PORT}`, forcePathStyle: true,
      credentials: { accessKeyId: e.S3_ACCESS_KEY, secretAccessKey: e.S3_SECRET_KEY }, maxAttempts: 1 });
    s3.send(new HeadBucketCommand({ Bucket: e.S3_BUCKET })).then(() => process.exit(0), () => process.exit(1));
  ') 2>/dev/null
}

write_config() {
  mkdir -p "$S3_DIR/data"
  cat >"$CONFIG" <<CONF
# written by scripts/stack/s3.sh
s3proxy.endpoint=http://127.0.0.1:$S3_PORT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$S3_ACCESS_KEY
s3proxy.credential=$S3_SECRET_KEY
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=$S3_DIR/data
CONF
  # The filesystem backend's buckets are its base dir's directories.
  mkdir -p "$S3_DIR/data/$S3_BUCKET"
}

case "${1:-start}" in
  start)
    if alive s3 "$MARKER" && answers; then
      say "already running on $S3_PORT"
      exit 0
    fi
    alive s3 "$MARKER" && fail s3 "$LOG" "the S3Proxy process (pid $(read_pid s3)) runs but does not answer; try: $0 stop"
    bash "$STACK_DIR/jars.sh"
    require_free_port s3 "$S3_PORT"
    write_config
    jar="$(ls "$LIB_DIR"/s3proxy/s3proxy-*-jar-with-dependencies.jar | head -n1)"
    spawn s3 "$LOG" "$(java_bin)" -Xms64m -Xmx256m -XX:+UseSerialGC -Djava.awt.headless=true \
      -jar "$jar" --properties "$CONFIG"
    wait_for "$PART_TIMEOUT" answers || fail s3 "$LOG" "no S3 answer (HeadBucket $S3_BUCKET) from 127.0.0.1:$S3_PORT"
    say "running on $S3_PORT (bucket $S3_BUCKET)"
    ;;
  stop)
    # SIGTERM: Jetty stops at once; objects are files already.
    if alive s3 "$MARKER"; then stop_pid s3 "$MARKER" TERM 20 && say "stopped"; else rm -f "$(pid_file s3)"; fi
    ;;
  kill)
    if alive s3 "$MARKER"; then stop_pid s3 "$MARKER" KILL 10 && say "killed"; else rm -f "$(pid_file s3)"; fi
    ;;
  status) alive s3 "$MARKER" && answers ;;
  *) echo "usage: $0 start|stop|kill|status" >&2; exit 2 ;;
esac
