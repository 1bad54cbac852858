// A user's ESM service calling through the Vercel AI SDK and the Bedrock Runtime client, unchanged
// but for `node --import tollgate/register` and a daily cap in OTEL_RESOURCE_ATTRIBUTES.
import { generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { outcome } from './outcome.mjs';

const base = process.env.STANDIN_URL;
const openai = createOpenAI({ apiKey: 'sk-test', baseURL: `${base}/v1` });
const bedrock = new BedrockRuntimeClient({
  region: 'us-east-1',
  endpoint: base,
  credentials: { accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'standin-secret' },
  requestHandler: new NodeHttpHandler(),
});

const results = {};
results.first = await outcome(() => generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Say hello.', maxOutputTokens: 20 }));
results.second = await outcome(() => generateText({ model: openai.chat('gpt-4o-mini'), prompt: 'Say hello again.', maxOutputTokens: 20 }));
results.streamed = await outcome(async () => {
  // streamText reports a provider-call error through onError; its `text` then rejects with NoOutputGeneratedError.
  let reported;
  const stream = streamText({ model: openai.chat('gpt-4o-mini'), prompt: 'Stream please.', maxOutputTokens: 20, onError: ({ error }) => (reported = error) });
  await stream.consumeStream();
  if (reported !== undefined) throw reported;
});
results.bedrock = await outcome(() => bedrock.send(new ConverseCommand({ modelId: 'us.anthropic.claude-sonnet-4-6', messages: [{ role: 'user', content: [{ text: 'Hello.' }] }], inferenceConfig: { maxTokens: 20 } })));
console.log(JSON.stringify(results));
