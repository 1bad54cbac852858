#!/usr/bin/env bash
# Installs what the test suites need beyond npm packages. Idempotent: run it
# again and it only checks. Used by .ci/run and by developers on a new machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# Collector end-to-end test (test/e2e/collector.test.ts): Debian's Prometheus (remote-write
# receiver) and Chromium (PNG of the queries), and the collector + Jaeger v2 built from the Go
# module proxy into ~/.cache/tollgate/otel-bin/<hash>/ (a no-op when cached; fails loudly on a failed build).
need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
# Debian's package may start its own Prometheus on :9090; the test runs its own on a free port.
bash scripts/build-otel-binaries.sh
