/**
 * The effective price table: built-in data + overrides, compiled once into maps.
 * A lookup of a name seen before is two map hits and allocates nothing; a new
 * name is normalised and matched once, then memoised (bounded).
 */
import { diag } from '@opentelemetry/api';
import { DAY_MILLIS } from '../internal/utc.ts';
import { WarnOnce } from '../internal/warn-once.ts';
import data from './data/prices.json' with { type: 'json' };
import type { PriceData, PriceDataModel } from './data.ts';
import { compileGlob, compileMatch, type Matcher, type MatchRule } from './match.ts';
import { nameCandidates, providerFromName, providerIds } from './normalise.ts';
import { loadPriceFile } from './overrides.ts';
import type { ModelPrice, PriceLookup, PriceTable, PriceTier, PriceWhen, Rates } from './types.ts';
import { compileConstraint, indexesDuring, resolveIndex, type CompiledConstraint } from './when.ts';

/** Options of {@link createPriceTable}. */
export interface PriceTableOptions {
  /**
   * A price file, read and validated now. Callers pass `TOLLGATE_PRICES` here. Either an override file
   * (docs/pricing.md format: a JSON object) or a genai-prices data file as that project publishes it (a JSON
   * array of providers), which replaces the built-in rates of the providers it has.
   */
  readonly overridesPath?: string;
  /** Compiled price data to use instead of the built-in table (tests, tools). */
  readonly data?: PriceData;
  /** Override prices given in code; they win over the file's and the built-in ones. */
  readonly overrides?: readonly ModelPrice[];
  /**
   * How many distinct (provider, model) names the lookup memo keeps before starting afresh.
   * @default 4096
   */
  readonly memoEntries?: number;
  /**
   * Also report a model priced at fallback rates as a Node process warning (stderr by
   * default, `process.on('warning')`), once per model per process, besides diag. Off for
   * callers that tell the user themselves (the CLI).
   * @default true
   */
  readonly processWarnings?: boolean;
}

/** Models already reported as process warnings: once per (provider, model) per process, whatever the table. */
const processWarned = new WarnOnce(10_000);

/**
 * One model's prices, resolved for a name once and memoised: the base lookup, and when the model
 * has them, its constrained prices (each already a frozen lookup) and service-tier lookups.
 */
interface Resolved {
  readonly base: PriceLookup;
  readonly constraints: readonly CompiledConstraint[] | undefined;
  readonly dated: readonly PriceLookup[] | undefined;
  readonly serviceTiers: ReadonlyMap<string, PriceLookup> | undefined;
  /** `lookupDuring` results by the set of prices merged (small: a model has few constrained prices). */
  readonly merged: Map<string, PriceLookup>;
}

interface Compiled {
  readonly resolved: Resolved;
  readonly entry: PriceLookup;
  readonly test: Matcher;
}

interface CompiledProvider {
  readonly id: string;
  readonly models: readonly Compiled[];
  readonly modelMatch: Matcher | undefined;
}

interface CompiledOverride {
  readonly resolved: Resolved;
  readonly provider: string;
  readonly name: string;
  readonly globs: readonly Matcher[];
}

const builtin = data as unknown as PriceData;

function plain(lookup: PriceLookup): Resolved {
  return { base: lookup, constraints: undefined, dated: undefined, serviceTiers: undefined, merged: new Map() };
}

function frozenLookup(price: ModelPrice, source: PriceLookup['source']): PriceLookup {
  return Object.freeze({ price: Object.freeze(price), source });
}

/** The price with `rates` (and their long-context tiers) in place of the model's own. */
function withRates(base: ModelPrice, rates: Rates & { readonly tiers?: readonly PriceTier[] }, extra: Partial<ModelPrice> = {}): ModelPrice {
  const { when: _when, serviceTiers: _tiers, input: _i, output: _o, cacheRead: _cr, cacheWrite: _cw, cacheWrite1h: _cw1, reasoning: _r, tiers: _t, ...identity } = base;
  const { startDate: _sd, startTime: _st, endTime: _et, ...own } = rates as Rates & { startDate?: string; startTime?: string; endTime?: string; tiers?: readonly PriceTier[] };
  return { ...identity, ...own, ...extra };
}

function compileModel(provider: string, m: PriceDataModel): Compiled {
  const { id, match, ...rest } = m;
  const entryPrice: ModelPrice = { provider, model: id, ...rest };
  const base = frozenLookup(withRates(entryPrice, entryPrice), 'table');
  const dated = m.when === undefined || m.when.length === 0 ? undefined : m.when.map((w) => frozenLookup(withRates(entryPrice, w), 'table'));
  const constraints = dated === undefined ? undefined : (m.when ?? []).map(compileConstraint);
  const serviceTiers =
    m.serviceTiers === undefined ? undefined : new Map(Object.entries(m.serviceTiers).map(([tier, rates]) => [tier, frozenLookup(withRates(entryPrice, rates, { serviceTier: tier }), 'table')]));
  return {
    resolved: { base, constraints, dated, serviceTiers, merged: new Map() },
    entry: frozenLookup(entryPrice, 'table'),
    test: compileMatch(match),
  };
}

