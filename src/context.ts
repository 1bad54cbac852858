/**
 * Attribution of calls to agents and tasks through the active OpenTelemetry
 * context, so it crosses async boundaries (await, timers, streams) wherever a
 * context manager is registered (the Node SDK registers AsyncLocalStorage).
 */
import { context, createContextKey, type Context } from '@opentelemetry/api';
import { randomUUID } from 'node:crypto';

const AGENT_KEY = createContextKey('tollgate.agent');
const TASK_KEY = createContextKey('tollgate.task');

/** The task a call belongs to. */
export interface TaskInfo {
  readonly id: string;
  readonly type?: string;
}

/** Runs `fn` with every LLM call inside it attributed to agent `name`. */
export function withAgent<T>(name: string, fn: () => T): T {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError('tollgate: withAgent(name, fn) needs a non-empty agent name');
  }
  return context.with(context.active().setValue(AGENT_KEY, name), fn);
}

/** Runs `fn` as one task: every LLM call inside is attributed to it. Without an id, a random one is made. */
export function withTask<T>(task: { id?: string; type?: string }, fn: () => T): T {
  const info: TaskInfo = {
    id: task.id !== undefined && task.id.length > 0 ? task.id : randomUUID(),
    ...(task.type !== undefined ? { type: task.type } : {}),
  };
  return context.with(context.active().setValue(TASK_KEY, info), fn);
}

/** The agent set by withAgent in `ctx`, if any. */
export function agentFromContext(ctx: Context = context.active()): string | undefined {
  return ctx.getValue(AGENT_KEY) as string | undefined;
}

/** The task set by withTask in `ctx`, if any. */
export function taskFromContext(ctx: Context = context.active()): TaskInfo | undefined {
  return ctx.getValue(TASK_KEY) as TaskInfo | undefined;
}
