/**
 * The five-agent content pipeline, written as an application would write it: the real
 * `openai` and `@anthropic-ai/sdk` clients, each step an agent (`withAgent`) inside its
 * task (`withTask({ id, type })`). The same code runs in every phase; the phase only
 * changes the prompt layout (stable prefix and `cache_control` after) and, in the
 * `runaway` phase, turns the validation agent's strict JSON check into a retry loop.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { withAgent, withTask } from '../context.ts';
import { BudgetExceededError } from '../errors.ts';
import {
  RUNAWAY_AGENT,
  SEARCH_TOOL,
  TOP_MODEL,
  searchSources,
  systemPrompt,
  type DemoAgent,
  type DemoPhase,
  type DemoTask,
} from './scenario.ts';

/** The SDK clients of each agent (each sends its name in a header, for the stand-in's log). */
export interface PipelineClients {
  openai(agent: DemoAgent): OpenAI;
  anthropic(agent: DemoAgent): Anthropic;
}

/** How one step of one task ended. */
export interface StepOutcome {
  readonly agent: DemoAgent;
  /** `ok`; `blocked` by a budget (BudgetExceededError); `skipped` after an earlier step was blocked; `failed` otherwise. */
  readonly status: 'ok' | 'blocked' | 'skipped' | 'failed';
  /** LLM calls the step tried, blocked ones included. */
  readonly attempts: number;
  readonly blocked?: BlockInfo;
  readonly error?: string;
}

/** What a BudgetExceededError said. */
export interface BlockInfo {
  readonly scope: string;
  readonly agent: string;
  readonly limitUsd: number;
  readonly spentUsd: number;
  readonly reservedUsd: number;
  readonly estimatedUsd: number;
  readonly resetAt: string | null;
  readonly message: string;
}

/** How one task ended. */
export interface TaskOutcome {
  readonly taskId: string;
  readonly type: string;
  readonly steps: readonly StepOutcome[];
}

/** Options of {@link runPipeline}. */
export interface PipelineOptions {
  readonly phase: DemoPhase;
  readonly tasks: readonly DemoTask[];
  readonly clients: PipelineClients;
  /** Called after each task. */
  readonly onTask?: (outcome: TaskOutcome, index: number) => void;
  /**
   * Most attempts the runaway loop makes before the demo gives up on tollgate stopping it.
   * @default 2000
   */
  readonly runawaySafetyLimit?: number;
}

/** `max_tokens` the code asks Anthropic for (the API requires one): far more than any answer needs, "just in case" (the SDK refuses non-streaming calls above ~21k). */
const GENEROUS_MAX_TOKENS = 16_000;

/** Runs every task through the five steps, one task after the other (so caching is deterministic). */
export async function runPipeline(options: PipelineOptions): Promise<TaskOutcome[]> {
  const outcomes: TaskOutcome[] = [];
  for (const [i, task] of options.tasks.entries()) {
    const outcome = await withTask({ id: task.id, type: task.type }, () => runTask(options, task));
    outcomes.push(outcome);
    options.onTask?.(outcome, i);
  }
  return outcomes;
}

interface Work {
  notes: string;
  sources: string;
  outline: string;
  draft: string;
}

