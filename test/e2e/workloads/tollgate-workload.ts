/**
 * The instrumented Node workload of the collector end-to-end test, run as a user runs
 * tollgate: `node --import <repo>/src/register.ts tollgate-workload.ts`, configured only by
 * OTEL_* / TOLLGATE_* env vars (OTLP/HTTP JSON to the gateway collector, per-agent caps in
 * TOLLGATE_CONFIG). The real `openai` and `@anthropic-ai/sdk` clients call the provider
 * stand-in at STANDIN_URL. Several agents, task types and models; the writer agent calls
 * until its daily cap refuses a call (BudgetExceededError). Prints the SDK ledger's spend
 * per agent as JSON on stdout.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { setTimeout as delay } from 'node:timers/promises';
import { withAgent, withTask } from '../../../src/context.ts';
import { BudgetExceededError } from '../../../src/errors.ts';
import { tollgate } from '../../../src/register.ts';

const standin = process.env['STANDIN_URL'];
if (standin === undefined) throw new Error('STANDIN_URL is not set');
const openai = new OpenAI({ apiKey: 'sk-e2e', baseURL: `${standin}/v1`, maxRetries: 0 });
// Anthropic's SDK emits its own spans by default: tollgate's span is the one that counts.
const anthropic = new Anthropic({ apiKey: 'sk-ant-e2e', baseURL: standin, maxRetries: 0 });

const SYSTEM = 'You are a careful assistant for an end-to-end test of tollgate. '.repeat(40);

async function chat(model: string, prompt: string, maxTokens: number): Promise<void> {
  await openai.chat.completions.create({ model, max_tokens: maxTokens, messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: prompt }] });
}

async function claude(model: string, prompt: string, maxTokens: number): Promise<void> {
  await anthropic.messages.create({
    model,
    max_tokens: maxTokens,
    system: [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: prompt }],
  });
}

let blocked = 0;
const waves = 3;
for (let wave = 0; wave < waves; wave++) {
  await withAgent('planner', () => withTask({ id: `plan-${String(wave)}`, type: 'plan' }, () => chat('gpt-4.1', `Plan step ${String(wave)}`, 300)));
  await withAgent('researcher', () =>
    withTask({ id: `research-${String(wave)}`, type: 'research' }, async () => {
      await chat('gpt-4o-mini', `Research question ${String(wave)}`, 400);
      await claude('claude-haiku-4-5', `Summarise source ${String(wave)}`, 200);
    }),
  );
  await withAgent('writer', () =>
    withTask({ id: `draft-${String(wave)}`, type: 'draft' }, async () => {
      try {
        // The last draft asks for far more output: its pre-call estimate no longer fits the daily cap.
        await claude('claude-sonnet-4-6', `Draft section ${String(wave)}`, wave === waves - 1 ? 8192 : 1024);
      } catch (err) {
        if (!(err instanceof BudgetExceededError)) throw err;
        blocked++;
      }
    }),
  );
  // Real time between waves: Prometheus needs two samples per series for rate() / increase().
  await delay(1100);
}

const ledger: Record<string, number> = {};
for (const [agent, spend] of Object.entries(tollgate.getSpend().agents)) ledger[agent] = spend.costUsd;
await tollgate.shutdown();
process.stdout.write(`${JSON.stringify({ ledger, blocked })}\n`);
