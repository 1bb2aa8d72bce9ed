#!/usr/bin/env bash
# Redis of the local stack: its own redis-server on 127.0.0.1:56379 (not the
# machine's 6379), no persistence (a cache), daemonized.
#
#   redis.sh start|stop|kill|status
#
# Log: .atlas/logs/redis.log; pid: .atlas/run/redis.pid.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PART=redis
LOG="$LOG_DIR/redis.log"
MARKER="127.0.0.1:$REDIS_PORT"

answers() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

case "${1:-start}" in
  start)
    if alive redis "$MARKER" && answers; then
      say "already running on $REDIS_PORT"
      exit 0
    fi
    command -v redis-server >/dev/null || fail redis "" "redis-server is not installed: apt-get install redis-server"
    require_free_port redis "$REDIS_PORT"
    mkdir -p "$ATLAS_DIR/redis"
    (close_inherited_fds && exec redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
      --daemonize yes --pidfile "$(pid_file redis)" --logfile "$LOG" --dir "$ATLAS_DIR/redis") \
      >>"$LOG" 2>&1 || fail redis "$LOG" "redis-server did not start"
    wait_for "$PART_TIMEOUT" answers || fail redis "$LOG" "no PONG from 127.0.0.1:$REDIS_PORT"
    say "running on $REDIS_PORT"
    ;;
  stop)
    # SIGTERM: redis exits at once (nothing to save).
    if alive redis "$MARKER"; then stop_pid redis "$MARKER" TERM 10 && say "stopped"; else rm -f "$(pid_file redis)"; fi
    ;;
  kill)
    if alive redis "$MARKER"; then stop_pid redis "$MARKER" KILL 10 && say "killed"; else rm -f "$(pid_file redis)"; fi
    ;;
  status) alive redis "$MARKER" && answers ;;
  *) echo "usage: $0 start|stop|kill|status" >&2; exit 2 ;;
esac
