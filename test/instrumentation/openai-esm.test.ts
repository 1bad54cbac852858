// The ESM hook path for real: a child process preloads the instrumentation with `--import`
// (import-in-the-middle) and imports `openai` through ESM; its spans come back as JSON lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startStandinServer } from '../../src/standin/server.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

void test('ESM import of openai 7 and openai 6 is instrumented through the --import hook', async () => {
  const server = await startStandinServer({ routes: openaiRoutes() });
  try {
    const child = spawn(process.execPath, ['--import', './test/standin/esm-register.ts', './test/standin/esm-app.mjs'], {
      cwd: root,
      env: { ...process.env, STANDIN_URL: server.url, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    const spans = stdout
      .split('\n')
      .filter((l) => l.startsWith('TOLLGATE_SPAN '))
      .map((l) => JSON.parse(l.slice('TOLLGATE_SPAN '.length)) as { name: string; attributes: Record<string, unknown> });
    assert.equal(server.requests.length, 4);
    assert.deepEqual(
      spans.map((s) => [s.name, s.attributes['gen_ai.request.stream'], s.attributes['gen_ai.usage.input_tokens'], s.attributes['gen_ai.usage.output_tokens'], s.attributes['tollgate.cost.source']]),
      [
        ['chat gpt-4o-mini', false, 6, 13, 'table'],
        ['chat gpt-4o-mini', true, 6, 13, 'table'],
        ['chat gpt-4o-mini', false, 6, 13, 'table'],
        ['chat gpt-4o-mini', true, 6, 13, 'table'],
      ],
    );
    assert.ok(spans.every((s) => typeof s.attributes['tollgate.cost.usd'] === 'number'));
  } finally {
    await server.close();
  }
});
