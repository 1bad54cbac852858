/**
 * LiteLLM's price table (`model_prices_and_context_window.json`): what the build takes from it
 * (output limits, uniform batch discounts, long-context tiers genai-prices lacks, and the
 * `*_flex` / `*_priority` service-tier rates genai-prices does not carry) and what
 * `tollgate prices --compare` reads to show drift between the two tables.
 */
import { roundRate } from './compile.ts';
import type { PriceDataModel } from './data.ts';
import type { Matcher } from './match.ts';
import type { PriceTier, ServiceTierRates } from './types.ts';

/** One entry of LiteLLM's table (rates in USD per token); only the fields read here are typed. */
export interface LiteLlmEntry {
  readonly litellm_provider?: string;
  readonly mode?: string;
  readonly max_output_tokens?: number;
  readonly max_tokens?: number;
  readonly input_cost_per_token?: number;
  readonly output_cost_per_token?: number;
  readonly cache_read_input_token_cost?: number;
  readonly cache_creation_input_token_cost?: number;
  readonly input_cost_per_token_batches?: number;
  readonly output_cost_per_token_batches?: number;
}

/** LiteLLM's provider names for each compiled provider. */
export const LITELLM_PROVIDERS: Readonly<Record<string, readonly string[]>> = {
  openai: ['openai'],
  anthropic: ['anthropic'],
  google: ['gemini', 'vertex_ai-language-models', 'vertex_ai-anthropic_models'],
  mistral: ['mistral'],
  deepseek: ['deepseek'],
  'x-ai': ['xai'],
  groq: ['groq'],
  together: ['together_ai'],
  fireworks: ['fireworks_ai'],
  cerebras: ['cerebras'],
  cohere: ['cohere', 'cohere_chat'],
  moonshotai: ['moonshot'],
  aws: ['bedrock', 'bedrock_converse'],
  azure: ['azure'],
  openrouter: ['openrouter'],
};

/** USD per token -> USD per million tokens, without float noise. */
export function perMillion(v: number): number {
  return roundRate(v * 1e6);
}

/** LiteLLM entries of some providers, keyed by lowercased name without the LiteLLM prefix. */
export function liteLlmIndex(all: Readonly<Record<string, unknown>>, providers: readonly string[]): Map<string, LiteLlmEntry> {
  const index = new Map<string, LiteLlmEntry>();
  for (const [key, value] of Object.entries(all)) {
    if (typeof value !== 'object' || value === null) continue;
    const entry = value as LiteLlmEntry;
    if (entry.litellm_provider === undefined || !providers.includes(entry.litellm_provider)) continue;
    let name = key.toLowerCase();
    for (const p of providers) if (name.startsWith(`${p}/`)) name = name.slice(p.length + 1);
    if (name.startsWith('accounts/fireworks/models/')) name = name.slice('accounts/fireworks/models/'.length);
    if (!index.has(name)) index.set(name, entry);
  }
  return index;
}

const TIER_FIELDS = [
  ['input_cost_per_token', 'input'],
  ['output_cost_per_token', 'output'],
  ['cache_read_input_token_cost', 'cacheRead'],
  ['cache_creation_input_token_cost', 'cacheWrite'],
  ['cache_creation_input_token_cost_above_1hr', 'cacheWrite1h'],
] as const;

/** LiteLLM's `*_above_<N>k_tokens[suffix]` rates as tiers, when it has both an input and an output rate for a threshold. */
function liteLlmTiers(entry: LiteLlmEntry, floor: { readonly input: number; readonly output: number }, suffix = ''): PriceTier[] | undefined {
  const raw = entry as unknown as Record<string, unknown>;
  const thresholds = new Set<number>();
  const pattern = new RegExp(`^input_cost_per_token_above_(\\d+)k_tokens${suffix}$`);
  for (const key of Object.keys(raw)) {
    const m = pattern.exec(key);
    if (m?.[1] !== undefined) thresholds.add(Number(m[1]) * 1000);
  }
  const tiers: PriceTier[] = [];
  for (const threshold of [...thresholds].sort((a, b) => a - b)) {
    const tier: Record<string, number> = { aboveInputTokens: threshold };
    for (const [from, to] of TIER_FIELDS) {
      const v = raw[`${from}_above_${threshold / 1000}k_tokens${suffix}`];
      if (typeof v === 'number') tier[to] = perMillion(v);
    }
    if (tier['input'] === undefined || tier['output'] === undefined) continue;
    if (tier['input'] < floor.input || tier['output'] < floor.output) continue; // not a surcharge tier: ignore
    tiers.push(tier as unknown as PriceTier);
  }
  return tiers.length > 0 ? tiers : undefined;
}

