/**
 * Text and token helpers every client instrumentation uses: the server of a base URL, the text
 * of a request or response for local counting, and the local token counter itself.
 */
import { isRecord } from '../../internal/values.ts';
import { reportFault } from '../../internal/warn-once.ts';

/** `server.address` / `server.port` of a client base URL; memoised (a service has few base URLs). */
export function serverOf(baseURL: unknown): { address: string; port: number } | undefined {
  if (typeof baseURL !== 'string') return undefined;
  const cached = serverCache.get(baseURL);
  if (cached !== undefined || serverCache.has(baseURL)) return cached;
  let value: { address: string; port: number } | undefined;
  try {
    const url = new URL(baseURL);
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
    value = { address: url.hostname, port };
  } catch {
    value = undefined;
  }
  if (serverCache.size >= 64) serverCache.clear();
  serverCache.set(baseURL, value);
  return value;
}
const serverCache = new Map<string, { address: string; port: number } | undefined>();

const TEXT_KEYS: ReadonlySet<string> = new Set(['content', 'text', 'input', 'instructions', 'system', 'prompt', 'arguments']);

/**
 * The text of a request (or response) for local token counting: every string under a
 * content-like key (`content`, `text`, `input`, `instructions`, `system`, `prompt`, `arguments`),
 * depth-limited. Counting a few structural tokens less than the provider is acceptable for an estimate.
 */
export function collectText(value: unknown, out: string[] = [], depth = 0, underText = false): string[] {
  if (depth > 8) return out;
  if (typeof value === 'string') {
    if (underText) out.push(value);
  } else if (Array.isArray(value)) {
    for (const item of value) collectText(item, out, depth + 1, underText);
  } else if (isRecord(value)) {
    for (const key of Object.keys(value)) collectText(value[key], out, depth + 1, TEXT_KEYS.has(key));
  }
  return out;
}

type CountTokens = (text: string, model: string) => number | Promise<number>;
let tokenCounter: Promise<CountTokens> | undefined;

/**
 * The local tokenizer, loaded on first use only: it costs ~0.7 s and ~80 MB, which a
 * service whose provider always reports usage must never pay. Falls back to ~4 chars per
 * token if the tokenizer cannot be loaded.
 */
function loadTokenCounter(): Promise<CountTokens> {
  tokenCounter ??= import('../../tokens/index.ts').then(
    (m: { countTokens: CountTokens }) => m.countTokens,
    (error: unknown) => {
      reportFault('tokenizer load', error);
      return (text: string) => Math.ceil(text.length / 4);
    },
  );
  return tokenCounter;
}

/** Counts `text` with the tokenizer of `model`; never throws (falls back to ~4 chars per token). */
export async function countTokens(text: string | undefined, model: string): Promise<number> {
  if (text === undefined || text.length === 0) return 0;
  const count = await loadTokenCounter();
  try {
    return await count(text, model);
  } catch (error) {
    reportFault('countTokens', error);
    return Math.ceil(text.length / 4);
  }
}
