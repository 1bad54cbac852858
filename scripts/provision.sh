#!/usr/bin/env bash
# Makes this machine able to run every test suite, as the first step of `npm test`:
#   - Debian packages: redis-server (the Redis ledger tests start their own servers on
#     free ports), openssl (their TLS certificates), prometheus (the collector
#     end-to-end test's remote-write receiver), chromium (PNGs of the HTML report and
#     of the Prometheus queries);
#   - the collector and Jaeger v2, built from the Go module proxy by
#     scripts/build-otel-binaries.sh and cached by hash under ~/.cache/tollgate/otel-bin
#     (about 10 minutes once per machine and pin; nothing after that).
# Idempotent: when everything is there it only checks (tens of milliseconds) and says
# so in one line. It installs loudly when it can (as root, with apt-get), and otherwise
# stops with one line naming what is missing and the command that provides it. Tests
# are never skipped for a missing program: this script provides it or the run fails.
#
# Env: TOLLGATE_OTEL_CACHE / TOLLGATE_GO_BUILD_P are passed on to
#      scripts/build-otel-binaries.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "provision: $*" >&2; }
die() { echo "npm test cannot run here: $*" >&2; exit 1; }

# program -> Debian package
declare -A package_of=(
  [redis-server]=redis-server
  [openssl]=openssl
  [prometheus]=prometheus
  [chromium]=chromium
)
# The tests run some of these by their Debian paths (/usr/bin/redis-server in
# test/support/redis-server.ts, /usr/bin/chromium in test/report/html.test.ts), where
# the packages put them, so /usr/bin on PATH finds the same files.
have() { command -v "$1" >/dev/null 2>&1; }

missing=()
for program in redis-server openssl prometheus chromium; do
  have "$program" || missing+=("${package_of[$program]}")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "missing ${missing[*]}: install the Debian packages (sudo apt-get install -y --no-install-recommends ${missing[*]}), or run npm test as root on Debian to have it done"
  fi
  say "installing Debian packages: ${missing[*]} (apt-get; once per machine)"
  apt-get update -qq >&2 || die "apt-get update failed (see above): install ${missing[*]} by hand, then run npm test again"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed (see above): install them by hand, then run npm test again"
  for program in "${!package_of[@]}"; do
    have "$program" || die "apt-get installed ${missing[*]} but $program is still not on PATH: install ${package_of[$program]} by hand"
  done
  # Debian's prometheus package may start its own server on :9090; the e2e test runs its own on a free port.
fi

# The collector and Jaeger: a hash check when cached, a Go build otherwise.
command -v go >/dev/null 2>&1 || { [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"; }
if ! command -v go >/dev/null 2>&1; then
  die "missing Go, which builds the collector and Jaeger for the end-to-end test: install Go 1.26+ (on PATH or in /usr/local/go), then run npm test again"
fi
bins="$(bash scripts/build-otel-binaries.sh)" \
  || die "building the collector and Jaeger failed (log above): fix it, then run npm test again"
say "ready: redis-server, openssl, prometheus, chromium present; collector and Jaeger in ${bins##*$'\n'}"
