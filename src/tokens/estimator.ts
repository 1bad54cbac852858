/**
 * Pre-call input estimation for the budget policy.
 *
 * `upperBound` never loads a tokenizer: every text counts its UTF-8 byte length. Both
 * o200k_base and cl100k_base are byte-level BPE, so every token covers at least one byte
 * and the byte length bounds the token count of the same text. `count` walks the request
 * exactly the same way, with the same per-message overheads and constants, but counts
 * each text with the tokenizer; so `upperBound(body) >= count(body)` holds for any body.
 *
 * `count` caches token counts by text content (bounded), so a growing conversation only
 * tokenizes the messages it has not seen before.
 */
import { Buffer } from 'node:buffer';
import { isRecord } from '../internal/values.ts';
import { countTokens, encodingFor, type Encoding } from './tokenizer.ts';

/** Which request format a body is in. */
export type EstimateProvider = 'openai' | 'anthropic';

/**
 * Tokens an image counts for, whatever its size. At least Anthropic's cap for a resized
 * image (about 1,600 tokens at 1.15 megapixels) and OpenAI's high-detail maximum for
 * gpt-4o-class models (85 + 6 x 170 = 1,105). A documented constant, not a measurement.
 */
export const IMAGE_TOKENS = 1600;
/** Framing tokens per chat message (OpenAI's documented `tokens_per_message`). */
export const MESSAGE_OVERHEAD_TOKENS = 3;
/** Tokens that prime the reply (`<|start|>assistant<|message|>`). */
export const REPLY_PRIMING_TOKENS = 3;
/** Framing tokens per tool call (name / arguments delimiters). */
const TOOL_CALL_OVERHEAD_TOKENS = 3;

/** Options of {@link createInputEstimator}. */
export interface InputEstimatorOptions {
  /**
   * Distinct texts whose token counts are kept.
   * @default 4096
   */
  readonly cacheEntries?: number;
  /**
   * Total characters of cached texts (the cache holds the texts as keys).
   * @default 16_000_000
   */
  readonly cacheChars?: number;
}

/** Estimates the input tokens of a request body before it is sent. */
export interface InputEstimator {
  /** Fast bound (no tokenizer): never below {@link InputEstimator.count} for the same body. */
  upperBound(provider: EstimateProvider, body: unknown): number;
  /** Exact count with the model's encoding (o200k_base for Anthropic: an approximation). Loads the tokenizer on first use. */
  count(provider: EstimateProvider, body: unknown): number;
}

type Measure = (text: string) => number;

interface Walker {
  readonly text: Measure;
}

function json(w: Walker, v: unknown): number {
  if (v === undefined || v === null) return 0;
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    return 0; // a cycle: not a request the SDK could send either
  }
  return s === undefined ? 0 : w.text(s);
}

function textTokens(w: Walker, v: unknown): number {
  return typeof v === 'string' ? w.text(v) : 0;
}

/** A content part or a Responses input item. */
function part(w: Walker, p: unknown): number {
  if (typeof p === 'string') return w.text(p);
  if (typeof p === 'number') return 1; // a token id (embeddings input)
  if (Array.isArray(p)) {
    let n = 0;
    for (const x of p) n += part(w, x);
    return n;
  }
  if (!isRecord(p)) return 0;
  switch (p.type) {
    case 'text':
    case 'input_text':
    case 'output_text':
    case 'summary_text':
    case 'refusal':
      return typeof p.text === 'string' ? w.text(p.text) : textTokens(w, p.refusal);
    case 'image_url':
    case 'input_image':
    case 'image':
      return IMAGE_TOKENS;
    case 'tool_use':
    case 'server_tool_use':
      return textTokens(w, p.name) + json(w, p.input) + TOOL_CALL_OVERHEAD_TOKENS;
    case 'tool_result':
      return (typeof p.content === 'string' ? w.text(p.content) : part(w, p.content)) + TOOL_CALL_OVERHEAD_TOKENS;
    case 'thinking':
      return textTokens(w, p.thinking);
    case 'redacted_thinking':
      return textTokens(w, p.data);
    case 'function_call':
    case 'custom_tool_call':
      return textTokens(w, p.name) + (typeof p.arguments === 'string' ? w.text(p.arguments) : textTokens(w, p.input)) + TOOL_CALL_OVERHEAD_TOKENS;
    case 'function_call_output':
    case 'custom_tool_call_output':
      return (typeof p.output === 'string' ? w.text(p.output) : json(w, p.output)) + TOOL_CALL_OVERHEAD_TOKENS;
    case 'reasoning':
      return part(w, p.summary);
    case 'message':
      return message(w, p);
    default:
      // A message-shaped item without `type` (Responses easy input), else whatever it is, as JSON.
      return 'role' in p && 'content' in p ? message(w, p) : json(w, p);
  }
}

