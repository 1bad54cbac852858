/**
 * Version ranges fail loudly, not silently (docs/comparison.md, "Traps in the ecosystem": the official and OpenLLMetry
 * instrumentations give openai 7 zero spans with no warning): an `openai` major tollgate
 * does not know, or a supported version whose patch points moved, gets a console warning
 * that it is NOT instrumented. The "SDKs" are minimal packages in a temporary node_modules.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { OpenAIInstrumentation, SUPPORTED_OPENAI_VERSIONS } from '../../src/instrumentation/openai/index.ts';

const root = mkdtempSync(join(tmpdir(), 'tollgate-openai-versions-'));
after(() => rmSync(root, { recursive: true, force: true }));

function fakeSdk(dir: string, version: string): string {
  const pkg = join(root, dir, 'node_modules', 'openai');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'openai', version, main: 'index.js' }));
  // A client without Chat.Completions: the shape a future SDK might have.
  writeFileSync(join(pkg, 'index.js'), 'class OpenAI { async prepareOptions() {} }\nexports.OpenAI = OpenAI;\nexports.default = OpenAI;\n');
  return join(root, dir, 'app.js');
}

void it('openai: an unknown major and a moved patch point are each reported on the console', (t) => {
  const warnings: string[] = [];
  t.mock.method(console, 'warn', (message: unknown) => {
    warnings.push(String(message));
  });
  const instrumentation = new OpenAIInstrumentation();
  try {
    createRequire(fakeSdk('v8', '8.0.0'))('openai');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /openai@8\.0\.0 is outside the supported range >=4 <8: its calls get NO spans, NO cost and NO budget checks/);
    assert.equal(SUPPORTED_OPENAI_VERSIONS, '>=4 <8');
    createRequire(fakeSdk('v7-moved', '7.99.0'))('openai');
    assert.equal(warnings.length, 2);
    assert.match(warnings[1] ?? '', /openai@7\.99\.0 does not have the expected shape \(OpenAI\.Chat\.Completions, prepareOptions\): its calls get NO spans/);
  } finally {
    instrumentation.disable();
  }
});
