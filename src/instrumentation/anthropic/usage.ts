/**
 * Anthropic Messages usage -> the GenAI convention tollgate prices with.
 *
 * Anthropic reports `input_tokens` EXCLUDING the prompt cache: the tokens read
 * from the cache (`cache_read_input_tokens`) and the tokens written to it
 * (`cache_creation_input_tokens`, split by TTL in `cache_creation`) come on
 * top. The GenAI convention (and docs/pricing.md) counts input INCLUSIVE of both, so
 * input = input_tokens + cache_read + cache_creation. Thinking is billed as
 * output and already inside `output_tokens`; newer responses say how much of
 * it was thinking in `output_tokens_details.thinking_tokens`, which maps to
 * the reasoning sub-count (never added on top: langfuse#11244).
 *
 * In a stream, `message_start` carries a first usage and every `message_delta`
 * carries a CUMULATIVE one (envoyproxy/ai-gateway#2236: adding them
 * double-counts). Two shapes exist: the older `message_delta.usage` has only
 * `output_tokens` (fixture 07), the newer repeats the input and cache counts,
 * which may have grown since `message_start` (server tools, fixture 05). So
 * the last value seen of each field wins, field by field.
 */
import { count } from '../../internal/values.ts';
import type { Usage } from '../../pricing/types.ts';

/** The usage object of a Message, a `message_start` or a `message_delta`, as any SDK version types it. */
export interface AnthropicUsage {
  readonly input_tokens?: number | null;
  readonly output_tokens?: number | null;
  readonly cache_read_input_tokens?: number | null;
  readonly cache_creation_input_tokens?: number | null;
  readonly cache_creation?: {
    readonly ephemeral_5m_input_tokens?: number | null;
    readonly ephemeral_1h_input_tokens?: number | null;
  } | null;
  readonly output_tokens_details?: { readonly thinking_tokens?: number | null } | null;
}

/**
 * Converts one complete Anthropic usage object. Returns undefined when it
 * holds no token count at all (a response without usage).
 */
export function usageFromAnthropic(raw: AnthropicUsage | null | undefined): Usage | undefined {
  if (raw === null || raw === undefined || typeof raw !== 'object') return undefined;
  const acc = new UsageFields();
  acc.merge(raw);
  return acc.toUsage();
}

/**
 * The latest value of each usage field seen so far. A stream feeds it the
 * `message_start` usage and then each `message_delta` usage; each field
 * reported replaces the previous value (they are cumulative), and fields a
 * delta leaves out keep the value `message_start` gave.
 */
export class UsageFields {
  input: number | undefined;
  output: number | undefined;
  cacheRead: number | undefined;
  cacheCreation: number | undefined;
  split5m: number | undefined;
  split1h: number | undefined;
  thinking: number | undefined;

  merge(raw: AnthropicUsage): void {
    this.input = count(raw.input_tokens) ?? this.input;
    this.output = count(raw.output_tokens) ?? this.output;
    this.cacheRead = count(raw.cache_read_input_tokens) ?? this.cacheRead;
    this.cacheCreation = count(raw.cache_creation_input_tokens) ?? this.cacheCreation;
    const split = raw.cache_creation;
    if (split !== null && split !== undefined && typeof split === 'object') {
      this.split5m = count(split.ephemeral_5m_input_tokens) ?? this.split5m;
      this.split1h = count(split.ephemeral_1h_input_tokens) ?? this.split1h;
    }
    const details = raw.output_tokens_details;
    if (details !== null && details !== undefined && typeof details === 'object') {
      this.thinking = count(details.thinking_tokens) ?? this.thinking;
    }
  }

  /** True when at least one token count was reported. */
  get any(): boolean {
    return this.input !== undefined || this.output !== undefined || this.cacheRead !== undefined || this.cacheCreation !== undefined;
  }

  /** The GenAI-convention usage, or undefined when nothing was reported. */
  toUsage(): Usage | undefined {
    if (!this.any) return undefined;
    const cacheRead = this.cacheRead;
    const cacheWrite = this.cacheCreation ?? (this.split5m !== undefined || this.split1h !== undefined ? (this.split5m ?? 0) + (this.split1h ?? 0) : undefined);
    const input = (this.input ?? 0) + (cacheRead ?? 0) + (cacheWrite ?? 0);
    const output = this.output ?? 0;
    const write1h = cacheWrite === undefined ? undefined : oneHourPart(cacheWrite, this.split5m, this.split1h);
    return {
      inputTokens: input,
      outputTokens: output,
      ...(cacheRead !== undefined ? { cacheReadTokens: cacheRead } : {}),
      ...(cacheWrite !== undefined ? { cacheWriteTokens: cacheWrite } : {}),
      ...(write1h !== undefined ? { cacheWrite1hTokens: write1h } : {}),
      // A thinking count larger than the output would be a provider bug; never let it exceed output.
      ...(this.thinking !== undefined ? { reasoningTokens: Math.min(this.thinking, output) } : {}),
    };
  }
}

/**
 * The 1-hour part of `total` cache-write tokens. The split may date from
 * `message_start` while the total comes from a later, larger delta (fixture
 * 05 grows 3068 -> 3337 with no new split): a split that put everything under
 * one TTL is taken to hold for the total (a request normally marks its cache
 * breakpoints with one TTL); a mixed split keeps its 1-hour count, capped at
 * the total, and the growth is billed at the 5-minute rate.
 */
function oneHourPart(total: number, split5m: number | undefined, split1h: number | undefined): number | undefined {
  if (split1h === undefined) return undefined;
  const splitTotal = (split5m ?? 0) + split1h;
  if (splitTotal === total) return split1h;
  if (split1h > 0 && (split5m ?? 0) === 0) return total;
  return Math.min(split1h, total);
}
