/**
 * Nothing the repository runs reads a path outside it. CI runs beside the project's
 * reference folder, so a test reading from there passes in CI and fails on a fresh clone
 * anywhere else; this scan is what notices (test/support/outside-paths.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codeFiles, findOutsideReads } from './support/outside-paths.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCANNED = ['src', 'test', 'scripts', 'bench', '.ci'];

void test('no code under src/ test/ scripts/ bench/ .ci/ reads a path outside the repository', () => {
  const files = codeFiles(ROOT, SCANNED).map((f) => relative(ROOT, f));
  // The scan covers the code that runs, so an empty result means something: the CI entry
  // point, the provisioning scripts, the price build, tests and sources are all in it.
  for (const f of ['.ci/run', 'scripts/provision.sh', 'scripts/build-otel-binaries.sh', 'scripts/build-prices.ts', 'scripts/run-tests.mjs', 'src/register.ts', 'test/pricing/data.test.ts']) {
    assert.ok(files.includes(f), `${f} is scanned`);
  }
  assert.ok(files.length > 100, `scanned ${files.length} files`);
  const found = findOutsideReads(ROOT, SCANNED);
  assert.deepEqual(found.map((r) => `${r.file}:${r.line}: ${r.text} (${r.reason})`), []);
});

/** Writes `files` (path -> text) into a fresh temporary repository root. */
function plant(files: Record<string, string>, executable: readonly string[] = []): string {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-boundary-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text, { mode: executable.includes(path) ? 0o755 : 0o644 });
  }
  return root;
}

// Planted text is assembled at run time: written out literally here, it would be found
// in this very file by the first test.
const up = (n: number): string => '../'.repeat(n);
const SIBLING = ['sha', 'red'].join('');
const DOTS = '.'.repeat(2);
const FILE_SCHEME = ['fi', 'le:'].join('');

void test('the scan finds each kind of outside read planted in a repository, and nothing in the allowed ones', (t) => {
  const root = plant(
    {
      // The exact line the price test had before the fixtures were vendored.
      'test/pricing/data.test.ts': [
        "import { readFileSync } from 'node:fs';",
        `const T = readFileSync(new URL('${up(3)}${SIBLING}/reference/prices/litellm.json', import.meta.url), 'utf8');`,
        `const ok = new URL('${up(2)}collector-config/pricing.yaml', import.meta.url);`,
      ].join('\n'),
      'scripts/build.ts': [
        "import { join } from 'node:path';",
        `export const A = join(import.meta.dirname, '${DOTS}', '${DOTS}', 'other-repo', 'x.json');`,
        `export const B = join(import.meta.dirname, '${DOTS}', 'src', 'x.json');`,
        `export const C = '${FILE_SCHEME}///etc/hosts';`,
        `export const D = '/${'work'}/main/prices.json';`,
      ].join('\n'),
      'src/x.ts': `import { y } from '${up(2)}elsewhere/y.ts';\nimport { z } from './z.ts';\n`,
      '.ci/run': ['#!/usr/bin/env bash', 'cd "$(dirname "$0")/.."', `cat ${up(1)}notes.txt`, 'cd "$(dirname "$0")/../.."', 'bash .ci/provision.sh'].join('\n'),
      'scripts/fetch.sh': `#!/bin/sh\ncp -r ${up(1)}${SIBLING}/reference/fixtures test/\n`,
      // Data folders are not code: a JSON fixture that mentions a path is not a read.
      'test/fixtures/recorded/a.json': `{"path": "${up(4)}x"}`,
    },
    ['.ci/run'],
  );
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const found = findOutsideReads(root, SCANNED).map((r) => `${r.file}:${r.line}: ${r.text}`).sort();
  assert.deepEqual(found, [
    `.ci/run:3: ${up(1)}notes.txt`,
    '.ci/run:4: $(dirname "$0")/../..',
    `scripts/build.ts:2: join(import.meta.dirname, '${DOTS}', '${DOTS}', 'other-repo', 'x.json')`,
    `scripts/build.ts:4: ${FILE_SCHEME}///etc/hosts`,
    `scripts/build.ts:5: /${'work'}/main/prices.json`,
    `scripts/fetch.sh:2: ${up(1)}${SIBLING}`,
    `scripts/fetch.sh:2: ${up(1)}${SIBLING}/reference/fixtures`,
    `src/x.ts:1: '${up(2)}elsewhere/y.ts'`,
    `test/pricing/data.test.ts:2: ${up(1)}${SIBLING}`,
    `test/pricing/data.test.ts:2: '${up(3)}${SIBLING}/reference/prices/litellm.json'`,
  ].sort());
});
