#!/usr/bin/env bash
# Installs what the test suites need beyond npm packages. Idempotent: run it
# again and it only checks. Used by .ci/run and by developers on a new machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages:
# - redis-server: the Redis ledger tests start their own servers on free ports;
# - prometheus: the collector end-to-end test (remote-write receiver);
# - chromium: PNGs of the report's HTML and of the Prometheus queries.
need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
# Debian's prometheus package may start its own server on :9090; the e2e test runs its own on a free port.

# The collector (ocb) and Jaeger v2, built from the Go module proxy into
# ~/.cache/tollgate/otel-bin/<hash>/ (a no-op when cached; fails loudly on a failed build).
bash scripts/build-otel-binaries.sh
