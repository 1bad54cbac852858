/**
 * Attribution of calls to agents and tasks through the active OpenTelemetry
 * context, so it crosses async boundaries (await, timers, streams) wherever a
 * context manager is registered (the Node SDK registers AsyncLocalStorage).
 *
 * A task may span several processes: `withTask` also puts the task id and type in
 * W3C baggage (`tollgate.task.id`, `tollgate.task.type`), which the W3C baggage
 * propagator carries on outgoing requests, and `taskFromContext` falls back to
 * inbound baggage. The agent is different: whoever sends a request can write its
 * baggage, so an inbound `gen_ai.agent.name` entry could pick whose budget is
 * charged. It never chooses the agent unless the processor is told to trust it
 * (`trustBaggageAgent`), and `withAgent` only writes it when asked (`propagate`).
 */
import { context, createContextKey, propagation, trace, type Context, type Span } from '@opentelemetry/api';
import { randomUUID } from 'node:crypto';
import { isThenable } from './internal/values.ts';

const AGENT_KEY = createContextKey('tollgate.agent');
const TASK_KEY = createContextKey('tollgate.task');
const TASK_SCOPE_KEY = createContextKey('tollgate.task.scope');

/** W3C baggage entry names. */
export const BAGGAGE_TASK_ID = 'tollgate.task.id';
export const BAGGAGE_TASK_TYPE = 'tollgate.task.type';
export const BAGGAGE_AGENT = 'gen_ai.agent.name';

/** The task a call belongs to. */
export interface TaskInfo {
  readonly id: string;
  readonly type?: string;
}

/** Options of {@link withAgent}. */
export interface WithAgentOptions {
  /**
   * Also write the agent into W3C baggage (`gen_ai.agent.name`) so services called
   * from `fn` see it. They use it only if they trust baggage (`trustBaggageAgent`).
   * @default false
   */
  readonly propagate?: boolean;
}

/**
 * One `withTask` call as the span processor sees it: the span that was active when
 * it started (a span started directly under it is the task's outermost span) and
 * whether `fn` has finished, so a task made of sibling calls ends when `fn` does.
 * @internal
 */
export interface TaskScope {
  readonly info: TaskInfo;
  readonly outerSpan: Span | undefined;
  settled: boolean;
  /** Called once when `fn` returns or its promise settles. */
  listeners: (() => void)[] | undefined;
}

/**
 * Runs `fn` with every LLM call inside it attributed to agent `name`.
 * @throws TypeError when `name` is not a non-empty string.
 */
export function withAgent<T>(name: string, fn: () => T, options?: WithAgentOptions): T {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError('tollgate: withAgent(name, fn) needs a non-empty agent name');
  }
  let ctx = context.active().setValue(AGENT_KEY, name);
  if (options?.propagate === true) {
    const bag = propagation.getBaggage(ctx) ?? propagation.createBaggage();
    ctx = propagation.setBaggage(ctx, bag.setEntry(BAGGAGE_AGENT, { value: name }));
  }
  return context.with(ctx, fn);
}

/**
 * Runs `fn` as one task: every LLM call inside is attributed to it, and the task id
 * (and type) travel in W3C baggage to the services it calls. Without an id, a random
 * one is made. The task ends, for rollups and `auto` task caps, when `fn` returns or
 * the promise it returns settles (and no span of the task is still open).
 */
export function withTask<T>(task: { id?: string; type?: string }, fn: () => T): T {
  if (task === null || typeof task !== 'object') {
    throw new TypeError('tollgate: withTask(task, fn) needs an object { id?, type? }');
  }
  const info: TaskInfo = {
    id: task.id !== undefined && task.id.length > 0 ? task.id : randomUUID(),
    ...(task.type !== undefined && task.type.length > 0 ? { type: task.type } : {}),
  };
  const active = context.active();
  const scope: TaskScope = { info, outerSpan: trace.getSpan(active), settled: false, listeners: undefined };
  let bag = (propagation.getBaggage(active) ?? propagation.createBaggage()).setEntry(BAGGAGE_TASK_ID, { value: info.id });
  bag = info.type !== undefined ? bag.setEntry(BAGGAGE_TASK_TYPE, { value: info.type }) : bag.removeEntry(BAGGAGE_TASK_TYPE);
  const ctx = propagation.setBaggage(active.setValue(TASK_KEY, info).setValue(TASK_SCOPE_KEY, scope), bag);
  let result: T;
  try {
    result = context.with(ctx, fn);
  } catch (err) {
    settle(scope);
    throw err;
  }
  if (isThenable(result)) {
    // Observe without replacing: the caller gets its own promise back, rejection included.
    result.then(
      () => settle(scope),
      () => settle(scope),
    );
  } else {
    settle(scope);
  }
  return result;
}

function settle(scope: TaskScope): void {
  if (scope.settled) return;
  scope.settled = true;
  const listeners = scope.listeners;
  scope.listeners = undefined;
  if (listeners === undefined) return;
  for (const l of listeners) {
    try {
      l();
    } catch {
      // a listener is tollgate's own bookkeeping; it never breaks the user's task
    }
  }
}

/** The agent set by withAgent in `ctx`, if any. Never read from baggage. */
export function agentFromContext(ctx: Context = context.active()): string | undefined {
  return ctx.getValue(AGENT_KEY) as string | undefined;
}

/** The agent named in inbound W3C baggage, if any. Untrusted: only use it when configured to. */
export function agentFromBaggage(ctx: Context = context.active()): string | undefined {
  const v = propagation.getBaggage(ctx)?.getEntry(BAGGAGE_AGENT)?.value;
  return v !== undefined && v.length > 0 ? v : undefined;
}

/** The task set by withTask in `ctx`, else the one named in inbound W3C baggage, if any. */
export function taskFromContext(ctx: Context = context.active()): TaskInfo | undefined {
  return (ctx.getValue(TASK_KEY) as TaskInfo | undefined) ?? taskFromBaggage(ctx);
}

/** The task named in W3C baggage (`tollgate.task.id`, `tollgate.task.type`), if any. */
export function taskFromBaggage(ctx: Context = context.active()): TaskInfo | undefined {
  const bag = propagation.getBaggage(ctx);
  if (bag === undefined) return undefined;
  const id = bag.getEntry(BAGGAGE_TASK_ID)?.value;
  if (id === undefined || id.length === 0) return undefined;
  const type = bag.getEntry(BAGGAGE_TASK_TYPE)?.value;
  return type !== undefined && type.length > 0 ? { id, type } : { id };
}

/** @internal The withTask scope active in `ctx`, if any (not across processes). */
export function taskScopeFromContext(ctx: Context): TaskScope | undefined {
  return ctx.getValue(TASK_SCOPE_KEY) as TaskScope | undefined;
}
