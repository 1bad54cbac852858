/**
 * Compiles the built-in price table, `src/pricing/data/prices.json`.
 *
 *   node scripts/build-prices.ts [--as-of YYYY-MM-DD] [--check]
 *
 * Rates come from `@pydantic/genai-prices` (the installed devDependency: maintained
 * data with long-context tiers, cache read / 5-minute / 1-hour write rates and
 * date-conditional prices). Date conditions are resolved at `--as-of` (default: the
 * date already recorded in the committed file, so a rebuild is reproducible; pass a
 * new date to move on). Output limits (`maxOutputTokens`) and batch discounts, which
 * genai-prices does not carry, come from LiteLLM's table in the shared reference
 * directory. `--check` exits 1 when the committed file differs from a fresh build.
 * See src/pricing/README.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findProvider } from '@pydantic/genai-prices';
import { compileMatch, type MatchRule, type Matcher } from '../src/pricing/match.ts';
import type { PriceData, PriceDataModel, PriceDataProvider } from '../src/pricing/data.ts';
import type { PriceTier } from '../src/pricing/types.ts';

/** Providers compiled into the table, in lookup order when a call names no provider. */
export const PROVIDERS: readonly string[] = [
  'openai',
  'anthropic',
  'google',
  'mistral',
  'deepseek',
  'x-ai',
  'groq',
  'together',
  'fireworks',
  'cerebras',
  'cohere',
  'moonshotai',
  'aws',
  'azure',
];

/** LiteLLM's provider names for each compiled provider (for output limits and batch rates). */
const LITELLM_PROVIDERS: Readonly<Record<string, readonly string[]>> = {
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
};

export const DATA_PATH = fileURLToPath(new URL('../src/pricing/data/prices.json', import.meta.url));
export const LITELLM_PATH = fileURLToPath(
  new URL('./data/litellm_model_prices_and_context_window.json', import.meta.url),
);

type Upstream = number | { base: number; tiers: { start: number; price: number }[] } | undefined;
type UpstreamPrices = Record<string, Upstream>;
interface UpstreamConditional {
  constraint?: { start_date?: string; start_time?: string; end_time?: string; type?: string };
  prices: UpstreamPrices;
}

interface LiteLlmEntry {
  litellm_provider?: string;
  max_output_tokens?: number;
  max_tokens?: number;
  input_cost_per_token?: number;
  output_cost_per_token?: number;
  input_cost_per_token_batches?: number;
  output_cost_per_token_batches?: number;
}

/**
 * Picks the price in force on `asOf`: the last entry whose start date has passed.
 * Time-of-day windows (DeepSeek's off-peak discount) are ignored, so those models
 * bill at the standard (higher) rate: a conservative choice for budgets.
 */
function resolveDate(prices: UpstreamPrices | UpstreamConditional[], asOf: string): UpstreamPrices {
  if (!Array.isArray(prices)) return prices;
  let chosen: UpstreamPrices | undefined;
  for (const entry of prices) {
    const c = entry.constraint;
    if (c === undefined || c === null) chosen = entry.prices;
    else if (c.start_date !== undefined && c.start_date <= asOf) chosen = entry.prices;
  }
  if (chosen === undefined) throw new Error('no price in force');
  return chosen;
}

const FIELDS = [
  ['input_mtok', 'input'],
  ['output_mtok', 'output'],
  ['cache_read_mtok', 'cacheRead'],
  ['cache_write_mtok', 'cacheWrite'],
  ['cache_write_1h_mtok', 'cacheWrite1h'],
  ['output_reasoning_mtok', 'reasoning'],
] as const;

function baseOf(v: Upstream): number | undefined {
  return v === undefined ? undefined : typeof v === 'number' ? v : v.base;
}

/** Price of one field for a request whose input is strictly above `threshold`. */
function atThreshold(v: Upstream, threshold: number): number | undefined {
  if (v === undefined || typeof v === 'number') return v;
  let price = v.base;
  for (const t of v.tiers) if (threshold >= t.start) price = t.price;
  return price;
}

