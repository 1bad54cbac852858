/**
 * Routing by difficulty: before the budget check, pick the model from the task
 * type, the input size, tools and images. Order: the user's `route` function, then
 * the config file's rules (first match wins), then the built-in rules (when
 * enabled with `builtinRoutes: true`).
 */
import type { RouteRule } from '../config/types.ts';

/** What a routing decision may look at. `inputTokens` is a fast upper bound. */
export interface RouteInput {
  readonly provider: string;
  readonly operation: string;
  readonly model: string;
  readonly agent: string;
  readonly taskId: string | undefined;
  readonly taskType: string | undefined;
  readonly inputTokens: number;
  /** The output ceiling the call will have (the caller's, or the configured one), if any. */
  readonly maxTokens: number | undefined;
  readonly hasTools: boolean;
  readonly hasImages: boolean;
  readonly body: Readonly<Record<string, unknown>>;
}

/** A user routing function: return the model to use, or undefined to keep the call's. Must be fast and synchronous. */
export type RouteFunction = (input: RouteInput) => string | undefined;

/** Built-in rule `small-prompt`: thresholds. */
export const BUILTIN_SMALL_PROMPT = Object.freeze({ maxInputTokens: 2000, maxOutputTokens: 512 });

/** Whether a config rule matches. */
export function ruleMatches(rule: RouteRule, input: RouteInput): boolean {
  const m = rule.match;
  if (m.provider !== undefined && !m.provider.includes(input.provider)) return false;
  if (m.model !== undefined && !m.model.includes(input.model)) return false;
  if (m.agent !== undefined && !m.agent.includes(input.agent)) return false;
  if (m.taskType !== undefined && (input.taskType === undefined || !m.taskType.includes(input.taskType))) return false;
  if (m.inputTokensAbove !== undefined && !(input.inputTokens > m.inputTokensAbove)) return false;
  if (m.inputTokensBelow !== undefined && !(input.inputTokens < m.inputTokensBelow)) return false;
  if (m.hasTools !== undefined && m.hasTools !== input.hasTools) return false;
  if (m.hasImages !== undefined && m.hasImages !== input.hasImages) return false;
  return true;
}

/**
 * Built-in rule `small-prompt`: a chat call with a small prompt (<= 2,000 input tokens),
 * a small output ceiling (<= 512), no tools and no images goes to the cheapest model of
 * its provider's ladder. It only ever moves down a configured ladder.
 */
export function builtinRoute(input: RouteInput, ladder: readonly string[] | undefined): string | undefined {
  if (ladder === undefined || ladder.length < 2 || input.operation !== 'chat') return undefined;
  const at = ladder.indexOf(input.model);
  if (at < 0 || at === ladder.length - 1) return undefined;
  if (input.inputTokens > BUILTIN_SMALL_PROMPT.maxInputTokens) return undefined;
  if (input.maxTokens === undefined || input.maxTokens > BUILTIN_SMALL_PROMPT.maxOutputTokens) return undefined;
  if (input.hasTools || input.hasImages) return undefined;
  return ladder[ladder.length - 1];
}
