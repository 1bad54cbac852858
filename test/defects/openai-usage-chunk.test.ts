/**
 * Defect 1 of issue #17: tollgate adds `stream_options.include_usage` itself and must hide
 * the usage-only chunk that results, also when its usage does not parse. Otherwise an app
 * written for a stream without that chunk reads `chunk.choices[0].delta` and throws.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { onlySpan, startHarness, type Harness } from '../standin/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness({ captureMessageContent: false });
});
after(async () => {
  await h.close();
});
beforeEach(() => h.reset());

const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices, usage: null, ...extra })}\n\n`;

function stream(usage: unknown): string[] {
  return [
    chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
    chunk([{ index: 0, delta: { content: 'Hello' }, finish_reason: null }]),
    chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
    chunk([], { usage }),
    'data: [DONE]\n\n',
  ];
}

const BAD_USAGES: [string, unknown][] = [
  ['negative counts', { prompt_tokens: -1, completion_tokens: -1, total_tokens: -2 }],
  ['string counts', { prompt_tokens: 'x', completion_tokens: 'y' }],
  ['null counts', { prompt_tokens: null, completion_tokens: null }],
  ['a string', 'garbage'],
  ['an empty object', {}],
];

for (const pkg of ['openai', 'openai-v4']) {
  void describe(`usage chunk tollgate asked for, unparseable usage (${pkg})`, () => {
    for (const [name, usage] of BAD_USAGES) {
      void test(`${name}: hidden from the caller, the app's chunk.choices[0].delta works`, async () => {
        h.server.setNextResponse({ headers: { 'content-type': 'text/event-stream' }, body: stream(usage) });
        const s = await h.client(pkg).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true });
        const text: string[] = [];
        // What an app written without include_usage does: every chunk has a choice.
        for await (const c of s as AsyncIterable<{ choices: { delta: { content?: string } }[] }>) text.push(c.choices[0]!.delta.content ?? '');
        assert.equal(text.join(''), 'Hello');
        assert.deepEqual((h.server.requests[0]?.body as Record<string, unknown>)['stream_options'], { include_usage: true });
        const span = await onlySpan(h);
        // The usage did not parse: the call is estimated, never priced at $0 silently.
        assert.equal(span.attributes['tollgate.usage.estimated'], true);
        assert.ok(Number(span.attributes['tollgate.cost.usd']) > 0);
      });
    }
  });
}
