/**
 * `npm test` on a new machine provisions what its suites need (scripts/provision.sh) or
 * stops with one line saying what is missing and how to get it; `.ci/run` is the README's
 * commands and nothing else. The missing programs are simulated with a PATH of symlinks
 * that leaves them out, and `id` / `apt-get` are stand-ins on that PATH, so the root and
 * non-root paths run without installing anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface FakeMachine {
  readonly bin: string;
  readonly aptLog: string;
  remove(): void;
}

/**
 * A PATH directory holding every program of /usr/bin and /bin except `without`, plus Go,
 * an `id` that reports `uid`, and an `apt-get` that records its arguments and, on
 * `install`, links the real programs in (or fails, with `aptFails`).
 */
function fakeMachine(without: readonly string[], uid: number, aptFails = false): FakeMachine {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-provision-'));
  const bin = join(dir, 'bin');
  const aptLog = join(dir, 'apt.log');
  spawnSync('mkdir', [bin]);
  for (const from of ['/usr/bin', '/bin', '/usr/local/go/bin']) {
    if (!existsSync(from)) continue;
    for (const name of readdirSync(from)) {
      if (without.includes(name) || name === 'id' || name === 'apt-get' || existsSync(join(bin, name))) continue;
      symlinkSync(join(from, name), join(bin, name));
    }
  }
  writeFileSync(join(bin, 'id'), `#!/bin/sh\necho ${String(uid)}\n`, { mode: 0o755 });
  const links = without.map((p) => `ln -s /usr/bin/${p} ${bin}/${p}`).join('\n');
  writeFileSync(
    join(bin, 'apt-get'),
    `#!/bin/sh\necho "$*" >> ${aptLog}\ncase "$1" in install) ${aptFails ? 'echo "E: Unable to locate package" >&2; exit 100' : links} ;; esac\n`,
    { mode: 0o755 },
  );
  return { bin, aptLog, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function provision(path: string): { status: number | null; stderr: string } {
  const r = spawnSync('/bin/bash', ['scripts/provision.sh'], { cwd: ROOT, env: { ...process.env, PATH: path }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr };
}

void test('with everything present provisioning is a check that prints one line', () => {
  const r = provision(process.env.PATH ?? '');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', /^provision: ready: redis-server, openssl, prometheus, chromium present; collector and Jaeger in \/.+\/otel-bin\/[0-9a-f]{16}$/);
});

void test('not root: one line naming the missing packages and the command that installs them; apt-get is not run', (t) => {
  const m = fakeMachine(['redis-server', 'chromium'], 1000);
  t.after(() => m.remove());
  const r = provision(m.bin);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    'npm test cannot run here: missing redis-server chromium: install the Debian packages (sudo apt-get install -y --no-install-recommends redis-server chromium), or run npm test as root on Debian to have it done\n',
  );
  assert.equal(existsSync(m.aptLog), false);
});

void test('root with apt-get: installs the missing packages, says so, then goes on to the Go builds', (t) => {
  const m = fakeMachine(['redis-server', 'chromium'], 0);
  t.after(() => m.remove());
  const r = provision(m.bin);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readFileSync(m.aptLog, 'utf8').trimEnd().split('\n'), ['update -qq', 'install -y -qq --no-install-recommends redis-server chromium']);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines[0], 'provision: installing Debian packages: redis-server chromium (apt-get; once per machine)');
  assert.match(lines.at(-1) ?? '', /^provision: ready: /);
  // Run again: now a no-op that does not call apt-get.
  const again = provision(m.bin);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(readFileSync(m.aptLog, 'utf8').trimEnd().split('\n').length, 2);
});

void test('root, apt-get fails: the run stops with one line that says what to install', (t) => {
  const m = fakeMachine(['prometheus'], 0, true);
  t.after(() => m.remove());
  const r = provision(m.bin);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trimEnd().split('\n').at(-1), 'npm test cannot run here: apt-get install prometheus failed (see above): install them by hand, then run npm test again');
});

void test('npm test provisions first, and .ci/run runs exactly the README commands', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.test ?? '', /^bash scripts\/provision\.sh && /);
  const run = readFileSync(join(ROOT, '.ci/run'), 'utf8');
  const commands = run.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#') && !l.startsWith('set ') && !l.startsWith('cd ') && !l.startsWith('echo '));
  assert.deepEqual(commands, ['npm ci', 'npm test']);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.match(readme, /^npm ci && npm run demo +#/m);
  assert.match(readme, /^npm test +#/m);
});
