#!/usr/bin/env bash
# Builds the two Go programs the collector end-to-end test and CI run, from the Go
# module proxy only:
#   - tollgate-otelcol: the collector described by collector-config/builder-config.yaml (ocb),
#     including the tollgate processor built from collector/tollgateprocessor/
#   - jaeger: Jaeger v2 all-in-one, pinned by the wrapper module collector-config/jaeger/
# Binaries are cached in <cache>/<hash>/ where <hash> covers the manifest, the processor's
# sources (go.mod, go.sum, non-test .go files, the embedded prices.json), the wrapper
# go.mod/go.sum, the Go version and this recipe, so a changed pin or processor rebuilds and
# an unchanged one costs nothing. Jaeger is cached on its own (<cache>/jaeger-<hash>/, its
# hash covering only its wrapper module), so a processor change does not rebuild Jaeger. The cache lives outside the work tree so that every clone on a machine
# (CI runs in a fresh one) shares it. Idempotent; fails loudly (non-zero exit, log tail on stderr).
# Prints the directory holding `otelcol` and `jaeger` as the last line of stdout.
#
# Env: TOLLGATE_OTEL_CACHE (cache root, default ${XDG_CACHE_HOME:-~/.cache}/tollgate/otel-bin),
#      TOLLGATE_GO_BUILD_P (go build -p; default 1 on a shared machine, 2 under CI=true).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
manifest="$root/collector-config/builder-config.yaml"
jaeger_mod="$root/collector-config/jaeger"
processor_dir="$root/collector/tollgateprocessor"
cache_root="${TOLLGATE_OTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate/otel-bin}"
# Bump when the recipe below changes in a way that changes the binaries.
recipe=2
ocb_version="$(sed -n 's/^ *version: *\([0-9][0-9.]*\) *$/\1/p' "$manifest" | head -n1)"

# Go's default install location, for environments whose PATH lacks it.
command -v go >/dev/null 2>&1 || { [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"; }
command -v go >/dev/null 2>&1 || { echo "build-otel-binaries: 'go' not found on PATH (install Go 1.26+)" >&2; exit 1; }
[ -n "$ocb_version" ] || { echo "build-otel-binaries: no dist.version in $manifest" >&2; exit 1; }

# The processor's build inputs, in a stable order (names and contents).
processor_sources() {
  (cd "$processor_dir" && find . -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum -o -name prices.json \) ! -path './testdata/*' | LC_ALL=C sort | while read -r f; do echo "$f"; cat "$f"; done)
}
jaeger_hash="$( { echo "recipe=$recipe"; go version; cat "$jaeger_mod/go.mod" "$jaeger_mod/go.sum"; } | sha256sum | cut -c1-16)"
hash="$( { echo "recipe=$recipe"; go version; cat "$manifest"; processor_sources; echo "jaeger=$jaeger_hash"; } | sha256sum | cut -c1-16)"
out="$cache_root/$hash"
jaeger_out="$cache_root/jaeger-$jaeger_hash"

if [ -x "$out/otelcol" ] && [ -x "$out/jaeger" ] && [ -f "$out/.complete" ]; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9
# Another process may have finished the build while we waited for the lock.
if [ -x "$out/otelcol" ] && [ -x "$out/jaeger" ] && [ -f "$out/.complete" ]; then
  echo "$out"
  exit 0
fi

default_p=1
[ "${CI:-}" = "true" ] && default_p=2
export GOFLAGS="-p=${TOLLGATE_GO_BUILD_P:-$default_p} -buildvcs=false"
export CGO_ENABLED=0

work="$(mktemp -d "$cache_root/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log="$work/build.log"
fail() {
  echo "build-otel-binaries: $1 failed; last lines of $log:" >&2
  tail -n 40 "$log" >&2 || true
  cp "$log" "$cache_root/last-failed-build.log" 2>/dev/null && echo "(full log: $cache_root/last-failed-build.log)" >&2
  exit 1
}

ocb="$cache_root/tools/builder-v$ocb_version/builder"
if [ ! -x "$ocb" ]; then
  echo "build-otel-binaries: installing ocb v$ocb_version" >&2
  GOBIN="$(dirname "$ocb")" go install "go.opentelemetry.io/collector/cmd/builder@v$ocb_version" >>"$log" 2>&1 \
    || fail "go install go.opentelemetry.io/collector/cmd/builder@v$ocb_version"
fi

start=$(date +%s)
echo "build-otel-binaries: building the collector with ocb (GOFLAGS=$GOFLAGS); this takes minutes" >&2
sed "s#^\( *output_path:\).*#\1 $work/otelcol-src#" "$manifest" >"$work/manifest.yaml"
# ocb resolves a module's local `path` against its working directory: the manifest's own.
(cd "$root/collector-config" && "$ocb" --config "$work/manifest.yaml" --ldflags "-s -w") >>"$log" 2>&1 || fail "ocb build"
echo "build-otel-binaries: collector built in $(( $(date +%s) - start ))s" >&2
"$work/otelcol-src/tollgate-otelcol" --version >>"$log" 2>&1 || fail "running the built collector"

if [ ! -x "$jaeger_out/jaeger" ]; then
  start=$(date +%s)
  echo "build-otel-binaries: building Jaeger v2 from the wrapper module" >&2
  mkdir -p "$work/jaeger-src"
  cp "$jaeger_mod/go.mod" "$jaeger_mod/go.sum" "$work/jaeger-src/"
  (cd "$work/jaeger-src" && go build -mod=readonly -ldflags "-s -w" -o "$work/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger) >>"$log" 2>&1 \
    || fail "go build jaeger"
  echo "build-otel-binaries: jaeger built in $(( $(date +%s) - start ))s" >&2
  "$work/jaeger" version >>"$log" 2>&1 || fail "running the built jaeger"
  rm -rf "$jaeger_out.tmp" && mkdir -p "$jaeger_out.tmp" && mv "$work/jaeger" "$jaeger_out.tmp/jaeger"
  rm -rf "$jaeger_out" && mv "$jaeger_out.tmp" "$jaeger_out"
fi

rm -rf "$out.tmp"
mkdir -p "$out.tmp"
mv "$work/otelcol-src/tollgate-otelcol" "$out.tmp/otelcol"
cp "$jaeger_out/jaeger" "$out.tmp/jaeger"
date -u +%FT%TZ >"$out.tmp/.complete"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"
