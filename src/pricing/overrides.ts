/**
 * The price override file (`TOLLGATE_PRICES`, docs/pricing.md "Price override file"):
 * read and validated once at start-up; every fault is a ConfigError naming the
 * file, the JSON path and what was expected.
 */
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { utcDate } from '../internal/utc.ts';
import { compileDataFile } from './compile.ts';
import type { PriceData } from './data.ts';
import { jsonPath, valueAt } from './json-path.ts';
import type { ModelPrice, PriceTier } from './types.ts';

const rate = z.number().finite().nonnegative();

const rateFields = {
  input: rate,
  output: rate,
  cacheRead: rate.optional(),
  cacheWrite: rate.optional(),
  cacheWrite1h: rate.optional(),
  reasoning: rate.optional(),
};

const tierSchema = z.strictObject({ aboveInputTokens: z.number().int().nonnegative(), ...rateFields });

const modelSchema = z.strictObject({
  provider: z.string().trim().min(1),
  model: z.string().trim().min(1),
  match: z.array(z.string().trim().min(1)).optional(),
  ...rateFields,
  batchDiscount: z.number().finite().gt(0).lte(1).optional(),
  maxOutputTokens: z.number().int().positive().optional(),
  tiers: z.array(tierSchema).optional(),
});

const fileSchema = z.strictObject({
  version: z.literal(1),
  models: z.array(modelSchema),
});

/** What each field accepts, in words, for error messages. */
const EXPECTED: Readonly<Record<string, string>> = {
  version: 'the number 1 (the only file format version)',
  models: 'an array of model prices',
  provider: 'a non-empty string such as "openai"',
  model: 'a non-empty model name',
  match: 'an array of non-empty model-name globs ("*" matches any run of characters)',
  input: 'a finite number >= 0 (USD per million tokens)',
  output: 'a finite number >= 0 (USD per million tokens)',
  cacheRead: 'a finite number >= 0 (USD per million tokens)',
  cacheWrite: 'a finite number >= 0 (USD per million tokens)',
  cacheWrite1h: 'a finite number >= 0 (USD per million tokens)',
  reasoning: 'a finite number >= 0 (USD per million tokens)',
  batchDiscount: 'a number > 0 and <= 1 (multiplier for batch calls, e.g. 0.5)',
  maxOutputTokens: 'a positive integer',
  tiers: 'an array of tiers { aboveInputTokens, input, output, ... }',
  aboveInputTokens: 'an integer >= 0 (input tokens above which the tier applies)',
};

function expectedFor(path: readonly PropertyKey[], fallback: string): string {
  for (let i = path.length - 1; i >= 0; i--) {
    const seg = path[i];
    if (typeof seg === 'string') return EXPECTED[seg] ?? fallback;
    if (i === path.length - 1 && typeof seg === 'number') {
      const parent = path[i - 1];
      if (parent === 'models') return 'an object { provider, model, input, output, ... }';
      if (parent === 'tiers') return 'an object { aboveInputTokens, input, output, ... }';
      if (parent === 'match') return 'a non-empty model-name glob';
    }
  }
  return fallback;
}

function toConfigError(file: string, root: unknown, error: z.ZodError): ConfigError {
  const issue = error.issues[0];
  if (issue === undefined) return new ConfigError(file, root, 'a valid price file');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const path = [...issue.path, key];
    const allowedFor = issue.path.length === 0 ? fileSchema : issue.path.includes('tiers') ? tierSchema : modelSchema;
    return new ConfigError(`${file} ${jsonPath(path)}`, valueAt(root, path), `no key "${key}" here; allowed keys: ${Object.keys(allowedFor.shape).join(', ')}`);
  }
  const path = issue.path;
  return new ConfigError(`${file} ${jsonPath(path)}`, valueAt(root, path), expectedFor(path, issue.message));
}

/**
 * Parses an override document already read from `file` (used by {@link loadPriceOverrides}
 * and by tests). Returns fresh objects; the input is not modified.
 * @throws ConfigError naming `file`, the JSON path and what was expected.
 */
export function parsePriceOverrides(file: string, document: unknown): ModelPrice[] {
  const parsed = fileSchema.safeParse(document);
  if (!parsed.success) throw toConfigError(file, document, parsed.error);
  const seen = new Map<string, number>();
  return parsed.data.models.map((m, i) => {
    const key = `${m.provider.toLowerCase()}\u0000${m.model.toLowerCase()}`;
    const previous = seen.get(key);
    if (previous !== undefined) {
      throw new ConfigError(`${file} $.models[${i}].model`, m.model, `a model not already priced for provider "${m.provider}" (see $.models[${previous}])`);
    }
    seen.set(key, i);
    let tiers: PriceTier[] | undefined;
    if (m.tiers !== undefined) {
      const sorted = m.tiers.map((t) => ({ ...t }) as PriceTier).sort((a, b) => a.aboveInputTokens - b.aboveInputTokens);
      tiers = sorted;
      for (let t = 1; t < sorted.length; t++) {
        if (sorted[t]?.aboveInputTokens === sorted[t - 1]?.aboveInputTokens) {
          throw new ConfigError(`${file} $.models[${i}].tiers`, m.tiers, 'tiers with distinct aboveInputTokens thresholds');
        }
      }
    }
    const { match, tiers: _tiers, ...rest } = m;
    return {
      ...rest,
      ...(match === undefined ? {} : { match: [...match] }),
      ...(tiers === undefined ? {} : { tiers }),
    } as ModelPrice;
  });
}

/**
 * Reads and validates a price override file (docs/pricing.md "Price override file").
 * @param path the file, as named by `TOLLGATE_PRICES` or the `overridesPath` option.
 * @throws ConfigError whose `source` names the file and the JSON path (`prices.json $.models[2].input`)
 *   and whose `expected` says what was allowed.
 */
export function loadPriceOverrides(path: string): ModelPrice[] {
  return parsePriceOverrides(path, readJson(path));
}

/** What a `TOLLGATE_PRICES` file turned out to be. */
export type PriceFile = { readonly kind: 'overrides'; readonly prices: ModelPrice[] } | { readonly kind: 'data'; readonly data: PriceData };

/**
 * Reads a `TOLLGATE_PRICES` file and tells the two formats apart by shape: a JSON object is an
 * override file (docs/pricing.md), a JSON array is a genai-prices data file as that project publishes it,
 * compiled like the built-in table (models the file shares with `builtin` keep its output limits,
 * batch discounts and service tiers).
 * @throws ConfigError naming the file, the JSON path and what was expected.
 */
export function loadPriceFile(path: string, builtin: PriceData): PriceFile {
  const document = readJson(path);
  if (!Array.isArray(document)) return { kind: 'overrides', prices: parsePriceOverrides(path, document) };
  let asOf = utcDate(Date.now());
  try {
    asOf = utcDate(statSync(path).mtimeMs);
  } catch {
    // read a moment ago: an unreadable mtime is not worth failing for; today is the safe date
  }
  return { kind: 'data', data: compileDataFile(path, document, builtin, asOf) };
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}`, path, 'a readable price override file (TOLLGATE_PRICES)', { cause: err });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path} $`, text.length > 80 ? `${text.slice(0, 80)}…` : text, `a JSON document (${(err as Error).message})`, { cause: err });
  }
  return document;
}
