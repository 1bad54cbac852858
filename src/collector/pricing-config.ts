/**
 * Generates the gateway collector's pricing config (collector-config/pricing.yaml) from
 * the same price table the SDK prices with: a `transform` processor whose OTTL statements
 * price GenAI spans that arrive WITHOUT `tollgate.cost.usd` (from services in any
 * language), and a `signal_to_metrics` connector that turns the prices it wrote into the
 * `tollgate.cost.usd` counter.
 *
 * The OTTL replays `computeCost` operation for operation (same operand order, same
 * float64 arithmetic), so a span priced here carries exactly the USD the SDK would
 * compute for the same usage and price. Model names are normalised as the SDK does for
 * the common cases (gateway prefixes, Bedrock and Vertex ids, dated snapshots, `-latest`);
 * a model the table does not know gets the provider's conservative fallback rates and
 * `tollgate.cost.source=fallback`, never $0.
 *
 * Spans tollgate already priced are left alone, and the derived metric only counts spans
 * this config priced (`tollgate.cost.priced_by=collector`): the SDK exports its own
 * `tollgate.cost.usd` counter, so nothing is counted twice.
 */
import { BUILTIN_PRICES_INFO, priceInForce } from '../pricing/index.ts';
import { providerIds } from '../pricing/normalise.ts';
import type { ModelPrice, PriceLookup, PriceTable, Rates } from '../pricing/types.ts';
import {
  ATTR_COST_CACHE_READ_USD,
  ATTR_COST_CACHE_WRITE_USD,
  ATTR_COST_INPUT_USD,
  ATTR_COST_OUTPUT_USD,
  ATTR_COST_PRICE_ID,
  ATTR_COST_PRICED_BY,
  ATTR_COST_SOURCE,
  ATTR_COST_USD,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_SYSTEM,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_COMPLETION_TOKENS,
  ATTR_GEN_AI_USAGE_COST,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_PROMPT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  ATTR_SERVICE_NAME,
  ATTR_TASK_TYPE,
  METRIC_COST_USD,
  METRIC_UNPRICED_CALLS,
} from '../semconv.ts';

/** Component ids the generated file defines; collector-config/gateway.yaml wires them into its pipelines. */
export const PRICING_PROCESSOR_ID = 'transform/tollgate_pricing';
/** See {@link PRICING_PROCESSOR_ID}. */
export const COST_METRICS_CONNECTOR_ID = 'signal_to_metrics/tollgate';
/** Value of `tollgate.cost.priced_by` on spans the collector priced. */
export const PRICED_BY_COLLECTOR = 'collector';
/** `default_value` of a metric attribute a span lacks (signal_to_metrics drops spans missing an attribute that has none). */
export const METRIC_ATTRIBUTE_DEFAULT = 'unknown';

// Token counts other instrumentations emit (OpenInference, Anthropic's own SDK spans).
const OPENINFERENCE_PROMPT = 'llm.token_count.prompt';
const OPENINFERENCE_COMPLETION = 'llm.token_count.completion';
const OPENINFERENCE_CACHE_READ = 'llm.token_count.prompt_details.cache_read';
const OPENINFERENCE_CACHE_WRITE = 'llm.token_count.prompt_details.cache_write';
const OPENINFERENCE_REASONING = 'llm.token_count.completion_details.reasoning';
const ANTHROPIC_CACHE_WRITE_1H = 'anthropic.usage.cache_creation.ephemeral_1h_input_tokens';