/** The `*_flex` / `*_priority` rates of an entry, for each tier that has both an input and an output rate. */
function serviceTiersOf(entry: LiteLlmEntry): Record<string, ServiceTierRates> | undefined {
  const raw = entry as unknown as Record<string, unknown>;
  const out: Record<string, ServiceTierRates> = {};
  for (const tier of ['flex', 'priority']) {
    const rates: Record<string, unknown> = {};
    for (const [from, to] of TIER_FIELDS) {
      const v = raw[`${from}_${tier}`];
      if (typeof v === 'number') rates[to] = perMillion(v);
    }
    if (typeof rates['input'] !== 'number' || typeof rates['output'] !== 'number') continue;
    const tiers = liteLlmTiers(entry, { input: rates['input'], output: rates['output'] }, `_${tier}`);
    out[tier] = { ...(rates as { input: number; output: number }), ...(tiers === undefined ? {} : { tiers }) };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Adds LiteLLM's output limit, uniform batch discount, missing long-context tiers and service-tier
 * rates to a model compiled from genai-prices. `index` holds the provider's LiteLLM entries.
 */
export function enrichFromLiteLlm(model: PriceDataModel, matcher: Matcher, index: ReadonlyMap<string, LiteLlmEntry>): PriceDataModel {
  const exact = index.get(model.id.toLowerCase());
  let maxOut = exact?.max_output_tokens ?? exact?.max_tokens;
  if (maxOut === undefined) {
    // No entry under the same id: take the largest limit among the names the model's rule accepts
    // (the policy uses it to bound a call without max_tokens, so larger is the safe side).
    for (const [name, entry] of index) {
      const limit = entry.max_output_tokens ?? entry.max_tokens;
      if (limit !== undefined && matcher(name) && (maxOut === undefined || limit > maxOut)) maxOut = limit;
    }
  }
  let batchDiscount: number | undefined;
  if (
    exact?.input_cost_per_token !== undefined &&
    exact.output_cost_per_token !== undefined &&
    exact.input_cost_per_token_batches !== undefined &&
    exact.output_cost_per_token_batches !== undefined &&
    exact.input_cost_per_token > 0 &&
    exact.output_cost_per_token > 0
  ) {
    const a = exact.input_cost_per_token_batches / exact.input_cost_per_token;
    const b = exact.output_cost_per_token_batches / exact.output_cost_per_token;
    // Only a uniform discount is a batch discount in the sense of docs/pricing.md.
    if (Math.abs(a - b) < 1e-9 && a > 0 && a < 1) batchDiscount = Math.round(a * 1e4) / 1e4;
  }
  // genai-prices omits some long-context tiers that LiteLLM carries (claude-sonnet-4's 1M-context
  // beta: $6 / $22.50 above 200k). Adding a tier only ever raises a price: the safe side for budgets.
  let tiers = model.tiers ?? (exact === undefined ? undefined : liteLlmTiers(exact, model));
  if (tiers === undefined && model.tiers === undefined && exact === undefined) {
    for (const [name, entry] of index) {
      if (!matcher(name)) continue;
      tiers = liteLlmTiers(entry, model);
      if (tiers !== undefined) break;
    }
  }
  // Service tiers only from the entry of the same id: a tier's rates are per model, never guessed.
  const serviceTiers = exact === undefined ? undefined : serviceTiersOf(exact);
  return {
    ...model,
    ...(tiers === undefined ? {} : { tiers }),
    ...(batchDiscount === undefined ? {} : { batchDiscount }),
    ...(maxOut === undefined || !Number.isSafeInteger(maxOut) || maxOut <= 0 ? {} : { maxOutputTokens: maxOut }),
    ...(serviceTiers === undefined ? {} : { serviceTiers }),
  };
}
