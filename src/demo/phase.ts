/**
 * One phase of the demo in this process: starts tollgate with the phase's configuration,
 * loads the real SDK clients, runs the pipeline against the stand-in and returns the
 * calls as tollgate's spans recorded them. Tollgate registers global OpenTelemetry
 * providers and patches the SDK modules once per process, so the demo runs each phase
 * in a child process of its own (see ./phase-main.ts and ./run.ts).
 */
import type AnthropicClient from '@anthropic-ai/sdk';
import type { Attributes } from '@opentelemetry/api';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import type OpenAIClient from 'openai';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { createRequire } from 'node:module';
import { str } from '../internal/values.ts';
import { spanExportProcessorsFromEnv } from '../otel/exporters.ts';
import {
  ATTR_COST_USD,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_POLICY_ACTION,
  ATTR_POLICY_ORIGINAL_MAX_TOKENS,
  ATTR_POLICY_ORIGINAL_MODEL,
  ATTR_POLICY_REASON,
  ATTR_TASK_ID,
  ATTR_TASK_TYPE,
} from '../semconv.ts';
import { startTollgate } from '../start.ts';
import { runPipeline, type PipelineClients, type TaskOutcome } from './pipeline.ts';
import { AGENT_HEADER, demoTasks, phaseConfig, type DemoAgent, type DemoPhase } from './scenario.ts';

/** Resource attribute naming the demo phase of every span (`before`, `after`, `runaway`). */
export const ATTR_DEMO_PHASE = 'tollgate.demo.phase';

/** What the parent tells a phase. */
export interface PhaseRequest {
  readonly phase: DemoPhase;
  readonly tasks: number;
  /** Base URL of the stand-in server. */
  readonly standinUrl: string;
  /** Ledger spec (`memory`, `sqlite:<path>`, `redis://…`). */
  readonly ledger: string;
}

/** One LLM call as its tollgate span recorded it. */
export interface CallRecord {
  readonly agent: string;
  readonly taskId: string;
  readonly taskType: string;
  readonly provider: string;
  /** The model sent (after routing). */
  readonly model: string;
  /** The model the code asked for, when tollgate rewrote it. */
  readonly originalModel: string | null;
  readonly maxTokens: number | null;
  readonly originalMaxTokens: number | null;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  /** `tollgate.cost.usd` (0 for a blocked call). */
  readonly costUsd: number;
  /** `allow`, `rewrite` or `block`. */
  readonly action: string;
  readonly reason: string | null;
  /** Span start, epoch ms. */
  readonly startMs: number;
}

/** What a phase reports back. */
export interface PhaseResult {
  readonly phase: DemoPhase;
  readonly calls: readonly CallRecord[];
  readonly tasks: readonly TaskOutcome[];
}

/** Runs one phase in this process. `onTask` sees each task as it finishes. */
export async function runPhase(request: PhaseRequest, env: NodeJS.ProcessEnv, onTask?: (outcome: TaskOutcome, index: number) => void): Promise<PhaseResult> {
  const exporter = new InMemorySpanExporter();
  const tollgate = await startTollgate({
    env,
    serviceName: 'tollgate-demo',
    resourceAttributes: { [ATTR_DEMO_PHASE]: request.phase },
    config: phaseConfig(request.phase, request.tasks),
    ledger: request.ledger,
    // The demo keeps every span to build its report, and also exports them when OTEL_* asks.
    spanProcessors: [new SimpleSpanProcessor({ exporter }), ...spanExportProcessorsFromEnv(env)],
  });
  try {
    // Loaded after start-up, through require, so tollgate's module hooks see the load
    // without an ESM loader hook (an app would use `node --import tollgate/register`).
    const require = createRequire(import.meta.url);
    const { OpenAI } = require('openai') as { OpenAI: typeof OpenAIClient };
    const { Anthropic } = require('@anthropic-ai/sdk') as { Anthropic: typeof AnthropicClient };
    const openai = new Map<DemoAgent, OpenAIClient>();
    const anthropic = new Map<DemoAgent, AnthropicClient>();
    const clients: PipelineClients = {
      openai(agent) {
        let c = openai.get(agent);
        if (c === undefined) {
          c = new OpenAI({ apiKey: 'demo', baseURL: `${request.standinUrl}/v1`, defaultHeaders: { [AGENT_HEADER]: agent } });
          openai.set(agent, c);
        }
        return c;
      },
      anthropic(agent) {
        let c = anthropic.get(agent);
        if (c === undefined) {
          c = new Anthropic({ apiKey: 'demo', baseURL: request.standinUrl, defaultHeaders: { [AGENT_HEADER]: agent } });
          anthropic.set(agent, c);
        }
        return c;
      },
    };
    const tasks = await runPipeline({ phase: request.phase, tasks: demoTasks(request.tasks), clients, ...(onTask === undefined ? {} : { onTask }) });
    const calls = exporter
      .getFinishedSpans()
      .filter((s) => s.attributes[ATTR_GEN_AI_OPERATION_NAME] !== undefined)
      .map(toCallRecord)
      .sort((a, b) => a.startMs - b.startMs);
    return { phase: request.phase, calls, tasks };
  } finally {
    await tollgate.shutdown();
  }
}

function toCallRecord(span: ReadableSpan): CallRecord {
  const a = span.attributes;
  return {
    agent: str(a[ATTR_GEN_AI_AGENT_NAME]) ?? '',
    taskId: str(a[ATTR_TASK_ID]) ?? '',
    taskType: str(a[ATTR_TASK_TYPE]) ?? '',
    provider: str(a[ATTR_GEN_AI_PROVIDER_NAME]) ?? '',
    model: str(a[ATTR_GEN_AI_REQUEST_MODEL]) ?? '',
    originalModel: str(a[ATTR_POLICY_ORIGINAL_MODEL]) ?? null,
    maxTokens: num(a, ATTR_GEN_AI_REQUEST_MAX_TOKENS) ?? null,
    originalMaxTokens: num(a, ATTR_POLICY_ORIGINAL_MAX_TOKENS) ?? null,
    inputTokens: num(a, ATTR_GEN_AI_USAGE_INPUT_TOKENS) ?? 0,
    outputTokens: num(a, ATTR_GEN_AI_USAGE_OUTPUT_TOKENS) ?? 0,
    cacheReadTokens: num(a, ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS) ?? 0,
    cacheWriteTokens: num(a, ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS) ?? 0,
    costUsd: num(a, ATTR_COST_USD) ?? 0,
    action: str(a[ATTR_POLICY_ACTION]) ?? 'allow',
    reason: str(a[ATTR_POLICY_REASON]) ?? null,
    startMs: hrTimeToMilliseconds(span.startTime),
  };
}

function num(a: Attributes, key: string): number | undefined {
  const v = a[key];
  return typeof v === 'number' ? v : undefined;
}
