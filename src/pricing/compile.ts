/**
 * Compiles genai-prices provider data (the `@pydantic/genai-prices` package's providers, or a
 * data file as that project publishes it: a JSON array of providers) into the compiled price
 * format of `data/prices.json`. One implementation for both callers: `scripts/build-prices.ts`
 * (with LiteLLM's output limits, batch discounts and service tiers) and `TOLLGATE_PRICES`
 * pointing at a genai-prices data file (enriched from the built-in table instead).
 *
 * Every dated price and time-of-day window of the source is kept (`when`), in source order;
 * {@link resolveWhen} in `when.ts` applies genai-prices' own rule at a call's start time.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import type { PriceData, PriceDataModel, PriceDataProvider } from './data.ts';
import { compileMatch, type Matcher, type MatchRule } from './match.ts';
import type { PriceTier, PriceWhen, Rates } from './types.ts';

/**
 * Providers compiled into the table, in lookup order when a call names no provider. OpenRouter
 * comes last: its ids carry the vendor (`meta-llama/llama-3.3-70b-instruct`), and a vendor's own
 * entry, when there is one, is preferred.
 */
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
  'openrouter',
];

// ---------------------------------------------------------------------------
// The source format, validated (published data files are the operator's input).

const matchRule: z.ZodType<MatchRule> = z.lazy(() =>
  z.union([
    z.strictObject({ equals: z.string() }),
    z.strictObject({ starts_with: z.string() }),
    z.strictObject({ ends_with: z.string() }),
    z.strictObject({ contains: z.string() }),
    z.strictObject({ regex: z.string() }),
    z.strictObject({ or: z.array(matchRule).min(1) }),
    z.strictObject({ and: z.array(matchRule).min(1) }),
  ]),
);

