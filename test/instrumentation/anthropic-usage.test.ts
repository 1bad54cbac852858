/**
 * The pure parts of the Anthropic instrumentation and stand-in: usage mapping
 * (exclusive -> inclusive input, the 5m/1h cache-write split, thinking as
 * reasoning), the stream observer (cumulative message_delta, both shapes),
 * and the stand-in's prompt cache.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageStreamObserver, requestInputText, summarizeMessage } from '../../src/instrumentation/anthropic/events.ts';
import { usageFromAnthropic } from '../../src/instrumentation/anthropic/usage.ts';
import { AnthropicPromptCache, replaySse, standinTokens } from '../../src/standin/anthropic.ts';

void describe('usageFromAnthropic', () => {
  void it('adds cache reads and writes to the exclusive input_tokens, splits 5m / 1h writes, maps thinking to reasoning', () => {
    assert.deepEqual(
      usageFromAnthropic({
        input_tokens: 10,
        output_tokens: 50,
        cache_read_input_tokens: 1000,
        cache_creation_input_tokens: 300,
        cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
        output_tokens_details: { thinking_tokens: 20 },
      }),
      { inputTokens: 1310, outputTokens: 50, cacheReadTokens: 1000, cacheWriteTokens: 300, cacheWrite1hTokens: 200, reasoningTokens: 20 },
    );
  });

  void it('keeps only what was reported; none at all is no usage', () => {
    assert.deepEqual(usageFromAnthropic({ input_tokens: 4, output_tokens: 2 }), { inputTokens: 4, outputTokens: 2 });
    assert.equal(usageFromAnthropic({}), undefined);
    assert.equal(usageFromAnthropic(null), undefined);
  });

  void it('ignores negative, NaN and non-numeric counts', () => {
    assert.deepEqual(usageFromAnthropic({ input_tokens: -5, output_tokens: Number.NaN, cache_read_input_tokens: 3 } as never), {
      inputTokens: 3,
      outputTokens: 0,
      cacheReadTokens: 3,
    });
  });

  void it('never lets thinking exceed output', () => {
    assert.equal(usageFromAnthropic({ input_tokens: 1, output_tokens: 5, output_tokens_details: { thinking_tokens: 9 } })?.reasoningTokens, 5);
  });
});

void describe('MessageStreamObserver', () => {
  const start = (usage: object) => ({ type: 'message_start', message: { id: 'msg_1', model: 'claude-x', usage } });

  void it('takes the last cumulative usage field by field, never start + delta (fixture 05 numbers)', () => {
    const o = new MessageStreamObserver();
    o.observe(start({ input_tokens: 2, cache_creation_input_tokens: 3068, cache_read_input_tokens: 0, cache_creation: { ephemeral_5m_input_tokens: 3068, ephemeral_1h_input_tokens: 0 }, output_tokens: 69 }));
    o.observe({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 6, cache_creation_input_tokens: 3337, cache_read_input_tokens: 6289, output_tokens: 198 } });
    o.observe({ type: 'message_stop' });
    assert.deepEqual(o.summary(), {
      id: 'msg_1',
      model: 'claude-x',
      stopReason: 'end_turn',
      usage: { inputTokens: 9632, outputTokens: 198, cacheReadTokens: 6289, cacheWriteTokens: 3337, cacheWrite1hTokens: 0 },
      partial: false,
    });
    assert.equal(o.completed, true);
  });

  void it('old shape: input and cache from message_start, output from message_delta', () => {
    const o = new MessageStreamObserver();
    o.observe(start({ input_tokens: 17, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 }));
    o.observe({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 158 } });
    assert.deepEqual(o.summary().usage, { inputTokens: 17, outputTokens: 158, cacheReadTokens: 0, cacheWriteTokens: 0 });
  });

  void it('a 1-hour-only split from message_start holds for a larger total; a mixed split keeps its 1-hour count', () => {
    const grown = new MessageStreamObserver();
    grown.observe(start({ input_tokens: 1, cache_creation_input_tokens: 100, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 100 }, output_tokens: 1 }));
    grown.observe({ type: 'message_delta', usage: { cache_creation_input_tokens: 150, output_tokens: 5 } });
    assert.equal(grown.summary().usage?.cacheWrite1hTokens, 150);
    const mixed = new MessageStreamObserver();
    mixed.observe(start({ input_tokens: 1, cache_creation_input_tokens: 100, cache_creation: { ephemeral_5m_input_tokens: 60, ephemeral_1h_input_tokens: 40 }, output_tokens: 1 }));
    mixed.observe({ type: 'message_delta', usage: { cache_creation_input_tokens: 150, output_tokens: 5 } });
    assert.equal(mixed.summary().usage?.cacheWrite1hTokens, 40);
  });

  void it('before message_delta the usage is partial and the text seen is kept for a local count', () => {
    const o = new MessageStreamObserver();
    o.observe(start({ input_tokens: 3, output_tokens: 1 }));
    o.observe({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } });
    o.observe({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm ' } });
    o.observe({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hi' } });
    o.observe({ type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"a":' } });
    assert.equal(o.summary().partial, true);
    assert.equal(o.outputText, 'hmm Hi{"a":');
    o.observe({ type: 'message_delta', usage: { output_tokens: 7 } });
    assert.equal(o.summary().partial, false);
    assert.equal(o.outputText, '');
  });
});

void describe('request and message text', () => {
  void it('collects system, message blocks, tool results and tools', () => {
    const text = requestInputText({
      system: [{ type: 'text', text: 'sys' }],
      messages: [
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: { q: 1 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'result' }] }] },
      ],
      tools: [{ name: 'f' }],
    });
    assert.equal(text, 'sys\nhello\n{"q":1}\nresult\n[{"name":"f"}]');
  });

  void it('summarises a Message without usage as no usage', () => {
    assert.deepEqual(summarizeMessage({ id: 'm', model: 'x', stop_reason: 'end_turn' }), { id: 'm', model: 'x', stopReason: 'end_turn', usage: undefined, partial: false });
  });
});

void describe('stand-in prompt cache', () => {
  const withSystem = (text: string, ttl?: '1h') => ({
    model: 'm',
    max_tokens: 1,
    system: [{ type: 'text', text, cache_control: ttl === undefined ? { type: 'ephemeral' } : { type: 'ephemeral', ttl } }],
    messages: [{ role: 'user', content: 'Hi there' }],
  });

  void it('writes a prefix on first sight, reads it on repeats; input_tokens excludes the cache', () => {
    const cache = new AnthropicPromptCache();
    const system = 'x'.repeat(400);
    assert.deepEqual(cache.count(withSystem(system)), { input: 2, cacheRead: 0, write5m: 100, write1h: 0 });
    assert.deepEqual(cache.count(withSystem(system)), { input: 2, cacheRead: 100, write5m: 0, write1h: 0 });
    assert.deepEqual(cache.count(withSystem('y'.repeat(40), '1h')), { input: 2, cacheRead: 0, write5m: 0, write1h: 10 });
  });

  void it('with two breakpoints, reads the longest cached prefix and writes the rest', () => {
    const cache = new AnthropicPromptCache();
    const first = { type: 'text', text: 'a'.repeat(40), cache_control: { type: 'ephemeral', ttl: '1h' } };
    cache.count({ system: [first], messages: [] });
    const second = { type: 'text', text: 'b'.repeat(80), cache_control: { type: 'ephemeral' } };
    assert.deepEqual(cache.count({ system: [first, second], messages: [{ role: 'user', content: 'tail' }] }), { input: 1, cacheRead: 10, write5m: 20, write1h: 0 });
  });

  void it('forgets the oldest prefix past its cap', () => {
    const cache = new AnthropicPromptCache(1);
    cache.count(withSystem('p'.repeat(8)));
    cache.count(withSystem('q'.repeat(8)));
    assert.equal(cache.count(withSystem('p'.repeat(8))).cacheRead, 0);
  });

  void it('counts one token per 4 characters, rounded up', () => {
    assert.deepEqual([standinTokens(''), standinTokens('abc'), standinTokens('abcd'), standinTokens('abcde')], [0, 1, 1, 2]);
  });

  void it('replaySse names unnamed JSON-lines frames after their type', () => {
    assert.deepEqual(replaySse('{"type":"ping"}\n\n{"type":"message_stop"}\n').body, ['event: ping\ndata: {"type":"ping"}\n\n', 'event: message_stop\ndata: {"type":"message_stop"}\n\n']);
  });
});