function compileProviders(priceData: PriceData): CompiledProvider[] {
  return priceData.providers.map((p) => ({
    id: p.id,
    models: p.models.map((m) => compileModel(p.id, m)),
    modelMatch: p.modelMatch === undefined ? undefined : compileMatch(p.modelMatch as MatchRule),
  }));
}

/** The price of `r` in force at `at`, on `serviceTier` when the model has it. Allocates nothing. */
function priceAt(r: Resolved, at: number | undefined, serviceTier: string | undefined): PriceLookup {
  if (serviceTier !== undefined && r.serviceTiers !== undefined) {
    const tier = r.serviceTiers.get(serviceTier);
    if (tier !== undefined) return tier;
  }
  const constraints = r.constraints;
  if (constraints === undefined) return r.base; // most models: no validity to check
  const i = resolveIndex(constraints, at ?? Date.now());
  return i < 0 ? r.base : ((r.dated as readonly PriceLookup[])[i] as PriceLookup);
}

const RATE_KEYS = ['input', 'output', 'cacheRead', 'cacheWrite', 'cacheWrite1h', 'reasoning'] as const;

/** Each rate the maximum over `lookups` (tiers: the highest rates at each threshold any of them has). */
function mergeMax(lookups: readonly PriceLookup[]): PriceLookup {
  const first = lookups[0] as PriceLookup;
  if (lookups.length === 1) return first;
  const rates: Record<string, number> = {};
  for (const key of RATE_KEYS) {
    for (const l of lookups) {
      const v = l.price[key];
      if (v !== undefined && (rates[key] === undefined || v > (rates[key] as number))) rates[key] = v;
    }
  }
  const thresholds = [...new Set(lookups.flatMap((l) => (l.price.tiers ?? []).map((t) => t.aboveInputTokens)))].sort((a, b) => a - b);
  const tiers: PriceTier[] = thresholds.map((threshold) => {
    const tier: Record<string, number> = { aboveInputTokens: threshold };
    for (const l of lookups) {
      let r: Rates = l.price;
      for (const t of l.price.tiers ?? []) if (t.aboveInputTokens <= threshold) r = t;
      for (const key of RATE_KEYS) {
        const v = r[key];
        if (v !== undefined && (tier[key] === undefined || v > (tier[key] as number))) tier[key] = v;
      }
    }
    return tier as unknown as PriceTier;
  });
  return frozenLookup(withRates(first.price, { ...(rates as unknown as Rates), ...(tiers.length === 0 ? {} : { tiers }) }), first.source);
}

function maxOf(values: Iterable<number | undefined>): number {
  let max = 0;
  for (const v of values) if (v !== undefined && v > max) max = v;
  return max;
}

/** The provider's most expensive known rates, each taken separately, tiers included. */
function fallbackRates(prices: readonly ModelPrice[]): Omit<ModelPrice, 'provider' | 'model'> {
  const all = prices.flatMap((p) => [p, ...(p.tiers ?? [])]);
  const input = maxOf(all.map((r) => r.input));
  const output = maxOf(all.map((r) => r.output));
  const maxOutputTokens = maxOf(prices.map((p) => p.maxOutputTokens));
  return {
    input,
    output,
    // An unknown model may cache; bill its reads at full input and its writes at the worst known surcharge.
    cacheRead: input,
    cacheWrite: Math.max(input, maxOf(all.map((r) => r.cacheWrite))),
    cacheWrite1h: Math.max(2 * input, maxOf(all.map((r) => r.cacheWrite1h))),
    reasoning: Math.max(output, maxOf(all.map((r) => r.reasoning))),
    ...(maxOutputTokens > 0 ? { maxOutputTokens } : {}),
  };
}

function fmt(n: number): string {
  return String(Math.round(n * 1e6) / 1e6);
}

/**
 * Builds a price table: the built-in data (see src/pricing/README.md) plus overrides,
 * which win. Resolve once at start-up and share it; lookups are then map hits.
 * @throws ConfigError when the override file is missing or invalid.
 */
