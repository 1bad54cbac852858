/**
 * 1. Tokenizer choice: tiktoken (WASM) vs gpt-tokenizer (JS), load time / memory
 *    (each in a fresh child process) and per-count CPU on the same text.
 * 2. Pre-call estimation of a ~100k-token conversation whose last message is the only
 *    new one: createInputEstimator().count (cached) and upperBound vs a naive full pass.
 */
import { spawnSync } from 'node:child_process';
import { countTokens, createInputEstimator } from '../src/tokens/index.ts';

const load = (code: string): string => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname });
  return r.stdout.trim() || r.stderr.trim();
};
const text = 'The quick brown fox jumps over the lazy dog; 你好，世界! {"a": [1, 2, 3]}\n'.repeat(4000);
for (const [name, code] of [
  ['gpt-tokenizer', `const m0=process.memoryUsage().rss;let t=performance.now();const {countTokens}=await import('gpt-tokenizer/encoding/o200k_base');const load=performance.now()-t;const text=${JSON.stringify(text.slice(0, 100_000))};countTokens(text);const times=[];let n=0;for(let i=0;i<5;i++){t=performance.now();n=countTokens(text);times.push(performance.now()-t)}times.sort((a,b)=>a-b);console.log(load.toFixed(0)+' ms load, +'+((process.memoryUsage().rss-m0)/1e6).toFixed(0)+' MB, '+n+' tokens in '+times[2].toFixed(1)+' ms')`],
  ['tiktoken', `const m0=process.memoryUsage().rss;let t=performance.now();const {get_encoding}=await import('tiktoken');const e=get_encoding('o200k_base');const load=performance.now()-t;const text=${JSON.stringify(text.slice(0, 100_000))};e.encode(text);const times=[];let n=0;for(let i=0;i<5;i++){t=performance.now();n=e.encode(text).length;times.push(performance.now()-t)}times.sort((a,b)=>a-b);console.log(load.toFixed(0)+' ms load, +'+((process.memoryUsage().rss-m0)/1e6).toFixed(0)+' MB, '+n+' tokens in '+times[2].toFixed(1)+' ms')`],
] as const) {
  console.log(`${name.padEnd(14)} ${load(code)}`);
}

// A conversation of 200 messages of ~500 tokens each (~100k tokens), then one new message.
const messages: { role: string; content: string }[] = [];
for (let i = 0; i < 200; i++) messages.push({ role: i % 2 === 0 ? 'user' : 'assistant', content: `Message ${i}: ${text.slice(i * 7, i * 7 + 1250)}` });
const estimator = createInputEstimator();
const warm = { model: 'gpt-4o', messages };
console.log(`conversation: ${estimator.count('openai', warm)} tokens`);
const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
const naive: number[] = [], cached: number[] = [], bound: number[] = [], aa: number[] = [];
for (let round = 0; round < 9; round++) {
  const body = { model: 'gpt-4o', messages: [...messages, { role: 'user', content: `new question ${round}: ${text.slice(round, round + 400)}` }] };
  let t = performance.now();
  const all = body.messages.reduce((n, m) => n + countTokens(m.content), 0);
  naive.push(performance.now() - t);
  t = performance.now();
  const c = estimator.count('openai', body);
  cached.push(performance.now() - t);
  t = performance.now();
  estimator.count('openai', body); // same body again: the A/A floor of the cached path
  aa.push(performance.now() - t);
  t = performance.now();
  const u = estimator.upperBound('openai', body);
  bound.push(performance.now() - t);
  if (u < c || all <= 0) throw new Error('bound violated');
}
console.log(`naive full pass            ${med(naive).toFixed(2)} ms`);
console.log(`estimator.count (1 new)    ${med(cached).toFixed(3)} ms  (${(med(naive) / med(cached)).toFixed(0)}x faster; target < 2 ms)`);
console.log(`estimator.count (0 new)    ${med(aa).toFixed(3)} ms  (cache-hit floor)`);
console.log(`estimator.upperBound       ${med(bound).toFixed(3)} ms`);
