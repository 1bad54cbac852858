/**
 * Version ranges fail loudly, not silently (docs/comparison.md, "Traps in the ecosystem":
 * openinference#3570):
 * an `@anthropic-ai/sdk` major tollgate does not know, or a supported version
 * whose patch points moved, gets a console warning that it is NOT instrumented.
 * The "SDKs" here are minimal packages written to a temporary node_modules.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { AnthropicInstrumentation, SUPPORTED_ANTHROPIC_VERSIONS } from '../../src/instrumentation/anthropic/index.ts';

const root = mkdtempSync(join(tmpdir(), 'tollgate-anthropic-versions-'));
after(() => rmSync(root, { recursive: true, force: true }));

function fakeSdk(dir: string, version: string): string {
  const pkg = join(root, dir, 'node_modules', '@anthropic-ai', 'sdk');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@anthropic-ai/sdk', version, main: 'index.js' }));
  // A client class without Messages: the shape a future SDK might have.
  writeFileSync(join(pkg, 'index.js'), 'class Anthropic { async prepareOptions() {} }\nexports.Anthropic = Anthropic;\nexports.default = Anthropic;\n');
  return join(root, dir, 'app.js');
}

void it('an unknown major and a moved patch point are each reported on the console, once', (t) => {
  const warnings: string[] = [];
  t.mock.method(console, 'warn', (message: unknown) => {
    warnings.push(String(message));
  });
  const instrumentation = new AnthropicInstrumentation();
  try {
    createRequire(fakeSdk('v2', '2.0.0'))('@anthropic-ai/sdk');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /@anthropic-ai\/sdk@2\.0\.0 is outside the supported range >=0\.20\.0 <2: its calls get NO spans/);
    assert.equal(SUPPORTED_ANTHROPIC_VERSIONS, '>=0.20.0 <2');
    createRequire(fakeSdk('v1-moved', '1.99.0'))('@anthropic-ai/sdk');
    assert.equal(warnings.length, 2);
    assert.match(warnings[1] ?? '', /@anthropic-ai\/sdk@1\.99\.0 does not have the expected shape .*: its calls get NO spans/);
  } finally {
    instrumentation.disable();
  }
});
