// The stand-in provider on its own: routing, request recording, faults and deterministic usage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStandinServer } from '../../src/standin/server.ts';
import { openaiRoutes } from '../../src/standin/openai.ts';

void test('records requests, answers 404 off-route, queues faults and canned answers, usage follows the request', async () => {
  const s = await startStandinServer({ routes: openaiRoutes() });
  try {
    const post = (path: string, body: unknown) =>
      fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const ask = (content: string, max?: number) =>
      post('/v1/chat/completions', { model: 'o4-mini', messages: [{ role: 'user', content }], ...(max === undefined ? {} : { max_completion_tokens: max }) });

    const a = (await (await ask('12345678')).json()) as { usage: Record<string, unknown>; choices: { finish_reason: string }[] };
    assert.equal(a.usage['prompt_tokens'], 2 + 3);
    assert.equal(a.usage['completion_tokens'], 13 + 8);
    const capped = (await (await ask('12345678', 10)).json()) as { usage: Record<string, unknown>; choices: { finish_reason: string }[] };
    assert.equal(capped.usage['completion_tokens'], 10);
    assert.equal(capped.choices[0]?.finish_reason, 'length');

    assert.equal((await post('/v1/nope', {})).status, 404);
    s.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 3 }, { pathIncludes: '/embeddings' });
    assert.equal((await ask('x')).status, 200, 'the fault waits for its path');
    const limited = await post('/v1/embeddings', { model: 'e', input: 'x' });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '3');
    s.setNextResponse({ status: 201, headers: { 'content-type': 'text/plain' }, body: 'canned' });
    assert.equal(await (await ask('y')).text(), 'canned');

    assert.deepEqual(
      s.requests.map((r) => [r.method, r.path]),
      [['POST', '/v1/chat/completions'], ['POST', '/v1/chat/completions'], ['POST', '/v1/nope'], ['POST', '/v1/chat/completions'], ['POST', '/v1/embeddings'], ['POST', '/v1/chat/completions']],
    );
    assert.deepEqual(s.requests[0]?.body, { model: 'o4-mini', messages: [{ role: 'user', content: '12345678' }] });
  } finally {
    await s.close();
  }
});
