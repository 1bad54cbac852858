/**
 * The settings every tollgate client instrumentation shares, resolved once (explicit option,
 * then env var, then default): the price table, the budget gate, message-content capture and
 * the semantic-convention opt-in.
 */
import { diag } from '@opentelemetry/api';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import { ALLOW_ALL } from '../../gate.ts';
import type { CallGate } from '../../gate.ts';
import { defaultPriceTable } from '../../pricing/index.ts';
import type { PriceTable } from '../../pricing/types.ts';

/** How message content is recorded, as `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` names it. */
export type ContentCaptureMode = 'NO_CONTENT' | 'SPAN_ONLY' | 'EVENT_ONLY' | 'SPAN_AND_EVENT';

/** Options shared by tollgate's SDK instrumentations. */
export interface TollgateInstrumentationConfig extends InstrumentationConfig {
  /**
   * The price table calls are priced with.
   * @default defaultPriceTable() (the built-in data; pass a table built with overrides to use them)
   */
  prices?: PriceTable;
  /**
   * The budget policy consulted before each call is sent.
   * @default ALLOW_ALL (no budget)
   */
  gate?: CallGate;
  /**
   * Record prompts and completions (`gen_ai.input.messages` / `gen_ai.output.messages`).
   * `true` means SPAN_ONLY.
   * @default from OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, read when the instrumentation is built; off when unset
   */
  captureMessageContent?: boolean | ContentCaptureMode;
}

/** Configuration resolved once (explicit option, then env var, then default). */
export interface ResolvedSettings {
  readonly prices: PriceTable;
  readonly gate: CallGate;
  readonly capture: ContentCaptureMode;
  /** OTEL_SEMCONV_STABILITY_OPT_IN contains gen_ai_latest_experimental: also emit unreleased names. */
  readonly latestExperimental: boolean;
}

const CAPTURE_MODES: ReadonlySet<string> = new Set(['NO_CONTENT', 'SPAN_ONLY', 'EVENT_ONLY', 'SPAN_AND_EVENT']);

/**
 * Parses a content-capture setting. Accepts booleans, `true`/`false` (any case) and the four
 * mode names. An unrecognised env value falls back to NO_CONTENT with a warning: content
 * capture is a privacy switch and must fail closed.
 */
export function resolveContentCapture(
  value: boolean | string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ContentCaptureMode {
  const raw = value ?? env['OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'];
  if (raw === undefined || raw === '') return 'NO_CONTENT';
  if (raw === true) return 'SPAN_ONLY';
  if (raw === false) return 'NO_CONTENT';
  const text = raw.trim();
  const lower = text.toLowerCase();
  if (lower === 'true') return 'SPAN_ONLY';
  if (lower === 'false') return 'NO_CONTENT';
  const upper = text.toUpperCase();
  if (CAPTURE_MODES.has(upper)) return upper as ContentCaptureMode;
  diag.warn(
    `tollgate: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=${JSON.stringify(raw)} is not one of true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT; message content is not recorded`,
  );
  return 'NO_CONTENT';
}

/** Resolves a config once; `env` is injectable for tests. */
export function resolveSettings(config: TollgateInstrumentationConfig, env: NodeJS.ProcessEnv = process.env): ResolvedSettings {
  const optIn = env['OTEL_SEMCONV_STABILITY_OPT_IN'] ?? '';
  return {
    prices: config.prices ?? defaultPriceTable(),
    gate: config.gate ?? ALLOW_ALL,
    capture: resolveContentCapture(config.captureMessageContent, env),
    latestExperimental: optIn.split(',').some((s) => s.trim() === 'gen_ai_latest_experimental'),
  };
}
