#!/usr/bin/env bash
# Installs the Debian packages the tests use as outside checkers, when missing:
#   prometheus  its promtool checks what /metrics serves (tests/integration/shared/metrics-format.test.ts)
# Idempotent and quick when they are there (dpkg -s). As root with apt-get; it
# waits for another apt run's lock instead of failing on it. Not root and
# missing: it says what to install and fails.
#   bash scripts/debian-packages.sh [PACKAGE...]   (default: all of the above)
set -euo pipefail
PACKAGES=("$@")
[ "${#PACKAGES[@]}" -gt 0 ] || PACKAGES=(prometheus)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "debian-packages: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
LOG="$(mktemp)"
echo "debian-packages: installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1; }
if ! apt_install; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq >>"$LOG" 2>&1 || true
  apt_install || { echo "debian-packages: FAILED to install ${missing[*]}:" >&2; tail -n 20 "$LOG" >&2; exit 1; }
fi
rm -f "$LOG"