async function runTask(options: PipelineOptions, task: DemoTask): Promise<TaskOutcome> {
  const { phase, clients } = options;
  const work: Work = { notes: '', sources: '', outline: '', draft: '' };
  const steps: StepOutcome[] = [];
  let stopped = false;
  const step = async (agent: DemoAgent, fn: (count: () => void) => Promise<void>): Promise<void> => {
    if (stopped) {
      steps.push({ agent, status: 'skipped', attempts: 0 });
      return;
    }
    let attempts = 0;
    try {
      await withAgent(agent, () => fn(() => attempts++));
      steps.push({ agent, status: 'ok', attempts });
    } catch (err) {
      if (err instanceof BudgetExceededError) {
        stopped = true;
        steps.push({ agent, status: 'blocked', attempts, blocked: blockInfo(err) });
      } else {
        stopped = true;
        steps.push({ agent, status: 'failed', attempts, error: err instanceof Error ? err.message : String(err) });
      }
    }
  };

  await step('classify', async (count) => {
    count();
    await clients.openai('classify').chat.completions.create({
      model: TOP_MODEL.openai,
      messages: [
        { role: 'system', content: systemPrompt(phase, 'classify', task) },
        { role: 'user', content: `${task.title}\n\n${task.brief}` },
      ],
    });
  });

  await step('research', async (count) => {
    const client = clients.anthropic('research');
    const base = {
      model: TOP_MODEL.anthropic,
      max_tokens: GENEROUS_MAX_TOKENS,
      system: anthropicSystem(phase, 'research', task),
      tools: [SEARCH_TOOL],
    };
    const ask: Anthropic.MessageParam = { role: 'user', content: `${task.brief}\nFind sources for every section.` };
    count();
    const first = await client.messages.create({ ...base, messages: [ask] });
    const call = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    if (call === undefined) throw new Error(`research for ${task.id}: the model did not call ${SEARCH_TOOL.name}`);
    const query = typeof (call.input as { query?: unknown }).query === 'string' ? (call.input as { query: string }).query : task.title;
    work.sources = searchSources(task, query);
    count();
    const second = await client.messages.create({
      ...base,
      messages: [
        ask,
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: work.sources }] },
      ],
    });
    work.notes = `${work.sources}\n\nNotes: ${textOf(second.content)}`;
  });

  await step('outline', async (count) => {
    count();
    const res = await clients.anthropic('outline').messages.create({
      model: TOP_MODEL.anthropic,
      max_tokens: GENEROUS_MAX_TOKENS,
      system: anthropicSystem(phase, 'outline', task),
      messages: [{ role: 'user', content: `${task.brief}\n\nResearch notes:\n${work.notes}` }],
    });
    work.outline = textOf(res.content);
  });

  await step('draft', async (count) => {
    count();
    const res = await clients.openai('draft').chat.completions.create({
      model: TOP_MODEL.openai,
      messages: [
        { role: 'system', content: systemPrompt(phase, 'draft', task) },
        { role: 'user', content: `${task.brief}\n\nResearch notes:\n${work.notes}\n\nOutline:\n${work.outline}` },
      ],
    });
    work.draft = res.choices[0]?.message.content ?? '';
  });

  await step('validate', async (count) => {
    const client = clients.anthropic('validate');
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: `Draft of "${task.title}":\n${work.draft}\n\nSources:\n${work.sources}` }];
    const strict = phase === 'runaway' && RUNAWAY_AGENT === 'validate';
    const limit = options.runawaySafetyLimit ?? 2000;
    for (;;) {
      count();
      const res = await client.messages.create({
        model: TOP_MODEL.anthropic,
        max_tokens: GENEROUS_MAX_TOKENS,
        system: anthropicSystem(phase, 'validate', task),
        messages,
      });
      const answer = textOf(res.content);
      // The fixed code takes a plain-text verdict; the buggy one insists on JSON and asks
      // again, with the whole exchange so far, forever: a classic runaway retry loop.
      if (!strict || parsesAsVerdict(answer)) return;
      if (messages.length / 2 >= limit) throw new Error(`validate for ${task.id}: ${limit} retries and nothing stopped the loop`);
      messages.push({ role: 'assistant', content: answer }, { role: 'user', content: 'That was not valid JSON. Answer again with JSON only: {"verdict": ..., "problems": [...]}.' });
    }
  });

  return { taskId: task.id, type: task.type, steps };
}

/** Before: one plain string (nothing cacheable). After: the stable prompt marked for caching. */
function anthropicSystem(phase: DemoPhase, agent: DemoAgent, task: DemoTask): string | Anthropic.TextBlockParam[] {
  const text = systemPrompt(phase, agent, task);
  if (phase === 'before') return text;
  return [{ type: 'text', text, cache_control: { type: 'ephemeral' } }];
}

function textOf(content: readonly Anthropic.ContentBlock[]): string {
  return content.map((b) => (b.type === 'text' ? b.text : '')).join('');
}

function parsesAsVerdict(answer: string): boolean {
  try {
    const v = JSON.parse(answer) as { verdict?: unknown };
    return v.verdict === 'pass' || v.verdict === 'fail';
  } catch {
    return false;
  }
}

function blockInfo(err: BudgetExceededError): BlockInfo {
  return {
    scope: err.scope,
    agent: err.agent,
    limitUsd: err.limitUsd,
    spentUsd: err.spentUsd,
    reservedUsd: err.reservedUsd,
    estimatedUsd: err.estimatedUsd,
    resetAt: err.resetAt,
    message: err.message,
  };
}
