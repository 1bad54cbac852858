/**
 * The resolved configuration: what `resolveConfig` returns once, at start-up, after
 * every source (explicit options, env vars, resource attributes, the config file)
 * was validated. Nothing here is read again later.
 */

/** What happens when a call does not fit a budget. */
export type OnExceed = 'block' | 'downgrade';

/** What happens to a model no price table knows. */
export type UnknownModelPolicy = 'fallback' | 'block';

/** Budget caps and policy knobs of one agent. Every field is optional: absent = no such cap. */
export interface AgentLimits {
  /** Cap on the agent's spend per UTC day, USD. */
  readonly dailyUsd?: number;
  /** Cap per UTC calendar month, USD. */
  readonly monthlyUsd?: number;
  /** Cap per task, USD, or `auto`: 3 x the rolling median cost of completed tasks of the same type. */
  readonly taskUsd?: number | 'auto';
  /** Ceiling for `max_tokens`; also set on calls that set none. */
  readonly maxTokens?: number;
  /** `block` (default) throws; `downgrade` clamps max_tokens, then walks the model ladder, then throws. */
  readonly onExceed?: OnExceed;
  /** Runaway-loop guard: most USD the agent may spend in any 60 s. */
  readonly rateUsdPerMinute?: number;
  /** Runaway-loop guard: most LLM calls one task may make (SDK retries of one call count once). */
  readonly maxAttemptsPerTask?: number;
  /**
   * Milliseconds a call refused only because of other calls' in-flight reservations may
   * wait for them to settle; then it is admitted or refused on settled spend. 0 = never wait.
   * @default 0
   */
  readonly waitMs?: number;
}

/** Conditions of a routing rule; all given conditions must hold. */
export interface RouteMatch {
  readonly provider?: readonly string[];
  readonly model?: readonly string[];
  readonly agent?: readonly string[];
  readonly taskType?: readonly string[];
  /** Input tokens (fast upper bound) strictly above. */
  readonly inputTokensAbove?: number;
  /** Input tokens (fast upper bound) strictly below. */
  readonly inputTokensBelow?: number;
  readonly hasTools?: boolean;
  readonly hasImages?: boolean;
}

/** A routing rule: a call matching `match` is sent to `model` (same provider). */
export interface RouteRule {
  /** Named in `tollgate.policy.reason`; defaults to `routes[i]`. */
  readonly name: string;
  readonly match: RouteMatch;
  readonly model: string;
}

/** A budget shared by several agents (or all of them), defined in the config file. */
export interface CustomScope {
  /** Reported as BudgetExceededError.scope. */
  readonly name: string;
  /** Agents charged to it; null = every agent. */
  readonly agents: readonly string[] | null;
  /** `day` and `month` reset at UTC boundaries; `total` never resets. */
  readonly period: 'day' | 'month' | 'total';
  readonly limitUsd: number;
}

/** How `taskUsd: 'auto'` derives a task cap. */
export interface TaskAutoConfig {
  /** Completed tasks of a type needed before the cap applies. @default 20 */
  readonly minTasks: number;
  /** Cap = multiplier x rolling median. @default 3 */
  readonly multiplier: number;
  /** How many recent tasks per type the median is taken over. @default 200 */
  readonly windowTasks: number;
}

/** Everything tollgate's policy and ledger need, resolved once. */
export interface TollgateConfig {
  /** The agent this process runs as: `gen_ai.agent.name`, else `service.name`. */
  readonly agent: string;
  /** `memory`, `sqlite:<path>` or a redis URL. */
  readonly ledger: string;
  /** Where `ledger` came from, for messages (`TOLLGATE_LEDGER`, `option ledger`, `default`). */
  readonly ledgerSource: string;
  readonly ledgerFailure: 'closed' | 'open';
  /** Path of the price override file, loaded by pricing; undefined when none. */
  readonly pricesPath: string | undefined;
  /** Path of the config file that was read; undefined when none. */
  readonly configPath: string | undefined;
  /** The process agent's own limits (resource attributes and options). */
  readonly limits: AgentLimits;
  /** Limits every agent gets unless it has its own (config file `defaults`). */
  readonly defaults: AgentLimits;
  /** Limits per agent name (config file `agents`). */
  readonly agents: Readonly<Record<string, AgentLimits>>;
  /** Model ladders per provider, most capable (expensive) first. */
  readonly ladders: Readonly<Record<string, readonly string[]>>;
  readonly routes: readonly RouteRule[];
  /** Whether the built-in routing rules run (after the user's function and config rules). */
  readonly builtinRoutes: boolean;
  readonly unknownModel: UnknownModelPolicy;
  /** `downgrade` never clamps max_tokens below this. */
  readonly maxTokensFloor: number;
  readonly scopes: readonly CustomScope[];
  readonly taskAuto: TaskAutoConfig;
}
