// A user's script that makes one call and is done: under `node --import tollgate/register`
// it must exit by itself, as it does without tollgate (LIFECYCLE_MODEL and LIFECYCLE_CALLS
// change the model and the number of calls). With LIFECYCLE_WAIT=1 it then
// stays up (like a server) until signalled; with LIFECYCLE_OWN_HANDLER=1 it handles
// SIGTERM itself by stopping its work. Prints `done …` once its call is over and its
// handlers are in place (the test signals it on that line).
import OpenAI from 'openai';
import { clearInterval, setInterval } from 'node:timers';

const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${process.env.STANDIN_URL}/v1`, maxRetries: 0 });
let outcome;
try {
  for (let i = 0; i < Number(process.env.LIFECYCLE_CALLS ?? 1); i++) {
    const model = process.env.LIFECYCLE_MODEL ?? 'gpt-4o-mini';
    const chat = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'One call, then exit.' }] });
    outcome = `ok ${chat.usage?.prompt_tokens} ${chat.usage?.completion_tokens}`;
  }
} catch (err) {
  outcome = `error ${err?.constructor?.name}`;
}
if (process.env.LIFECYCLE_WAIT === '1') {
  const work = setInterval(() => {}, 1 << 30);
  if (process.env.LIFECYCLE_OWN_HANDLER === '1') {
    process.on('SIGTERM', () => {
      console.log('app handler');
      clearInterval(work);
    });
  }
}
console.log(`done ${outcome}`);