function message(w: Walker, m: unknown): number {
  if (!isRecord(m)) return part(w, m);
  let n = MESSAGE_OVERHEAD_TOKENS + textTokens(w, m.role);
  if (typeof m.name === 'string') n += w.text(m.name) + 1;
  const content = m.content;
  if (typeof content === 'string') n += w.text(content);
  else if (content !== undefined && content !== null) n += part(w, content);
  const calls = m.tool_calls;
  if (Array.isArray(calls)) {
    for (const c of calls) {
      const fn = isRecord(c) ? c.function : undefined;
      n += isRecord(fn) ? textTokens(w, fn.name) + textTokens(w, fn.arguments) + TOOL_CALL_OVERHEAD_TOKENS : json(w, c);
    }
  }
  if (isRecord(m.function_call)) n += textTokens(w, m.function_call.name) + textTokens(w, m.function_call.arguments) + TOOL_CALL_OVERHEAD_TOKENS;
  if (typeof m.tool_call_id === 'string') n += w.text(m.tool_call_id);
  return n;
}

/** An embeddings request: its input is raw text or token ids, with no chat framing. */
function isEmbeddings(b: Record<string, unknown>): boolean {
  return (typeof b.model === 'string' && b.model.includes('embed')) || 'encoding_format' in b || 'dimensions' in b;
}

function body(w: Walker, provider: EstimateProvider, b: unknown): number {
  if (typeof b === 'string') return w.text(b);
  if (!isRecord(b)) return 0;
  let n = 0;
  if (provider === 'anthropic') {
    n += typeof b.system === 'string' ? w.text(b.system) : part(w, b.system);
  } else {
    n += textTokens(w, b.instructions);
    const input = b.input;
    if (isEmbeddings(b)) n += part(w, input);
    else if (typeof input === 'string') {
      // Responses: a string input is one user message, framed like one.
      n += REPLY_PRIMING_TOKENS + MESSAGE_OVERHEAD_TOKENS + w.text('user') + w.text(input);
    } else if (input !== undefined) n += REPLY_PRIMING_TOKENS + part(w, input);
    if (b.prompt !== undefined) n += part(w, b.prompt); // legacy completions
    n += json(w, b.functions);
    n += json(w, b.response_format);
  }
  const messages = b.messages;
  if (Array.isArray(messages)) {
    n += REPLY_PRIMING_TOKENS;
    for (const m of messages) n += message(w, m);
  }
  n += json(w, b.tools);
  return n;
}

const byteWalker: Walker = { text: (s) => Buffer.byteLength(s, 'utf8') };

/**
 * Creates an estimator with its own bounded count cache. Share one per process
 * (the policy does); counting is synchronous and O(new text).
 */
export function createInputEstimator(options: InputEstimatorOptions = {}): InputEstimator {
  const maxEntries = Math.max(16, options.cacheEntries ?? 4096);
  const maxChars = Math.max(1024, options.cacheChars ?? 16_000_000);
  const caches = new Map<Encoding, Map<string, number>>();
  let cachedChars = 0;
  let cachedEntries = 0;

  function evictOne(): void {
    for (const cache of caches.values()) {
      const oldest = cache.keys().next();
      if (oldest.done !== true) {
        cache.delete(oldest.value);
        cachedChars -= oldest.value.length;
        cachedEntries--;
        return;
      }
    }
  }

  const walkers = new Map<Encoding, Walker>();
  function walkerFor(encoding: Encoding): Walker {
    let w = walkers.get(encoding);
    if (w !== undefined) return w;
    const cache = new Map<string, number>();
    caches.set(encoding, cache);
    const model = encoding === 'cl100k_base' ? 'gpt-4' : undefined;
    w = {
      text(s: string): number {
        if (s.length < 24) return countTokens(s, model); // cheaper to count than to cache
        const hit = cache.get(s);
        if (hit !== undefined) return hit;
        const n = countTokens(s, model);
        if (s.length <= maxChars / 4) {
          while (cachedEntries >= maxEntries || cachedChars + s.length > maxChars) evictOne();
          cache.set(s, n);
          cachedChars += s.length;
          cachedEntries++;
        }
        return n;
      },
    };
    walkers.set(encoding, w);
    return w;
  }

  return {
    upperBound(provider: EstimateProvider, b: unknown): number {
      return body(byteWalker, provider, b);
    },
    count(provider: EstimateProvider, b: unknown): number {
      const model = provider === 'openai' && isRecord(b) && typeof b.model === 'string' ? b.model : undefined;
      return body(walkerFor(encodingFor(model)), provider, b);
    },
  };
}
