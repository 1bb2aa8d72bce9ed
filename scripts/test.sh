#!/usr/bin/env bash
# npm test — every suite against the real local stack:
#   1. install the Debian packages the tests use as checkers (scripts/debian-packages.sh),
#      bring the stack up if it is not (scripts/stack/up.sh) and export .atlas/stack.env
#   2. mocha: tests/unit, then tests/infra, then tests/integration (a suite without
#      test files is skipped, not failed); all three run even when one fails
#   3. stop the parts of the stack that npm test started, and only those
#   npm test -- FILE...   runs just those test files (stack handling as above)
#
# Several `npm test` runs may share one checkout's stack (other people's runs): each
# run holds a lease in .atlas/run/test-leases/, and the parts a test run started are
# stopped by whichever run ends last.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
STACK="$ROOT/scripts/stack"
RUN_DIR="$ROOT/.atlas/run"
LEASES="$RUN_DIR/test-leases"
STARTED="$RUN_DIR/test-started" # parts started by test runs, stopped by the last one
mkdir -p "$LEASES"

# with_lock COMMAND...: one test run at a time brings the stack up or down. The lock
# fd is not handed on to COMMAND (flock -o), so no daemon ends up holding it.
with_lock() { flock -o "$RUN_DIR/test.lock" "$@"; }

stack_up() {
  if bash "$STACK/status.sh" -q && [ -f "$ROOT/.atlas/stack.env" ]; then
    echo "test: the local stack is already up; using it"
    return 0
  fi
  echo "test: starting the local stack (scripts/stack/up.sh)"
  local rc=0
  bash "$STACK/up.sh" || rc=$?
  # Even a failed up may have started some parts: they are ours to stop.
  cat "$RUN_DIR/up-started" >>"$STARTED" 2>/dev/null
  return "$rc"
}

release() { # OUR_PID
  rm -f "$LEASES/$1"
  local lease others=0
  for lease in "$LEASES"/*; do
    [ -e "$lease" ] || continue
    if kill -0 "$(basename "$lease")" 2>/dev/null; then others=1; else rm -f "$lease"; fi
  done
  [ -s "$STARTED" ] || return 0
  if [ "$others" = 1 ]; then
    echo "test: another npm test is still using the stack; it will stop what was started"
    return 0
  fi
  echo "test: stopping the stack parts npm test started: $(sort -u "$STARTED" | tr '\n' ' ')"
  # shellcheck disable=SC2046 # one part name per word
  bash "$STACK/down.sh" $(sort -u "$STARTED") && rm -f "$STARTED"
}
# Exported for with_lock's child shells.
export -f stack_up release
export STACK RUN_DIR LEASES STARTED ROOT

touch "$LEASES/$$"
trap 'with_lock bash -c "release $$"' EXIT
trap 'exit 130' INT TERM

bash "$ROOT/scripts/debian-packages.sh" || {
  echo "test: FAILED to install the Debian packages the tests need (see above)" >&2
  exit 1
}
with_lock bash -c stack_up || {
  echo "test: FAILED to bring the local stack up (see above)" >&2
  exit 1
}
set -a
# shellcheck source=/dev/null
source "$ROOT/.atlas/stack.env"
set +a

MOCHA="$ROOT/node_modules/.bin/mocha"
[ -x "$MOCHA" ] || { echo "test: mocha is missing: run npm install first" >&2; exit 1; }
SUMMARY="$(mktemp)"

# run_suite NAME FILE...: mocha over the files; its "N passing/failing/pending" lines
# are collected for the closing summary.
run_suite() {
  local name="$1" rc=0
  shift
  echo
  echo "=== $name: $# test file(s)"
  "$MOCHA" "$@" 2>&1 | tee -a "$SUMMARY" || rc=$?
  [ "$rc" = 0 ] || failed_suites+=("$name")
  return 0
}

status=0
failed_suites=()
if [ "$#" -gt 0 ]; then
  run_suite "selected" "$@"
else
  for suite in unit infra integration; do
    mapfile -t files < <(find "tests/$suite" -name '*.test.ts' -type f 2>/dev/null | sort)
    if [ "${#files[@]}" -eq 0 ]; then
      echo
      echo "=== $suite: no test files, skipped"
      continue
    fi
    run_suite "$suite" "${files[@]}"
  done
fi

count() { grep -Eo "^ +[0-9]+ $1" "$SUMMARY" | awk '{s += $1} END {print s + 0}'; }
passed=$(count passing)
failed=$(count failing)
pending=$(count pending)
rm -f "$SUMMARY"
echo
if [ "${#failed_suites[@]}" -gt 0 ]; then
  status=1
  echo "test: FAILED suites: ${failed_suites[*]}"
fi
echo "tests: $passed passed, $failed failed, $pending skipped"
exit "$status"