export function createPriceTable(options: PriceTableOptions = {}): PriceTable {
  const memoCap = Math.max(16, options.memoEntries ?? 4096);
  const file = options.overridesPath === undefined ? undefined : loadPriceFile(options.overridesPath, options.data ?? builtin);
  const priceData = file?.kind === 'data' ? file.data : (options.data ?? builtin);
  const providers = compileProviders(priceData);
  const byId = new Map(providers.map((p) => [p.id, p]));

  const overridePrices = [...(options.overrides ?? []), ...(file?.kind === 'overrides' ? file.prices : [])];
  const overrides: CompiledOverride[] = overridePrices.map((p) => {
    const price = Object.freeze({ ...p, ...(p.tiers === undefined ? {} : { tiers: p.tiers.map((t) => ({ ...t })) }), ...(p.match === undefined ? {} : { match: [...p.match] }) });
    return {
      resolved: plain(Object.freeze({ price, source: 'override' as const })),
      provider: p.provider.toLowerCase(),
      name: p.model.toLowerCase(),
      globs: (p.match ?? []).map(compileGlob),
    };
  });

  const allEntries: readonly PriceLookup[] = Object.freeze([...overrides.map((o) => o.resolved.base), ...providers.flatMap((p) => p.models.map((m) => m.entry))]);

  const fallbackCache = new Map<string, Omit<ModelPrice, 'provider' | 'model'>>();
  function fallbackFor(providerId: string): Omit<ModelPrice, 'provider' | 'model'> {
    let rates = fallbackCache.get(providerId);
    if (rates === undefined) {
      const pool =
        providerId === '*'
          ? allEntries.map((e) => e.price)
          : [...overrides.filter((o) => providerIds(o.provider).includes(providerId) || o.provider === providerId).map((o) => o.resolved.base.price), ...(byId.get(providerId)?.models.map((m) => m.entry.price) ?? [])];
      // Every dated price and window counts: an unknown model is priced at the worst of them.
      rates = fallbackRates(pool.flatMap((p) => [p, ...(p.when ?? []).map((w) => withRates(p, w))]));
      fallbackCache.set(providerId, rates);
    }
    return rates;
  }

  function matchOverride(candidates: readonly string[], preferred: readonly string[]): Resolved | undefined {
    let any: Resolved | undefined;
    for (const name of candidates) {
      for (const o of overrides) {
        if (o.name !== name && !o.globs.some((g) => g(name))) continue;
        if (preferred.length === 0 || preferred.includes(o.provider) || providerIds(o.provider).some((id) => preferred.includes(id))) return o.resolved;
        any ??= o.resolved;
      }
    }
    return any;
  }

  function matchIn(ids: readonly string[], candidates: readonly string[]): Resolved | undefined {
    for (const name of candidates) {
      for (const id of ids) {
        const p = byId.get(id);
        if (p === undefined) continue;
        for (const m of p.models) if (m.test(name)) return m.resolved;
      }
    }
    return undefined;
  }

  /** Resolves a name never seen before. `undefined` price means: no table knows it. */
  function resolve(model: string, provider: string | undefined): { found: Resolved | undefined; fallbackProvider: string } {
    const lower = model.trim().toLowerCase();
    const candidates = nameCandidates(lower);
    const preferred = [...new Set([...providerFromName(lower), ...providerIds(provider)])];
    const found =
      matchOverride(candidates, preferred) ??
      matchIn(preferred, candidates) ??
      matchIn(
        providers.map((p) => p.id).filter((id) => !preferred.includes(id)),
        candidates,
      );
    let fallbackProvider = preferred[0];
    if (fallbackProvider === undefined) {
      for (const p of providers) {
        if (p.modelMatch !== undefined && candidates.some((c) => p.modelMatch?.(c) === true)) {
          fallbackProvider = p.id;
          break;
        }
      }
    }
    return { found, fallbackProvider: fallbackProvider ?? '*' };
  }

  // provider ('' when none) -> model name as given -> resolution. Bounded: cleared when full.
  const memo = new Map<string, Map<string, Resolved>>();
  let memoSize = 0;
  const warned = new WarnOnce(10_000);

  function remember(providerKey: string, model: string, lookup: Resolved): void {
    if (memoSize >= memoCap) {
      memo.clear();
      memoSize = 0;
    }
    let inner = memo.get(providerKey);
    if (inner === undefined) {
      inner = new Map();
      memo.set(providerKey, inner);
    }
    inner.set(model, lookup);
    memoSize++;
  }

  function get(model: string, provider: string | undefined): Resolved {
    const providerKey = provider ?? '';
    const hit = memo.get(providerKey)?.get(model);
    if (hit !== undefined) return hit;
    const { found, fallbackProvider } = resolve(model, provider);
    const resolved =
      found ??
      plain(
        Object.freeze({
          price: Object.freeze({ provider: fallbackProvider === '*' ? (provider ?? 'unknown') : fallbackProvider, model, ...fallbackFor(fallbackProvider) }),
          source: 'fallback' as const,
        }),
      );
    remember(providerKey, model, resolved);
    if (resolved.base.source === 'fallback') warnFallback(model, provider, resolved.base);
    return resolved;
  }

  function warnFallback(model: string, provider: string | undefined, lookup: PriceLookup): void {
    const key = `${provider ?? ''}\u0000${model}`;
    if (!warned.first(key)) return;
    const p = lookup.price;
    const message =
      `tollgate: no price for model "${model}"${provider === undefined ? '' : ` (provider ${provider})`}; ` +
      `pricing it at ${p.provider === '*' ? 'the' : `${p.provider}'s`} most expensive known rates ` +
      `($${fmt(p.input)} input / $${fmt(p.output)} output per million tokens). Add it to a TOLLGATE_PRICES file to price it exactly.`;
    diag.warn(message);
    // A call priced at fallback rates can cost many times its real price against a budget: say so
    // where a user looks by default (stderr), not only through diag, which is silent unless configured.
    if (options.processWarnings !== false && processWarned.first(key)) {
      process.emitWarning(message, { type: 'TollgateWarning', code: 'TOLLGATE_UNKNOWN_MODEL' });
    }
  }

  return {
    lookup(model: string, provider?: string, at?: number, serviceTier?: string): PriceLookup {
      // The hot path: two map reads, then for most models no validity to check; nothing allocated.
      const hit = memo.get(provider ?? '')?.get(model);
      return priceAt(hit ?? get(model, provider), at, serviceTier);
    },
    find(model: string, provider?: string, at?: number, serviceTier?: string): PriceLookup | undefined {
      const { found } = resolve(model, provider);
      return found === undefined ? undefined : priceAt(found, at, serviceTier);
    },
    lookupDuring(model: string, provider: string | undefined, fromMs: number, toMs: number, serviceTier?: string): PriceLookup {
      const r = memo.get(provider ?? '')?.get(model) ?? get(model, provider);
      const constraints = r.constraints;
      if (constraints === undefined || (serviceTier !== undefined && r.serviceTiers?.has(serviceTier) === true)) return priceAt(r, fromMs, serviceTier);
      const indexes = [...indexesDuring(constraints, fromMs, toMs)].sort((a, b) => a - b);
      const key = indexes.join(',');
      let merged = r.merged.get(key);
      if (merged === undefined) {
        merged = mergeMax(indexes.map((i) => (i < 0 ? r.base : ((r.dated as readonly PriceLookup[])[i] as PriceLookup))));
        r.merged.set(key, merged);
      }
      return merged;
    },
    entries(): readonly PriceLookup[] {
      return allEntries;
    },
    asOf: priceData.asOf,
  };
}

