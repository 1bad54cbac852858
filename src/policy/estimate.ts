/**
 * Worst-case pricing of a call before it is sent, in integer nano-USD, and the
 * cheap body inspections routing needs (tools, images).
 */
import type { CallDescription } from '../gate.ts';
import { ratesFor } from '../pricing/cost.ts';
import type { ModelPrice, PriceLookup } from '../pricing/types.ts';

/** Rates in nano-USD per token (USD per million tokens x 1000). */
export interface TokenRatesNanos {
  readonly input: number;
  readonly output: number;
}

/**
 * The highest rates a request of `inputTokens` may pay: the long-context tier its
 * input reaches, cache writes when the body asks for them (Anthropic bills them
 * above the input rate), reasoning above output when the model prices it higher.
 * Cache reads would only lower the cost, so the worst case ignores them.
 */
export function worstRatesNanos(price: ModelPrice, inputTokens: number, cacheWrite: 'none' | '5m' | '1h'): TokenRatesNanos {
  const r = ratesFor(price, inputTokens);
  let input = r.input;
  if (cacheWrite === '5m') input = Math.max(input, r.cacheWrite ?? input);
  else if (cacheWrite === '1h') input = Math.max(input, r.cacheWrite1h ?? 2 * r.input, r.cacheWrite ?? input);
  const output = Math.max(r.output, r.reasoning ?? r.output);
  return { input: safe(input) * 1000, output: safe(output) * 1000 };
}

/** Worst-case cost of `inputTokens` in and `outputTokens` out, nano-USD, rounded up. */
export function worstCaseNanos(rates: TokenRatesNanos, inputTokens: number, outputTokens: number): number {
  return Math.ceil(inputTokens * rates.input + outputTokens * rates.output);
}

/** Largest output that keeps the cost within `roomNanos`, or -1 when even the input does not fit. */
export function affordableOutputTokens(rates: TokenRatesNanos, inputTokens: number, roomNanos: number): number {
  const left = roomNanos - Math.ceil(inputTokens * rates.input) - 1; // -1: headroom for float rounding
  if (left < 0) return -1;
  if (rates.output <= 0) return Number.MAX_SAFE_INTEGER;
  return Math.floor(left / rates.output);
}

/** A call's output ceiling, and whether the policy sets it on the call. */
export interface OutputCeiling {
  readonly maxTokens: number;
  /** The call goes out with `maxTokens` (it had none, or more than the configured ceiling). */
  readonly setMaxTokens: boolean;
}

/**
 * Output ceiling: the call's (capped by the configured `ceiling`); with none, the ceiling, else
 * the model's own output limit, else `defaultMaxTokens` set on the call. 0 for embeddings (no
 * output). A lowered ceiling is said in `reasons`.
 */
export function outputCeiling(
  call: CallDescription,
  ceiling: number | undefined,
  lookup: PriceLookup,
  defaultMaxTokens: number,
  reasons: string[],
): OutputCeiling {
  if (call.operation === 'embeddings') return { maxTokens: 0, setMaxTokens: false };
  if (call.maxTokens !== undefined) {
    if (ceiling === undefined || call.maxTokens <= ceiling) return { maxTokens: call.maxTokens, setMaxTokens: false };
    reasons.push(`max_tokens ceiling ${ceiling}`);
    return { maxTokens: ceiling, setMaxTokens: true };
  }
  if (ceiling !== undefined) return { maxTokens: ceiling, setMaxTokens: true };
  if (lookup.price.maxOutputTokens !== undefined && lookup.source !== 'fallback') return { maxTokens: lookup.price.maxOutputTokens, setMaxTokens: false };
  return { maxTokens: defaultMaxTokens, setMaxTokens: true };
}

function safe(rate: number): number {
  return rate >= 0 && Number.isFinite(rate) ? rate : 0;
}

/**
 * Whether an Anthropic body marks anything for prompt caching, and with which TTL.
 * Walks block arrays only (no string work): system, tools, message contents.
 */
export function cacheWriteKind(body: Readonly<Record<string, unknown>>): 'none' | '5m' | '1h' {
  let kind: 'none' | '5m' | '1h' = 'none';
  const see = (v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    const cc = (v as { cache_control?: { ttl?: unknown } }).cache_control;
    if (cc === undefined || cc === null) return;
    if (cc.ttl === '1h') kind = '1h';
    else if (kind === 'none') kind = '5m';
  };
  see(body);
  const scan = (list: unknown): void => {
    if (!Array.isArray(list)) return;
    for (const item of list) {
      see(item);
      const content = (item as { content?: unknown } | null)?.content;
      if (Array.isArray(content)) for (const block of content) see(block);
    }
  };
  scan(body.system);
  scan(body.tools);
  scan(body.messages);
  return kind;
}

/** Whether the request offers tools (OpenAI `tools` / legacy `functions`, Anthropic `tools`). */
export function hasTools(body: Readonly<Record<string, unknown>>): boolean {
  const t = body.tools ?? body.functions;
  return Array.isArray(t) && t.length > 0;
}

const IMAGE_PART_TYPES = new Set(['image_url', 'image', 'input_image']);

/** Whether any message carries an image part (chat `image_url`, Anthropic `image`, Responses `input_image`). */
export function hasImages(body: Readonly<Record<string, unknown>>): boolean {
  const lists = [body.messages, body.input];
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const msg of list) {
      const content = (msg as { content?: unknown } | null)?.content;
      if (!Array.isArray(content)) {
        if (IMAGE_PART_TYPES.has((msg as { type?: string } | null)?.type ?? '')) return true;
        continue;
      }
      for (const part of content) if (IMAGE_PART_TYPES.has((part as { type?: string } | null)?.type ?? '')) return true;
    }
  }
  return false;
}