/** Provider names seen on spans (`gen_ai.provider.name`, legacy `gen_ai.system`) mapped to the price data's ids with the SDK's own alias table. */
const SPAN_PROVIDER_NAMES = [
  'openai', 'azure.ai.openai', 'az.ai.openai', 'azure.ai.inference', 'azure', 'azure_openai', 'azure_ai',
  'anthropic', 'aws.bedrock', 'bedrock', 'bedrock_converse', 'aws',
  'gcp.gemini', 'gcp.vertex_ai', 'gcp.gen_ai', 'google', 'gemini', 'vertex_ai', 'vertex',
  'mistral', 'mistral_ai', 'deepseek', 'x-ai', 'x_ai', 'xai', 'groq', 'together', 'together_ai',
  'fireworks', 'fireworks_ai', 'cerebras', 'cohere', 'moonshot', 'moonshotai',
] as const;

// The SDK's name normalisation (src/pricing/normalise.ts), as RE2 patterns.
const BEDROCK_ID =
  '^(?:(?:us|eu|apac|ap|au|jp|ca|us-gov|global|regional)\\.)?(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|openai|qwen|writer|moonshot|moonshotai|minimax|google|nvidia)\\.(.+?)(?:-v\\d+(?::\\d+)?|:\\d+)?$';
const SNAPSHOT_SUFFIX = '-(?:\\d{4}-\\d{2}-\\d{2}|\\d{8}|latest|v\\d+)$';

const BEDROCK_RE = new RegExp(BEDROCK_ID);
const SNAPSHOT_RE = new RegExp(SNAPSHOT_SUFFIX);

/**
 * The names the generated OTTL compares, computed in JS the same way: `full` (lowercased),
 * `fullUnsnapshotted` (without a dated / `-latest` / `-vN` suffix), `normalised` (gateway prefix up to the last `/`, Bedrock region / vendor / version and
 * Vertex `@version` removed) and `unsnapshotted` (also without a dated / `-latest` / `-vN` suffix).
 */