const mtok = z.number().finite().nonnegative();
const tieredPrice = z.union([mtok, z.object({ base: mtok, tiers: z.array(z.object({ start: z.number().int().nonnegative(), price: mtok })) })]);
/** Token rates are validated; other price kinds (per request, image, audio) pass through unread. */
const modelPrices = z.looseObject({
  input_mtok: tieredPrice.optional(),
  output_mtok: tieredPrice.optional(),
  cache_read_mtok: tieredPrice.optional(),
  cache_write_mtok: tieredPrice.optional(),
  cache_write_1h_mtok: tieredPrice.optional(),
  output_reasoning_mtok: tieredPrice.optional(),
});
const DATE = /^\d{4}-\d{2}-\d{2}$/;
// genai-prices' time-of-day form: HH:MM:SS with a UTC offset (`Z` or +HH:MM / -HH:MM).
const TIME = /^([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(Z|[+-]([01]\d|2[0-3]):([0-5]\d))$/;
const constraint = z.union([
  z.null(),
  z.object({ start_date: z.string().regex(DATE, 'a date YYYY-MM-DD'), type: z.literal('start_date').optional() }),
  z.object({ start_time: z.string().regex(TIME, 'a time HH:MM:SSZ'), end_time: z.string().regex(TIME, 'a time HH:MM:SSZ'), type: z.literal('time_of_date').optional() }),
]);
const conditionalPrice = z.object({ constraint: constraint.optional(), prices: modelPrices });
const modelSchema = z.looseObject({
  id: z.string().min(1),
  match: matchRule,
  context_window: z.number().int().positive().optional(),
  prices: z.union([modelPrices, z.array(conditionalPrice).min(1)]),
});
const providerSchema = z.looseObject({ id: z.string().min(1), model_match: matchRule.optional(), models: z.array(modelSchema) });
const fileSchema = z.array(providerSchema).min(1);

/** One provider as genai-prices publishes it (only the fields the compiler reads are typed). */
export type GenaiProvider = z.infer<typeof providerSchema>;
type GenaiPrices = z.infer<typeof modelPrices>;
type Upstream = GenaiPrices['input_mtok'];

function jsonPath(path: readonly PropertyKey[]): string {
  let out = '$';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : `.${String(seg)}`;
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/**
 * Validates a genai-prices data document read from `file`.
 * @throws ConfigError naming the file and the JSON path of the first bad field.
 */
export function parseGenaiPrices(file: string, document: unknown): GenaiProvider[] {
  const parsed = fileSchema.safeParse(document);
  if (parsed.success) return parsed.data;
  const issue = deepest(parsed.error.issues, []);
  const path = issue?.path ?? [];
  const field = [...path].reverse().find((seg): seg is string => typeof seg === 'string');
  const expected = `${issue?.message ?? 'a genai-prices data file'}${field === undefined ? '' : ` (field "${field}" of a genai-prices data file: a JSON array of providers)`}`;
  return fail(new ConfigError(`${file} ${jsonPath(path)}`, valueAt(document, path), expected));
}

interface FoundIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** The issue deepest in the document: a union failure reports at the union, its branches name the field. */
function deepest(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): FoundIssue | undefined {
  let best: FoundIssue | undefined;
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    let found: FoundIssue | undefined = { path, message: issue.message };
    if (issue.code === 'invalid_union') {
      for (const branch of issue.errors) {
        const inner = deepest(branch, path);
        if (inner !== undefined && (found === undefined || inner.path.length > found.path.length)) found = inner;
      }
    }
    if (best === undefined || found.path.length > best.path.length) best = found;
  }
  return best;
}

function fail(error: Error): never {
  throw error;
}

/** Converts a genai-prices `HH:MM:SS±HH:MM` time into a UTC `HH:MM:SS`. */
function utcTime(time: string): string {
  const m = TIME.exec(time);
  if (m === null) throw new Error(`not a time: ${time}`);
  let seconds = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  if (m[4] !== 'Z') seconds -= (m[4]?.startsWith('-') === true ? -1 : 1) * (Number(m[5]) * 3600 + Number(m[6]) * 60);
  seconds = (seconds + 86_400) % 86_400;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
}

// ---------------------------------------------------------------------------
// Compiling

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

/** Rounds to 1e-9 USD per million tokens: strips float noise from the source's arithmetic. */
export function roundRate(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}

type CompiledRates = Rates & { tiers?: PriceTier[] };

/** One price entry of the source as compiled rates; undefined when it has no token rates (images, requests). */
function convertPrices(p: GenaiPrices): CompiledRates | undefined {
  const input = baseOf(p.input_mtok);
  if (input === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [from, to] of FIELDS) {
    const v = baseOf(p[from]);
    if (v !== undefined) out[to] = roundRate(v);
  }
  out['output'] ??= 0; // embeddings have no output rate
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
        if (v !== undefined) tier[to] = roundRate(v);
      }
      tier['output'] ??= 0;
      tiers.push(tier as unknown as PriceTier);
    }
    out['tiers'] = tiers;
  }
  return out as unknown as CompiledRates;
}

type Conditional = { constraint?: z.infer<typeof constraint> | undefined; prices: GenaiPrices };

/**
 * Base price and constrained prices of one model, by genai-prices' rule: the entries are tried
 * from the last to the first and the first whose constraint holds wins; an unconstrained entry
 * always holds (so entries before the last unconstrained one can never win and are dropped);
 * when none holds, the first entry applies.
 */
function splitConditional(prices: GenaiPrices | readonly Conditional[]): { base: GenaiPrices; when: Conditional[] } {
  if (!Array.isArray(prices)) return { base: prices as GenaiPrices, when: [] };
  const list = prices as readonly Conditional[];
  let last = -1;
  for (let i = list.length - 1; i >= 0; i--) {
    const c = list[i]?.constraint;
    if (c === undefined || c === null) {
      last = i;
      break;
    }
  }
  const first = list[0] as Conditional;
  return last >= 0 ? { base: (list[last] as Conditional).prices, when: list.slice(last + 1) } : { base: first.prices, when: [...list] };
}

function toWhen(entry: Conditional): PriceWhen | undefined {
  const rates = convertPrices(entry.prices);
  const c = entry.constraint;
  if (rates === undefined || c === undefined || c === null) return undefined;
  if ('start_date' in c) return { startDate: c.start_date, ...rates };
  return { startTime: utcTime(c.start_time), endTime: utcTime(c.end_time), ...rates };
}

