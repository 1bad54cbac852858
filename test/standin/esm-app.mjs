// An ESM "service": imports the SDK with `import` (the ESM build) and makes a plain and a
// streamed call against the stand-in server whose URL is in STANDIN_URL.
import OpenAI from 'openai';
import OpenAIv6 from 'openai-v6';

const baseURL = `${process.env.STANDIN_URL}/v1`;
for (const Client of [OpenAI, OpenAIv6]) {
  const client = new Client({ apiKey: 'sk-test', baseURL, maxRetries: 0 });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there' }] });
  const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'Hello there', stream: true });
  for await (const event of stream) void event;
}
