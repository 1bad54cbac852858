/**
 * Runs the Go tests of the collector processor (collector/tollgateprocessor: table-driven
 * tests on the collector's processortest / consumertest helpers, the golden corpus replay,
 * config validation, price in force, self-telemetry) so `npm test` and CI fail with their output.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const MODULE_DIR = fileURLToPath(new URL('../../collector/tollgateprocessor/', import.meta.url));

function goBinary(): string {
  const onPath = spawnSync('bash', ['-c', 'command -v go'], { encoding: 'utf8' }).stdout.trim();
  if (onPath !== '') return onPath;
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('go not found on PATH or at /usr/local/go/bin/go: install Go 1.26+ (bash .ci/provision.sh does it)');
}

void test('go test ./... passes for the collector processor', () => {
  // -p 1: the machine (and CI) has few cores; the Go module proxy fills the module cache on first use.
  const r = spawnSync(goBinary(), ['test', '-count=1', './...'], {
    cwd: MODULE_DIR,
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: `-p=${process.env['CI'] === 'true' ? '2' : '1'}` },
    timeout: 20 * 60 * 1000,
  });
  assert.equal(r.status, 0, `go test failed (exit ${String(r.status)}):\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^ok\s+github\.com\/tollgate-dev\/tollgate\/collector\/tollgateprocessor\s/m);
});