/** Adds what the source lacks (output limits, batch discounts, service tiers) to a compiled model. */
export type Enricher = (providerId: string, model: PriceDataModel, matcher: Matcher) => PriceDataModel;

/** Options of {@link compileGenaiPrices}. */
export interface CompileOptions {
  /** Providers to compile, in lookup order. */
  readonly providerIds: readonly string[];
  /** Build date recorded as `asOf` (YYYY-MM-DD). */
  readonly asOf: string;
  readonly source: string;
  readonly enrich?: Enricher;
  /** What to do when the source has no provider of that id: throw (the build) or skip it (a partial data file). */
  readonly onMissingProvider?: (id: string) => PriceDataProvider | undefined;
}

/** Compiles genai-prices providers into the compiled price format (see data.ts). */
export function compileGenaiPrices(upstream: readonly GenaiProvider[], options: CompileOptions): PriceData {
  const byId = new Map(upstream.map((p) => [p.id, p]));
  const providers: PriceDataProvider[] = [];
  for (const id of options.providerIds) {
    const source = byId.get(id);
    if (source === undefined) {
      const replacement = options.onMissingProvider?.(id);
      if (replacement === undefined) throw new Error(`genai-prices data has no provider "${id}"`);
      providers.push(replacement);
      continue;
    }
    const models: PriceDataModel[] = [];
    for (const m of source.models) {
      const { base, when } = splitConditional(m.prices as GenaiPrices | readonly Conditional[]);
      const rates = convertPrices(base);
      if (rates === undefined) continue; // priced per image / second / request only: not a token model
      const dated = when.map(toWhen).filter((w): w is PriceWhen => w !== undefined);
      const match = JSON.parse(JSON.stringify(m.match)) as MatchRule;
      let model: PriceDataModel = {
        id: m.id,
        match,
        ...rates,
        ...(m.context_window === undefined ? {} : { contextWindow: m.context_window }),
        ...(dated.length === 0 ? {} : { when: dated }),
      };
      if (options.enrich !== undefined) model = options.enrich(id, model, compileMatch(match));
      models.push(model);
    }
    const modelMatch = source.model_match === undefined ? undefined : (JSON.parse(JSON.stringify(source.model_match)) as MatchRule);
    providers.push({ id, ...(modelMatch === undefined ? {} : { modelMatch }), models });
  }
  return { version: 1, source: options.source, asOf: options.asOf, providers };
}

/**
 * Enriches models compiled from a genai-prices data file with what the built-in table took from
 * LiteLLM for the same provider and model id (output limits, batch discounts, service tiers, and
 * long-context tiers the source lacks), so a fresh data file loses nothing the build added.
 */
export function enrichFrom(builtin: PriceData): Enricher {
  const index = new Map<string, PriceDataModel>();
  for (const p of builtin.providers) for (const m of p.models) index.set(`${p.id}\u0000${m.id}`, m);
  return (providerId, model) => {
    const known = index.get(`${providerId}\u0000${model.id}`);
    if (known === undefined) return model;
    return {
      ...model,
      ...(model.tiers === undefined && known.tiers !== undefined ? { tiers: known.tiers } : {}),
      ...(known.batchDiscount === undefined ? {} : { batchDiscount: known.batchDiscount }),
      ...(known.maxOutputTokens === undefined ? {} : { maxOutputTokens: known.maxOutputTokens }),
      ...(known.serviceTiers === undefined ? {} : { serviceTiers: known.serviceTiers }),
    };
  };
}

/**
 * Compiles a genai-prices data file (already parsed) as the table to use instead of `builtin`:
 * providers the file lacks keep their built-in prices. `asOf` is the file's date (its mtime), so
 * the start-up staleness warning judges the file, not the package.
 */
export function compileDataFile(file: string, document: unknown, builtin: PriceData, asOf: string): PriceData {
  const upstream = parseGenaiPrices(file, document);
  const builtinById = new Map(builtin.providers.map((p) => [p.id, p]));
  return compileGenaiPrices(upstream, {
    providerIds: PROVIDERS,
    asOf,
    source: `genai-prices data file ${file}`,
    enrich: enrichFrom(builtin),
    onMissingProvider: (id) => builtinById.get(id) ?? { id, models: [] },
  });
}
