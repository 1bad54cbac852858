// A user's ESM service running a Mastra Agent (Mastra's own loop over an AI SDK 5 provider model),
// unchanged but for `node --import tollgate/register` and a daily cap in OTEL_RESOURCE_ATTRIBUTES.
// Prints one JSON line: each call's outcome, and how long a refused call took to reject.
import { Agent } from '@mastra/core/agent';
import { createOpenAI } from 'ai-sdk-openai-v2';
import { performance } from 'node:perf_hooks';

const openai = createOpenAI({ apiKey: 'sk-test', baseURL: `${process.env.STANDIN_URL}/v1` });
// Mastra's defaults: no maxRetries given (its model call retries twice, p-retry backoff from 1 s).
const agent = new Agent({ name: 'writer', instructions: 'Be brief.', model: openai.chat('gpt-4o-mini') });

const outcome = async (fn) => {
  const started = performance.now();
  try {
    const text = await fn();
    return { ok: true, text, ms: performance.now() - started };
  } catch (error) {
    return { ok: false, error: error?.name, message: String(error?.message).slice(0, 300), ms: performance.now() - started };
  }
};

const results = {};
results.first = await outcome(async () => (await agent.generate('Say hello.', { modelSettings: { maxOutputTokens: 20 } })).text);
results.second = await outcome(async () => (await agent.generate('Say hello again.', { modelSettings: { maxOutputTokens: 20 } })).text);
results.streamed = await outcome(async () => {
  const stream = await agent.stream('Stream please.', { modelSettings: { maxOutputTokens: 20 } });
  const text = await stream.text;
  if (stream.error) throw stream.error;
  return text;
});
console.log(JSON.stringify(results));
