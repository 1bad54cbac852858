// A user's ESM service calling Mistral through `@mistralai/mistralai` (ESM only), unchanged but for
// `node --import tollgate/register` and a daily cap in OTEL_RESOURCE_ATTRIBUTES. The client retries
// with backoff (connection errors too): a refusal must still reject at once.
import { Mistral } from '@mistralai/mistralai';
import { outcome } from './outcome.mjs';

const retryConfig = { strategy: 'backoff', backoff: { initialInterval: 500, maxInterval: 5000, exponent: 2, maxElapsedTime: 30000 }, retryConnectionErrors: true };
const mistral = new Mistral({ apiKey: 'standin-key', serverURL: process.env.STANDIN_URL, retryConfig });


const results = {};
results.first = await outcome(() => mistral.chat.complete({ model: 'mistral-small-latest', messages: [{ role: 'user', content: 'Say hello.' }], maxTokens: 20 }));
results.second = await outcome(() => mistral.chat.complete({ model: 'mistral-small-latest', messages: [{ role: 'user', content: 'Say hello again.' }], maxTokens: 20 }));
results.streamed = await outcome(async () => {
  const stream = await mistral.chat.stream({ model: 'mistral-small-latest', messages: [{ role: 'user', content: 'Stream please.' }], maxTokens: 20 });
  for await (const event of stream) void event;
});
results.fim = await outcome(() => mistral.fim.complete({ model: 'codestral-latest', prompt: 'def add(a, b):', maxTokens: 20 }));
console.log(JSON.stringify(results));