export function collectorModelNames(model: string): { full: string; fullUnsnapshotted: string; normalised: string; unsnapshotted: string } {
  const full = model.toLowerCase();
  const normalised = full.replace(/^.*\//, '').replace(BEDROCK_RE, '$1').replace(/@.*$/, '');
  return { full, fullUnsnapshotted: full.replace(SNAPSHOT_RE, ''), normalised, unsnapshotted: normalised.replace(SNAPSHOT_RE, '') };
}

/** A model name the table can never know, used to ask the table for its fallback rates. */
const UNKNOWN_MODEL = 'tollgate-collector-unknown-model';

/** Per-million-token rates with the SDK's defaults resolved (see `computeCost`). */
export interface ResolvedRates {
  readonly input: number;
  readonly output: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  readonly cacheWrite1h: number;
  readonly reasoning: number;
}

/** One priced row of the generated config. */
export interface CollectorPriceRule {
  /** Written to `tollgate.cost.price_id`: `<provider>/<model>`, `override:<provider>/<model>` or `fallback/<provider>`. */
  readonly id: string;
  readonly source: PriceLookup['source'];
  readonly rates: ResolvedRates;
  /** Long-context tiers, ascending threshold: the last one whose threshold the input strictly exceeds wins. */
  readonly tiers: readonly { readonly aboveInputTokens: number; readonly rates: ResolvedRates }[];
}

/** How a rule is chosen; evaluated in order, first match wins. */
export type CollectorMatch =
  | { readonly kind: 'glob'; readonly regex: string; readonly rule: CollectorPriceRule }
  | { readonly kind: 'name'; readonly field: 'full' | 'normalised' | 'unsnapshotted'; readonly name: string; readonly providerId?: string; readonly rule: CollectorPriceRule }
  | { readonly kind: 'fallback'; readonly providerId?: string; readonly rule: CollectorPriceRule };

/** The pricing plan compiled from a table: what the generated OTTL does, as data (tests replay it in JS). */
export interface CollectorPricingPlan {
  readonly matches: readonly CollectorMatch[];
  /** Span provider name (lowercased) -> price-data provider id. */
  readonly providerAliases: ReadonlyMap<string, string>;
}

/**
 * The one instant this (OTTL) generator prices at: noon UTC on the built-in table's build date,
 * so the committed config is reproducible. It does not follow dated prices or time-of-day windows
 * past that instant (DeepSeek's peak rate applies all day); the Go collector processor that
 * replaces it reads `prices.json` and does.
 */
export function collectorPricesAt(): number {
  return Date.parse(`${BUILTIN_PRICES_INFO.asOf}T12:00:00Z`);
}

/** Options of {@link generatePricingConfig}. */
export interface PricingConfigOptions {
  /** A line saying where the prices came from, written into the header (e.g. the built-in data's source and date). */
  readonly pricesInfo?: string;
}

function rate(r: number | undefined, fallback: number): number {
  return r !== undefined && r >= 0 && Number.isFinite(r) ? r : fallback;
}

/** Resolves the defaults exactly as `computeCost` does for one rate set. */
export function resolveRates(r: Rates): ResolvedRates {
  const input = rate(r.input, 0);
  const output = rate(r.output, 0);
  return {
    input,
    output,
    cacheRead: rate(r.cacheRead, input),
    cacheWrite: rate(r.cacheWrite, input),
    cacheWrite1h: rate(r.cacheWrite1h, 2 * input),
    reasoning: rate(r.reasoning, output),
  };
}

function ruleFor(id: string, lookup: PriceLookup): CollectorPriceRule {
  const price = lookup.price;
  // ratesFor picks the highest threshold the input exceeds; applying tiers in ascending order, last wins, is the same.
  const tiers = [...(price.tiers ?? [])]
    .filter((t) => Number.isFinite(t.aboveInputTokens))
    .sort((a, b) => a.aboveInputTokens - b.aboveInputTokens)
    .map((t) => ({ aboveInputTokens: t.aboveInputTokens, rates: resolveRates(t) }));
  return { id, source: lookup.source, rates: resolveRates(price), tiers };
}

function sameRule(a: CollectorPriceRule, b: CollectorPriceRule): boolean {
  return JSON.stringify({ ...a, id: '' }) === JSON.stringify({ ...b, id: '' });
}

function globToRegex(glob: string): string {
  const lower = glob.toLowerCase();
  return `^${lower
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')}$`;
}

/**
 * Compiles a price table into the collector's matching plan: overrides first (their names
 * and globs), then model ids per provider where providers price the same id differently,
 * then model ids for any provider (first in table order, as the SDK scans them), each on
 * the normalised name and then on the name without its snapshot suffix; then each
 * provider's fallback, then the table-wide fallback.
 */
export function compilePricingPlan(table: PriceTable, at: number = collectorPricesAt()): CollectorPricingPlan {
  const overrides: CollectorMatch[] = [];
  const byModel = new Map<string, { provider: string; rule: CollectorPriceRule }[]>();
  const dataProviders: string[] = [];

  for (const entry of table.entries()) {
    const lookup = priceInForce(entry, at);
    const p: ModelPrice = lookup.price;
    const provider = p.provider.toLowerCase();
    const model = p.model.toLowerCase();
    if (lookup.source === 'override') {
      const rule = ruleFor(`override:${provider}/${model}`, lookup);
      overrides.push({ kind: 'glob', regex: globToRegex(model), rule });
      for (const g of p.match ?? []) overrides.push({ kind: 'glob', regex: globToRegex(g), rule });
      continue;
    }
    if (!dataProviders.includes(provider)) dataProviders.push(provider);
    const rows = byModel.get(model) ?? [];
    if (!rows.some((r) => r.provider === provider)) rows.push({ provider, rule: ruleFor(`${provider}/${model}`, lookup) });
    byModel.set(model, rows);
  }

  const specific: { name: string; providerId: string; rule: CollectorPriceRule }[] = [];
  const generic: { name: string; rule: CollectorPriceRule }[] = [];
  for (const [name, rows] of byModel) {
    const first = rows[0];
    if (first === undefined) continue;
    for (const r of rows) if (!sameRule(r.rule, first.rule)) specific.push({ name, providerId: r.provider, rule: r.rule });
    if (specific.some((s) => s.name === name)) {
      // The first provider's row is also provider-specific when others differ: keep the generic row last.
      specific.push({ name, providerId: first.provider, rule: first.rule });
    }
    generic.push({ name, rule: first.rule });
  }

  const matches: CollectorMatch[] = [...overrides];
  // Ids the normalisation would alter (`meta-llama/llama-4-scout`, Bedrock ids) first match the full name, as the SDK tries it first.
  const altered = (name: string): boolean => collectorModelNames(name).normalised !== name;
  for (const s of specific) if (altered(s.name)) matches.push({ kind: 'name', field: 'full', name: s.name, providerId: s.providerId, rule: s.rule });
  for (const g of generic) if (altered(g.name)) matches.push({ kind: 'name', field: 'full', name: g.name, rule: g.rule });
  for (const field of ['normalised', 'unsnapshotted'] as const) {
    for (const s of specific) matches.push({ kind: 'name', field, name: s.name, providerId: s.providerId, rule: s.rule });
  }
  for (const field of ['normalised', 'unsnapshotted'] as const) {
    for (const g of generic) matches.push({ kind: 'name', field, name: g.name, rule: g.rule });
  }

  for (const providerId of dataProviders) {
    const lookup = table.lookup(UNKNOWN_MODEL, providerId, at);
    if (lookup.source !== 'fallback' || lookup.price.provider !== providerId) continue;
    matches.push({ kind: 'fallback', providerId, rule: ruleFor(`fallback/${providerId}`, lookup) });
  }
  const anyLookup = table.lookup(UNKNOWN_MODEL, undefined, at);
  matches.push({ kind: 'fallback', rule: ruleFor(`fallback/${anyLookup.price.provider}`, anyLookup) });

  const providerAliases = new Map<string, string>();
  for (const name of [...SPAN_PROVIDER_NAMES, ...dataProviders]) {
    const id = providerIds(name)[0] ?? (dataProviders.includes(name) ? name : undefined);
    if (id !== undefined && !providerAliases.has(name)) providerAliases.set(name, id);
  }
  return { matches, providerAliases };
}

// ---------------------------------------------------------------------------------------
// OTTL and YAML text

/**
 * A float64 as an OTTL float literal: always with a dot, never with an exponent (OTTL's
 * grammar does not take `2.5e-06`). Uses the shortest round-trip digits, so the collector
 * parses back exactly the same double.
 */
export function ottlFloat(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`ottlFloat: ${n} is not a finite number`);
  let s = String(n);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (m !== null) {
    const sign = m[1] ?? '';
    const int = m[2] ?? '';
    const frac = m[3] ?? '';
    const digits = int + frac;
    const point = int.length + Number(m[4]);
    if (point <= 0) s = `${sign}0.${'0'.repeat(-point)}${digits}`;
    else if (point >= digits.length) s = `${sign}${digits}${'0'.repeat(point - digits.length)}`;
    else s = `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
  }
  return s.includes('.') ? s : `${s}.0`;
}

/** An OTTL string literal. */
export function ottlString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

const attr = (key: string): string => `span.attributes[${ottlString(key)}]`;
const cache = (key: string): string => `span.cache[${ottlString(key)}]`;

function ratesMap(rates: ResolvedRates): string {
  return (
    `"ri":${ottlFloat(rates.input)},"ro":${ottlFloat(rates.output)},"rcr":${ottlFloat(rates.cacheRead)},` +
    `"rcw":${ottlFloat(rates.cacheWrite)},"rcw1h":${ottlFloat(rates.cacheWrite1h)},"rr":${ottlFloat(rates.reasoning)}`
  );
}

function ruleMap(rule: CollectorPriceRule): string {
  return `{"k":${ottlString(rule.id)},"src":${ottlString(rule.source)},${ratesMap(rule.rates)}}`;
}

/** Reads the first present of several integer (or numeric string) attributes as a double into the cache, else 0.0. */
function tokenStatements(key: string, attributes: readonly string[]): string[] {
  const out: string[] = [];
  attributes.forEach((a, i) => {
    const guard = i === 0 ? `${attr(a)} != nil` : `${cache(key)} == nil and ${attr(a)} != nil`;
    out.push(`set(${cache(key)}, Double(${attr(a)})) where ${guard}`);
  });
  // Missing, unparsable or negative counts count as 0, as in computeCost.
  out.push(`set(${cache(key)}, 0.0) where ${cache(key)} == nil or ${cache(key)} < 0.0`);
  return out;
}

function matchCondition(m: CollectorMatch): string {
  const unmatched = `${cache('k')} == nil`;
  if (m.kind === 'glob') {
    const re = ottlString(m.regex);
    return `${unmatched} and (IsMatch(${cache('m0')}, ${re}) or IsMatch(${cache('m1')}, ${re}) or IsMatch(${cache('m2')}, ${re}))`;
  }
  if (m.kind === 'name') {
    const provider = m.providerId === undefined ? '' : ` and ${cache('pid')} == ${ottlString(m.providerId)}`;
    const name = ottlString(m.name);
    if (m.field === 'full') return `${unmatched}${provider} and (${cache('m0')} == ${name} or ${cache('m3')} == ${name})`;
    return `${unmatched}${provider} and ${cache(m.field === 'normalised' ? 'm1' : 'm2')} == ${name}`;
  }
  return m.providerId === undefined ? unmatched : `${unmatched} and ${cache('pid')} == ${ottlString(m.providerId)}`;
}

/** The OTTL statements (span context) that price one unpriced GenAI span, in order. */
export function pricingStatements(plan: CollectorPricingPlan): string[] {
  const s: string[] = [];
  // Model name as the SDK sees it: request model first (what the caller asked for), else the response model.
  s.push(`set(${cache('m0')}, ToLowerCase(${attr(ATTR_GEN_AI_REQUEST_MODEL)})) where ${attr(ATTR_GEN_AI_REQUEST_MODEL)} != nil`);
  s.push(`set(${cache('m0')}, ToLowerCase(${attr(ATTR_GEN_AI_RESPONSE_MODEL)})) where ${cache('m0')} == nil and ${attr(ATTR_GEN_AI_RESPONSE_MODEL)} != nil`);
  s.push(`set(${cache('m0')}, "") where ${cache('m0')} == nil`);
  s.push(`set(${cache('m3')}, ${cache('m0')})`);
  s.push(`replace_pattern(${cache('m3')}, ${ottlString(SNAPSHOT_SUFFIX)}, "")`);
  s.push(`set(${cache('m1')}, ${cache('m0')})`);
  s.push(`replace_pattern(${cache('m1')}, "^.*/", "")`);
  s.push(`replace_pattern(${cache('m1')}, ${ottlString(BEDROCK_ID)}, "$1")`);
  s.push(`replace_pattern(${cache('m1')}, "@.*$", "")`);
  s.push(`set(${cache('m2')}, ${cache('m1')})`);
  s.push(`replace_pattern(${cache('m2')}, ${ottlString(SNAPSHOT_SUFFIX)}, "")`);

  s.push(`set(${cache('prov')}, ToLowerCase(${attr(ATTR_GEN_AI_PROVIDER_NAME)})) where ${attr(ATTR_GEN_AI_PROVIDER_NAME)} != nil`);
  s.push(`set(${cache('prov')}, ToLowerCase(${attr(ATTR_GEN_AI_SYSTEM)})) where ${cache('prov')} == nil and ${attr(ATTR_GEN_AI_SYSTEM)} != nil`);
  for (const [name, id] of plan.providerAliases) s.push(`set(${cache('pid')}, ${ottlString(id)}) where ${cache('prov')} == ${ottlString(name)}`);

  // Usage in the GenAI convention: input includes cache reads and writes, output includes reasoning.
  s.push(...tokenStatements('in', [ATTR_GEN_AI_USAGE_INPUT_TOKENS, ATTR_GEN_AI_USAGE_PROMPT_TOKENS, OPENINFERENCE_PROMPT]));
  s.push(...tokenStatements('out', [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, ATTR_GEN_AI_USAGE_COMPLETION_TOKENS, OPENINFERENCE_COMPLETION]));
  s.push(...tokenStatements('cr', [ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, OPENINFERENCE_CACHE_READ]));
  s.push(...tokenStatements('cw', [ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, OPENINFERENCE_CACHE_WRITE]));
  s.push(...tokenStatements('cw1h', [ANTHROPIC_CACHE_WRITE_1H]));
  s.push(...tokenStatements('reas', [ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, OPENINFERENCE_REASONING]));
  // Sub-counts are capped at what is left of their total, as computeCost caps them.
  s.push(`set(${cache('cr')}, ${cache('in')}) where ${cache('cr')} > ${cache('in')}`);
  s.push(`set(${cache('left')}, ${cache('in')} - ${cache('cr')})`);
  s.push(`set(${cache('cw')}, ${cache('left')}) where ${cache('cw')} > ${cache('left')}`);
  s.push(`set(${cache('cw1h')}, ${cache('cw')}) where ${cache('cw1h')} > ${cache('cw')}`);
  s.push(`set(${cache('reas')}, ${cache('out')}) where ${cache('reas')} > ${cache('out')}`);

  for (const m of plan.matches) s.push(`merge_maps(span.cache, ${ruleMap(m.rule)}, "upsert") where ${matchCondition(m)}`);
  const tiered = new Map<string, CollectorPriceRule>();
  for (const m of plan.matches) if (m.rule.tiers.length > 0) tiered.set(m.rule.id, m.rule);
  for (const rule of tiered.values()) {
    for (const t of rule.tiers) {
      s.push(
        `merge_maps(span.cache, {${ratesMap(t.rates)}}, "upsert") where ${cache('k')} == ${ottlString(rule.id)} and ${cache('in')} > ${ottlFloat(t.aboveInputTokens)}`,
      );
    }
  }

  // computeCost, operation for operation (float64 in both, same order, `x * rate / 1e6`): totals match to
  // the last bit. Batch discounts do not apply (no span attribute says a call was batched); x * 1 is exact.
  const million = ottlFloat(1e6);
  s.push(`set(${cache('cin')}, (${cache('in')} - ${cache('cr')} - ${cache('cw')}) * ${cache('ri')} / ${million})`);
  s.push(`set(${cache('ccr')}, ${cache('cr')} * ${cache('rcr')} / ${million})`);
  s.push(`set(${cache('ccw')}, ((${cache('cw')} - ${cache('cw1h')}) * ${cache('rcw')} + ${cache('cw1h')} * ${cache('rcw1h')}) / ${million})`);
  s.push(`set(${cache('cout')}, ((${cache('out')} - ${cache('reas')}) * ${cache('ro')} + ${cache('reas')} * ${cache('rr')}) / ${million})`);
  s.push(`set(${cache('total')}, ${cache('cin')} + ${cache('cout')} + ${cache('ccr')} + ${cache('ccw')})`);

  s.push(`set(${attr(ATTR_COST_INPUT_USD)}, ${cache('cin')})`);
  s.push(`set(${attr(ATTR_COST_OUTPUT_USD)}, ${cache('cout')})`);
  s.push(`set(${attr(ATTR_COST_CACHE_READ_USD)}, ${cache('ccr')})`);
  s.push(`set(${attr(ATTR_COST_CACHE_WRITE_USD)}, ${cache('ccw')})`);
  s.push(`set(${attr(ATTR_COST_SOURCE)}, ${cache('src')})`);
  s.push(`set(${attr(ATTR_COST_PRICE_ID)}, ${cache('k')})`);
  s.push(`set(${attr(ATTR_COST_PRICED_BY)}, ${ottlString(PRICED_BY_COLLECTOR)})`);
  s.push(`set(${attr(ATTR_GEN_AI_USAGE_COST)}, ${cache('total')})`);
  // Written last: the group's condition looks for its absence.
  s.push(`set(${attr(ATTR_COST_USD)}, ${cache('total')})`);
  return s;
}

/** Span condition of the pricing group: a GenAI inference span with a model and usage, and no tollgate cost yet. */
export function unpricedSpanCondition(): string {
  const hasModel = `(${attr(ATTR_GEN_AI_REQUEST_MODEL)} != nil or ${attr(ATTR_GEN_AI_RESPONSE_MODEL)} != nil)`;
  const usage = [ATTR_GEN_AI_USAGE_INPUT_TOKENS, ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, ATTR_GEN_AI_USAGE_PROMPT_TOKENS, ATTR_GEN_AI_USAGE_COMPLETION_TOKENS, OPENINFERENCE_PROMPT, OPENINFERENCE_COMPLETION]
    .map((a) => `${attr(a)} != nil`)
    .join(' or ');
  // invoke_agent / execute_tool spans may carry their children's aggregate usage: only inference spans are priced.
  const inference = `(${attr(ATTR_GEN_AI_OPERATION_NAME)} == nil or not IsMatch(${attr(ATTR_GEN_AI_OPERATION_NAME)}, "^(?:invoke_agent|execute_tool|create_agent)$"))`;
  return `${attr(ATTR_COST_USD)} == nil and ${hasModel} and (${usage}) and ${inference}`;
}

/** Statements that fill the metric attributes on collector-priced spans from their usual fallbacks. */
function attributeStatements(): string[] {
  const agent = attr(ATTR_GEN_AI_AGENT_NAME);
  const provider = attr(ATTR_GEN_AI_PROVIDER_NAME);
  const model = attr(ATTR_GEN_AI_REQUEST_MODEL);
  const resAgent = `resource.attributes[${ottlString(ATTR_GEN_AI_AGENT_NAME)}]`;
  const resService = `resource.attributes[${ottlString(ATTR_SERVICE_NAME)}]`;
  // Each source is checked for nil: setting an attribute from a missing value writes an empty one.
  return [
    `set(${agent}, ${resAgent}) where ${agent} == nil and ${resAgent} != nil`,
    `set(${agent}, ${resService}) where ${agent} == nil and ${resService} != nil`,
    `set(${provider}, ${attr(ATTR_GEN_AI_SYSTEM)}) where ${provider} == nil and ${attr(ATTR_GEN_AI_SYSTEM)} != nil`,
    `set(${model}, ${attr(ATTR_GEN_AI_RESPONSE_MODEL)}) where ${model} == nil and ${attr(ATTR_GEN_AI_RESPONSE_MODEL)} != nil`,
  ];
}

/** Attribute keys of the derived `tollgate.cost.usd` metric (docs/telemetry.md, Metrics), plus `tollgate.cost.priced_by`. */
export const COST_METRIC_ATTRIBUTES: readonly string[] = [
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_TASK_TYPE,
];

/** A YAML single-quoted scalar; `$` doubled because the collector expands `${...}` in every config string. */
function yamlString(s: string): string {
  return `'${s.replace(/'/g, "''").replace(/\$/g, '$$$$')}'`;
}

