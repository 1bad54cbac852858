import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { countTokens, createInputEstimator, encodingFor, IMAGE_TOKENS, MESSAGE_OVERHEAD_TOKENS, REPLY_PRIMING_TOKENS } from '../../src/tokens/index.ts';

const FIXTURES = new URL('../fixtures/recorded/', import.meta.url);
const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8'));

void test('the tokenizer is not loaded until the first count (child process)', () => {
  const tokensUrl = new URL('../../src/tokens/index.ts', import.meta.url).href;
  const internalUrl = new URL('../../src/tokens/tokenizer.ts', import.meta.url).href;
  const script = `
    import { createRequire } from 'node:module';
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('gpt-tokenizer'));
    const m = { ...(await import(${JSON.stringify(tokensUrl)})), ...(await import(${JSON.stringify(internalUrl)})) };
    const e = m.createInputEstimator();
    const before = [m.tokenizerLoaded(), loaded(), process.memoryUsage().rss];
    e.upperBound('openai', { messages: [{ role: 'user', content: 'hello' }] });
    const afterBound = [m.tokenizerLoaded(), loaded()];
    const n = m.countTokens('hello world');
    console.log(JSON.stringify({ before, afterBound, after: [m.tokenizerLoaded(), loaded(), process.memoryUsage().rss], n }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { before: [boolean, boolean, number]; afterBound: [boolean, boolean]; after: [boolean, boolean, number]; n: number };
  assert.deepEqual(out.before.slice(0, 2), [false, false]);
  assert.deepEqual(out.afterBound, [false, false]); // the fast bound never loads it
  assert.deepEqual(out.after.slice(0, 2), [true, true]);
  assert.equal(out.n, 2);
});

void test('countTokens picks o200k_base for current models and cl100k_base for older ones', () => {
  assert.equal(encodingFor('gpt-4o-mini'), 'o200k_base');
  assert.equal(encodingFor('gpt-5'), 'o200k_base');
  assert.equal(encodingFor('o3-mini'), 'o200k_base');
  assert.equal(encodingFor('gpt-4.1'), 'o200k_base');
  assert.equal(encodingFor('claude-sonnet-4-5'), 'o200k_base');
  assert.equal(encodingFor('gpt-4'), 'cl100k_base');
  assert.equal(encodingFor('gpt-4-turbo'), 'cl100k_base');
  assert.equal(encodingFor('gpt-3.5-turbo'), 'cl100k_base');
  assert.equal(encodingFor('openai/text-embedding-3-small'), 'cl100k_base');
  // "hello world" is 2 tokens in both; a Chinese phrase differs between the two encodings.
  assert.equal(countTokens('hello world', 'gpt-4o'), 2);
  assert.equal(countTokens(''), 0);
  assert.notEqual(countTokens('你好，世界，今天天气很好', 'gpt-4o'), countTokens('你好，世界，今天天气很好', 'gpt-4'));
  assert.ok(countTokens('text with <|endoftext|> inside') > 3); // special tokens count as plain text, never throw
});

void test('count matches the real prompt_tokens of the recorded OpenAI calls', () => {
  const e = createInputEstimator();
  const chat = (fixture('02-openai-chat-completions-nonstream.nock.json') as { body: unknown }[])[0]?.body;
  assert.equal(e.count('openai', chat), 22); // usage.prompt_tokens in the recorded response
  const har = fixture('06-openai-responses-cached-tokens.polly.har') as { log: { entries: { request: { postData: { text: string } } }[] } };
  const responsesBody = JSON.parse(har.log.entries[0]?.request.postData.text ?? '') as unknown;
  assert.equal(e.count('openai', responsesBody), 14); // usage.input_tokens in the recorded response
});

void test('Anthropic bodies: system, messages with blocks, tools and images', () => {
  const e = createInputEstimator();
  const tools = [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
  const body = {
    model: 'claude-sonnet-4-5',
    system: [{ type: 'text', text: 'You are terse.' }],
    tools,
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'call the tool' }, { type: 'tool_use', id: 't1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'sunny, 21C' }] },
    ],
  };
  const t = (s: string): number => countTokens(s);
  const expected =
    t('You are terse.') +
    REPLY_PRIMING_TOKENS +
    (MESSAGE_OVERHEAD_TOKENS + t('user') + t('Weather in Paris?') + IMAGE_TOKENS) +
    (MESSAGE_OVERHEAD_TOKENS + t('assistant') + t('call the tool') + t('get_weather') + t('{"city":"Paris"}') + 3) +
    (MESSAGE_OVERHEAD_TOKENS + t('user') + t('sunny, 21C') + 3) +
    t(JSON.stringify(tools));
  assert.equal(e.count('anthropic', body), expected);
  assert.ok(e.upperBound('anthropic', body) >= expected);
});

void test('OpenAI chat: array content, tool calls, names; Responses items; embeddings input', () => {
  const e = createInputEstimator();
  const t = (s: string): number => countTokens(s);
  const chat = {
    model: 'gpt-4o',
    messages: [
      { role: 'user', name: 'ann', content: [{ type: 'text', text: 'Describe' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'ok' },
    ],
  };
  assert.equal(
    e.count('openai', chat),
    REPLY_PRIMING_TOKENS +
      (3 + t('user') + t('ann') + 1 + t('Describe') + IMAGE_TOKENS) +
      (3 + t('assistant') + t('f') + t('{"a":1}') + 3) +
      (3 + t('tool') + t('ok') + t('c1')),
  );
  const responses = {
    model: 'gpt-5',
    instructions: 'Be brief.',
    input: [
      { role: 'user', content: [{ type: 'input_text', text: 'Hi there' }] },
      { type: 'function_call', call_id: 'x', name: 'lookup', arguments: '{}' },
      { type: 'function_call_output', call_id: 'x', output: 'found' },
    ],
  };
  assert.equal(e.count('openai', responses), t('Be brief.') + 3 + (3 + t('user') + t('Hi there')) + (t('lookup') + t('{}') + 3) + (t('found') + 3));
  assert.equal(e.count('openai', { model: 'text-embedding-3-small', input: ['alpha beta', 'gamma'] }), countTokens('alpha beta', 'gpt-4') + countTokens('gamma', 'gpt-4'));
  assert.equal(e.count('openai', { model: 'text-embedding-3-small', input: [[1, 2, 3], [4]] }), 4);
});

// Deterministic pseudo-random text over ASCII, accents, CJK, emoji and token-boundary characters.
function randomText(seed: number, length: number): string {
  const alphabet = ['a', 'e', ' ', 'th', 'ing', '\n', '  ', 'é', 'ß', '你', '好', '🙂', '👩‍💻', '<|endoftext|>', '{', '"', '0', '9', '\t', 'Ω', 'ÿ', '\u0000'];
  let x = seed;
  let s = '';
  while (s.length < length) {
    x = (x * 1103515245 + 12345) % 2147483648;
    s += alphabet[x % alphabet.length];
  }
  return s;
}

void test('upperBound is a true upper bound of count: fixtures and random text', () => {
  const e = createInputEstimator();
  const bodies: [('openai' | 'anthropic'), unknown][] = [];
  for (const f of ['01-openai-chat-completions-stream-include_usage.nock.json', '02-openai-chat-completions-nonstream.nock.json', '03-openai-responses-stream.nock.json']) {
    bodies.push(['openai', (fixture(f) as { body: unknown }[])[0]?.body]);
  }
  for (let i = 0; i < 60; i++) {
    const text = randomText(i + 1, 1 + ((i * 97) % 3000));
    bodies.push(['openai', { model: i % 2 === 0 ? 'gpt-4o' : 'gpt-4', messages: [{ role: 'system', content: text.slice(0, 50) }, { role: 'user', content: text }] }]);
    bodies.push(['openai', { model: 'gpt-5', input: text }]);
    bodies.push(['anthropic', { system: text.slice(0, 10), messages: [{ role: 'user', content: [{ type: 'text', text }] }], tools: [{ name: text.slice(0, 5) }] }]);
  }
  for (const [provider, body] of bodies) {
    const bound = e.upperBound(provider, body);
    const exact = e.count(provider, body);
    assert.ok(bound >= exact, `bound ${bound} < count ${exact}`);
    assert.ok(exact > 0);
  }
});

void test('a growing conversation counts the same as from scratch (the cache never goes stale)', () => {
  const e = createInputEstimator({ cacheEntries: 16 });
  const messages: { role: string; content: string }[] = [];
  for (let i = 0; i < 40; i++) {
    messages.push({ role: i % 2 === 0 ? 'user' : 'assistant', content: randomText(1000 + i, 200) });
    const body = { model: 'gpt-4o', messages: [...messages] };
    assert.equal(e.count('openai', body), createInputEstimator().count('openai', body));
  }
  // In-place edits of a message are seen (counts are keyed by content, not by object).
  const body = { model: 'gpt-4o', messages };
  const before = e.count('openai', body);
  const last = messages[messages.length - 1];
  if (last !== undefined) last.content += ' and then some more words';
  assert.ok(e.count('openai', body) > before);
});

void test('non-request values count as zero instead of throwing', () => {
  const e = createInputEstimator();
  const cyclic: Record<string, unknown> = { role: 'user' };
  cyclic.self = cyclic;
  for (const b of [undefined, null, 42, [], {}, { messages: 'nope' }, { messages: [null, 7] }, { tools: cyclic }]) {
    assert.equal(typeof e.count('openai', b), 'number');
    assert.ok(e.upperBound('anthropic', b) >= e.count('anthropic', b));
  }
});