/** Days after its build date at which a price table counts as stale. */
export const STALE_PRICES_DAYS = 60;
let staleWarned = false;

/**
 * Warns once per process (a process warning on stderr, and diag) when `asOf` is more than
 * {@link STALE_PRICES_DAYS} days before `now`: prices change, and a service running an old
 * build underprices every model that got dearer since. Returns whether it warned.
 */
export function warnIfPricesStale(asOf: string, now: number = Date.now()): boolean {
  const built = Date.parse(`${asOf}T00:00:00Z`);
  if (staleWarned || Number.isNaN(built)) return false;
  const days = Math.floor((now - built) / DAY_MILLIS);
  if (days <= STALE_PRICES_DAYS) return false;
  staleWarned = true;
  const message =
    `tollgate: the price table is ${days} days old (built ${asOf}); prices may have changed since. ` +
    'Point TOLLGATE_PRICES at a fresh genai-prices data file (see docs/pricing.md, "Keeping prices current without a release") or upgrade tollgate.';
  diag.warn(message);
  process.emitWarning(message, { type: 'TollgateWarning', code: 'TOLLGATE_STALE_PRICES' });
  return true;
}

let defaultTable: PriceTable | undefined;

/** The built-in table without overrides, built on first use and shared. */
export function defaultPriceTable(): PriceTable {
  defaultTable ??= createPriceTable();
  return defaultTable;
}

/**
 * A table entry (from `entries()`, which carries `when`) resolved at `at` (epoch ms): the price a
 * call starting then pays on the standard tier. For tools that work from entries (the collector
 * config generator); a call's price comes from `lookup`.
 */
export function priceInForce(entry: PriceLookup, at: number): PriceLookup {
  const when = entry.price.when;
  const plainPrice = withRates(entry.price, entry.price);
  if (when === undefined || when.length === 0) return { price: plainPrice, source: entry.source };
  const i = resolveIndex(when.map(compileConstraint), at);
  return { price: i < 0 ? plainPrice : withRates(entry.price, when[i] as PriceWhen), source: entry.source };
}

/** The built-in compiled data (for the genai-prices data-file loader, which enriches from it). */
export const BUILTIN_PRICE_DATA: PriceData = builtin;

/** When and where the built-in prices come from (for `tollgate prices`). */
export const BUILTIN_PRICES_INFO: { readonly source: string; readonly asOf: string } = Object.freeze({ source: builtin.source, asOf: builtin.asOf });
