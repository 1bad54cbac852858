/**
 * What tollgate reads from Anthropic Messages payloads: the streamed events
 * (`message_start`, `content_block_*`, `message_delta`, `message_stop`) and
 * the non-streamed Message. Pure, typed structurally so that every SDK
 * version's objects fit.
 */
import { str } from '../../internal/values.ts';
import type { Usage } from '../../pricing/types.ts';
import { UsageFields, usageFromAnthropic, type AnthropicUsage } from './usage.ts';

interface MessageLike {
  readonly id?: unknown;
  readonly model?: unknown;
  readonly stop_reason?: unknown;
  readonly usage?: AnthropicUsage | null;
  readonly content?: unknown;
}

/** What a finished (or interrupted) call tells the span. */
export interface MessageSummary {
  readonly id: string | undefined;
  readonly model: string | undefined;
  readonly stopReason: string | undefined;
  /** The reported usage, or undefined when the provider sent none. */
  readonly usage: Usage | undefined;
  /** True when the usage reported cannot be final: the stream ended before its `message_delta`. */
  readonly partial: boolean;
}

/** Summary of a non-streamed Message. */
export function summarizeMessage(message: unknown): MessageSummary {
  const m = (typeof message === 'object' && message !== null ? message : {}) as MessageLike;
  return {
    id: str(m.id),
    model: str(m.model),
    stopReason: str(m.stop_reason),
    usage: usageFromAnthropic(m.usage),
    partial: false,
  };
}

/** The generated text of a non-streamed Message (text, thinking and tool input), for a local count when usage is missing. */
export function messageOutputText(message: unknown): string {
  const content = (message as MessageLike | null)?.content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const block of content as unknown[]) out += blockText(block);
  return out;
}

function blockText(block: unknown): string {
  if (typeof block !== 'object' || block === null) return '';
  const b = block as Record<string, unknown>;
  if (typeof b.text === 'string') return b.text;
  if (typeof b.thinking === 'string') return b.thinking;
  if (b.input !== undefined && b.input !== null) {
    try {
      return JSON.stringify(b.input);
    } catch {
      return '';
    }
  }
  return '';
}

/**
 * The text of a Messages request (system, messages, tools), for a local
 * count when usage is missing. Images and documents are not counted: the
 * estimate errs low for them, and it is flagged as an estimate.
 */
export function requestInputText(body: Readonly<Record<string, unknown>>): string {
  const parts: string[] = [];
  collect(body.system, parts);
  const messages = body.messages;
  if (Array.isArray(messages)) {
    for (const m of messages as unknown[]) {
      if (typeof m === 'object' && m !== null) collect((m as Record<string, unknown>).content, parts);
    }
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    try {
      parts.push(JSON.stringify(body.tools));
    } catch {
      // A tool definition that does not serialise is not counted.
    }
  }
  return parts.join('\n');
}

function collect(content: unknown, parts: string[]): void {
  if (typeof content === 'string') {
    parts.push(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const block of content as unknown[]) {
    if (typeof block !== 'object' || block === null) continue;
    const b = block as Record<string, unknown>;
    if (typeof b.text === 'string') parts.push(b.text);
    else if (typeof b.thinking === 'string') parts.push(b.thinking);
    else if (b.type === 'tool_use' && b.input !== undefined) parts.push(safeJson(b.input));
    else if (b.type === 'tool_result') collect(b.content, parts);
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}

/**
 * Follows the events of one streamed Message. Usage is taken field by field
 * from the last report (see usage.ts); the generated text is kept only until
 * the final usage arrives, since it is needed only to estimate a stream cut
 * short.
 */
export class MessageStreamObserver {
  #id: string | undefined;
  #model: string | undefined;
  #stopReason: string | undefined;
  readonly #usage = new UsageFields();
  #sawDelta = false;
  #stopped = false;
  #text: string[] | undefined = [];
  readonly #keepText: boolean;

  /** @param keepText keep the generated text after the final usage arrived (message content capture is on). */
  constructor(keepText = false) {
    this.#keepText = keepText;
  }

  observe(event: unknown): void {
    if (typeof event !== 'object' || event === null) return;
    const e = event as Record<string, unknown>;
    switch (e.type) {
      case 'message_start': {
        const m = e.message as MessageLike | undefined;
        if (m !== undefined && m !== null) {
          this.#id = str(m.id) ?? this.#id;
          this.#model = str(m.model) ?? this.#model;
          if (m.usage !== null && m.usage !== undefined) this.#usage.merge(m.usage);
        }
        break;
      }
      case 'content_block_start':
        if (this.#text !== undefined) {
          const t = blockText(e.content_block);
          if (t.length > 0) this.#text.push(t);
        }
        break;
      case 'content_block_delta': {
        if (this.#text === undefined) break;
        const d = e.delta as Record<string, unknown> | undefined;
        if (d === undefined || d === null) break;
        const t = typeof d.text === 'string' ? d.text : typeof d.thinking === 'string' ? d.thinking : typeof d.partial_json === 'string' ? d.partial_json : '';
        if (t.length > 0) this.#text.push(t);
        break;
      }
      case 'message_delta': {
        const d = e.delta as Record<string, unknown> | undefined;
        if (d !== undefined && d !== null) this.#stopReason = str(d.stop_reason) ?? this.#stopReason;
        const u = e.usage as AnthropicUsage | undefined;
        if (u !== undefined && u !== null && typeof u === 'object') {
          this.#usage.merge(u);
          if (u.output_tokens !== undefined && u.output_tokens !== null) {
            this.#sawDelta = true;
            if (!this.#keepText) this.#text = undefined;
          }
        }
        break;
      }
      case 'message_stop':
        this.#stopped = true;
        break;
      default:
        break;
    }
  }

  /** True once `message_stop` arrived. */
  get completed(): boolean {
    return this.#stopped;
  }

  /** The text generated so far (kept until the final usage arrives, or throughout with `keepText`). */
  get outputText(): string {
    return this.#text === undefined ? '' : this.#text.join('');
  }

  summary(): MessageSummary {
    return {
      id: this.#id,
      model: this.#model,
      stopReason: this.#stopReason,
      usage: this.#usage.toUsage(),
      partial: !this.#sawDelta,
    };
  }
}
