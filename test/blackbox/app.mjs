// A user's ESM service, unchanged but for `node --import tollgate/register`.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const base = process.env.STANDIN_URL;
const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${base}/v1`, maxRetries: 0 });
const anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: base, maxRetries: 0 });

const chat = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello to the black box.' }] });
let streamed = '';
const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Stream please.' }] });
for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
const message = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 200, messages: [{ role: 'user', content: 'Hello Claude.' }] });
console.log(JSON.stringify({ chat: chat.choices[0].message.content, streamed, anthropic: message.content[0].text }));
