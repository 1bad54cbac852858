// A user's CommonJS service, unchanged but for `node --import tollgate/register`.
const OpenAI = require('openai');

async function main() {
  const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${process.env.STANDIN_URL}/v1`, maxRetries: 0 });
  const res = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'embed me' });
  console.log(JSON.stringify({ dims: res.data[0].embedding.length }));
}
main();
