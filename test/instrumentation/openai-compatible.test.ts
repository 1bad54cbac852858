/**
 * OpenAI-compatible hosts reached through the real `openai` SDK: the provider is named from the
 * base URL's host (hosts.ts table), prices are looked up for that provider, and an unknown host is
 * never priced at OpenAI's rates. The client keeps its real base URL (the span's `server.address`
 * and the provider come from it); a custom `fetch` carries each request to the local stand-in.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config/index.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import { PolicySwitchGate } from '../support/gates.ts';
import { providerOfHost } from '../../src/instrumentation/openai/hosts.ts';
import { MemoryLedger } from '../../src/ledger/memory.ts';
import { BudgetPolicy } from '../../src/policy/index.ts';
import { computeCost, createPriceTable } from '../../src/pricing/index.ts';
import type { Usage } from '../../src/pricing/types.ts';
import { createInputEstimator } from '../../src/tokens/index.ts';
import { onlySpan, startHarness, type Harness } from '../standin/harness.ts';

const prices = createPriceTable({ overrides: [{ provider: 'llm.acme.internal', model: 'acme-chat', input: 1, output: 2 }] });

const gate = new PolicySwitchGate();
let h: Harness;

before(async () => {
  h = await startHarness({ gate, prices });
});
after(async () => {
  await h.close();
});
beforeEach(() => {
  h.reset();
  gate.policy = undefined;
});

/** A client whose base URL is `baseURL`, with every request carried to the stand-in. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function clientFor(baseURL: string): any {
  const standin = h.server.url;
  return h.client('openai', {
    baseURL,
    fetch: (url: string | URL, init?: RequestInit) => {
      const u = new URL(String(url));
      return fetch(`${standin}${u.pathname}${u.search}`, init);
    },
  });
}

function usageOf(wire: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number } }): Usage {
  const cached = wire.prompt_tokens_details?.cached_tokens ?? 0;
  return { inputTokens: wire.prompt_tokens, outputTokens: wire.completion_tokens, ...(cached > 0 ? { cacheReadTokens: cached } : {}) };
}

void describe('host -> provider table', () => {
  const cases: [string, string][] = [
    ['api.openai.com', 'openai'],
    ['my-resource.openai.azure.com', 'azure.ai.openai'],
    ['api.groq.com', 'groq'],
    ['api.deepseek.com', 'deepseek'],
    ['api.x.ai', 'x_ai'],
    ['api.mistral.ai', 'mistral_ai'],
    ['openrouter.ai', 'openrouter'],
    ['api.together.xyz', 'together_ai'],
    ['api.fireworks.ai', 'fireworks'],
    ['api.cerebras.ai', 'cerebras'],
    ['generativelanguage.googleapis.com', 'gcp.gemini'],
    ['127.0.0.1', 'openai'],
    ['localhost', 'openai'],
    ['llm.acme.internal', 'llm.acme.internal'],
  ];
  for (const [host, provider] of cases) {
    void it(`${host} -> ${provider}`, () => {
      assert.equal(providerOfHost(host, false).provider, provider);
    });
  }
  void it('known hosts are priced from the table; unknown hosts and hosts without price data from overrides only', () => {
    assert.equal(providerOfHost('api.groq.com', false).pricing, 'table');
    assert.equal(providerOfHost('llm.acme.internal', false).pricing, 'overrides-only');
    assert.equal(providerOfHost('api.perplexity.ai', false).pricing, 'overrides-only');
    assert.equal(providerOfHost('evil-api.openai.com.example.net', false).pricing, 'overrides-only');
  });
});

void describe('openai SDK on compatible hosts', () => {
  void it("Groq: gen_ai.provider.name=groq, openai/gpt-oss-120b at Groq's rates, not OpenAI's", async () => {
    const res = await clientFor('https://api.groq.com/openai/v1').chat.completions.create({
      model: 'openai/gpt-oss-120b',
      messages: [{ role: 'user', content: 'Say hello.' }],
    });
    const a = (await onlySpan(h)).attributes;
    assert.equal(a['gen_ai.provider.name'], 'groq');
    assert.equal(a['server.address'], 'api.groq.com');
    const usage = usageOf(res.usage);
    assert.equal(a['gen_ai.usage.input_tokens'], usage.inputTokens);
    assert.equal(a['gen_ai.usage.output_tokens'], usage.outputTokens);
    const groq = prices.lookup('openai/gpt-oss-120b', 'groq').price;
    assert.equal(groq.provider, 'groq');
    assert.equal(a['tollgate.cost.usd'], computeCost(usage, groq).totalUsd);
    assert.notEqual(a['tollgate.cost.usd'], computeCost(usage, prices.lookup('gpt-oss-120b', 'openai').price).totalUsd);
    assert.equal(a['tollgate.cost.source'], 'table');
  });

  void it('DeepSeek streamed: exact tokens and cost from the final usage chunk', async () => {
    const stream = await clientFor('https://api.deepseek.com').chat.completions.create({
      model: 'deepseek-chat',
      messages: [{ role: 'user', content: 'Say hello.' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    const a = (await onlySpan(h)).attributes;
    assert.equal(a['gen_ai.provider.name'], 'deepseek');
    const usage = { inputTokens: Number(a['gen_ai.usage.input_tokens']), outputTokens: Number(a['gen_ai.usage.output_tokens']) };
    assert.ok(usage.inputTokens > 0 && usage.outputTokens > 0);
    assert.equal(a['tollgate.usage.estimated'], false);
    assert.equal(a['tollgate.cost.usd'], computeCost(usage, prices.lookup('deepseek-chat', 'deepseek').price).totalUsd);
  });

  for (const [baseURL, provider, model] of [
    ['https://api.x.ai/v1', 'x_ai', 'grok-4'],
    ['https://api.mistral.ai/v1', 'mistral_ai', 'mistral-large-latest'],
    ['https://api.together.xyz/v1', 'together_ai', 'meta-llama/Llama-3.3-70B-Instruct-Turbo'],
  ] as const) {
    void it(`${provider}: named and priced from its own table`, async () => {
      const res = await clientFor(baseURL).chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] });
      const a = (await onlySpan(h)).attributes;
      assert.equal(a['gen_ai.provider.name'], provider);
      const lookup = prices.lookup(model, provider);
      assert.equal(lookup.source, 'table');
      assert.equal(a['tollgate.cost.usd'], computeCost(usageOf(res.usage), lookup.price).totalUsd);
    });
  }

  void it('an unknown host asking for gpt-4o is NOT priced at OpenAI rates: fallback, flagged', async () => {
    const res = await clientFor('https://llm.acme.internal/v1').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    const a = (await onlySpan(h)).attributes;
    assert.equal(a['gen_ai.provider.name'], 'llm.acme.internal');
    assert.equal(a['tollgate.cost.source'], 'fallback');
    const openaiCost = computeCost(usageOf(res.usage), prices.lookup('gpt-4o', 'openai').price).totalUsd;
    assert.ok(Number(a['tollgate.cost.usd']) > openaiCost, 'fallback rates are above OpenAI gpt-4o rates');
  });

  void it("an unknown host's model with an override price is priced from the override", async () => {
    const res = await clientFor('https://llm.acme.internal/v1').chat.completions.create({ model: 'acme-chat', messages: [{ role: 'user', content: 'Hi' }] });
    const a = (await onlySpan(h)).attributes;
    assert.equal(a['tollgate.cost.source'], 'override');
    const usage = usageOf(res.usage);
    assert.equal(a['tollgate.cost.usd'], computeCost(usage, { provider: 'llm.acme.internal', model: 'acme-chat', input: 1, output: 2 }).totalUsd);
    assert.ok(Math.abs(Number(a['tollgate.cost.usd']) - (usage.inputTokens * 1 + usage.outputTokens * 2) / 1e6) < 1e-15);
  });

  void it('under a cap on Groq: rejected with BudgetExceededError, the host receives nothing', async () => {
    const config = resolveConfig({ env: {}, overrides: { agent: 'svc', configFile: { version: 1 }, limits: { dailyUsd: 0.00000001 } } });
    gate.policy = new BudgetPolicy({ config, ledger: new MemoryLedger(), prices, estimator: createInputEstimator() });
    await assert.rejects(
      clientFor('https://api.groq.com/openai/v1').chat.completions.create({ model: 'openai/gpt-oss-120b', messages: [{ role: 'user', content: 'Hi' }] }),
      BudgetExceededError,
    );
    assert.equal(h.server.requests.length, 0);
    const a = (await onlySpan(h)).attributes;
    assert.equal(a['gen_ai.provider.name'], 'groq');
    assert.equal(a['error.type'], 'tollgate.budget_exceeded');
  });
});
