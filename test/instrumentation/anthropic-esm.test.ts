/**
 * The ESM path, for real (docs/comparison.md, "Traps in the ecosystem": in an ESM app nothing is instrumented
 * without the import-in-the-middle hook, and nothing says so): a child process
 * runs `node --import ./anthropic-esm.hook.ts ./anthropic-esm.app.ts`, whose
 * `import` of `@anthropic-ai/sdk` (1.x) and `anthropic-v0` (0.x) loads the SDKs'
 * ESM builds; each call must come back as one priced tollgate span.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, it } from 'node:test';
import { anthropicRoutes } from '../../src/standin/anthropic.ts';
import { startStandinServer } from '../../src/standin/server.ts';
import type { StandinServer } from '../../src/standin/server.ts';

const run = promisify(execFile);
const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

let server: StandinServer;
before(async () => {
  server = await startStandinServer({ routes: anthropicRoutes() });
});
after(async () => {
  await server.close();
});

void it('node --import hook + ESM import: one priced span per call, for 1.x and 0.x', async () => {
  const { stdout } = await run(process.execPath, ['--import', here('./anthropic-esm.hook.ts'), here('./anthropic-esm.app.ts')], {
    env: { ...process.env, STANDIN_URL: server.url, OTEL_SEMCONV_STABILITY_OPT_IN: '' },
    timeout: 60_000,
  });
  const out = JSON.parse(stdout) as { resolved: string[]; spans: { scope: string; name: string; attributes: Record<string, unknown> }[] };
  // The ESM builds were the ones loaded (not the CJS index.js), through the import-in-the-middle loader.
  assert.deepEqual(out.resolved.map((u) => new URL(u).pathname.endsWith('/index.mjs')), [true, true]);
  assert.equal(server.requests.length, 2);
  assert.deepEqual(
    out.spans.map((s) => [s.scope, s.name, s.attributes['gen_ai.request.stream'], s.attributes['gen_ai.usage.input_tokens'], s.attributes['gen_ai.usage.output_tokens']]),
    [
      ['tollgate-instrumentation-anthropic', 'chat claude-sonnet-4-6', false, 3, 9],
      ['tollgate-instrumentation-anthropic', 'chat claude-haiku-4-5', true, 3, 9],
    ],
  );
  // By hand: sonnet-4-6 $3/$15 -> 3 x 3 + 9 x 15 = 144 micro-USD; haiku-4-5 $1/$5 -> 3 + 45 = 48 micro-USD.
  assert.ok(Math.abs((out.spans[0]?.attributes['tollgate.cost.usd'] as number) - 0.000144) < 1e-12);
  assert.ok(Math.abs((out.spans[1]?.attributes['tollgate.cost.usd'] as number) - 0.000048) < 1e-12);
});
