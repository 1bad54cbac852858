/**
 * Compiles the built-in price table, `src/pricing/data/prices.json`.
 *
 *   node scripts/build-prices.ts [--as-of YYYY-MM-DD] [--check]
 *
 * Rates come from `@pydantic/genai-prices` (the installed devDependency: maintained data
 * with long-context tiers, cache read / 5-minute / 1-hour write rates, dated prices and
 * time-of-day windows). Every dated price and window is kept (`when`) and resolved per
 * call at its start time (src/pricing/when.ts); nothing is resolved at build time. The
 * compile step is src/pricing/compile.ts, shared with `TOLLGATE_PRICES` data files.
 * Output limits, batch discounts and service-tier (flex / priority) rates, which
 * genai-prices does not carry, come from LiteLLM's table. `--as-of` is the build date
 * recorded in the file (default: the date already recorded, so a rebuild is
 * reproducible; pass today's date when refreshing: the start-up warning fires 60 days
 * after it). `--check` exits 1 when the committed file differs from a fresh build.
 * See src/pricing/README.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findProvider } from '@pydantic/genai-prices';
import { compileGenaiPrices, parseGenaiPrices, PROVIDERS } from '../src/pricing/compile.ts';
import type { PriceData } from '../src/pricing/data.ts';
import { enrichFromLiteLlm, LITELLM_PROVIDERS, liteLlmIndex } from '../src/pricing/litellm.ts';

export { PROVIDERS };

export const DATA_PATH = fileURLToPath(new URL('../src/pricing/data/prices.json', import.meta.url));
export const LITELLM_PATH = fileURLToPath(
  new URL('./data/litellm_model_prices_and_context_window.json', import.meta.url),
);

/** Builds the compiled table from the installed genai-prices and LiteLLM's table. */
export function buildPriceData(asOf: string, litellmPath: string = LITELLM_PATH): PriceData {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(asOf)) throw new Error(`--as-of must be YYYY-MM-DD, got ${asOf}`);
  const litellm = JSON.parse(readFileSync(litellmPath, 'utf8')) as Record<string, unknown>;
  const pkg = JSON.parse(
    readFileSync(fileURLToPath(new URL('../node_modules/@pydantic/genai-prices/package.json', import.meta.url)), 'utf8'),
  ) as { version: string };
  // The package's providers pass through the same validation as an operator's data file.
  const upstream = parseGenaiPrices(
    '@pydantic/genai-prices',
    PROVIDERS.map((id) => JSON.parse(JSON.stringify(findProvider({ providerId: id }) ?? { id, models: [] })) as unknown),
  );
  const indexes = new Map(PROVIDERS.map((id) => [id, liteLlmIndex(litellm, LITELLM_PROVIDERS[id] ?? [])]));
  return compileGenaiPrices(upstream, {
    providerIds: PROVIDERS,
    asOf,
    source: `@pydantic/genai-prices ${pkg.version} + LiteLLM output limits and service tiers`,
    enrich: (providerId, model, matcher) => enrichFromLiteLlm(model, matcher, indexes.get(providerId) ?? new Map()),
  });
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