function round(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}

function convertPrices(p: UpstreamPrices): Omit<PriceDataModel, 'id' | 'match'> | undefined {
  const input = baseOf(p.input_mtok);
  if (input === undefined) return undefined; // priced per image / second / request only: not a token model
  const out: Record<string, unknown> = {};
  for (const [from, to] of FIELDS) {
    const v = baseOf(p[from]);
    if (v !== undefined) out[to] = round(v);
  }
  out.output ??= 0; // embeddings have no output rate
  const starts = new Set<number>();
  for (const [from] of FIELDS) {
    const v = p[from];
    if (v !== undefined && typeof v !== 'number') for (const t of v.tiers) starts.add(t.start);
  }
  if (starts.size > 0) {
    const tiers: PriceTier[] = [];
    for (const start of [...starts].sort((a, b) => a - b)) {
      const tier: Record<string, number> = { aboveInputTokens: start };
      for (const [from, to] of FIELDS) {
        const v = atThreshold(p[from], start);
        if (v !== undefined) tier[to] = round(v);
      }
      tier.output ??= 0;
      tiers.push(tier as unknown as PriceTier);
    }
    out.tiers = tiers;
  }
  return out as unknown as Omit<PriceDataModel, 'id' | 'match'>;
}

/** LiteLLM entries of one provider, keyed by lowercased name without the LiteLLM prefix. */
function liteLlmIndex(all: Record<string, LiteLlmEntry>, providers: readonly string[]): Map<string, LiteLlmEntry> {
  const index = new Map<string, LiteLlmEntry>();
  for (const [key, entry] of Object.entries(all)) {
    if (typeof entry !== 'object' || entry.litellm_provider === undefined || !providers.includes(entry.litellm_provider)) continue;
    let name = key.toLowerCase();
    for (const p of providers) if (name.startsWith(`${p}/`)) name = name.slice(p.length + 1);
    if (name.startsWith('accounts/fireworks/models/')) name = name.slice('accounts/fireworks/models/'.length);
    if (!index.has(name)) index.set(name, entry);
  }
  return index;
}

function enrich(model: PriceDataModel, matcher: Matcher, index: Map<string, LiteLlmEntry>): PriceDataModel {
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
    // Only a uniform discount is a batch discount in the SPEC's sense.
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
  return {
    ...model,
    ...(tiers === undefined ? {} : { tiers }),
    ...(batchDiscount === undefined ? {} : { batchDiscount }),
    ...(maxOut === undefined || !Number.isSafeInteger(maxOut) || maxOut <= 0 ? {} : { maxOutputTokens: maxOut }),
  };
}

const LITELLM_TIER_FIELDS = [
  ['input_cost_per_token', 'input'],
  ['output_cost_per_token', 'output'],
  ['cache_read_input_token_cost', 'cacheRead'],
  ['cache_creation_input_token_cost', 'cacheWrite'],
  ['cache_creation_input_token_cost_above_1hr', 'cacheWrite1h'],
] as const;

/** LiteLLM's `*_above_<N>k_tokens` rates as tiers, when it has both an input and an output rate for a threshold. */
function liteLlmTiers(entry: LiteLlmEntry, model: PriceDataModel): PriceTier[] | undefined {
  const raw = entry as unknown as Record<string, unknown>;
  const thresholds = new Set<number>();
  for (const key of Object.keys(raw)) {
    const m = /^input_cost_per_token_above_(\d+)k_tokens$/.exec(key);
    if (m?.[1] !== undefined) thresholds.add(Number(m[1]) * 1000);
  }
  const tiers: PriceTier[] = [];
  for (const threshold of [...thresholds].sort((a, b) => a - b)) {
    const tier: Record<string, number> = { aboveInputTokens: threshold };
    for (const [from, to] of LITELLM_TIER_FIELDS) {
      const v = raw[`${from}_above_${threshold / 1000}k_tokens`];
      if (typeof v === 'number') tier[to] = round(v * 1e6);
    }
    if (tier.input === undefined || tier.output === undefined) continue;
    if (tier.input < model.input || tier.output < model.output) continue; // not a surcharge tier: ignore
    tiers.push(tier as unknown as PriceTier);
  }
  return tiers.length > 0 ? tiers : undefined;
}