/**
 * The whole generated file: `processors.transform/tollgate_pricing` and
 * `connectors.signal_to_metrics/tollgate`. Deterministic for a given table, so a test
 * can regenerate it and compare with the committed copy.
 */
export function generatePricingConfig(table: PriceTable, options: PricingConfigOptions = {}): string {
  const plan = compilePricingPlan(table);
  const lines: string[] = [];
  const push = (...l: string[]): void => {
    lines.push(...l);
  };
  push(
    '# GENERATED by `tollgate collector-config` from tollgate\'s price table. Do not edit:',
    '# regenerate with `npx tollgate collector-config --out collector-config/pricing.yaml`',
    '# (a test fails when this file is stale).',
  );
  if (options.pricesInfo !== undefined) push(`# Prices: ${options.pricesInfo.replace(/\n/g, ' ')}`);
  push(
    '#',
    '# Prices GenAI spans that arrive without tollgate.cost.usd (services in any language),',
    '# exactly as tollgate\'s computeCost would, and derives the tollgate.cost.usd counter from',
    '# the spans it priced. Spans tollgate already priced pass through untouched.',
    '# Use together with gateway.yaml: otelcol --config gateway.yaml --config pricing.yaml',
    '',
    'processors:',
    `  ${PRICING_PROCESSOR_ID}:`,
    '    error_mode: ignore',
    '    trace_statements:',
    '      - context: span',
    '        conditions:',
    `          - ${yamlString(unpricedSpanCondition())}`,
    '        statements:',
  );
  for (const st of pricingStatements(plan)) push(`          - ${yamlString(st)}`);
  push(
    '      - context: span',
    '        conditions:',
    `          - ${yamlString(`${attr(ATTR_COST_PRICED_BY)} == ${ottlString(PRICED_BY_COLLECTOR)}`)}`,
    '        statements:',
  );
  for (const st of attributeStatements()) push(`          - ${yamlString(st)}`);
  push(
    '',
    'connectors:',
    `  ${COST_METRICS_CONNECTOR_ID}:`,
    '    error_mode: ignore',
    '    spans:',
    `      - name: ${METRIC_COST_USD}`,
    '        description: Cost of LLM calls in USD, priced by the gateway collector (spans that arrived without tollgate.cost.usd).',
    "        unit: '{USD}'",
    '        conditions:',
    `          - ${yamlString(`${attr(ATTR_COST_PRICED_BY)} == ${ottlString(PRICED_BY_COLLECTOR)}`)}`,
    '        include_resource_attributes:',
    `          - key: ${ATTR_SERVICE_NAME}`,
    '        attributes:',
  );
  for (const key of COST_METRIC_ATTRIBUTES) push(`          - key: ${key}`, `            default_value: ${METRIC_ATTRIBUTE_DEFAULT}`);
  push(
    `          - key: ${ATTR_COST_PRICED_BY}`,
    `            default_value: ${PRICED_BY_COLLECTOR}`,
    '        sum:',
    `          value: ${yamlString(`Double(${attr(ATTR_COST_USD)})`)}`,
    '          monotonic: true',
    `      - name: ${METRIC_UNPRICED_CALLS}`,
    '        description: Calls the gateway collector priced with fallback rates (model not in the price table).',
    "        unit: '{call}'",
    '        conditions:',
    `          - ${yamlString(`${attr(ATTR_COST_PRICED_BY)} == ${ottlString(PRICED_BY_COLLECTOR)} and ${attr(ATTR_COST_SOURCE)} == "fallback"`)}`,
    '        include_resource_attributes:',
    `          - key: ${ATTR_SERVICE_NAME}`,
    '        attributes:',
    `          - key: ${ATTR_GEN_AI_AGENT_NAME}`,
    `            default_value: ${METRIC_ATTRIBUTE_DEFAULT}`,
    `          - key: ${ATTR_GEN_AI_REQUEST_MODEL}`,
    `            default_value: ${METRIC_ATTRIBUTE_DEFAULT}`,
    `          - key: ${ATTR_COST_PRICED_BY}`,
    `            default_value: ${PRICED_BY_COLLECTOR}`,
    '        sum:',
    "          value: 'Int(1)'",
    '          monotonic: true',
    '',
  );
  return lines.join('\n');
}
