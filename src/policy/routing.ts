/**
 * Routing by difficulty: before the budget check, pick the model from the task
 * type, the input size, tools and images. Order: the user's `route` function, then
 * the config file's rules (first match wins), then the built-in rules (when
 * enabled with `builtinRoutes: true`).
 */
import type { RouteRule, TollgateConfig } from '../config/types.ts';
import type { TaskInfo } from '../context.ts';
import type { CallDescription } from '../gate.ts';
import type { PriceLookup } from '../pricing/types.ts';
import { hasImages, hasTools, worstCaseNanos, worstRatesNanos } from './estimate.ts';

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

/** A call moved to another model by routing. */
export interface Routed {
  readonly model: string;
  readonly lookup: PriceLookup;
  /** USD saved per USD spent, from the worst-case ratio of the two models (0 when none). */
  readonly savedRatio: number;
  /** For `tollgate.policy.reason`. */
  readonly reason: string;
}

/** What a call is routed from: its model's price and the estimate's inputs. */
export interface RouteFrom {
  readonly call: CallDescription;
  readonly agent: string;
  readonly task: TaskInfo | undefined;
  readonly lookup: PriceLookup;
  readonly inputTokens: number;
  /** The output ceiling the call will have, if any; `defaultMaxTokens` prices the saving when none. */
  readonly maxTokens: number | undefined;
  readonly defaultMaxTokens: number;
  readonly cacheKind: 'none' | '5m' | '1h';
  readonly priceOf: (model: string) => PriceLookup;
}

/** The routing step of the policy: see the module comment for the order. */
export class Router {
  readonly #config: TollgateConfig;
  readonly #route: RouteFunction | undefined;
  readonly #warn: (key: string, message: string, err?: unknown) => void;
  /** Whether anything routes at all (else the policy skips this step). */
  readonly enabled: boolean;

  constructor(config: TollgateConfig, route: RouteFunction | undefined, warn: (key: string, message: string, err?: unknown) => void) {
    this.#config = config;
    this.#route = route;
    this.#warn = warn;
    this.enabled = route !== undefined || config.routes.length > 0 || config.builtinRoutes;
  }

  /**
   * The model a chat call goes to, or undefined when it keeps its own. A route to a model no
   * table prices is not taken when the config blocks unpriced models (warned once).
   */
  route(from: RouteFrom): Routed | undefined {
    const { call, lookup, inputTokens, cacheKind } = from;
    const picked = this.#pick(from);
    if (picked === undefined || picked.model === call.model) return undefined;
    const to = from.priceOf(picked.model);
    if (to.source === 'fallback' && this.#config.unknownModel === 'block') {
      this.#warn(`route-unpriced:${picked.model}`, `tollgate: route ${picked.rule} names unpriced model ${picked.model}; not routing`);
      return undefined;
    }
    const out = from.maxTokens ?? from.defaultMaxTokens;
    const before = worstCaseNanos(worstRatesNanos(lookup.price, inputTokens, cacheKind), inputTokens, out);
    const after = worstCaseNanos(worstRatesNanos(to.price, inputTokens, cacheKind), inputTokens, out);
    return {
      model: picked.model,
      lookup: to,
      savedRatio: after > 0 && before > after ? before / after - 1 : 0,
      reason: `route ${picked.rule}: ${call.model} -> ${picked.model}`,
    };
  }

  #pick(from: RouteFrom): { model: string; rule: string } | undefined {
    const call = from.call;
    const input: RouteInput = {
      provider: call.provider,
      operation: call.operation,
      model: call.model,
      agent: from.agent,
      taskId: from.task?.id,
      taskType: from.task?.type,
      inputTokens: from.inputTokens,
      maxTokens: from.maxTokens,
      hasTools: hasTools(call.body),
      hasImages: hasImages(call.body),
      body: call.body,
    };
    if (this.#route !== undefined) {
      try {
        const m = this.#route(input);
        if (typeof m === 'string' && m.length > 0) return { model: m, rule: 'route()' };
      } catch (err) {
        this.#warn('route', 'tollgate: the route function threw; routing skipped', err);
      }
    }
    for (const rule of this.#config.routes) if (ruleMatches(rule, input)) return { model: rule.model, rule: rule.name };
    if (this.#config.builtinRoutes) {
      const m = builtinRoute(input, this.#config.ladders[call.provider]);
      if (m !== undefined) return { model: m, rule: 'builtin small-prompt' };
    }
    return undefined;
  }
}