/** Builds the compiled table from the installed genai-prices and the LiteLLM reference file. */
export function buildPriceData(asOf: string, litellmPath: string = LITELLM_PATH): PriceData {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(asOf)) throw new Error(`--as-of must be YYYY-MM-DD, got ${asOf}`);
  const litellm = JSON.parse(readFileSync(litellmPath, 'utf8')) as Record<string, LiteLlmEntry>;
  const pkg = JSON.parse(
    readFileSync(fileURLToPath(new URL('../node_modules/@pydantic/genai-prices/package.json', import.meta.url)), 'utf8'),
  ) as { version: string };
  const providers: PriceDataProvider[] = [];
  for (const id of PROVIDERS) {
    const upstream = findProvider({ providerId: id });
    if (upstream?.id !== id) throw new Error(`genai-prices has no provider "${id}"`);
    const index = liteLlmIndex(litellm, LITELLM_PROVIDERS[id] ?? []);
    const models: PriceDataModel[] = [];
    for (const m of upstream.models) {
      const prices = convertPrices(resolveDate(m.prices as UpstreamPrices | UpstreamConditional[], asOf));
      if (prices === undefined) continue;
      const match = JSON.parse(JSON.stringify(m.match)) as MatchRule;
      const model: PriceDataModel = { id: m.id, match, ...prices, ...(m.context_window === undefined ? {} : { contextWindow: m.context_window }) };
      models.push(enrich(model, compileMatch(match), index));
    }
    const modelMatch = upstream.model_match === undefined ? undefined : (JSON.parse(JSON.stringify(upstream.model_match)) as MatchRule);
    providers.push({ id, ...(modelMatch === undefined ? {} : { modelMatch }), models });
  }
  return { version: 1, source: `@pydantic/genai-prices ${pkg.version} + LiteLLM output limits`, asOf, providers };
}

/** Serialises one model per line: small diffs when prices change. */
export function serialisePriceData(data: PriceData): string {
  const providers = data.providers.map((p) => {
    const head = JSON.stringify({ id: p.id, ...(p.modelMatch === undefined ? {} : { modelMatch: p.modelMatch }) }).slice(0, -1);
    return `    ${head},"models":[\n${p.models.map((m) => `      ${JSON.stringify(m)}`).join(',\n')}\n    ]}`;
  });
  return `{"version":1,"source":${JSON.stringify(data.source)},"asOf":${JSON.stringify(data.asOf)},"providers":[\n${providers.join(',\n')}\n]}\n`;
}

function main(argv: readonly string[]): number {
  let asOf: string | undefined;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') check = true;
    else if (a === '--as-of') asOf = argv[++i];
    else {
      process.stderr.write(`build-prices: unknown argument ${a}\nusage: node scripts/build-prices.ts [--as-of YYYY-MM-DD] [--check]\n`);
      return 2;
    }
  }
  let committed: string | undefined;
  try {
    committed = readFileSync(DATA_PATH, 'utf8');
  } catch {
    committed = undefined;
  }
  asOf ??= committed === undefined ? new Date().toISOString().slice(0, 10) : (JSON.parse(committed) as PriceData).asOf;
  const text = serialisePriceData(buildPriceData(asOf));
  if (check) {
    if (text === committed) return 0;
    process.stderr.write(`build-prices: ${DATA_PATH} is stale; run node scripts/build-prices.ts\n`);
    return 1;
  }
  writeFileSync(DATA_PATH, text);
  const data = JSON.parse(text) as PriceData;
  process.stdout.write(`wrote ${DATA_PATH}: ${data.providers.reduce((n, p) => n + p.models.length, 0)} models, prices as of ${asOf}\n`);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
