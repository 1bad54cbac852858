#!/usr/bin/env bash
# Installs what the test suites need beyond npm packages. Idempotent: run it
# again and it only checks. Used by .ci/run and by developers on a new machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
