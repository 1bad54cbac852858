/**
 * Per-span pricing cost: table.lookup + computeCost, as the span processor calls them.
 * Baseline: computeCost alone with a price already in hand. Rounds alternate A/B;
 * the A/A line (baseline vs itself) is the noise floor. Two lookup mixes: models with one
 * price (no validity to check), and models with dated prices / time-of-day windows, looked
 * up at a start time that moves across their boundaries (the validity checks included).
 */
import { computeCost, createPriceTable } from '../src/pricing/index.ts';

const table = createPriceTable();
const models = ['gpt-4o-2024-08-06', 'claude-sonnet-4-5-20250929', 'gpt-5-mini', 'us.anthropic.claude-3-5-sonnet-20240620-v1:0', 'gemini-2.5-pro'];
const price = table.lookup('gpt-4o').price;
const usage = { inputTokens: 13_000, outputTokens: 500, cacheReadTokens: 10_000, cacheWriteTokens: 2_000, cacheWrite1hTokens: 500 };
let sink = 0;

function baseline(n: number): void {
  for (let i = 0; i < n; i++) sink += computeCost(usage, price).totalUsd;
}
const T0 = Date.parse('2026-12-03T00:00:00Z');
function full(n: number): void {
  for (let i = 0; i < n; i++) sink += computeCost(usage, table.lookup(models[i % 5] ?? '', 'openai', T0 + i * 1000).price).totalUsd;
}
// Every one carries `when`: DeepSeek's windows (V3: one, V4: a date and two windows), dated Gemini / GPT / Claude prices.
const dated = ['deepseek-chat', 'deepseek-v4-pro', 'gemini-3.6-flash', 'gpt-5.6-luna', 'claude-sonnet-4-6'];
function timed(n: number): void {
  // One call a second across the day: every window's both sides are visited.
  for (let i = 0; i < n; i++) sink += computeCost(usage, table.lookup(dated[i % 5] ?? '', undefined, T0 + i * 1000).price).totalUsd;
}
function time(fn: (n: number) => void, n: number): number {
  const t0 = process.cpuUsage();
  fn(n);
  const t = process.cpuUsage(t0);
  return ((t.user + t.system) * 1000) / n; // ns per op
}

const N = 200_000;
full(N); // warm-up, resolves every name once
timed(N);
baseline(N);
const a: number[] = [], b: number[] = [], c: number[] = [], aa: number[] = [];
for (let round = 0; round < 7; round++) {
  a.push(time(baseline, N));
  b.push(time(full, N));
  c.push(time(timed, N));
  aa.push(time(baseline, N));
}
const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
console.log(`computeCost alone          ${med(a).toFixed(0)} ns CPU/op`);
console.log(`lookup + computeCost       ${med(b).toFixed(0)} ns CPU/op  (${(med(b) / med(a)).toFixed(2)}x baseline)  models with one price`);
console.log(`lookup at t + computeCost  ${med(c).toFixed(0)} ns CPU/op  (${(med(c) / med(a)).toFixed(2)}x baseline, ${(med(c) / med(b)).toFixed(2)}x one-price)  dated prices / windows, validity checked`);
console.log(`A/A noise floor            ${((Math.abs(med(aa) - med(a)) / med(a)) * 100).toFixed(1)} %`);
if (sink === 0) console.log('');
