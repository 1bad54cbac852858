/**
 * The effective price table: built-in data + overrides, compiled once into maps.
 * A lookup of a name seen before is two map hits and allocates nothing; a new
 * name is normalised and matched once, then memoised (bounded).
 */
import { diag } from '@opentelemetry/api';
import data from './data/prices.json' with { type: 'json' };
import type { PriceData, PriceDataModel } from './data.ts';
import { compileGlob, compileMatch, type Matcher, type MatchRule } from './match.ts';
import { nameCandidates, providerFromName, providerIds } from './normalise.ts';
import { loadPriceOverrides } from './overrides.ts';
import type { ModelPrice, PriceLookup, PriceTable } from './types.ts';

/** Options of {@link createPriceTable}. */
export interface PriceTableOptions {
  /** A price override file (SPEC.md format), read and validated now. Callers pass `TOLLGATE_PRICES` here. */
  readonly overridesPath?: string;
  /** Override prices given in code; they win over the file's and the built-in ones. */
  readonly overrides?: readonly ModelPrice[];
  /**
   * How many distinct (provider, model) names the lookup memo keeps before starting afresh.
   * @default 4096
   */
  readonly memoEntries?: number;
}

interface Compiled {
  readonly lookup: PriceLookup;
  readonly test: Matcher;
}

interface CompiledProvider {
  readonly id: string;
  readonly models: readonly Compiled[];
  readonly modelMatch: Matcher | undefined;
}

interface CompiledOverride {
  readonly lookup: PriceLookup;
  readonly provider: string;
  readonly name: string;
  readonly globs: readonly Matcher[];
}

const builtin = data as unknown as PriceData;

function toModelPrice(provider: string, m: PriceDataModel): ModelPrice {
  const { id, match: _match, ...rates } = m;
  return { provider, model: id, ...rates };
}

function compileProviders(): CompiledProvider[] {
  return builtin.providers.map((p) => ({
    id: p.id,
    models: p.models.map((m) => ({
      lookup: Object.freeze({ price: Object.freeze(toModelPrice(p.id, m)), source: 'table' as const }),
      test: compileMatch(m.match),
    })),
    modelMatch: p.modelMatch === undefined ? undefined : compileMatch(p.modelMatch as MatchRule),
  }));
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
  const providers = compileProviders();
  const byId = new Map(providers.map((p) => [p.id, p]));

  const overridePrices = [...(options.overrides ?? []), ...(options.overridesPath === undefined ? [] : loadPriceOverrides(options.overridesPath))];
  const overrides: CompiledOverride[] = overridePrices.map((p) => {
    const price = Object.freeze({ ...p, ...(p.tiers === undefined ? {} : { tiers: p.tiers.map((t) => ({ ...t })) }), ...(p.match === undefined ? {} : { match: [...p.match] }) });
    return {
      lookup: Object.freeze({ price, source: 'override' as const }),
      provider: p.provider.toLowerCase(),
      name: p.model.toLowerCase(),
      globs: (p.match ?? []).map(compileGlob),
    };
  });

  const allEntries: readonly PriceLookup[] = Object.freeze([...overrides.map((o) => o.lookup), ...providers.flatMap((p) => p.models.map((m) => m.lookup))]);

  const fallbackCache = new Map<string, Omit<ModelPrice, 'provider' | 'model'>>();
  function fallbackFor(providerId: string): Omit<ModelPrice, 'provider' | 'model'> {
    let rates = fallbackCache.get(providerId);
    if (rates === undefined) {
      const pool =
        providerId === '*'
          ? allEntries.map((e) => e.price)
          : [...overrides.filter((o) => providerIds(o.provider).includes(providerId) || o.provider === providerId).map((o) => o.lookup.price), ...(byId.get(providerId)?.models.map((m) => m.lookup.price) ?? [])];
      rates = fallbackRates(pool);
      fallbackCache.set(providerId, rates);
    }
    return rates;
  }

  function matchOverride(candidates: readonly string[], preferred: readonly string[]): PriceLookup | undefined {
    let any: PriceLookup | undefined;
    for (const name of candidates) {
      for (const o of overrides) {
        if (o.name !== name && !o.globs.some((g) => g(name))) continue;
        if (preferred.length === 0 || preferred.includes(o.provider) || providerIds(o.provider).some((id) => preferred.includes(id))) return o.lookup;
        any ??= o.lookup;
      }
    }
    return any;
  }

  function matchIn(ids: readonly string[], candidates: readonly string[]): PriceLookup | undefined {
    for (const name of candidates) {
      for (const id of ids) {
        const p = byId.get(id);
        if (p === undefined) continue;
        for (const m of p.models) if (m.test(name)) return m.lookup;
      }
    }
    return undefined;
  }

  /** Resolves a name never seen before. `undefined` price means: no table knows it. */
  function resolve(model: string, provider: string | undefined): { found: PriceLookup | undefined; fallbackProvider: string } {
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
  const memo = new Map<string, Map<string, PriceLookup>>();
  let memoSize = 0;
  const warned = new Set<string>();

  function remember(providerKey: string, model: string, lookup: PriceLookup): void {
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

  function get(model: string, provider: string | undefined): { lookup: PriceLookup; fresh: boolean } {
    const providerKey = provider ?? '';
    const hit = memo.get(providerKey)?.get(model);
    if (hit !== undefined) return { lookup: hit, fresh: false };
    const { found, fallbackProvider } = resolve(model, provider);
    const lookup: PriceLookup =
      found ??
      Object.freeze({
        price: Object.freeze({ provider: fallbackProvider === '*' ? (provider ?? 'unknown') : fallbackProvider, model, ...fallbackFor(fallbackProvider) }),
        source: 'fallback' as const,
      });
    remember(providerKey, model, lookup);
    return { lookup, fresh: true };
  }

  return {
    lookup(model: string, provider?: string): PriceLookup {
      const providerKey = provider ?? '';
      const hit = memo.get(providerKey)?.get(model);
      if (hit !== undefined) return hit; // the hot path: two map reads, no allocation
      const { lookup } = get(model, provider);
      if (lookup.source === 'fallback') {
        const key = `${providerKey}\u0000${model}`;
        if (!warned.has(key)) {
          if (warned.size >= 10_000) warned.clear();
          warned.add(key);
          const p = lookup.price;
          diag.warn(
            `tollgate: no price for model "${model}"${provider === undefined ? '' : ` (provider ${provider})`}; ` +
              `pricing it at ${p.provider === '*' ? 'the' : `${p.provider}'s`} most expensive known rates ` +
              `($${fmt(p.input)} input / $${fmt(p.output)} output per million tokens). Add it to a TOLLGATE_PRICES file to price it exactly.`,
          );
        }
      }
      return lookup;
    },
    find(model: string, provider?: string): PriceLookup | undefined {
      const { lookup } = get(model, provider);
      return lookup.source === 'fallback' ? undefined : lookup;
    },
    entries(): readonly PriceLookup[] {
      return allEntries;
    },
  };
}

let defaultTable: PriceTable | undefined;

/** The built-in table without overrides, built on first use and shared. */
export function defaultPriceTable(): PriceTable {
  defaultTable ??= createPriceTable();
  return defaultTable;
}

/** When and where the built-in prices come from (for `tollgate prices`). */
export const BUILTIN_PRICES_INFO: { readonly source: string; readonly asOf: string } = Object.freeze({ source: builtin.source, asOf: builtin.asOf });
