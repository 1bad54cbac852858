/**
 * The price table a call to an unknown OpenAI-compatible host is priced with. Such a host speaks
 * OpenAI's format but is not OpenAI: a model name OpenAI also uses (`gpt-oss-120b`) must not get
 * OpenAI's rates, and neither must a name some other provider in the table happens to know. So only
 * the user's own prices (overrides, `TOLLGATE_PRICES`) apply; every other model is priced at the
 * table's highest input and output rates, flagged `tollgate.cost.source=fallback`, with one warning
 * per host and model naming the fix.
 */
import { diag } from '@opentelemetry/api';
import { WarnOnce } from '../../internal/warn-once.ts';
import type { ModelPrice, PriceLookup, PriceTable } from '../../pricing/types.ts';

const views = new WeakMap<PriceTable, PriceTable>();

/** `table` restricted to override prices, everything else at the fallback rates. Memoised per table. */
export function overridesOrFallback(table: PriceTable): PriceTable {
  let view = views.get(table);
  if (view === undefined) {
    view = restricted(table);
    views.set(table, view);
  }
  return view;
}

function restricted(table: PriceTable): PriceTable {
  let highest: { input: number; output: number } | undefined;
  const fallbacks = new Map<string, PriceLookup>();
  const warned = new WarnOnce(1024);
  const fallback = (model: string, provider: string | undefined): PriceLookup => {
    const key = `${provider ?? ''}\u0000${model}`;
    let lookup = fallbacks.get(key);
    if (lookup === undefined) {
      highest ??= highestRates(table);
      const price: ModelPrice = Object.freeze({ provider: provider ?? 'unknown', model, input: highest.input, output: highest.output });
      lookup = Object.freeze({ price, source: 'fallback' as const });
      if (fallbacks.size >= 1024) fallbacks.clear();
      fallbacks.set(key, lookup);
    }
    if (warned.first(key)) {
      diag.warn(
        `tollgate: "${model}" was called on an OpenAI-compatible host tollgate does not know (${provider ?? 'unknown'}); ` +
          `pricing it at the table's highest rates ($${highest?.input} input / $${highest?.output} output per million tokens), never at OpenAI's. ` +
          'Add the model to a TOLLGATE_PRICES file to price it exactly.',
      );
    }
    return lookup;
  };
  const pick = (found: PriceLookup, model: string, provider: string | undefined): PriceLookup => (found.source === 'override' ? found : fallback(model, provider));
  return {
    asOf: table.asOf,
    entries: () => table.entries(),
    lookup: (model, provider, at, tier) => pick(table.lookup(model, provider, at, tier), model, provider),
    lookupDuring: (model, provider, from, to, tier) => pick(table.lookupDuring(model, provider, from, to, tier), model, provider),
    find(model, provider, at, tier) {
      const found = table.find(model, provider, at, tier);
      return found?.source === 'override' ? found : undefined;
    },
  };
}

function highestRates(table: PriceTable): { input: number; output: number } {
  let input = 0;
  let output = 0;
  for (const entry of table.entries()) {
    const p = entry.price;
    input = Math.max(input, p.input, ...(p.tiers ?? []).map((t) => t.input));
    output = Math.max(output, p.output, ...(p.tiers ?? []).map((t) => t.output));
  }
  return { input, output };
}
